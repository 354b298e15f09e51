//! A shard: the engine state of one part of the map, owned by one thread.
//! `handle_events(now, arrival, events)` runs each event through retransmit
//! dedup, lateness and its category's rule; `handle_timeout(now)` moves
//! the watermark of a quiet shard and forgets stale state;
//! `poll_detection()` hands out what fired.
//!
//! Invariant: every event handed in is counted exactly once in
//! [`ShardStats`] as processed, retransmit, too old or late.
//!
//! Time: an event time ahead of `now` counts as `now` for the watermark
//! (counted as `future`), so one device's fast clock cannot make the other
//! devices of the shard late; a device whose latest event is more than the
//! clock skew threshold ahead is flagged ([`DeviceState::clock_skewed`]).
//!
//! A late event (older than the watermark) still goes through its rule
//! wherever its state allows, and what fires is marked late
//! ([`Detection::late_ms`]):
//!
//! - per-device rules (above, below, rate) keep the state of one device, so
//!   a late event that is in order for its device (not older than the
//!   newest event of that device) is judged exactly as an on-time one: a
//!   device with a slow clock, or a batch held back by a gateway, still
//!   makes its holds, rates and alarms;
//! - out of its device's order, a breach of a rule with no hold still fires
//!   (unless the device's open condition already covers it: active, begun
//!   at most one repeat interval after it); a hold or a rate cannot be
//!   judged from readings out of order, and a reading within the limits
//!   cannot clear or restart newer state, so it changes nothing;
//! - a count rule's window belongs to a cell, fed by many devices, and has
//!   moved on with the watermark: a late event cannot join it.
//!
//! What could not be judged is counted as `late_skipped`, what fired as
//! `late_alarmed`. A retransmit is a duplicate, late or not: dedup comes
//! first.

use super::checkpoint::{ConditionEntry, CountEntry, Restored, RuleKind, ShardCheckpoint};
use super::condition::{Condition, CountWindow, Step};
use super::dedup::SeqVerdict;
use super::detection::Detection;
use super::device_table::DeviceTable;
use super::lanes::PartitionLanes;
use super::partition::shard_of;
use super::rules::{RuleSet, Test};
use super::settings::EngineSettings;
use super::watermark::{Watermark, WatermarkTracker};
use crate::model::Event;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;

/// How many events ahead [`Shard::handle_events`] asks for a device's
/// slot: far enough that the memory has answered when the shard gets
/// there (an event takes a few hundred cycles, a miss to memory about
/// as many).
const LOOKAHEAD: usize = 8;

/// How often (in processing time) stale state is swept, ms.
const SWEEP_EVERY_MS: i64 = 10_000;

/// What a shard tells of one device: its activity and its clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceState {
    /// Processing time of its latest event or heartbeat, Unix ms.
    pub last_seen_ms: i64,
    /// Events seen from it (duplicates and late ones included).
    pub events: u64,
    /// Its latest event's time less the hub's clock when the shard took
    /// it, ms: positive when the device's clock is ahead; negative when
    /// it is behind, or the event was held up on its way.
    pub clock_offset_ms: i64,
    /// Its latest event was further ahead of the hub's clock than the
    /// clock skew threshold. (Only ahead: an event time behind the clock
    /// cannot be told apart from an event that took long to arrive.)
    pub clock_skewed: bool,
}

/// Counts since the last [`Shard::take_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Events that went through the rules.
    pub processed: u64,
    /// Events whose (device, seq) was seen before.
    pub retransmits: u64,
    /// Events whose seq is older than the device's dedup window.
    pub too_old: u64,
    /// Events older than the watermark (retransmits among them counted as
    /// retransmits).
    pub late: u64,
    /// Late events that made a detection (marked late).
    pub late_alarmed: u64,
    /// Late events their rule could not judge: out of their device's order
    /// for a hold or a rate, or for a cell's count window.
    pub late_skipped: u64,
    /// Events (not duplicates) whose time was ahead of the hub's clock: the
    /// watermark took the clock for them.
    pub future: u64,
    /// Devices found with a skewed clock (see [`DeviceState::clock_skewed`]).
    pub skew_flagged: u64,
    /// Devices whose skewed clock came back within the threshold, or that
    /// were forgotten while skewed.
    pub skew_cleared: u64,
    /// Detections emitted.
    pub detections: u64,
    /// Conditions that cleared.
    pub cleared: u64,
    /// Conditions and count windows forgotten after the state TTL.
    pub expired: u64,
    /// Devices forgotten because the shard reached its device limit.
    pub evicted_devices: u64,
    /// Conditions and count windows forgotten at their limit.
    pub evicted_conditions: u64,
}

