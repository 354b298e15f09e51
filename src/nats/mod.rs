//! The cluster mode's shell: the node's NATS connection and the JetStream
//! resources the nodes share ([`connect`]), and its partition ownership
//! driven by the core's lease machine ([`ownership`]). What is decided
//! (who should own what, when a lease is surely still ours) is in the
//! core's `cluster`; this only moves bytes to and from NATS.

pub mod connect;
pub mod consume;
pub mod events;
pub mod ownership;
pub mod partition_state;

use crate::cluster::lease::LeaseTimings;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A node in the cluster: its ownership task, the consumers of the
/// partitions it owns, and ingest's way into the events stream.
pub struct ClusterNode {
    /// Partition ownership.
    pub ownership: ownership::OwnershipHandle,
    /// The partition consumers.
    pub consumers: tokio::task::JoinHandle<()>,
    /// Where ingest publishes.
    pub ingress: Arc<events::NatsEvents>,
}

/// Joins the cluster the config names, if it names one: connects, opens
/// the shared resources and starts taking partition leases. `quic` is the
/// node's bound QUIC address (its port names the node by default);
/// `reachable` follows whether NATS answers.
pub async fn join(
    config: &Config,
    quic: SocketAddr,
    handle: crate::runtime::handle::Handle,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    reachable: Arc<AtomicBool>,
) -> Result<Option<ClusterNode>, connect::ClusterError> {
    let cfg = &config.cluster;
    if !cfg.enabled() {
        return Ok(None);
    }
    let name = if cfg.node.is_empty() {
        default_node_name(quic.port())
    } else {
        cfg.node.clone()
    };
    let nats = connect::Nats::join(cfg, &name).await?;
    let validity = ownership::Validity::new(cfg.partitions);
    let plan = ownership::OwnershipPlan {
        node: name.clone(),
        partitions: cfg.partitions,
        validity: validity.clone(),
        timings: LeaseTimings {
            ttl_ms: cfg.lease_ttl.as_millis() as i64,
            renew_ms: cfg.lease_renew.as_millis() as i64,
            margin_ms: (cfg.lease_ttl.as_millis() as i64 / 6).max(200),
        },
    };
    let (tx, changes) = tokio::sync::mpsc::unbounded_channel();
    let ingress = Arc::new(events::NatsEvents::new(
        nats.js.clone(),
        nats.names.clone(),
        cfg.partitions as usize,
        metrics.clone(),
        clock.clone(),
    ));
    let guard = consume::Guard {
        validity,
        clock: clock.clone(),
    };
    let state = consume::StatePlan {
        partitions: cfg.partitions,
        every: config.engine.checkpoint_interval,
    };
    let consumers = consume::spawn(nats.clone(), handle, metrics.clone(), guard, state, changes);
    let ownership = ownership::spawn(nats, plan, metrics, clock, reachable, tx);
    tracing::info!(node = %name, servers = %cfg.servers.join(","), "joined the cluster");
    Ok(Some(ClusterNode {
        ownership,
        consumers,
        ingress,
    }))
}

/// The host's name and the QUIC port, in the characters a NATS key takes.
fn default_node_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "node".into());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{host}-{port}")
}
