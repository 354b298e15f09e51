//! `[cluster]`: the cluster mode, in which every node runs the same binary
//! and config on a NATS JetStream cluster that provides membership,
//! partition leases and the replicated logs. Without servers (the default)
//! the hub is the embedded single process.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`); empty: the embedded mode.
    pub servers: Vec<String>,
    /// This node's name among the nodes; empty: the host's name and the
    /// QUIC port (unique on one machine, stable across restarts).
    pub node: String,
    /// Token to authenticate to NATS with.
    pub token: Option<String>,
    /// NATS credentials file (JWT and nkey seed), instead of a token.
    pub credentials: Option<PathBuf>,
    /// CA (PEM) that signs the NATS servers' certificates: connect with
    /// TLS.
    pub tls_ca: Option<PathBuf>,
    /// Partitions the map's cells are split into: fixed for the life of
    /// the streams (changing it needs new streams).
    pub partitions: u32,
    /// Replicas of every stream and bucket (1, 3 or 5).
    pub replicas: usize,
    /// A partition lease lapses this long after its last renewal.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Leases are renewed (and membership told) this often.
    #[serde(with = "humantime_serde")]
    pub lease_renew: Duration,
    /// Stream name prefix, so several districts can share one NATS
    /// cluster.
    pub prefix: String,
    /// How long the events stream keeps events (the servers' disks hold
    /// this much of the district's traffic, times the replicas); at least
    /// the stream's two-minute dedup window. Applied when the stream is
    /// created.
    #[serde(with = "humantime_serde")]
    pub events_retention: Duration,
    /// No longer needed: while the cluster mode was built it started only
    /// with `preview = true`. Still accepted (and ignored) so that the
    /// configs written then load unchanged.
    pub preview: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            servers: Vec::new(),
            node: String::new(),
            token: None,
            credentials: None,
            tls_ca: None,
            partitions: 64,
            replicas: 3,
            lease_ttl: Duration::from_secs(6),
            lease_renew: Duration::from_secs(2),
            prefix: "tg".into(),
            events_retention: Duration::from_secs(24 * 3600),
            preview: false,
        }
    }
}

impl ClusterConfig {
    /// Whether the cluster mode is on.
    pub fn enabled(&self) -> bool {
        !self.servers.is_empty()
    }

    /// What does not work together, if anything.
    pub fn check(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if let Some(bad) = self
            .servers
            .iter()
            .find(|s| !(s.starts_with("nats://") || s.starts_with("tls://")))
        {
            return Err(format!(
                "cluster.servers: {bad:?} is not a NATS URL (nats://host:port)"
            ));
        }
        if !(1..=1024).contains(&self.partitions) {
            return Err("cluster.partitions must be between 1 and 1024".into());
        }
        if ![1, 3, 5].contains(&self.replicas) {
            return Err(
                "cluster.replicas must be 1, 3 or 5 (a quorum of a JetStream group)".into(),
            );
        }
        if self.lease_renew * 2 >= self.lease_ttl {
            return Err(format!(
                "cluster.lease_renew ({:?}) must be under half of cluster.lease_ttl ({:?}): a lease \
                 must survive a lost renewal",
                self.lease_renew, self.lease_ttl
            ));
        }
        if self.events_retention < Duration::from_secs(120) {
            return Err(format!(
                "cluster.events_retention ({:?}) must be at least the stream's dedup window (2 min)",
                self.events_retention
            ));
        }
        if self.token.is_some() && self.credentials.is_some() {
            return Err("cluster: give a token or a credentials file, not both".into());
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if !self.prefix.chars().all(valid) || self.prefix.is_empty() {
            return Err(format!(
                "cluster.prefix {:?}: letters, digits, - and _ only",
                self.prefix
            ));
        }
        if !self.node.chars().all(valid) {
            return Err(format!(
                "cluster.node {:?}: letters, digits, - and _ only",
                self.node
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(servers: &[&str]) -> ClusterConfig {
        ClusterConfig {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn the_default_is_the_embedded_mode_and_a_server_list_turns_the_cluster_on() {
        assert!(!ClusterConfig::default().enabled());
        let c = with(&["nats://127.0.0.1:4222"]);
        assert!(c.enabled());
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_what_to_change() {
        let c = ClusterConfig {
            preview: true,
            ..with(&["nats://a:4222"])
        };
        assert_eq!(
            c.check(),
            Ok(()),
            "the old preview key still loads, and is not needed"
        );
        let e = with(&["127.0.0.1:4222"]).check().unwrap_err();
        assert!(e.contains("not a NATS URL"), "{e}");
        let c = ClusterConfig {
            replicas: 2,
            ..with(&["nats://a:4222"])
        };
        assert!(c.check().unwrap_err().contains("1, 3 or 5"));
        let c = ClusterConfig {
            lease_renew: Duration::from_secs(3),
            ..with(&["nats://a:4222"])
        };
        assert!(c.check().unwrap_err().contains("under half"));
        let c = ClusterConfig {
            node: "hub a".into(),
            ..with(&["nats://a:4222"])
        };
        assert!(c.check().unwrap_err().contains("cluster.node"));
    }
}