impl std::ops::AddAssign for ShardStats {
    fn add_assign(&mut self, t: ShardStats) {
        self.processed += t.processed;
        self.retransmits += t.retransmits;
        self.too_old += t.too_old;
        self.late += t.late;
        self.late_alarmed += t.late_alarmed;
        self.late_skipped += t.late_skipped;
        self.future += t.future;
        self.skew_flagged += t.skew_flagged;
        self.skew_cleared += t.skew_cleared;
        self.detections += t.detections;
        self.cleared += t.cleared;
        self.expired += t.expired;
        self.evicted_devices += t.evicted_devices;
        self.evicted_conditions += t.evicted_conditions;
    }
}

impl ShardStats {
    /// Events accounted for.
    pub fn events(&self) -> u64 {
        self.processed + self.retransmits + self.too_old + self.late
    }
}

/// One shard's engine.
pub struct Shard {
    rules: Arc<RuleSet>,
    settings: EngineSettings,
    devices: DeviceTable,
    offline: usize,
    skewed: usize,
    conditions: FxHashMap<(u64, u16), Condition>,
    counts: FxHashMap<(u64, u16), CountWindow>,
    watermark: WatermarkTracker,
    /// In the cluster mode, each partition's own watermark, swapped in
    /// while its messages run.
    lanes: PartitionLanes,
    out: VecDeque<Detection>,
    stats: ShardStats,
    next_sweep_ms: i64,
    /// Moves with every change of state, so the shell can tell whether
    /// a checkpoint would say anything new.
    generation: u64,
}

impl Shard {
    /// An empty shard.
    pub fn new(rules: Arc<RuleSet>, settings: EngineSettings) -> Shard {
        Shard {
            rules,
            settings,
            devices: DeviceTable::default(),
            offline: 0,
            skewed: 0,
            conditions: FxHashMap::default(),
            counts: FxHashMap::default(),
            watermark: WatermarkTracker::new(
                settings.allowed_lateness_ms,
                settings.idle_timeout_ms,
            ),
            lanes: PartitionLanes::default(),
            out: VecDeque::new(),
            stats: ShardStats::default(),
            next_sweep_ms: i64::MIN,
            generation: 0,
        }
    }

