//! Correlation: detections of one incident kind in the same cell or its
//! ring of neighbours, within the correlation window of event time, are one
//! incident. Its severity is the most severe rule's, raised one level per
//! extra independent source kind (smoke sensor + camera fire: major +1 =
//! critical).
//!
//! A warning goes out when an incident opens and again (same incident id,
//! next revision) when a new source kind joins or the severity rises.
//! Joins that arrive together (one shard output) coalesce into one
//! revision. An incident closes when every shard's watermark has passed its
//! last event time plus the window: incidents wait in close-time order, so a
//! watermark looks at those it closes and the first still open, not at
//! every incident.
//!
//! Detections of a flagged device (too many false alarms) need
//! corroboration: an incident made only of one flagged device's detections
//! sends nothing until a detection from another device joins it.

use super::detection::{Detection, Warning};
use super::rules::RuleSet;
use super::settings::EngineSettings;
use super::watermark::Watermark;
use crate::geo;
use crate::model::{Severity, Source};
use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

#[derive(Debug)]
struct Incident {
    kind: u16,
    anchor: u64,
    sources: u8,
    lead_severity: Severity,
    detections: Vec<Detection>,
    detection_count: u64,
    first_ms: i64,
    last_ms: i64,
    revision: u32,
    dirty: bool,
    arrival: u64,
    corroborated: bool,
}

impl Incident {
    fn severity(&self) -> Severity {
        self.lead_severity
            .raised((self.sources.count_ones() as usize).saturating_sub(1))
    }
}

/// Counts since the last [`Correlator::take_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrelatorStats {
    /// Incidents opened.
    pub opened: u64,
    /// Detections that joined an open incident.
    pub joined: u64,
    /// Incidents closed by the watermark.
    pub closed: u64,
    /// Detections joined but not kept (the incident's list was full).
    pub detections_dropped: u64,
    /// Incidents held back for want of corroboration when they closed.
    pub uncorroborated: u64,
    /// Incidents closed early because the correlator reached its limit.
    pub evicted: u64,
}

/// The correlator: one for the whole hub, fed by every shard.
pub struct Correlator {
    rules: Arc<RuleSet>,
    settings: EngineSettings,
    incidents: FxHashMap<u64, Incident>,
    /// Every incident as (close time, id), earliest first: the close time
    /// is its latest event time plus the correlation window.
    closing: BTreeSet<(i64, u64)>,
    anchors: FxHashMap<(u16, u64), u64>,
    shard_watermarks: Vec<Watermark>,
    next_id: u64,
    dirty: Vec<u64>,
    out: VecDeque<Warning>,
    stats: CorrelatorStats,
    flagged: rustc_hash::FxHashSet<u64>,
}

impl Correlator {
    /// A correlator fed by `shards` shards.
    pub fn new(rules: Arc<RuleSet>, settings: EngineSettings, shards: usize) -> Correlator {
        Correlator {
            rules,
            settings,
            incidents: FxHashMap::default(),
            closing: BTreeSet::new(),
            anchors: FxHashMap::default(),
            shard_watermarks: vec![Watermark::NotYet; shards.max(1)],
            next_id: 1,
            dirty: Vec::new(),
            out: VecDeque::new(),
            stats: CorrelatorStats::default(),
            flagged: Default::default(),
        }
    }

    /// Marks a device as needing corroboration (or not any more).
    pub fn set_flagged(&mut self, device: u64, flagged: bool) {
        if flagged {
            self.flagged.insert(device);
        } else {
            self.flagged.remove(&device);
        }
    }

