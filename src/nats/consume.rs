//! Partitions this node owns, processed from the events stream, with
//! their engine state moving between owners. For each partition gained a
//! task loads the state its last owner saved (bucket `<prefix>_engine`,
//! [`super::partition_state`]) into the local shard that runs it, and
//! starts the partition's durable consumer (`<prefix>_p<n>`) again from
//! the message after the sequence that state covers: it replays what the
//! last owner ran after its save, then goes on, in stream order (the last
//! owner's position, and any pull requests a stale node still holds, go
//! with the consumer it had). Once an interval it saves the partition's
//! state with the sequence it covers, written only once what those
//! messages made is durable ([`crate::cluster::partition_state`] decides
//! which and when).
//!
//! The engine's time for a message is the arrival time ingest stamped in
//! it (event times are in the events), never this node's clock: a replay
//! here makes the detections the last owner made, under the same order
//! ids. A message is acknowledged to JetStream once what it made is
//! durable, so what a new owner runs again up to the last owner's
//! acknowledgements only rebuilds the state (its detections were made
//! durable then, and are not handed on twice); one delivered again after
//! a late acknowledgement ran already and is only acknowledged.
//!
//! A quiet partition gets a tick from its owner in its log once a second
//! (a message of no events): its watermark follows the time in the log,
//! so the correlator's incidents close while the partition is quiet, and
//! a replay moves it as the first run did.
//!
//! A partition lost stops its task at once, and before each message a
//! consumer checks that its lease is surely still the node's by the
//! node's own clock, so a node woken from a stop runs nothing it took in
//! before, even before its ownership task has looked at the leases again.

use super::connect::Nats;
use super::ownership::Validity;
use super::partition_state::{self as saved, StateError};
use crate::cluster::lease::Ownership;
use crate::cluster::partition_state::{resume_from, Coverage, PartitionState, SaveSchedule};
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::handle::Handle;
use crate::runtime::shard_msg::{PartitionMsg, ShardBatch, ShardMsg};
use crate::wire::event_log;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::Message;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a message may stay unacknowledged before JetStream delivers
/// it again (to whoever owns its partition by then).
const ACK_WAIT: Duration = Duration::from_secs(5);
/// Messages in flight per partition.
const MAX_ACK_PENDING: i64 = 256;
/// A partition that has had no message for this long gets a tick from
/// its owner in its log (see [`Run::tick_when_quiet`]).
const TICK_AFTER_MS: i64 = 1_000;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How the partitions' state is saved.
#[derive(Debug, Clone, Copy)]
pub struct StatePlan {
    /// Partitions of the map (`cluster.partitions`).
    pub partitions: u32,
    /// Save each partition's state this often, when it ran messages
    /// (`engine.checkpoint_interval`).
    pub every: Duration,
}

/// Starts and stops partition consumers as ownership changes.
pub fn spawn(
    nats: Nats,
    handle: Handle,
    metrics: Arc<Metrics>,
    guard: Guard,
    plan: StatePlan,
    mut changes: mpsc::UnboundedReceiver<Ownership>,
) -> tokio::task::JoinHandle<()> {
    let ctx = Arc::new(Ctx {
        nats,
        handle,
        metrics,
        guard,
        plan,
        gauges: Gauges::new(plan.partitions),
    });
    tokio::spawn(async move {
        let mut running: HashMap<u32, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let change = tokio::select! {
                change = changes.recv() => change,
                _ = tick.tick() => {
                    ctx.gauges.publish(&ctx.metrics, running.keys(), ctx.guard.clock.now_ms());
                    continue;
                }
            };
            match change {
                Some(Ownership::Gained { partition, .. }) => {
                    ctx.gauges.clear(partition);
                    let task = tokio::spawn(consume(ctx.clone(), partition as usize));
                    if let Some(old) = running.insert(partition, task) {
                        old.abort();
                    }
                }
                Some(Ownership::Lost { partition }) => {
                    if let Some(task) = running.remove(&partition) {
                        task.abort();
                    }
                }
                None => break,
            }
        }
        for task in running.into_values() {
            task.abort();
        }
    })
}

/// What a consumer checks before each message: whether the partition is
/// still surely this node's, by this node's clock.
#[derive(Clone)]
pub struct Guard {
    /// Until when each partition is this node's.
    pub validity: Validity,
    /// The node's clock.
    pub clock: Arc<dyn Clock>,
}

/// What every partition task of the node shares.
struct Ctx {
    nats: Nats,
    handle: Handle,
    metrics: Arc<Metrics>,
    guard: Guard,
    plan: StatePlan,
    gauges: Gauges,
}

