//! The cluster mode's shell: the node's NATS connection and the JetStream
//! resources the nodes share ([`connect`]), and its partition ownership
//! driven by the core's lease machine ([`ownership`]); the device book,
//! photos, devices' activity, and rules and mode every node shares
//! ([`book`], [`photos`], [`activity`], [`rules`]). What is decided
//! (who should own what, when a lease is surely still ours) is in the
//! core's `cluster`; this only moves bytes to and from NATS.

pub mod activity;
pub mod book;
pub mod connect;
pub mod consume;
pub mod detections;
pub mod dispatch_role;
pub mod events;
pub mod follow;
pub mod ownership;
pub mod partition_state;
pub mod pending;
pub mod photos;
pub mod replicate;
pub mod requests;
pub mod rules;
pub mod stream_source;

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
    /// The dispatch lease's task.
    pub dispatch_lease: ownership::OwnershipHandle,
    /// The dispatch role and the orders stream's follower.
    pub dispatch_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The device book, photos, devices' activity and rules, for the
    /// HTTP side.
    pub shared: crate::runtime::cluster_shared::ClusterShared,
    /// The device book's and the rules' followers and the activity
    /// answerer.
    pub shared_tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What of this node the dispatch side works with.
pub struct NodeParts {
    /// The engine's ends for the cluster side.
    pub ends: crate::runtime::cluster_ends::ClusterEnds,
    /// This node's outbox (a copy of the orders stream).
    pub store: Arc<crate::store::Store>,
    /// This node's subscribers.
    pub subscribers: Arc<crate::runtime::subscribers::Subscribers>,
    /// The region map.
    pub map: Arc<crate::geo::RegionMap>,
    /// This node's device book (a copy of the cluster's).
    pub book: Arc<crate::store::devices::DeviceBook>,
    /// This node's rules in force and mode (the cluster's).
    pub rules: crate::runtime::rules_control::RulesControl,
}

/// Joins the cluster the config names, if it names one: connects, opens
/// the shared resources and starts taking partition leases. `quic` is the
/// node's bound QUIC address (its port names the node by default);
/// `reachable` follows whether NATS answers.
pub async fn join(
    config: &Config,
    quic: SocketAddr,
    handle: crate::runtime::handle::Handle,
    parts: Option<NodeParts>,
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
        keys: ownership::LeaseKeys::Partitions,
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
    let timings = plan.timings;
    let parts = parts.ok_or_else(|| connect::ClusterError::JetStream {
        what: "engine".into(),
        message: "the engine was not started for the cluster mode".into(),
    })?;
    let (shared, shared_tasks) = start_shared(
        &nats,
        &name,
        (parts.book.clone(), parts.rules.clone()),
        handle.clone(),
        config,
        (metrics.clone(), clock.clone()),
    )
    .await;
    let dispatch = start_dispatch(
        &nats,
        &name,
        parts,
        &validity,
        handle.clone(),
        (metrics.clone(), clock.clone(), reachable.clone()),
        (config, timings),
    )?;
    let guard = consume::Guard {
        validity,
        clock: clock.clone(),
    };
    pending::spawn(nats.clone(), guard.clone(), metrics.clone(), cfg.partitions);
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
        dispatch_lease: dispatch.0,
        dispatch_tasks: dispatch.1,
        shared,
        shared_tasks,
    }))
}

/// Starts what the nodes share besides orders: the device book and the
/// rules (this node's made the buckets' before this returns, bounded), the
/// photos and the answers about devices' activity.
async fn start_shared(
    nats: &connect::Nats,
    name: &str,
    (book, rules): (
        Arc<crate::store::devices::DeviceBook>,
        crate::runtime::rules_control::RulesControl,
    ),
    handle: crate::runtime::handle::Handle,
    config: &Config,
    (metrics, clock): (Arc<Metrics>, Arc<dyn Clock>),
) -> (
    crate::runtime::cluster_shared::ClusterShared,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let file = config.devices.registry_file().map(|p| p.to_owned());
    let (shared_book, follower) =
        book::start(nats, book, handle.clone(), file, metrics.clone()).await;
    let (shared_rules, rules_follower) = rules::start(nats, rules, metrics.clone()).await;
    let (n, node, h) = (nats.clone(), name.to_owned(), handle.clone());
    let answerer = tokio::spawn(async move {
        if let Err(e) = activity::serve(n, node, h).await {
            tracing::error!(error = %e, "this node cannot answer about its devices' activity");
        }
    });
    let shared = crate::runtime::cluster_shared::ClusterShared {
        book: shared_book,
        photos: Arc::new(photos::NatsPhotos::new(
            nats.photos.clone(),
            metrics.clone(),
        )),
        activity: Arc::new(activity::NatsActivity::new(
            nats.clone(),
            name.to_owned(),
            handle,
            clock,
            metrics,
        )),
        rules: shared_rules,
    };
    (shared, vec![follower, rules_follower, answerer])
}

/// Starts the dispatch side: the detections publisher, the orders
/// stream's follower, the dispatch lease and the role that follows it.
fn start_dispatch(
    nats: &connect::Nats,
    name: &str,
    parts: NodeParts,
    partitions: &ownership::Validity,
    handle: crate::runtime::handle::Handle,
    (metrics, clock, reachable): (Arc<Metrics>, Arc<dyn Clock>, Arc<AtomicBool>),
    (config, timings): (&Config, LeaseTimings),
) -> Result<(ownership::OwnershipHandle, Vec<tokio::task::JoinHandle<()>>), connect::ClusterError> {
    let NodeParts {
        ends,
        store,
        subscribers,
        map,
        book: _,
        rules: _,
    } = parts;
    // This process, apart from an earlier one of the same node name.
    let origin = format!(
        "{name}/{:x}",
        crate::runtime::clock::stamp_ns() ^ u64::from(std::process::id())
    );
    detections::spawn(
        nats.clone(),
        ends.shard_outputs,
        ends.shards,
        config.cluster.partitions as usize,
        partitions.clone(),
        clock.clone(),
        metrics.clone(),
    )
    .map_err(|e| connect::ClusterError::JetStream {
        what: "detections".into(),
        message: e.to_string(),
    })?;
    let (follower, applied) = follow::spawn(follow::Follow {
        nats: nats.clone(),
        store,
        subscribers,
        map: map.clone(),
        origin: origin.clone(),
        data_dir: config.hub.data_dir.clone(),
        metrics: metrics.clone(),
    });
    let forward = requests::NatsForward {
        nats: nats.clone(),
        map: map.clone(),
        rt: tokio::runtime::Handle::current(),
    };
    let _ = ends
        .dispatch
        .send(crate::runtime::cluster_ends::DispatchInput::Forwarder(
            Arc::new(forward),
        ));
    let validity = ownership::Validity::new(1);
    let (tx, changes) = tokio::sync::mpsc::unbounded_channel();
    let role = dispatch_role::spawn(
        dispatch_role::Role {
            nats: nats.clone(),
            dispatch: ends.dispatch,
            handle,
            map,
            applied,
            validity: validity.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            origin,
        },
        changes,
    );
    let lease = ownership::spawn(
        nats.clone(),
        ownership::OwnershipPlan {
            node: name.to_owned(),
            partitions: 1,
            keys: ownership::LeaseKeys::Role(nats.names.dispatch_lease()),
            validity,
            timings,
        },
        metrics,
        clock,
        reachable,
        tx,
    );
    Ok((lease, vec![follower, role]))
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
