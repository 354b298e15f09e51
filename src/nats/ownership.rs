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
    loop {
        tick.tick().await;
        // A node that was stopped gives up what may have lapsed before it
        // reads or writes anything.
        leases.handle_timeout(clock.now_ms());
        forward(&mut leases, &plan, &tx, &metrics);
        // A read that hangs (every server gone: each request waits for the
        // client's timeout) must not hold up the machine's time: what may
        // have lapsed is dropped, and the node says it is unready, within
        // a tick or two.
        let read = match tokio::time::timeout(
            every * 2,
            refresh(&nats, &plan, &mut leases, clock.as_ref()),
        )
        .await
        {
            Ok(read) => read,
            Err(_) => Err("the cluster's members and leases not read in time".into()),
        };
        reachable.store(read.is_ok(), Ordering::Release);
        if let Err(e) = read {
            metrics.cluster_errors.with_label_values(&["read"]).inc();
            tracing::warn!(error = %e, "cannot read the cluster's members and leases");
        }
        // What is given up stops before the release is written.
        forward(&mut leases, &plan, &tx, &metrics);
        while let Some(op) = leases.poll_op() {
            apply(
                &nats,
                &plan,
                op,
                &mut leases,
                clock.as_ref(),
                &metrics,
                every,
            )
            .await;
            // (Writes that hang are bounded each: meanwhile the leases'
            // time goes on.)
            leases.handle_timeout(clock.now_ms());
            forward(&mut leases, &plan, &tx, &metrics);
        }
        forward(&mut leases, &plan, &tx, &metrics);
        if let LeaseKeys::Partitions = plan.keys {
            metrics
                .cluster_partitions_unowned
                .set(leases.unowned() as i64);
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

/// Renews this node's member key and reads the members and every lease.
async fn refresh(
    nats: &Nats,
    plan: &OwnershipPlan,
    leases: &mut Leases,
    clock: &dyn Clock,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    nats.members
        .put(&plan.node, Bytes::from(clock.now_ms().to_string()))
        .await?;
    let mut live = Vec::new();
    let mut keys = nats.members.keys().await?;
    while let Some(k) = keys.next().await {
        live.push(k?);
    }
    let now = clock.now_ms();
    leases.set_members(now, live);
    // A lease that cannot be read this time is left as last seen (the
    // others are still read), and counted.
    let mut first_error = None;
    for p in 0..plan.partitions {
        match nats.leases.entry(plan.keys.key(p)).await {
            Ok(entry) => {
                let holder = entry
                    .filter(|e| e.operation == kv::Operation::Put)
                    .map(|e| Holder {
                        node: String::from_utf8_lossy(&e.value).into_owned(),
                        revision: e.revision,
                    });
                leases.observe(now, p, holder);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Sends one write and tells the machine what came of it.
async fn apply(
    nats: &Nats,
    plan: &OwnershipPlan,
    op: LeaseOp,
    leases: &mut Leases,
    clock: &dyn Clock,
    metrics: &Metrics,
    within: Duration,
) {
    let me = Bytes::from(plan.node.clone());
    // A write not answered within `within` counts as failed: a claim then
    // lapses unused, a renewal leaves the lease to lapse by its last
    // renewal (the safe side either way).
    match op {
        LeaseOp::Claim { partition } => {
            let create = nats.leases.create(plan.keys.key(partition), me);
            match tokio::time::timeout(within, create).await {
                Ok(Ok(revision)) => leases.claimed(clock.now_ms(), partition, revision),
                _ => leases.claim_failed(clock.now_ms(), partition),
            }
        }
        LeaseOp::Renew {
            partition,
            revision,
        } => match tokio::time::timeout(
            within,
            nats.leases.update(plan.keys.key(partition), me, revision),
        )
        .await
        {
            Ok(Ok(revision)) => leases.renewed(clock.now_ms(), partition, revision),
            Err(_) => {
                metrics.cluster_errors.with_label_values(&["renew"]).inc();
                leases.renew_failed(clock.now_ms(), partition, false);
            }
            Ok(Err(e)) => {
                let taken = e.kind() == kv::UpdateErrorKind::WrongLastRevision;
                if !taken {
                    metrics.cluster_errors.with_label_values(&["renew"]).inc();
                }
                leases.renew_failed(clock.now_ms(), partition, taken);
            }
        },
        LeaseOp::Release {
            partition,
            revision,
        } => {
            let key = plan.keys.key(partition);
            let delete = nats.leases.delete_expect_revision(&key, Some(revision));
            if !matches!(tokio::time::timeout(within, delete).await, Ok(Ok(_))) {
                metrics.cluster_errors.with_label_values(&["release"]).inc();
            }
            leases.released(clock.now_ms(), partition);
        }
    }
}
