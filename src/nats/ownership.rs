//! The node's partition ownership, live: one task runs the core's lease
//! machine ([`crate::cluster::lease::Leases`]) against the members and
//! leases buckets. Every lease interval it renews its member key, reads
//! who is alive and who holds what, and sends the machine's claims,
//! renewals and releases as compare-and-set writes; what the node gains
//! and loses goes to the partition consumers, the log and the metrics.

use super::connect::Nats;
use crate::cluster::lease::{Holder, LeaseOp, LeaseTimings, Leases, Ownership};
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Until when (Unix ms, this node's clock) each partition may be processed
/// here, 0 when it is not this node's: written by the ownership task after
/// every step, read by the partition consumers before every message.
/// With it, each lease's epoch (its revision), which what the node writes
/// for the partition carries.
#[derive(Clone)]
pub struct Validity(Arc<Vec<(AtomicI64, AtomicU64)>>);

impl Validity {
    /// Nothing valid, for `partitions` partitions.
    pub fn new(partitions: u32) -> Validity {
        Validity(Arc::new(
            (0..partitions)
                .map(|_| (AtomicI64::new(0), AtomicU64::new(0)))
                .collect(),
        ))
    }

    /// Whether partition `p` may be processed at `now_ms`.
    pub fn allows(&self, p: usize, now_ms: i64) -> bool {
        self.0
            .get(p)
            .is_some_and(|(v, _)| now_ms < v.load(Ordering::Acquire))
    }

    /// The epoch of this node's lease on partition `p`, if it may process
    /// it at `now_ms`.
    pub fn epoch(&self, p: usize, now_ms: i64) -> Option<u64> {
        let (until, epoch) = self.0.get(p)?;
        (now_ms < until.load(Ordering::Acquire)).then(|| epoch.load(Ordering::Acquire))
    }

    fn update(&self, leases: &Leases) {
        let epochs: std::collections::HashMap<u32, u64> = leases.owned().collect();
        for (p, (until, epoch)) in self.0.iter().enumerate() {
            epoch.store(
                epochs.get(&(p as u32)).copied().unwrap_or(0),
                Ordering::Release,
            );
            until.store(leases.valid_until(p as u32).unwrap_or(0), Ordering::Release);
        }
    }
}

/// Which leases a task holds: the partitions' (keys "0", "1", ...), or one
/// role's (the dispatch: one key by its name).
#[derive(Debug, Clone)]
pub enum LeaseKeys {
    /// The map's partitions.
    Partitions,
    /// One role, by its key.
    Role(&'static str),
}

impl LeaseKeys {
    fn key(&self, p: u32) -> String {
        match self {
            LeaseKeys::Partitions => p.to_string(),
            LeaseKeys::Role(name) => (*name).to_owned(),
        }
    }
}

/// What a node's ownership task needs.
pub struct OwnershipPlan {
    /// This node's name.
    pub node: String,
    /// Partitions in all (1 for a role).
    pub partitions: u32,
    /// The leases' keys.
    pub keys: LeaseKeys,
    /// Lease timings.
    pub timings: LeaseTimings,
    /// Where the task tells the consumers until when each partition is
    /// this node's.
    pub validity: Validity,
}

/// The running task.
pub struct OwnershipHandle {
    task: tokio::task::JoinHandle<()>,
}

impl OwnershipHandle {
    /// Stops renewing; the leases lapse (or are taken over) by themselves.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Starts the ownership task; `reachable` tells whether its last read
/// of the buckets worked.
pub fn spawn(
    nats: Nats,
    plan: OwnershipPlan,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    reachable: Arc<AtomicBool>,
    changes: mpsc::UnboundedSender<Ownership>,
) -> OwnershipHandle {
    let task = tokio::spawn(run(nats, plan, metrics, clock, reachable, changes));
    OwnershipHandle { task }
}

async fn run(
    nats: Nats,
    plan: OwnershipPlan,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    reachable: Arc<AtomicBool>,
    tx: mpsc::UnboundedSender<Ownership>,
) {
    let mut leases = Leases::new(&plan.node, plan.partitions, plan.timings);
    if let LeaseKeys::Role(_) = plan.keys {
        // A role moves when its holder is gone, not back to a node that
        // joins: every move is a failover.
        leases = leases.sticky();
    }
    let every = Duration::from_millis(plan.timings.renew_ms as u64 / 2);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let on_time = OnTime {
        plan: &plan,
        tx: &tx,
        metrics: &metrics,
        clock: clock.as_ref(),
        client: &nats.client,
        reachable: &reachable,
        every,
    };
    loop {
        tick.tick().await;
        // A node that was stopped gives up what may have lapsed before it
        // reads or writes anything.
        on_time.catch_up(&mut leases);
        let read = on_time
            .meanwhile(&mut leases, refresh(&nats, &plan, clock.as_ref()))
            .await;
        let read = read.map(|view| view.apply(&mut leases));
        reachable.store(read.is_ok(), Ordering::Release);
        if let Err(e) = read {
            metrics.cluster_errors.with_label_values(&["read"]).inc();
            tracing::warn!(error = %e, "cannot read the cluster's members and leases");
        }
        // What is given up stops before the release is written.
        on_time.catch_up(&mut leases);
        // The writes go out together (one slow key does not hold up the
        // others) and each result is told to the machine as it comes.
        let mut sends: FuturesUnordered<_> = std::iter::from_fn(|| leases.poll_op())
            .map(|op| send(&nats, &plan, op))
            .collect();
        while !sends.is_empty() {
            let Some((op, result)) = on_time.meanwhile(&mut leases, sends.next()).await else {
                break;
            };
            record(op, result, &mut leases, clock.as_ref(), &metrics);
        }
        on_time.catch_up(&mut leases);
        if let LeaseKeys::Partitions = plan.keys {
            metrics
                .cluster_partitions_unowned
                .set(leases.unowned() as i64);
        }
    }
}

/// Keeps the machine's time while the task waits on NATS: a lease that
/// may have lapsed is dropped (and its loss forwarded, the metrics set)
/// when its time comes, and a lost connection makes the node unready,
/// not when a read or write that hangs (every server gone: each waits
/// for the client's timeout) finally returns.
struct OnTime<'a> {
    plan: &'a OwnershipPlan,
    tx: &'a mpsc::UnboundedSender<Ownership>,
    metrics: &'a Metrics,
    clock: &'a dyn Clock,
    /// The connection: while it is down, NATS is unreachable at once,
    /// not when a read times out.
    client: &'a async_nats::Client,
    reachable: &'a AtomicBool,
    /// How often a wait looks at the connection.
    every: Duration,
}

impl OnTime<'_> {
    /// Moves the machine to now and forwards what changed.
    fn catch_up(&self, leases: &mut Leases) {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            self.reachable.store(false, Ordering::Release);
        }
        leases.handle_timeout(self.clock.now_ms());
        forward(leases, self.plan, self.tx, self.metrics);
    }

    /// Awaits `work`, catching the machine up whenever a held lease's
    /// time runs out meanwhile.
    async fn meanwhile<T>(
        &self,
        leases: &mut Leases,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        loop {
            // The earliest a held lease may lapse; nothing held, nothing
            // to keep.
            let lapse = leases
                .owned()
                .filter_map(|(p, _)| leases.valid_until(p))
                .min();
            let wait = lapse.map_or(self.every, |until| {
                let left = Duration::from_millis((until - self.clock.now_ms()).max(0) as u64 + 1);
                left.min(self.every)
            });
            tokio::select! {
                out = &mut work => return out,
                _ = tokio::time::sleep(wait) => self.catch_up(leases),
            }
        }
    }
}

