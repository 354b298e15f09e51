//! One replay: recorded batches, with the time they arrived, go through
//! shards and a correlator exactly as the hub's threads drive them
//! (src/runtime/threads.rs: each shard handles its part of a batch at the
//! batch's clock, ticks when its timeout is due, and hands detections and
//! its watermark to the correlator), and each warning is named by the
//! dispatcher's deterministic order id. What comes out is the orders the
//! hub would have dispatched, one entry per id, as in the outbox.
//!
//! Invariant: the same batches through the same rules, settings and
//! shard count give the same orders with the same ids, here and in the
//! hub (a test records a live hub and checks it).

use crate::dispatch::order_id::order_id;
use crate::engine::correlate::Correlator;
use crate::engine::partition::shard_of;
use crate::engine::shard::Shard;
use crate::engine::{EngineSettings, RuleSet, Warning};
use crate::geo::RegionMap;
use crate::model::{Category, Event, Severity, Source};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::sync::Arc;

/// An order as the replay made it: its first revision, and what its
/// later revisions added.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayedOrder {
    /// The deterministic order id (the hub's, for the same events).
    pub id: String,
    /// The lead rule's category (one rule per category).
    pub rule: Category,
    /// The incident kind.
    pub kind: String,
    /// The highest severity of its revisions.
    pub severity: Severity,
    /// The owning street's code, if a street owns the place.
    pub street: Option<String>,
    /// Whether more than one kind of source agreed, in any revision.
    pub multi_source: bool,
    /// Source kinds of the last revision.
    pub sources: Vec<Source>,
    /// Revisions the hub would have sent (news only, as the dispatcher).
    pub revisions: u32,
    /// The device whose detection opened the incident.
    pub device: u64,
    /// The opening detection's map cell.
    pub cell: u64,
    /// Event time of the first breaching event, Unix ms.
    pub breach_ms: i64,
    /// Event time at which the rule fired and the order was made, Unix ms.
    pub ordered_ms: i64,
}

impl ReplayedOrder {
    /// From the first breaching event to the order, ms.
    pub fn delay_ms(&self) -> i64 {
        self.ordered_ms - self.breach_ms
    }
}

/// What a replay made: the orders, oldest first, and what it went through.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayRun {
    /// One per order id, in the order they were made.
    pub orders: Vec<ReplayedOrder>,
    /// Batches replayed.
    pub batches: u64,
    /// Events replayed.
    pub events: u64,
}

/// The engine of a replay, fed batch by batch.
pub struct Replay {
    shards: Vec<Shard>,
    parts: Vec<Vec<Event>>,
    correlator: Correlator,
    map: Arc<RegionMap>,
    now_ms: i64,
    by_id: FxHashMap<String, usize>,
    /// Per order: what the last revision said (for "is it news").
    last: Vec<(Severity, Vec<Source>, u64, Arc<str>)>,
    run: ReplayRun,
}

impl Replay {
    /// A replay on `shards` shards (the recording's: the hub's count).
    pub fn new(
        rules: Arc<RuleSet>,
        settings: EngineSettings,
        shards: usize,
        map: Arc<RegionMap>,
    ) -> Replay {
        let n = shards.max(1);
        Replay {
            shards: (0..n)
                .map(|_| Shard::new(rules.clone(), settings))
                .collect(),
            parts: vec![Vec::new(); n],
            correlator: Correlator::new(rules, settings, n),
            map,
            now_ms: i64::MIN,
            by_id: FxHashMap::default(),
            last: Vec::new(),
            run: ReplayRun::default(),
        }
    }

    /// Runs a batch that arrived at `arrival_ms` (the hub's clock then).
    pub fn handle_batch(&mut self, arrival_ms: i64, events: &[Event]) {
        // The hub's clock never runs back for its state machines.
        self.now_ms = self.now_ms.max(arrival_ms);
        let now = self.now_ms;
        let n = self.shards.len();
        for e in events {
            self.parts[shard_of(e.cell, n)].push(*e);
        }
        for i in 0..n {
            let shard = &mut self.shards[i];
            if now >= shard.poll_timeout() {
                // The hub's shard thread would have woken for it by now.
                shard.handle_timeout(now);
            }
            if !self.parts[i].is_empty() {
                shard.handle_events(now, 0, &self.parts[i]);
                self.parts[i].clear();
                if now >= shard.poll_timeout() {
                    shard.handle_timeout(now);
                }
            }
            while let Some(d) = shard.poll_detection() {
                self.correlator.handle_detection(d);
            }
            self.correlator.flush();
            self.correlator
                .handle_watermark(i, shard.current_watermark());
        }
        self.take_warnings();
        self.run.batches += 1;
        self.run.events += events.len() as u64;
    }