impl Ctx {
    fn allows(&self, p: usize) -> bool {
        self.guard.validity.allows(p, self.guard.clock.now_ms())
    }

    fn count(&self, result: &str) {
        self.metrics
            .cluster_checkpoints
            .with_label_values(&[result])
            .inc();
    }
}

/// Processes partition `p` until aborted, starting again after errors.
async fn consume(ctx: Arc<Ctx>, p: usize) {
    loop {
        if !ctx.allows(p) {
            // Lapsed (the node was stopped?): the ownership task says
            // Lost or Gained again; until then, nothing.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if let Err(e) = pull_partition(&ctx, p).await {
            ctx.metrics
                .cluster_errors
                .with_label_values(&["consume"])
                .inc();
            tracing::warn!(partition = p, error = %e, "partition consumer stopped; starting again");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Loads partition `p`'s saved state, then runs the partition's messages
/// after what it covers; returns when the lease is no longer surely the
/// node's.
async fn pull_partition(ctx: &Ctx, p: usize) -> Result<(), BoxError> {
    let (partition, partitions) = (p as u32, ctx.plan.partitions);
    let bucket = saved::open(&ctx.nats).await?;
    let found = saved::load(&bucket, partition, partitions).await?;
    if let Some(why) = &found.refused {
        ctx.count("refused");
        tracing::error!(partition, error = %why, "saved engine state not loaded: the partition replays the stream from its start");
    }
    let covers = found.state.as_ref().map_or(0, |s| s.covers_seq);
    let first = resume_from(found.state.as_ref());
    let shard = p % ctx.handle.shard_count();
    let loaded = found.state.is_some();
    let (reply, restored) = oneshot::channel();
    let load = PartitionMsg::Load {
        partition,
        partitions,
        saved: found.state.map(|s| Box::new(s.engine)),
        reply,
    };
    submit(ctx, shard, load).await?;
    let restored = restored.await?;
    if loaded {
        ctx.count("loaded");
        tracing::info!(
            partition,
            covers,
            devices = restored.devices,
            conditions = restored.conditions,
            "partition engine state loaded"
        );
    }
    let now = ctx.guard.clock.now_ms();
    let mut run = Run {
        ctx,
        p,
        shard,
        bucket,
        object: found.object,
        revision: found.revision,
        acked: 0,
        run_seq: covers,
        coverage: Coverage::new(covers),
        schedule: SaveSchedule::new(ctx.plan.every.as_millis() as i64, now, covers),
        snapshot: None,
        in_flight: FuturesUnordered::new(),
        last_taken_ms: now,
        events_seq: covers,
    };
    let stream = ctx
        .nats
        .js
        .get_stream(ctx.nats.names.events_stream())
        .await?;
    let name = ctx.nats.names.events_consumer(p);
    // What the last owner acknowledged, it had made durable: run again
    // past the saved state, those messages only rebuild it.
    run.acked = match stream.consumer_info(&name).await {
        Ok(info) => info.ack_floor.stream_sequence,
        Err(_) => 0,
    };
    // The partition's durable consumer starts again from what the state
    // covers, so it delivers in stream order from there: the last owner's
    // position goes, and with it the pull requests a stale node may still
    // hold (which would take messages out of order).
    if let Err(e) = stream.delete_consumer(&name).await {
        tracing::debug!(partition, error = %e, "no partition consumer to delete");
    }
    let deliver_policy = match first {
        1 => DeliverPolicy::All,
        start_sequence => DeliverPolicy::ByStartSequence { start_sequence },
    };
    if first > 1 || run.acked > 0 {
        let acked = run.acked;
        tracing::info!(
            partition,
            from = first,
            acked,
            "running the partition after its saved state"
        );
    }
    let consumer = stream
        .create_consumer_strict(pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: ctx.nats.names.events_subject(p),
            deliver_policy,
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            max_ack_pending: MAX_ACK_PENDING,
            ..Default::default()
        })
        .await?;
    if run.drive(consumer.messages().await?).await? {
        return Err("the partition's consumer ended".into());
    }
    Ok(())
}

async fn submit(ctx: &Ctx, shard: usize, msg: PartitionMsg) -> Result<(), BoxError> {
    ctx.handle
        .submit(shard, ShardMsg::Partition(msg))
        .await
        .map_err(|_| "the engine stopped".into())
}

/// One partition's run on this node, from its saved state on.
struct Run<'a> {
    ctx: &'a Ctx,
    p: usize,
    shard: usize,
    bucket: saved::States,
    /// The object the state's key points to, for a large state.
    object: Option<String>,
    /// The state key's revision this node last read or wrote.
    revision: u64,
    /// Every message up to this one was acknowledged by the last owner.
    acked: u64,
    /// The last stream sequence run (or covered by the state loaded).
    run_seq: u64,
    coverage: Coverage,
    schedule: SaveSchedule,
    /// The state of the save in flight, waiting for its coverage.
    snapshot: Option<(i64, Vec<u8>)>,
    /// Per message run: told once what it made is durable (and then
    /// acknowledged, from the durable consumer), with its sequence.
    in_flight: FuturesUnordered<BoxFuture<'static, (u64, bool)>>,
    /// When (this node's clock) the last message was taken.
    last_taken_ms: i64,
    /// The last stream sequence run that held events: a state is saved
    /// only when events ran since the last save (ticks alone move only a
    /// watermark, which the next owner's replay of them moves again).
    events_seq: u64,
}

impl Run<'_> {
    /// Runs `messages`, saving the state as it goes, until they end
    /// (`true`) or the lease is no longer surely this node's (`false`).
    async fn drive<S, E>(&mut self, mut messages: S) -> Result<bool, BoxError>
    where
        S: Stream<Item = Result<Message, E>> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut ticks = tokio::time::interval(Duration::from_millis(TICK_AFTER_MS as u64));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let clock = &self.ctx.guard.clock;
            let wake = self
                .schedule
                .poll_timeout(self.events_seq)
                .map(|at| tokio::time::Instant::from_std(clock.instant_of_ms(at)));
            tokio::select! {
                m = messages.next() => {
                    let Some(msg) = m else {
                        return Ok(true);
                    };
                    if !self.take(msg?).await? {
                        return Ok(false);
                    }
                }
                Some((seq, ok)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    if ok {
                        self.coverage.durable(seq);
                    }
                }
                _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {}
                _ = ticks.tick() => self.tick_when_quiet().await,
            }
            if !self.save_when_due().await? {
                return Ok(false);
            }
        }
    }

    /// Hands one message to the shard; `false` when the lease is no
    /// longer surely ours.
    async fn take(&mut self, msg: Message) -> Result<bool, BoxError> {
        if !self.ctx.allows(self.p) {
            // Taken in before a stop, handed out after it: not ours to
            // run any more. Unacknowledged, it goes to the owner.
            return Ok(false);
        }
        self.last_taken_ms = self.ctx.guard.clock.now_ms();
        let info = msg.info()?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        let stored_ms = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
        let gauge = &self.ctx.gauges.parts[self.p];
        gauge.lag.store(pending as i64, Ordering::Relaxed);
        if seq <= self.run_seq {
            // Delivered again (its acknowledgement came late): it ran.
            self.in_flight.push(Box::pin(async move {
                let _ = msg.ack().await;
                (seq, false)
            }));
            return Ok(true);
        }
        let mut events = Vec::new();
        let part = match event_log::decode(&msg.payload, &mut events) {
            Ok(part) => part,
            Err(e) => {
                // Not ours to read (a newer node's format?): nothing this
                // node can run; said and counted, and passed over.
                self.ctx
                    .metrics
                    .cluster_errors
                    .with_label_values(&["consume"])
                    .inc();
                tracing::error!(partition = self.p, seq, error = %e, "events in the stream this node cannot read: passed over");
                self.coverage.skipped(seq);
                self.run_seq = seq;
                return Ok(true);
            }
        };
        // The engine's time: the arrival ingest stamped (format 1 had
        // none: the time the stream stored it).
        let now_ms = part.arrival_ms.unwrap_or(stored_ms);
        let tick = events.is_empty();
        let (done, durable) = oneshot::channel();
        let batch = ShardBatch {
            arrival: crate::runtime::clock::stamp_ns(),
            events,
            done: Some(done),
        };
        let replayed = seq <= self.acked;
        let events = PartitionMsg::Events {
            partition: self.p as u32,
            now_ms,
            batch,
            replayed,
        };
        submit(self.ctx, self.shard, events).await?;
        self.coverage.handed(seq);
        self.run_seq = seq;
        if !tick {
            self.events_seq = seq;
            if gauge.behind_since_ms.load(Ordering::Relaxed) == 0 {
                let now = self.ctx.guard.clock.now_ms();
                gauge.behind_since_ms.store(now, Ordering::Relaxed);
            }
        }
        self.in_flight.push(Box::pin(async move {
            let ok = durable.await.is_ok();
            if ok {
                let _ = msg.ack().await;
            }
            (seq, ok)
        }));
        Ok(true)
    }

    /// Writes a tick (a message of no events, stamped with this node's
    /// clock) into the partition's log when it has had no message for
    /// [`TICK_AFTER_MS`]: a quiet partition's watermark follows the time
    /// in its log, not the clock of whichever node runs it, so a replay
    /// of the log moves it as the first run did ([`crate::engine::lanes`]).
    /// A tick lost is harmless: the next one comes a second later.
    async fn tick_when_quiet(&mut self) {
        let now = self.ctx.guard.clock.now_ms();
        if now.saturating_sub(self.last_taken_ms) < TICK_AFTER_MS || !self.ctx.allows(self.p) {
            return;
        }
        self.last_taken_ms = now;
        let mut payload = Vec::with_capacity(16);
        event_log::encode(now, &[], &mut payload);
        let subject = self.ctx.nats.names.events_subject(self.p);
        let js = self.ctx.nats.js.clone();
        let metrics = self.ctx.metrics.clone();
        tokio::spawn(async move {
            let stored = match js.publish(subject, payload.into()).await {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if !stored {
                metrics.cluster_errors.with_label_values(&["publish"]).inc();
            }
        });
    }

    /// Takes the partition's state once an interval, and writes it once
    /// what it covers is durable; `false`: the partition is not ours.
    async fn save_when_due(&mut self) -> Result<bool, BoxError> {
        let (partition, partitions) = (self.p as u32, self.ctx.plan.partitions);
        let now = self.ctx.guard.clock.now_ms();
        if self.schedule.due(now, self.events_seq) {
            let (reply, engine) = oneshot::channel();
            let save = PartitionMsg::Save {
                partition,
                partitions,
                now_ms: now,
                reply,
            };
            submit(self.ctx, self.shard, save).await?;
            let state = PartitionState {
                partition,
                partitions,
                covers_seq: self.run_seq,
                engine: engine.await?,
            };
            self.schedule.started(now, self.run_seq);
            self.snapshot = Some((now, state.encode()));
        }
        if self.schedule.writable(self.coverage.covered()).is_none() {
            return Ok(true);
        }
        if !self.ctx.allows(self.p) {
            return Ok(false);
        }
        let (taken_ms, bytes) = self
            .snapshot
            .take()
            .expect("a save in flight has its state");
        let len = bytes.len();
        let previous = self.object.clone();
        match saved::save(&self.bucket, partition, bytes, self.revision, previous).await {
            Ok(written) => {
                self.revision = written.revision;
                self.object = written.object;
                self.schedule.saved();
                self.ctx.count("saved");
                let gauge = &self.ctx.gauges.parts[self.p];
                gauge.bytes.store(len as i64, Ordering::Relaxed);
                let behind = if self.events_seq > self.schedule.saved_seq() {
                    taken_ms
                } else {
                    0
                };
                gauge.behind_since_ms.store(behind, Ordering::Relaxed);
                Ok(true)
            }
            Err(e @ StateError::Fenced(_)) => {
                self.ctx.count("fenced");
                Err(e.into())
            }
            Err(e) => {
                self.schedule.failed();
                self.ctx.count("failed");
                tracing::warn!(partition, error = %e, "partition engine state not saved; trying again");
                Ok(true)
            }
        }
    }
}

