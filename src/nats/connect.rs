//! The node's connection to NATS and the JetStream resources every node
//! shares, created by whichever node comes first and checked by the rest:
//! the stream of events (a subject per partition, file storage, the
//! configured replicas, a dedup window for retransmits and re-publishes),
//! the streams of detections (a subject per partition) and of orders (a
//! subject per scope, and the dispatcher's state),
//! the members bucket (a key per live node, lapsing unless renewed),
//! the leases bucket (a key per partition, lapsing unless renewed), the
//! device book's bucket (a key per registered device and one for the
//! maintenance windows, kept), the rules' bucket (the rules file and the
//! mode, a few revisions kept) and the photos' object store.

use crate::config::cluster::ClusterConfig;
use async_nats::jetstream::{self, kv, object_store, stream};
use std::time::Duration;

/// How long JetStream remembers a message id: a retransmit or a
/// re-publish within it is dropped as a duplicate. A device resends an
/// unacknowledged batch within seconds; two minutes covers a node's death
/// and the device's reconnect to another.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// Why the cluster could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No NATS server answered.
    #[error("cannot connect to NATS at {servers}: {source}")]
    Connect {
        /// The servers tried.
        servers: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// The credentials file could not be read.
    #[error("cannot read the NATS credentials {path}: {source}")]
    Credentials {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A stream or bucket could not be created or opened.
    #[error("JetStream {what}: {message}")]
    JetStream {
        /// Which resource.
        what: String,
        /// What the server said.
        message: String,
    },
}

/// A joined cluster: the shared resources (on a client that reconnects
/// by itself).
#[derive(Clone)]
pub struct Nats {
    /// The connection (requests to the dispatch owner).
    pub client: async_nats::Client,
    /// JetStream.
    pub js: jetstream::Context,
    /// The names of the resources.
    pub names: Names,
    /// The live nodes.
    pub members: kv::Store,
    /// The partition leases.
    pub leases: kv::Store,
    /// The device book (registry and maintenance windows).
    pub book: kv::Store,
    /// The rules in force and the mode.
    pub rules: kv::Store,
    /// Photos from the spot, by their SHA-256.
    pub photos: object_store::ObjectStore,
}

/// Stream and bucket names and subjects, under the configured prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Names {
        Names {
            prefix: prefix.to_owned(),
        }
    }

    /// The events stream.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase())
    }

    /// The subject of partition `p`'s events.
    pub fn events_subject(&self, p: usize) -> String {
        format!("{}.events.{p}", self.prefix)
    }

    /// The durable consumer that processes partition `p`'s events.
    pub fn events_consumer(&self, p: usize) -> String {
        format!("{}_p{p}", self.prefix)
    }

    /// The detections stream: what the partitions' owners found, read by
    /// the dispatch owner.
    pub fn detections_stream(&self) -> String {
        format!("{}_DETECTIONS", self.prefix.to_uppercase())
    }

    /// The subject of partition `p`'s detections.
    pub fn detections_subject(&self, p: usize) -> String {
        format!("{}.detections.{p}", self.prefix)
    }

    /// The durable consumer the dispatch owner reads detections through.
    pub fn detections_consumer(&self) -> String {
        format!("{}_dispatch", self.prefix)
    }

    /// The orders stream: every write of the dispatcher, applied by every
    /// node to its own outbox.
    pub fn orders_stream(&self) -> String {
        format!("{}_ORDERS", self.prefix.to_uppercase())
    }

    /// The subject of a scope's orders (a street's code or `district`),
    /// or, for none, of the dispatcher's state.
    pub fn orders_subject(&self, scope: Option<&str>) -> String {
        match scope {
            Some(scope) => format!("{}.orders.{scope}", self.prefix),
            None => format!("{}.dispatch.state", self.prefix),
        }
    }

    /// Where requests about orders (acks, steps) go to the dispatch owner.
    pub fn requests_subject(&self) -> String {
        format!("{}.dispatch.requests", self.prefix)
    }

    /// The lease key of the dispatch role, in the leases bucket.
    pub fn dispatch_lease(&self) -> &'static str {
        "dispatch"
    }

    /// The members bucket.
    pub fn members_bucket(&self) -> String {
        format!("{}_members", self.prefix)
    }

    /// The leases bucket.
    pub fn leases_bucket(&self) -> String {
        format!("{}_leases", self.prefix)
    }

    /// The bucket of the partitions' saved engine state.
    pub fn engine_bucket(&self) -> String {
        format!("{}_engine", self.prefix)
    }

    /// The object store of the partitions' states too big for a KV value.
    pub fn engine_states_store(&self) -> String {
        format!("{}_engine_states", self.prefix)
    }

    /// The device book's bucket.
    pub fn book_bucket(&self) -> String {
        format!("{}_book", self.prefix)
    }

    /// The bucket of the rules in force and the mode.
    pub fn rules_bucket(&self) -> String {
        format!("{}_rules", self.prefix)
    }

    /// The photos' object store.
    pub fn photos_store(&self) -> String {
        format!("{}_photos", self.prefix)
    }

    /// Where a node asks every node what its shards know of devices.
    pub fn activity_subject(&self) -> String {
        format!("{}.devices.activity", self.prefix)
    }
}

/// Times the shared resources are asked for before a node gives up.
const JOIN_ATTEMPTS: u32 = 6;
/// The wait after the n-th failure is n times this: about a minute in all.
const JOIN_RETRY: Duration = Duration::from_secs(3);