    /// Swaps in new rules. Open conditions of categories whose rule changed
    /// kind restart from normal.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.generation += 1;
        self.conditions.retain(|&(_, code), _| {
            let cat = crate::model::Category::from_code(code).expect("stored from a valid event");
            matches!(
                (
                    self.rules.get(cat).map(|r| r.test),
                    rules.get(cat).map(|r| r.test)
                ),
                (Some(Test::Above { .. }), Some(Test::Above { .. }))
                    | (Some(Test::Below { .. }), Some(Test::Below { .. }))
                    | (Some(Test::Rate { .. }), Some(Test::Rate { .. }))
            )
        });
        self.rules = rules;
    }

    /// Runs a batch of events that arrived at processing time `now_ms`.
    /// `arrival` is carried into detections untouched.
    pub fn handle_events(&mut self, now_ms: i64, arrival: u64, events: &[Event]) {
        self.generation += 1;
        // A device's slot misses the cache (devices arrive in random
        // order): asked for ahead, it is there when its event's turn
        // comes. Only a hint; no decision changes.
        for e in events.iter().take(LOOKAHEAD) {
            self.devices.prefetch(e.device);
        }
        for (i, e) in events.iter().enumerate() {
            if let Some(later) = events.get(i + LOOKAHEAD) {
                self.devices.prefetch(later.device);
            }
            self.handle_event(now_ms, arrival, e);
        }
    }

    #[inline]
    fn handle_event(&mut self, now_ms: i64, arrival: u64, e: &Event) {
        if self.devices.len() >= self.settings.max_devices && !self.devices.contains(e.device) {
            self.evict_devices(now_ms);
        }
        if self.conditions.len() + self.counts.len() >= self.settings.max_conditions {
            self.evict_conditions();
        }
        let threshold = self.settings.clock_skew_threshold_ms;
        let device = self.devices.touch(e.device, now_ms);
        match device.window.check(e.seq) {
            SeqVerdict::New => {}
            SeqVerdict::Retransmit => {
                self.stats.retransmits += 1;
                return;
            }
            SeqVerdict::TooOld => {
                self.stats.too_old += 1;
                return;
            }
        }
        let was_skewed = device.clock_skewed(threshold);
        let offset = e.time_ms.saturating_sub(now_ms);
        device.clock_offset_ms = offset.clamp(i32::MIN.into(), i32::MAX.into()) as i32;
        let newest_ms = device.newest_ms();
        let in_device_order = e.time_ms >= newest_ms;
        device.set_newest_ms(newest_ms.max(e.time_ms));
        device.set_cell(e.cell);
        match (was_skewed, device.clock_skewed(threshold)) {
            (false, true) => {
                self.skewed += 1;
                self.stats.skew_flagged += 1;
            }
            (true, false) => {
                self.skewed -= 1;
                self.stats.skew_cleared += 1;
            }
            _ => {}
        }
        if offset > 0 {
            self.stats.future += 1;
        }
        if let Some(late_ms) = self.watermark.current().late_by(e.time_ms) {
            self.stats.late += 1;
            self.handle_late(arrival, e, late_ms, in_device_order);
            return;
        }
        self.watermark.observe(now_ms, e.time_ms);
        self.stats.processed += 1;
        self.apply_rule(arrival, e, None);
    }

    /// A late event `late_ms` behind the watermark: judged where its state
    /// allows (see the module docs), counted.
    fn handle_late(&mut self, arrival: u64, e: &Event, late_ms: i64, in_device_order: bool) {
        let Some(rule) = self.rules.get(e.category) else {
            return;
        };
        let judged = match rule.test {
            // A cell's window, fed by every device there, has moved on.
            Test::Count { .. } => false,
            _ if in_device_order => {
                if self.apply_rule(arrival, e, Some(late_ms)) {
                    self.stats.late_alarmed += 1;
                }
                true
            }
            Test::Rate { .. } => false,
            Test::Above { limit, hold_ms, .. } | Test::Below { limit, hold_ms, .. } => {
                let beyond = match rule.test {
                    Test::Above { .. } => e.value >= limit,
                    _ => e.value <= limit,
                };
                let key = (e.device, e.category.code());
                let open = self.conditions.get(&key).filter(|c| c.is_active());
                let covered = open.is_some_and(|c| {
                    e.time_ms
                        >= c.first_seen_ms
                            .saturating_sub(self.settings.repeat_interval_ms)
                });
                if !beyond || covered {
                    // Within the limits it cannot clear or restart newer
                    // state; beyond them the open condition has it.
                    true
                } else if hold_ms > 0 {
                    false
                } else if open.is_some() {
                    // Long before the open condition began: an alarm of
                    // its own, and the open condition stays as it is.
                    self.fire(arrival, e, e.time_ms, 1, 0, Some(late_ms));
                    self.stats.late_alarmed += 1;
                    true
                } else {
                    // Nothing open: it opens the condition, so the device's
                    // next readings of it are one alarm, not one each.
                    if self.apply_rule(arrival, e, Some(late_ms)) {
                        self.stats.late_alarmed += 1;
                    }
                    true
                }
            }
        };
        if !judged {
            self.stats.late_skipped += 1;
        }
    }

    /// Runs an event through its category's rule; says whether it fired.
    /// `late_ms` marks the detection of a late event.
    #[inline]
    fn apply_rule(&mut self, arrival: u64, e: &Event, late_ms: Option<i64>) -> bool {
        let Some(rule) = self.rules.get(e.category) else {
            return false;
        };
        let repeat_ms = self.settings.repeat_interval_ms;
        let (step, first_seen_ms, count) = match rule.test {
            Test::Count { count, window_ms } => {
                let w = self.counts.entry((e.cell, e.category.code())).or_default();
                let step = w.step(count, window_ms, e.time_ms, repeat_ms);
                let cond = w.active();
                (
                    step,
                    cond.map_or(e.time_ms, |c| c.first_seen_ms),
                    cond.map_or(1, |c| c.count),
                )
            }
            test => {
                let key = (e.device, e.category.code());
                let keeps_history = matches!(test, Test::Rate { .. });
                let step = match self.conditions.get_mut(&key) {
                    Some(c) => c.step(&test, e.value, e.time_ms, repeat_ms),
                    None => {
                        let mut c = Condition::default();
                        let step = c.step(&test, e.value, e.time_ms, repeat_ms);
                        if step != Step::Idle || keeps_history {
                            self.conditions.insert(key, c);
                        }
                        step
                    }
                };
                let cond = self.conditions.get(&key);
                let summary = cond.map_or((e.time_ms, 1), |c| (c.first_seen_ms, c.count));
                if matches!(step, Step::Idle | Step::Clear) && !keeps_history {
                    self.conditions.remove(&key);
                }
                (step, summary.0, summary.1)
            }
        };
        match step {
            Step::Fire { repeat } => {
                self.fire(arrival, e, first_seen_ms, count, repeat, late_ms);
                true
            }
            Step::Clear => {
                self.stats.cleared += 1;
                false
            }
            Step::Hold | Step::Idle => false,
        }
    }

    fn fire(
        &mut self,
        arrival: u64,
        e: &Event,
        first_seen_ms: i64,
        count: u64,
        repeat: u32,
        late_ms: Option<i64>,
    ) {
        self.stats.detections += 1;
        self.out.push_back(Detection {
            event: *e,
            first_seen_ms,
            count,
            repeat,
            arrival,
            late_ms,
        });
    }

    /// Makes room in a full device table: first every device silent past
    /// the offline timeout, then, if that frees less than a tenth, any
    /// devices (a flood of fresh ids must not grow memory). Amortized: a
    /// pass frees at least a tenth of the table.
    #[cold]
    fn evict_devices(&mut self, now_ms: i64) {
        let before = self.devices.len();
        let target = self.settings.max_devices - self.settings.max_devices / 10;
        let silent_since = now_ms.saturating_sub(self.settings.offline_after_ms);
        let threshold = self.settings.clock_skew_threshold_ms;
        let mut skewed_gone = 0;
        self.devices.retain(|_, d| {
            let keep = d.last_seen_ms() >= silent_since;
            skewed_gone += usize::from(!keep && d.clock_skewed(threshold));
            keep
        });
        if self.devices.len() > target {
            let mut excess = self.devices.len() - target;
            self.devices.retain(|_, d| {
                if excess > 0 {
                    excess -= 1;
                    skewed_gone += usize::from(d.clock_skewed(threshold));
                    false
                } else {
                    true
                }
            });
        }
        self.skewed -= skewed_gone;
        self.stats.skew_cleared += skewed_gone as u64;
        self.stats.evicted_devices += (before - self.devices.len()) as u64;
    }

    /// Makes room for conditions: the stalest tenth goes.
    #[cold]
    fn evict_conditions(&mut self) {
        let before = self.conditions.len() + self.counts.len();
        let mut ages: Vec<i64> = self.conditions.values().map(|c| c.last_ms()).collect();
        ages.extend(self.counts.values().map(|w| w.last_ms()));
        let cut = ages.len() / 10;
        let (_, horizon, _) = ages.select_nth_unstable(cut);
        let horizon = *horizon;
        self.conditions.retain(|_, c| c.last_ms() > horizon);
        self.counts.retain(|_, w| w.last_ms() > horizon);
        self.stats.evicted_conditions +=
            (before - self.conditions.len() - self.counts.len()) as u64;
    }

    /// Runs a batch of partition `partition`'s events (the cluster mode)
    /// as [`Shard::handle_events`] does, but judged late or on time by the
    /// partition's own watermark, moved by these events only: so whichever
    /// shard of whichever node runs the partition, beside whichever other
    /// partitions, decides the same (see lanes.rs).
    pub fn handle_partition_events(
        &mut self,
        partition: u32,
        now_ms: i64,
        arrival: u64,
        events: &[Event],
    ) {
        self.with_lane(partition, |s| s.handle_events(now_ms, arrival, events));
    }

    /// A tick from partition `partition`'s log at `now_ms` (its owner's
    /// clock when the partition was quiet, as written in the log): a
    /// partition quiet for the idle timeout lets its watermark follow
    /// that time, as a quiet shard's follows the clock.
    pub fn handle_partition_tick(&mut self, partition: u32, now_ms: i64) {
        self.with_lane(partition, |s| s.watermark.on_tick(now_ms));
    }

    /// Each partition's watermark, for the partitions run here.
    pub fn partition_watermarks(&self) -> impl Iterator<Item = (u32, Watermark)> + '_ {
        self.lanes.iter()
    }

    /// Runs `f` with partition `partition`'s watermark in the shard's.
    fn with_lane(&mut self, partition: u32, f: impl FnOnce(&mut Shard)) {
        let fresh = self.fresh_watermark();
        let mut lane = self.lanes.take(partition, fresh);
        std::mem::swap(&mut self.watermark, &mut lane);
        f(self);
        std::mem::swap(&mut self.watermark, &mut lane);
        self.lanes.put(partition, lane);
    }

    /// A watermark that has seen nothing.
    fn fresh_watermark(&self) -> WatermarkTracker {
        WatermarkTracker::new(
            self.settings.allowed_lateness_ms,
            self.settings.idle_timeout_ms,
        )
    }

    /// Records a heartbeat for the devices of this shard among `ids`
    /// (a gateway vouching for its devices; unknown ids are ignored, as
    /// they belong to other shards or have never sent an event).
    pub fn handle_heartbeat(&mut self, now_ms: i64, ids: &[u64]) {
        self.generation += 1;
        for id in ids {
            if let Some(d) = self.devices.get_mut(*id) {
                d.see(now_ms);
            }
        }
    }

    /// What this shard knows of a device.
    pub fn device(&self, id: u64) -> Option<DeviceState> {
        let threshold = self.settings.clock_skew_threshold_ms;
        self.devices.get(id).map(|d| DeviceState {
            last_seen_ms: d.last_seen_ms(),
            events: self.devices.events(id, d),
            clock_offset_ms: d.clock_offset_ms.into(),
            clock_skewed: d.clock_skewed(threshold),
        })
    }

    /// Devices whose latest event was further ahead of the hub's clock
    /// than the clock skew threshold.
    pub fn clock_skewed(&self) -> usize {
        self.skewed
    }

    /// Devices silent for longer than the offline timeout, as of the last
    /// sweep.
    pub fn offline(&self) -> usize {
        self.offline
    }

    /// When [`Shard::handle_timeout`] next has something to do, Unix ms:
    /// the watermark of a quiet shard to move, or stale state to sweep.
    pub fn poll_timeout(&self) -> i64 {
        self.watermark.poll_timeout().min(self.next_sweep_ms)
    }

    /// Advances the watermark of a quiet shard and sweeps stale state.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        // (A watermark that followed the clock is no change worth a
        // checkpoint: after a restart it follows the clock again.)
        self.watermark.on_tick(now_ms);
        if now_ms < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_EVERY_MS);
        // Before any event time there is nothing stale to measure.
        if let Watermark::At(watermark) = self.watermark.current() {
            let horizon = watermark.saturating_sub(self.settings.state_ttl_ms);
            let before = self.conditions.len() + self.counts.len();
            self.conditions.retain(|_, c| c.last_ms() >= horizon);
            self.counts.retain(|_, w| w.last_ms() >= horizon);
            let expired = before - self.conditions.len() - self.counts.len();
            self.stats.expired += expired as u64;
            self.generation += u64::from(expired > 0);
        }
        let silent_since = now_ms.saturating_sub(self.settings.offline_after_ms);
        self.offline = self
            .devices
            .values()
            .filter(|d| d.last_seen_ms() < silent_since)
            .count();
    }

    /// The next detection, oldest first.
    #[must_use]
    pub fn poll_detection(&mut self) -> Option<Detection> {
        self.out.pop_front()
    }

    /// The shard's watermark.
    pub fn current_watermark(&self) -> Watermark {
        self.watermark.current()
    }

    /// Counts since the last call, then zeroed.
    pub fn take_stats(&mut self) -> ShardStats {
        std::mem::take(&mut self.stats)
    }

    /// Devices tracked.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// A number that changes whenever the shard's state may have: equal
    /// numbers, same state.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The shard's state, to load after a restart ([`Shard::restore`]):
    /// it is shard `shard` of `shards`, taken at processing time `now_ms`.
    pub fn checkpoint(&self, shard: u32, shards: u32, now_ms: i64) -> ShardCheckpoint {
        self.checkpoint_of(shard, shards, now_ms, None)
    }

    /// The state of the whole shard, or of partition `part.0` of
    /// `part.1` only: copied once, only what belongs.
    fn checkpoint_of(
        &self,
        shard: u32,
        shards: u32,
        now_ms: i64,
        part: Option<(u32, u32)>,
    ) -> ShardCheckpoint {
        let kind = |code| {
            let cat = crate::model::Category::from_code(code).expect("stored from a valid event");
            self.rules.get(cat).map(|r| RuleKind::of(&r.test))
        };
        let in_part =
            |cell: u64| part.is_none_or(|(p, n)| shard_of(cell, n as usize) == p as usize);
        let device_in_part = |id: &u64| {
            part.is_none()
                || self
                    .devices
                    .get(*id)
                    .is_some_and(|d| in_part(d.place_cell()))
        };
        ShardCheckpoint {
            shard,
            shards,
            taken_ms: now_ms,
            watermark: match part {
                None => self.watermark,
                Some((p, _)) => self.lanes.get(p).copied().unwrap_or(self.fresh_watermark()),
            },
            devices: self
                .devices
                .records()
                .filter(|(_, d)| in_part(d.cell))
                .collect(),
            conditions: self
                .conditions
                .iter()
                .filter(|((device, _), _)| device_in_part(device))
                .filter_map(|(&(device, category), &condition)| {
                    Some(ConditionEntry {
                        device,
                        category,
                        kind: kind(category)?,
                        condition,
                    })
                })
                .collect(),
            counts: self
                .counts
                .iter()
                .filter(|((cell, _), _)| in_part(*cell))
                .map(|(&(cell, category), w)| {
                    let (times, active) = w.to_parts();
                    CountEntry {
                        cell,
                        category,
                        times,
                        active,
                    }
                })
                .collect(),
        }
    }

    /// A shard with the state of `saved`, under `rules` and `settings`
    /// (which may differ from those it was taken under): conditions of a
    /// category whose rule is gone or changed kind start again from
    /// normal, as [`Shard::set_rules`] would have them.
    pub fn restore(
        rules: Arc<RuleSet>,
        settings: EngineSettings,
        saved: ShardCheckpoint,
    ) -> (Shard, Restored) {
        let mut s = Shard::new(rules, settings);
        s.watermark = saved.watermark;
        let restored = s.take_in(saved);
        (s, restored)
    }

    /// The state of partition `partition` of a map split into
    /// `partitions` ([`super::partition::shard_of`]), for its next owner
    /// ([`Shard::load_partition`]): its devices (by the cell of their
    /// latest event), their conditions, its cells' count windows, and the
    /// partition's watermark ([`Shard::handle_partition_events`]). Taken
    /// at processing time `now_ms`.
    pub fn checkpoint_partition(
        &self,
        partition: u32,
        partitions: u32,
        now_ms: i64,
    ) -> ShardCheckpoint {
        let part = Some((partition, partitions));
        self.checkpoint_of(partition, partitions, now_ms, part)
    }

    /// Forgets the state of partition `partition` of `partitions` (it
    /// moved to another node, or its saved state replaces it); says how
    /// many devices went.
    pub fn drop_partition(&mut self, partition: u32, partitions: u32) -> usize {
        self.generation += 1;
        self.lanes.drop(partition);
        let ours = |cell: u64| shard_of(cell, partitions as usize) == partition as usize;
        let gone: FxHashSet<u64> = self
            .devices
            .iter()
            .filter(|(_, d)| ours(d.place_cell()))
            .map(|(id, _)| id)
            .collect();
        self.devices.retain(|id, _| !gone.contains(&id));
        self.conditions
            .retain(|&(device, _), _| !gone.contains(&device));
        self.counts.retain(|&(cell, _), _| !ours(cell));
        self.count_skewed();
        gone.len()
    }

    /// Takes partition `partition` of `partitions` in from the state its
    /// last owner saved ([`Shard::checkpoint_partition`]), or from nothing:
    /// what this shard held of it before (from an earlier time it ran
    /// here) goes first. The partition's watermark is the saved one, so
    /// its events are judged late or on time as its last owner judged
    /// them (the shard's own watermark is not touched).
    pub fn load_partition(
        &mut self,
        partition: u32,
        partitions: u32,
        saved: Option<ShardCheckpoint>,
    ) -> Restored {
        self.drop_partition(partition, partitions);
        let Some(saved) = saved else {
            return Restored::default();
        };
        debug_assert_eq!((saved.shard, saved.shards), (partition, partitions));
        self.lanes.put(partition, saved.watermark);
        self.take_in(saved)
    }

    /// Adds the devices, conditions and count windows of `saved` to this
    /// shard's, leaving out those whose rule is gone or changed kind.
    fn take_in(&mut self, saved: ShardCheckpoint) -> Restored {
        self.generation += 1;
        let rules = self.rules.clone();
        let kind = |code| {
            let cat = crate::model::Category::from_code(code)?;
            rules.get(cat).map(|r| RuleKind::of(&r.test))
        };
        let mut restored = Restored {
            devices: saved.devices.len(),
            ..Restored::default()
        };
        for c in saved.conditions {
            if kind(c.category) == Some(c.kind) && c.kind != RuleKind::Count {
                self.conditions.insert((c.device, c.category), c.condition);
                restored.conditions += 1;
            } else {
                restored.dropped += 1;
            }
        }
        for c in saved.counts {
            if kind(c.category) == Some(RuleKind::Count) {
                let w = CountWindow::from_parts(c.times, c.active);
                self.counts.insert((c.cell, c.category), w);
                restored.conditions += 1;
            } else {
                restored.dropped += 1;
            }
        }
        self.devices.extend(saved.devices);
        self.count_skewed();
        restored
    }

    /// Counts the devices flagged with a skewed clock again (after state
    /// came or went whole).
    fn count_skewed(&mut self) {
        let threshold = self.settings.clock_skew_threshold_ms;
        self.skewed = self
            .devices
            .values()
            .filter(|d| d.clock_skewed(threshold))
            .count();
    }

    /// Open conditions and count windows held.
    #[cfg(test)]
    pub(crate) fn open_state(&self) -> usize {
        self.conditions.len() + self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo;
    use crate::model::{CameraRef, Category, Source};

    const T0: i64 = 1_780_000_000_000;
    const MIN: i64 = 60_000;
    /// Two places of one shard's map, about a kilometre apart.
    const CAOYANG: (f64, f64) = (31.2575, 121.4125);
    const FAR: (f64, f64) = (31.2475, 121.4025);

    fn event(device: u64, seq: u64, t: i64, cat: Category, v: f64, at: (f64, f64)) -> Event {
        let source = match cat {
            Category::Fire => Source::Video,
            Category::NoiseComplaint => Source::Hotline,
            _ => Source::Sensor,
        };
        Event {
            device,
            seq,
            time_ms: t,
            value: v,
            lat: at.0,
            lon: at.1,
            cell: geo::cell_of(at.0, at.1).unwrap(),
            category: cat,
            source,
            camera: if source == Source::Video {
                CameraRef::parse("31010700001320000007").unwrap()
            } else {
                CameraRef::NONE
            },
        }
    }

    fn shard() -> Shard {
        Shard::new(Arc::new(RuleSet::defaults()), EngineSettings::default())
    }

    fn detections(s: &mut Shard) -> Vec<Detection> {
        std::iter::from_fn(|| s.poll_detection()).collect()
    }

    #[test]
    fn a_device_four_minutes_fast_cannot_make_another_devices_on_time_alarm_late() {
        let mut s = shard();
        // Far from the street, a gauge whose clock is 4 min fast (inside
        // the 5 min ingest accepts) reports first.
        s.handle_events(
            T0,
            1,
            &[event(1, 1, T0 + 4 * MIN, Category::WaterLevel, 3.0, FAR)],
        );
        assert_eq!(
            s.current_watermark(),
            Watermark::At(T0 - 30_000),
            "the hub's clock, not the device's, less the lateness"
        );
        // An on-time smoke alarm in the same shard, half a second old.
        s.handle_events(
            T0 + 100,
            2,
            &[event(2, 1, T0 - 400, Category::Smoke, 8.0, CAOYANG)],
        );
        let d = detections(&mut s);
        assert_eq!(d.len(), 1, "the alarm fired");
        assert_eq!((d[0].device, d[0].late_ms), (2, None), "on time");
        let stats = s.take_stats();
        assert_eq!(
            (stats.processed, stats.late, stats.future, stats.detections),
            (2, 0, 1, 1)
        );
        assert_eq!((stats.skew_flagged, stats.skew_cleared), (1, 0));
        let fast = s.device(1).unwrap();
        assert_eq!(fast.clock_offset_ms, 4 * MIN);
        assert!(fast.clock_skewed);
        let on_time = s.device(2).unwrap();
        assert_eq!(on_time.clock_offset_ms, -500);
        assert!(!on_time.clock_skewed);
        assert_eq!(s.clock_skewed(), 1);
    }

    #[test]
    fn a_skewed_clock_is_flagged_past_the_threshold_until_it_comes_back_or_goes() {
        let settings = EngineSettings {
            max_devices: 16,
            ..EngineSettings::default()
        };
        let mut s = Shard::new(Arc::new(RuleSet::defaults()), settings);
        let gauge = |dev, seq, ahead| event(dev, seq, T0 + ahead, Category::WaterLevel, 1.0, FAR);
        s.handle_events(T0, 0, &[gauge(1, 1, 59_000)]);
        assert!(!s.device(1).unwrap().clock_skewed, "inside the threshold");
        s.handle_events(T0, 0, &[gauge(1, 2, 61_000)]);
        assert!(s.device(1).unwrap().clock_skewed);
        s.handle_events(T0, 0, &[gauge(1, 2, 61_000)]);
        assert_eq!(s.clock_skewed(), 1, "a retransmit changes nothing");
        s.handle_events(T0 + 1_000, 0, &[gauge(1, 3, 2_000)]);
        assert!(
            !s.device(1).unwrap().clock_skewed,
            "its clock was put right"
        );
        let stats = s.take_stats();
        assert_eq!((stats.skew_flagged, stats.skew_cleared), (1, 1));
        assert_eq!((stats.future, stats.retransmits), (3, 1));
        // Forgotten devices are no longer counted as skewed.
        let fast: Vec<Event> = (100..115).map(|d| gauge(d, 1, 3 * MIN)).collect();
        s.handle_events(T0, 0, &fast);
        assert_eq!(
            (s.devices(), s.clock_skewed()),
            (16, 15),
            "the table is full"
        );
        let later = T0 + settings.offline_after_ms + 1;
        s.handle_events(later, 0, &[gauge(200, 1, -later + T0)]);
        assert_eq!(s.clock_skewed(), 0, "the silent ones made room");
        assert_eq!(s.devices(), 2);
        let stats = s.take_stats();
        assert_eq!((stats.skew_flagged, stats.skew_cleared), (15, 15));
    }

    #[test]
    fn a_late_camera_detection_still_fires_marked_late_and_its_retransmit_does_not() {
        let mut s = shard();
        s.handle_events(T0, 1, &[event(1, 1, T0, Category::WaterLevel, 3.0, FAR)]);
        let fire = event(2, 7, T0 - 5 * MIN, Category::Fire, 0.95, CAOYANG);
        s.handle_events(T0, 2, &[fire]);
        let d = detections(&mut s);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].event, fire);
        assert_eq!(
            d[0].late_ms,
            Some(5 * MIN - 30_000),
            "behind the watermark by"
        );
        assert_eq!(d[0].arrival, 2);
        s.handle_events(T0 + 1_000, 3, &[fire]);
        assert!(detections(&mut s).is_empty(), "a retransmit, late or not");
        let stats = s.take_stats();
        assert_eq!(
            (
                stats.processed,
                stats.late,
                stats.late_alarmed,
                stats.retransmits
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(stats.events(), 3);
    }

    #[test]
    fn late_events_are_judged_where_their_state_allows_and_the_rest_is_counted() {
        let mut s = shard();
        s.handle_events(T0, 0, &[event(1, 1, T0, Category::WaterLevel, 3.0, FAR)]);
        let late = |s: &mut Shard, e: Event| {
            s.handle_events(T0, 0, &[e]);
            detections(s)
        };
        // A gauge whose clock is 5 min slow: every reading is late, in its
        // own order; its hold still completes, once.
        let slow = |seq, t, v| event(3, seq, T0 - 5 * MIN + t, Category::WaterLevel, v, FAR);
        assert!(late(&mut s, slow(1, 0, 20.0)).is_empty(), "the hold begins");
        let d = late(&mut s, slow(2, 61_000, 20.0));
        assert_eq!(d.len(), 1, "held 61 s");
        assert_eq!(d[0].first_seen_ms, T0 - 5 * MIN);
        assert!(
            late(&mut s, slow(3, 62_000, 20.0)).is_empty(),
            "one condition"
        );
        // Out of its order, inside the open condition: it has it.
        assert!(late(&mut s, slow(4, -1_000, 20.0)).is_empty());
        // Another gauge: within the limits, then out of order beyond them:
        // a hold cannot be judged from there.
        let other = |seq, t, v| event(4, seq, T0 - 5 * MIN + t, Category::WaterLevel, v, FAR);
        assert!(late(&mut s, other(1, 0, 12.0)).is_empty());
        assert!(late(&mut s, other(2, -70_000, 20.0)).is_empty());
        // A rate out of order: skipped. In order it is judged.
        let strain =
            |seq, t, v| event(5, seq, T0 - 5 * MIN + t, Category::StructuralStrain, v, FAR);
        assert!(late(&mut s, strain(1, 0, 100.0)).is_empty());
        assert!(late(&mut s, strain(2, -90_000, 10.0)).is_empty());
        // A smoke sensor out of order with nothing open: it fires, and opens
        // the condition, so an older breach after it is the same alarm.
        let smoke = |seq, t, v| event(6, seq, T0 - 5 * MIN + t, Category::Smoke, v, CAOYANG);
        assert!(late(&mut s, smoke(1, 0, 1.0)).is_empty());
        let d = late(&mut s, smoke(2, -10_000, 8.0));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].late_ms, Some(5 * MIN + 10_000 - 30_000));
        assert!(late(&mut s, smoke(3, -20_000, 8.0)).is_empty());
        // A complaint for a cell's count window: skipped.
        let noise = event(7, 1, T0 - 5 * MIN, Category::NoiseComplaint, 1.0, CAOYANG);
        assert!(late(&mut s, noise).is_empty());
        let stats = s.take_stats();
        assert_eq!((stats.processed, stats.late), (1, 12));
        assert_eq!((stats.late_alarmed, stats.late_skipped), (2, 3));
        assert_eq!(stats.detections, 2);
        assert_eq!(stats.events(), 13);
    }
}