fn forward(
    leases: &mut Leases,
    plan: &OwnershipPlan,
    tx: &mpsc::UnboundedSender<Ownership>,
    metrics: &Metrics,
) {
    plan.validity.update(leases);
    let partitions = matches!(plan.keys, LeaseKeys::Partitions);
    while let Some(change) = leases.poll_ownership() {
        let (what, partition) = match change {
            Ownership::Gained { partition, .. } => ("gained", partition),
            Ownership::Lost { partition } => ("lost", partition),
        };
        if partitions {
            metrics
                .cluster_ownership_changes
                .with_label_values(&[what])
                .inc();
            tracing::info!(partition, "partition {what}");
        } else {
            tracing::info!(lease = plan.keys.key(partition), "lease {what}");
        }
        let _ = tx.send(change);
    }
    if partitions {
        metrics
            .cluster_partitions_owned
            .set(leases.owned().count() as i64);
    }
}

/// What one read of the buckets saw: the live nodes and each lease's
/// holder (none: free), when it was read; a lease that could not be read
/// is left out, so the machine keeps it as last seen.
struct View {
    now_ms: i64,
    live: Vec<String>,
    holders: Vec<(u32, Option<Holder>)>,
    /// The first lease read that failed, if any (the rest were read).
    error: Option<kv::EntryError>,
}

