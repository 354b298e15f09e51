//! What every session shares: the config, the tokens, the map, the
//! metrics, the outbox's read side, and the queues into the engine
//! threads. Built once by [`crate::hub::Hub`]; the QUIC sessions and the
//! HTTP handlers hold it in an `Arc`.

use crate::auth::admission;
use crate::auth::tokens::Auth;
use crate::config::Config;
use crate::engine::RuleSet;
use crate::geo::RegionMap;
use crate::metrics::Metrics;
use crate::runtime::subscribers::Subscribers;
use crate::runtime::{buffers, details, rules_control};
use crossbeam_channel::Sender;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What every session shares.
pub struct Shared {
    /// The configuration in force.
    pub config: Config,
    /// Token table.
    pub auth: Auth,
    /// People who sign in: accounts, single sign-on, sessions.
    pub gate: Arc<crate::auth::gate::Gate>,
    /// The audit trail's writer.
    pub audit: Arc<crate::audit::Audit>,
    /// The region map.
    pub map: Arc<RegionMap>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The way into the engine threads: events, acks, queries.
    pub runtime: crate::runtime::handle::Handle,
    /// Where `now` comes from.
    pub clock: Arc<dyn crate::runtime::clock::Clock>,
    /// Event vectors recycled between ingest and the shards.
    pub buffers: buffers::BufferPool,
    /// The durable outbox (read side; the dispatcher writes).
    pub store: Arc<crate::store::Store>,
    /// Masked details of hotline and patrol reports, for their orders.
    pub details: Arc<details::Details>,
    /// The device registry and the maintenance windows.
    pub devices: Arc<crate::store::devices::DeviceBook>,
    /// Photos from the spot.
    pub photos: crate::store::photos::Photos,
    /// The rules in force and the mode.
    pub rules: rules_control::RulesControl,
    /// Connection and rate limits.
    pub admission: Arc<admission::Admission>,
    /// New rules to the correlator.
    pub rules_tx: Sender<Arc<RuleSet>>,
    /// Live subscribers.
    pub subscribers: Arc<Subscribers>,
    /// A sink: batches are validated and acknowledged, and go no further
    /// (the baseline `loadgen` compares the whole pipeline against).
    pub sink: bool,
    /// Whether the hub is serving (for `/readyz`).
    pub ready: AtomicBool,
    /// Whether the last outbox commit succeeded (for `/readyz`): a hub
    /// that cannot write orders says so rather than pretend.
    pub outbox_ok: Arc<AtomicBool>,
    /// In the cluster mode, whether NATS answers (for `/readyz`); always
    /// true in the embedded mode.
    pub cluster_ok: Arc<AtomicBool>,
    /// In the cluster mode, where ingest publishes events: the shared log
    /// (none: the local shards).
    pub ingress: Option<Arc<dyn crate::runtime::transport::LogIngress>>,
    /// The recording of accepted batches (`[record]`), when it is on.
    pub recorder: Option<crate::record::Recorder>,
    /// In the cluster mode, the device book, photos and devices' activity
    /// every node shares (none: this node's own, the embedded hub).
    pub cluster: Option<crate::runtime::cluster_shared::ClusterShared>,
}

impl Shared {
    /// How many parts ingest splits a batch's events into: the cluster's
    /// partitions, or the local shards.
    pub fn event_partitions(&self) -> usize {
        use crate::runtime::transport::EventTransport;
        match &self.ingress {
            Some(log) => log.partitions(),
            None => self.runtime.partitions(),
        }
    }

    /// Offers a batch's accepted events, split by partition, to the
    /// recording (a copy into its queue, never a wait), once per batch.
    pub fn record(&self, arrival_ms: i64, parts: &[Vec<crate::model::Event>]) {
        if let Some(r) = &self.recorder {
            r.offer(arrival_ms, parts);
        }
    }

    /// Hands one part of a batch on: to the cluster's log, or to the local
    /// shard. The receiver is told once the part is durable.
    pub async fn publish_part(
        &self,
        partition: usize,
        arrival: u64,
        events: Vec<crate::model::Event>,
    ) -> Result<tokio::sync::oneshot::Receiver<()>, crate::runtime::inbox::Stopped> {
        use crate::runtime::transport::EventTransport;
        match &self.ingress {
            Some(log) => log.publish_events(partition, events).await,
            None => {
                self.runtime
                    .publish_events(partition, arrival, events)
                    .await
            }
        }
    }
}
