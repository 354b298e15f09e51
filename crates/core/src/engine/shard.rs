//! A shard: the engine state of one part of the map, owned by one thread.
//! `handle_events(now, arrival, events)` runs each event through lateness,
//! retransmit dedup and its category's rule; `handle_timeout(now)` moves
//! the watermark of a quiet shard and forgets stale state;
//! `poll_detection()` hands out what fired.
//!
//! Invariant: every event handed in is counted exactly once in
//! [`ShardStats`] as processed, retransmit, too old or late.

use super::condition::{Condition, CountWindow, Step};
use super::dedup::{SeqVerdict, SeqWindow};
use super::detection::Detection;
use super::rules::{RuleSet, Test};
use super::settings::EngineSettings;
use super::watermark::{Watermark, WatermarkTracker};
use crate::model::Event;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// How often (in processing time) stale state is swept, ms.
const SWEEP_EVERY_MS: i64 = 10_000;

/// What a shard knows of one device: its dedup window and its activity.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceState {
    window: SeqWindow,
    /// Processing time of its latest event or heartbeat, Unix ms.
    pub last_seen_ms: i64,
    /// Events seen from it (duplicates and late ones included).
    pub events: u64,
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
    /// Events older than the watermark.
    pub late: u64,
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
    devices: FxHashMap<u64, DeviceState>,
    offline: usize,
    conditions: FxHashMap<(u64, u16), Condition>,
    counts: FxHashMap<(u64, u16), CountWindow>,
    watermark: WatermarkTracker,
    out: VecDeque<Detection>,
    stats: ShardStats,
    next_sweep_ms: i64,
}

impl Shard {
    /// An empty shard.
    pub fn new(rules: Arc<RuleSet>, settings: EngineSettings) -> Shard {
        Shard {
            rules,
            settings,
            devices: FxHashMap::default(),
            offline: 0,
            conditions: FxHashMap::default(),
            counts: FxHashMap::default(),
            watermark: WatermarkTracker::new(
                settings.allowed_lateness_ms,
                settings.idle_timeout_ms,
            ),
            out: VecDeque::new(),
            stats: ShardStats::default(),
            next_sweep_ms: i64::MIN,
        }
    }

    /// Swaps in new rules. Open conditions of categories whose rule changed
    /// kind restart from normal.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
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
        for e in events {
            self.handle_event(now_ms, arrival, e);
        }
    }

    #[inline]
    fn handle_event(&mut self, now_ms: i64, arrival: u64, e: &Event) {
        if self.devices.len() >= self.settings.max_devices && !self.devices.contains_key(&e.device)
        {
            self.evict_devices(now_ms);
        }
        if self.conditions.len() + self.counts.len() >= self.settings.max_conditions {
            self.evict_conditions();
        }
        let device = self.devices.entry(e.device).or_default();
        device.last_seen_ms = now_ms;
        device.events += 1;
        if self.watermark.is_late(e.time_ms) {
            self.stats.late += 1;
            return;
        }
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
        self.watermark.observe(now_ms, e.time_ms);
        self.stats.processed += 1;
        let Some(rule) = self.rules.get(e.category) else {
            return;
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
                self.stats.detections += 1;
                self.out.push_back(Detection {
                    event: *e,
                    first_seen_ms,
                    count,
                    repeat,
                    arrival,
                });
            }
            Step::Clear => self.stats.cleared += 1,
            Step::Hold | Step::Idle => {}
        }
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
        self.devices.retain(|_, d| d.last_seen_ms >= silent_since);
        if self.devices.len() > target {
            let mut excess = self.devices.len() - target;
            self.devices.retain(|_, _| {
                if excess > 0 {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
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

    /// Records a heartbeat for the devices of this shard among `ids`
    /// (a gateway vouching for its devices; unknown ids are ignored, as
    /// they belong to other shards or have never sent an event).
    pub fn handle_heartbeat(&mut self, now_ms: i64, ids: &[u64]) {
        for id in ids {
            if let Some(d) = self.devices.get_mut(id) {
                d.last_seen_ms = now_ms;
            }
        }
    }

    /// What this shard knows of a device.
    pub fn device(&self, id: u64) -> Option<DeviceState> {
        self.devices.get(&id).copied()
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
            self.stats.expired += (before - self.conditions.len() - self.counts.len()) as u64;
        }
        let silent_since = now_ms.saturating_sub(self.settings.offline_after_ms);
        self.offline = self
            .devices
            .values()
            .filter(|d| d.last_seen_ms < silent_since)
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

    /// Open conditions and count windows held.
    #[cfg(test)]
    pub(crate) fn open_state(&self) -> usize {
        self.conditions.len() + self.counts.len()
    }
}