impl View {
    /// Tells the machine what was read; the first failed read, if any.
    fn apply(self, leases: &mut Leases) -> Result<(), kv::EntryError> {
        leases.set_members(self.now_ms, self.live);
        for (p, holder) in self.holders {
            leases.observe(self.now_ms, p, holder);
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Renews this node's member key and reads the members and every lease
/// (the leases all at once: when a server is slow or gone, one read's
/// timeout is the whole read's, not one per key).
async fn refresh(
    nats: &Nats,
    plan: &OwnershipPlan,
    clock: &dyn Clock,
) -> Result<View, Box<dyn std::error::Error + Send + Sync>> {
    nats.members
        .put(&plan.node, Bytes::from(clock.now_ms().to_string()))
        .await?;
    let mut live = Vec::new();
    let mut keys = nats.members.keys().await?;
    while let Some(k) = keys.next().await {
        live.push(k?);
    }
    let now_ms = clock.now_ms();
    let reads = (0..plan.partitions).map(|p| async move {
        let entry = nats.leases.entry(plan.keys.key(p)).await;
        (p, entry)
    });
    let mut view = View {
        now_ms,
        live,
        holders: Vec::new(),
        error: None,
    };
    for (p, entry) in futures_util::future::join_all(reads).await {
        match entry {
            Ok(entry) => {
                let holder = entry
                    .filter(|e| e.operation == kv::Operation::Put)
                    .map(|e| Holder {
                        node: String::from_utf8_lossy(&e.value).into_owned(),
                        revision: e.revision,
                    });
                view.holders.push((p, holder));
            }
            Err(e) => {
                view.error.get_or_insert(e);
            }
        }
    }
    Ok(view)
}

/// What became of one write.
enum Sent {
    /// A claim or renewal stored at this revision.
    Stored(u64),
    /// A renewal refused: the key's revision moved (someone else's now).
    Taken,
    /// Not stored (the store unreachable, or a claim of a held key).
    Failed,
    /// A release sent (or failed: either way no longer processed here).
    Released,
}

/// Sends one write; what came of it goes to [`record`].
async fn send(nats: &Nats, plan: &OwnershipPlan, op: LeaseOp) -> (LeaseOp, Sent) {
    let me = Bytes::from(plan.node.clone());
    let sent = match &op {
        LeaseOp::Claim { partition } => {
            match nats.leases.create(plan.keys.key(*partition), me).await {
                Ok(revision) => Sent::Stored(revision),
                Err(_) => Sent::Failed,
            }
        }
        LeaseOp::Renew {
            partition,
            revision,
        } => match nats
            .leases
            .update(plan.keys.key(*partition), me, *revision)
            .await
        {
            Ok(revision) => Sent::Stored(revision),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Sent::Taken,
            Err(_) => Sent::Failed,
        },
        LeaseOp::Release {
            partition,
            revision,
        } => {
            let key = plan.keys.key(*partition);
            match nats
                .leases
                .delete_expect_revision(&key, Some(*revision))
                .await
            {
                Ok(()) => Sent::Released,
                Err(_) => Sent::Failed,
            }
        }
    };
    (op, sent)
}

/// Tells the machine what came of a write.
fn record(op: LeaseOp, sent: Sent, leases: &mut Leases, clock: &dyn Clock, metrics: &Metrics) {
    let now = clock.now_ms();
    match (op, sent) {
        (LeaseOp::Claim { partition }, Sent::Stored(revision)) => {
            leases.claimed(now, partition, revision)
        }
        (LeaseOp::Claim { partition }, _) => leases.claim_failed(now, partition),
        (LeaseOp::Renew { partition, .. }, Sent::Stored(revision)) => {
            leases.renewed(now, partition, revision)
        }
        (LeaseOp::Renew { partition, .. }, sent) => {
            let taken = matches!(sent, Sent::Taken);
            if !taken {
                metrics.cluster_errors.with_label_values(&["renew"]).inc();
            }
            leases.renew_failed(now, partition, taken);
        }
        (LeaseOp::Release { partition, .. }, sent) => {
            if !matches!(sent, Sent::Released) {
                metrics.cluster_errors.with_label_values(&["release"]).inc();
            }
            leases.released(now, partition);
        }
    }
}