    /// Swaps in new rules; open incidents keep their plans.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules = rules;
    }

    /// Takes in one detection. Warnings become available after
    /// [`Correlator::flush`].
    pub fn handle_detection(&mut self, d: Detection) {
        let Some(rule) = self.rules.get(d.category) else {
            return;
        };
        let kind = rule.incident;
        let severity = rule.severity;
        let window = self.settings.correlation_window_ms;
        let source_bit = 1u8 << d.source.index();
        // A re-notification always opens a new incident: the earlier order
        // may be closed by now, and a condition still present after the
        // repeat interval is news of its own.
        let existing = if d.repeat == 0 {
            geo::neighbourhood(d.cell).find_map(|c| {
                let id = *self.anchors.get(&(kind, c))?;
                let inc = &self.incidents[&id];
                let in_window = d.time_ms >= inc.first_ms.saturating_sub(window)
                    && d.time_ms <= inc.last_ms.saturating_add(window);
                in_window.then_some(id)
            })
        } else {
            None
        };
        match existing {
            Some(id) => {
                let inc = self
                    .incidents
                    .get_mut(&id)
                    .expect("anchored incident exists");
                self.stats.joined += 1;
                let before = inc.severity();
                let was_corroborated = inc.corroborated;
                inc.corroborated |= !self.flagged.contains(&d.device)
                    || inc.detections.iter().any(|x| x.device != d.device);
                let new_source = inc.sources & source_bit == 0;
                inc.sources |= source_bit;
                inc.lead_severity = inc.lead_severity.max(severity);
                inc.first_ms = inc.first_ms.min(d.first_seen_ms.min(d.time_ms));
                if d.time_ms > inc.last_ms {
                    self.closing
                        .remove(&(inc.last_ms.saturating_add(window), id));
                    self.closing.insert((d.time_ms.saturating_add(window), id));
                    inc.last_ms = d.time_ms;
                }
                inc.detection_count += 1;
                let arrival = d.arrival;
                if inc.detections.len() < self.settings.max_incident_detections {
                    inc.detections.push(d);
                } else {
                    self.stats.detections_dropped += 1;
                }
                let news = new_source || inc.severity() > before || !was_corroborated;
                if news && inc.corroborated && !inc.dirty {
                    inc.dirty = true;
                    inc.arrival = arrival;
                    self.dirty.push(id);
                }
            }
            None => {
                if self.incidents.len() >= self.settings.max_incidents {
                    self.evict_oldest();
                }
                let id = self.next_id;
                self.next_id += 1;
                self.stats.opened += 1;
                // A newer incident of the same kind in this cell takes the
                // anchor; the older one still closes by the watermark.
                if let Some(old) = self.anchors.insert((kind, d.cell), id) {
                    if let Some(inc) = self.incidents.get_mut(&old) {
                        inc.anchor = u64::MAX;
                    }
                }
                let corroborated = !self.flagged.contains(&d.device);
                self.closing.insert((d.time_ms.saturating_add(window), id));
                self.incidents.insert(
                    id,
                    Incident {
                        corroborated,
                        kind,
                        anchor: d.cell,
                        sources: source_bit,
                        lead_severity: severity,
                        first_ms: d.first_seen_ms.min(d.time_ms),
                        last_ms: d.time_ms,
                        revision: 0,
                        dirty: corroborated,
                        arrival: d.arrival,
                        detection_count: 1,
                        detections: vec![d],
                    },
                );
                if corroborated {
                    self.dirty.push(id);
                }
            }
        }
    }

    /// Closes the oldest tenth of the incidents (by latest event time) that
    /// have no warning pending, to stay within the limit.
    #[cold]
    fn evict_oldest(&mut self) {
        let tenth = (self.incidents.len() / 10).max(1);
        let oldest: Vec<(i64, u64)> = self
            .closing
            .iter()
            .filter(|(_, id)| !self.incidents[id].dirty)
            .take(tenth)
            .copied()
            .collect();
        self.stats.evicted += oldest.len() as u64;
        for key in oldest {
            self.close(key);
        }
    }

    /// Forgets an incident that is done: its place in the close order and
    /// its anchor, if it still holds it.
    fn close(&mut self, key: (i64, u64)) -> Incident {
        self.closing.remove(&key);
        let id = key.1;
        let inc = self
            .incidents
            .remove(&id)
            .expect("a queued incident exists");
        let anchor = (inc.kind, inc.anchor);
        if inc.anchor != u64::MAX && self.anchors.get(&anchor) == Some(&id) {
            self.anchors.remove(&anchor);
        }
        inc
    }

    /// Turns every incident changed since the last flush into a warning.
    pub fn flush(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            let Some(inc) = self.incidents.get_mut(&id) else {
                continue;
            };
            inc.dirty = false;
            inc.revision += 1;
            let severity = inc.severity();
            // The first rule of the highest severity leads, so the plan
            // only changes when a more severe rule joins.
            let lead = inc
                .detections
                .iter()
                .filter_map(|d| self.rules.get(d.category))
                .reduce(|a, b| if b.severity > a.severity { b } else { a })
                .expect("an incident holds at least one detection of a ruled category");
            let deadline_ms = inc
                .detections
                .iter()
                .filter_map(|d| self.rules.get(d.category))
                .map(|r| r.deadline_ms)
                .min()
                .unwrap_or(lead.deadline_ms);
            let accept_ms = inc
                .detections
                .iter()
                .filter_map(|d| self.rules.get(d.category))
                .filter_map(|r| r.accept_ms)
                .min();
            let first = &inc.detections[0];
            let sources = Source::ALL
                .into_iter()
                .filter(|s| inc.sources & (1 << s.index()) != 0)
                .collect();
            self.out.push_back(Warning {
                incident: id,
                revision: inc.revision,
                kind: self.rules.incident_kinds()[usize::from(inc.kind)].clone(),
                category: lead.category,
                severity,
                cell: first.cell,
                lat: first.lat,
                lon: first.lon,
                sources,
                detections: inc.detections.clone(),
                detection_count: inc.detection_count,
                plan: lead.plan.clone(),
                deadline_ms,
                accept_ms,
                first_ms: inc.first_ms,
                last_ms: inc.last_ms,
                arrival: inc.arrival,
                repeat: first.repeat,
            });
        }
    }

    /// Records a shard's watermark and closes incidents every shard has
    /// moved past. Takes a [`Watermark`], or the number form the shell
    /// sends (`i64::MIN` for none yet).
    pub fn handle_watermark(&mut self, shard: usize, watermark: Watermark) {
        let slot = &mut self.shard_watermarks[shard];
        *slot = (*slot).max(watermark);
        let Watermark::At(low) = self.watermark() else {
            return;
        };
        // Incidents with a warning still to go out stay until it has; they
        // are few (those of the last shard output) and wait here meanwhile.
        let mut pending = Vec::new();
        while let Some(&key) = self.closing.first() {
            if key.0 >= low {
                break;
            }
            if self.incidents[&key.1].dirty {
                pending.push(self.closing.pop_first().expect("first exists"));
                continue;
            }
            let inc = self.close(key);
            self.stats.closed += 1;
            if !inc.corroborated {
                self.stats.uncorroborated += 1;
            }
        }
        self.closing.extend(pending);
    }

    /// The lowest shard watermark: [`Watermark::NotYet`] while any shard
    /// has none.
    pub fn watermark(&self) -> Watermark {
        self.shard_watermarks
            .iter()
            .copied()
            .min()
            .unwrap_or_default()
    }

    /// The next warning, oldest first.
    #[must_use]
    pub fn poll_warning(&mut self) -> Option<Warning> {
        self.out.pop_front()
    }

    /// Open incidents.
    pub fn open_incidents(&self) -> usize {
        self.incidents.len()
    }

    /// Counts since the last call, then zeroed.
    pub fn take_stats(&mut self) -> CorrelatorStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CameraRef, Category, Event};

    const T0: i64 = 1_780_000_000_000;

    /// A smoke detection of device `i` at its own place of a 20 x 10 grid
    /// about 1 km apart, so no two correlate.
    fn smoke(i: u64, time_ms: i64) -> Detection {
        let (lat, lon) = (
            31.20 + (i % 20) as f64 * 0.01,
            121.35 + (i / 20) as f64 * 0.01,
        );
        Detection {
            event: Event {
                device: i,
                seq: 0,
                time_ms,
                value: 5.0,
                lat,
                lon,
                cell: geo::cell_of(lat, lon).unwrap(),
                category: Category::Smoke,
                source: Source::Sensor,
                camera: CameraRef::NONE,
            },
            first_seen_ms: time_ms,
            count: 1,
            repeat: 0,
            arrival: 0,
            late_ms: None,
        }
    }

    #[test]
    fn many_open_incidents_close_in_close_time_order() {
        let settings = EngineSettings::default();
        let window = settings.correlation_window_ms;
        let mut c = Correlator::new(Arc::new(RuleSet::defaults()), settings, 2);
        // Opened in an order unrelated to their times (7919 is prime to 200).
        let times: Vec<i64> = (0..200).map(|i| T0 + (i * 7919 % 200) * 1_000).collect();
        for (i, &t) in times.iter().enumerate() {
            c.handle_detection(smoke(i as u64, t));
        }
        c.flush();
        assert_eq!(std::iter::from_fn(|| c.poll_warning()).count(), 200);
        c.handle_watermark(0, Watermark::At(T0 + 10 * window));
        assert_eq!(c.open_incidents(), 200, "the other shard has no watermark");
        let mut by_close = times.clone();
        by_close.sort_unstable();
        for (closed, &t) in by_close.iter().enumerate() {
            // Just past this one's close time: it and every earlier one are
            // closed, every later one is open.
            c.handle_watermark(1, Watermark::At(t + window + 1));
            assert_eq!(c.open_incidents(), 200 - closed - 1);
            assert!(c.incidents.values().all(|inc| inc.last_ms > t));
            assert_eq!(c.closing.len(), c.incidents.len());
        }
        assert!(c.anchors.is_empty(), "closed incidents leave no anchor");
        assert_eq!(c.take_stats().closed, 200);
    }

    #[test]
    fn an_incident_with_a_warning_to_send_waits_for_it() {
        let mut c = Correlator::new(Arc::new(RuleSet::defaults()), EngineSettings::default(), 1);
        c.handle_detection(smoke(1, T0));
        c.handle_detection(smoke(2, T0 + 1_000));
        c.handle_watermark(0, Watermark::At(T0 + 3_600_000));
        assert_eq!(c.open_incidents(), 2, "not flushed yet");
        c.flush();
        c.handle_watermark(0, Watermark::At(T0 + 3_600_000));
        assert_eq!(c.open_incidents(), 0);
        assert_eq!(std::iter::from_fn(|| c.poll_warning()).count(), 2);
    }
}