    /// Runs one message of the cluster's events log (a replay of as many
    /// shards as the cluster has partitions, shard p for partition p): the
    /// events of partition `partition` at `now_ms`, the arrival time
    /// ingest stamped on them, or, with no events, a tick its owner wrote
    /// while it was quiet. Only that partition moves, by its own messages,
    /// as on whichever node owned it (`Shard::handle_partition_events`
    /// and `handle_partition_tick`); the correlator hears its own
    /// watermark, as the dispatch owner does. Other partitions' time does
    /// not move with it: a quiet one follows its own ticks.
    pub fn handle_partition_message(&mut self, partition: usize, now_ms: i64, events: &[Event]) {
        let n = self.shards.len();
        assert!(partition < n, "partition {partition} of a replay of {n}");
        debug_assert!(events.iter().all(|e| shard_of(e.cell, n) == partition));
        // The shard's own clock only sweeps stale state, as the owner's
        // shard thread does by its clock; decisions go by the lane.
        self.now_ms = self.now_ms.max(now_ms);
        let shard = &mut self.shards[partition];
        if self.now_ms >= shard.poll_timeout() {
            shard.handle_timeout(self.now_ms);
        }
        let p = partition as u32;
        if events.is_empty() {
            shard.handle_partition_tick(p, now_ms);
        } else {
            shard.handle_partition_events(p, now_ms, 0, events);
        }
        while let Some(d) = shard.poll_detection() {
            self.correlator.handle_detection(d);
        }
        self.correlator.flush();
        if let Some((_, w)) = shard.partition_watermarks().find(|&(q, _)| q == p) {
            self.correlator.handle_watermark(partition, w);
        }
        self.take_warnings();
        if !events.is_empty() {
            self.run.batches += 1;
            self.run.events += events.len() as u64;
        }
    }

    /// Moves the clock to `now_ms` with no events (the end of a range):
    /// quiet shards' watermarks follow it and incidents close.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        self.now_ms = self.now_ms.max(now_ms);
        for (i, shard) in self.shards.iter_mut().enumerate() {
            shard.handle_timeout(self.now_ms);
            self.correlator
                .handle_watermark(i, shard.current_watermark());
        }
        self.take_warnings();
    }

    /// Orders so far.
    pub fn orders(&self) -> &[ReplayedOrder] {
        &self.run.orders
    }

    /// Ends the replay: what it made.
    pub fn finish(self) -> ReplayRun {
        self.run
    }

    fn take_warnings(&mut self) {
        while let Some(w) = self.correlator.poll_warning() {
            self.order(&w);
        }
    }

    /// A warning becomes a new order, or a revision of its order when it
    /// says something new (as the dispatcher decides it).
    fn order(&mut self, w: &Warning) {
        let id = order_id(w);
        if let Some(&i) = self.by_id.get(&id) {
            let (severity, sources, count, plan) = &self.last[i];
            let news = w.severity > *severity
                || w.sources.iter().any(|s| !sources.contains(s))
                || w.detection_count > *count
                || *w.plan != **plan;
            if !news {
                return;
            }
            let o = &mut self.run.orders[i];
            o.revisions += 1;
            o.severity = o.severity.max(w.severity);
            o.multi_source |= w.sources.len() > 1;
            o.sources.clone_from(&w.sources);
            self.last[i] = (
                w.severity,
                w.sources.clone(),
                w.detection_count,
                w.plan.clone(),
            );
            return;
        }
        let opener = w
            .detections
            .first()
            .expect("a warning holds the detection that opened its incident");
        let street = self
            .map
            .street_of(w.cell)
            .map(|s| self.map.street(s).code.clone());
        self.by_id.insert(id.clone(), self.run.orders.len());
        self.last.push((
            w.severity,
            w.sources.clone(),
            w.detection_count,
            w.plan.clone(),
        ));
        self.run.orders.push(ReplayedOrder {
            id,
            rule: w.category,
            kind: w.kind.to_string(),
            severity: w.severity,
            street,
            multi_source: w.sources.len() > 1,
            sources: w.sources.clone(),
            revisions: 1,
            device: opener.device,
            cell: opener.cell,
            breach_ms: opener.first_seen_ms.min(opener.time_ms),
            ordered_ms: w.last_ms,
        });
    }
}