/// The node's figures of its partitions' state, written by their tasks
/// and summed over the partitions owned once a second.
struct Gauges {
    parts: Vec<PartGauge>,
}

#[derive(Default)]
struct PartGauge {
    /// Since when (this node's clock, Unix ms) the partition has run
    /// messages its saved state does not cover; 0: it covers them all.
    behind_since_ms: AtomicI64,
    /// Size of its latest saved state.
    bytes: AtomicI64,
    /// Its messages in the stream after the last one run.
    lag: AtomicI64,
}

impl Gauges {
    fn new(partitions: u32) -> Gauges {
        Gauges {
            parts: (0..partitions).map(|_| PartGauge::default()).collect(),
        }
    }

    fn clear(&self, p: u32) {
        let g = &self.parts[p as usize];
        for a in [&g.behind_since_ms, &g.bytes, &g.lag] {
            a.store(0, Ordering::Relaxed);
        }
    }

    fn publish<'a>(&self, metrics: &Metrics, owned: impl Iterator<Item = &'a u32>, now_ms: i64) {
        let (mut oldest, mut bytes, mut lag) = (now_ms, 0, 0);
        for &p in owned {
            let g = &self.parts[p as usize];
            let since = g.behind_since_ms.load(Ordering::Relaxed);
            if since > 0 {
                oldest = oldest.min(since);
            }
            bytes += g.bytes.load(Ordering::Relaxed);
            lag += g.lag.load(Ordering::Relaxed);
        }
        metrics
            .cluster_checkpoint_age
            .set((now_ms - oldest).max(0) / 1000);
        metrics.cluster_checkpoint_bytes.set(bytes);
        metrics.cluster_replay_lag.set(lag);
    }
}