impl Nats {
    /// Connects to the configured servers and opens (or creates) the
    /// shared resources. A cluster that does not answer yet (servers just
    /// started, electing their JetStream leader: requests time out) is
    /// asked again for about a minute before the node gives up, so nodes
    /// and servers may start in any order.
    pub async fn join(cfg: &ClusterConfig, node: &str) -> Result<Nats, ClusterError> {
        let client = connect(cfg, node).await?;
        let mut attempt = 1;
        loop {
            match Nats::open(client.clone(), cfg).await {
                Ok(nats) => return Ok(nats),
                Err(e) if attempt < JOIN_ATTEMPTS => {
                    let wait = JOIN_RETRY * attempt;
                    tracing::warn!(error = %e, attempt, "the cluster's JetStream does not answer yet; asking again in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens (or creates) the shared resources on `client`.
    async fn open(client: async_nats::Client, cfg: &ClusterConfig) -> Result<Nats, ClusterError> {
        let js = jetstream::new(client.clone());
        let names = Names::new(&cfg.prefix);
        let fail = |what: String| {
            move |e: Box<dyn std::error::Error + Send + Sync>| ClusterError::JetStream {
                what,
                message: e.to_string(),
            }
        };
        // Events and detections are kept for a while (a replay of recent
        // days reads them), not for ever: the servers' disks would fill.
        // Orders as long as the outbox keeps them: every node's outbox is
        // built from them (retention there exports and deletes).
        let streams = [
            (
                names.events_stream(),
                vec![format!("{}.events.*", cfg.prefix)],
                cfg.events_retention,
            ),
            (
                names.detections_stream(),
                vec![format!("{}.detections.*", cfg.prefix)],
                cfg.events_retention,
            ),
            (
                names.orders_stream(),
                vec![
                    format!("{}.orders.*", cfg.prefix),
                    names.orders_subject(None),
                ],
                Duration::ZERO,
            ),
        ];
        for (name, subjects, max_age) in streams {
            js.get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects,
                storage: stream::StorageType::File,
                num_replicas: cfg.replicas,
                duplicate_window: DEDUP_WINDOW,
                max_age,
                ..Default::default()
            })
            .await
            .map_err(|e| fail(name)(e.into()))?;
        }
        let members = bucket(&js, names.members_bucket(), cfg.lease_ttl, cfg.replicas)
            .await
            .map_err(fail(names.members_bucket()))?;
        let leases = bucket(&js, names.leases_bucket(), cfg.lease_ttl, cfg.replicas)
            .await
            .map_err(fail(names.leases_bucket()))?;
        // The book and the photos are kept until changed or deleted.
        let book = bucket(&js, names.book_bucket(), Duration::ZERO, cfg.replicas)
            .await
            .map_err(fail(names.book_bucket()))?;
        let rules = kept_bucket(&js, names.rules_bucket(), RULES_HISTORY, cfg.replicas)
            .await
            .map_err(fail(names.rules_bucket()))?;
        let photos = photo_store(&js, names.photos_store(), cfg.replicas)
            .await
            .map_err(fail(names.photos_store()))?;
        Ok(Nats {
            client,
            js,
            names,
            members,
            leases,
            book,
            rules,
            photos,
        })
    }
}

/// Connects to the configured servers with the config's token, credentials
/// or TLS, as `node` (the name the servers show for the connection).
pub async fn connect(cfg: &ClusterConfig, node: &str) -> Result<async_nats::Client, ClusterError> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(format!("tongguan {node}"))
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect();
    if let Some(t) = &cfg.token {
        opts = opts.token(t.clone());
    }
    if let Some(path) = &cfg.credentials {
        opts = opts
            .credentials_file(path)
            .await
            .map_err(|source| ClusterError::Credentials {
                path: path.display().to_string(),
                source,
            })?;
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    let servers = cfg.servers.join(",");
    let addrs: Vec<async_nats::ServerAddr> =
        cfg.servers.iter().filter_map(|s| s.parse().ok()).collect();
    let client = tokio::time::timeout(Duration::from_secs(10), opts.connect(addrs))
        .await
        .map_err(|_| ClusterError::JetStream {
            what: "connect".into(),
            message: format!("no NATS server of {servers} answered within 10 s"),
        })?
        .map_err(|source| ClusterError::Connect {
            servers: servers.clone(),
            source,
        })?;
    Ok(client)
}

/// A bucket whose keys lapse `ttl` after their last write (zero: never),
/// one revision kept per key.
async fn bucket(
    js: &jetstream::Context,
    name: String,
    ttl: Duration,
    replicas: usize,
) -> Result<kv::Store, Box<dyn std::error::Error + Send + Sync>> {
    if let Ok(store) = js.get_key_value(&name).await {
        return Ok(store);
    }
    Ok(js
        .create_key_value(kv::Config {
            bucket: name,
            history: 1,
            max_age: ttl,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?)
}

/// Revisions of each key the rules' bucket keeps: the text before a bad
/// change is still there to put back.
const RULES_HISTORY: i64 = 5;

/// A bucket of keys kept until changed, `history` revisions of each.
async fn kept_bucket(
    js: &jetstream::Context,
    name: String,
    history: i64,
    replicas: usize,
) -> Result<kv::Store, Box<dyn std::error::Error + Send + Sync>> {
    if let Ok(store) = js.get_key_value(&name).await {
        return Ok(store);
    }
    Ok(js
        .create_key_value(kv::Config {
            bucket: name,
            history,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?)
}

/// An object store on file storage with `replicas` copies.
async fn photo_store(
    js: &jetstream::Context,
    name: String,
    replicas: usize,
) -> Result<object_store::ObjectStore, Box<dyn std::error::Error + Send + Sync>> {
    if let Ok(store) = js.get_object_store(&name).await {
        return Ok(store);
    }
    Ok(js
        .create_object_store(object_store::Config {
            bucket: name,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?)
}
