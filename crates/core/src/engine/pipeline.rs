//! The whole engine in one thread: events are split by shard key among
//! [`Shard`]s exactly as the hub's threads split them, detections go to
//! one [`Correlator`]. For tests, replays and benches; the hub runs the
//! same parts on threads (src/runtime/threads.rs).

use super::correlate::{Correlator, CorrelatorStats};
use super::detection::Warning;
use super::partition::shard_of;
use super::rules::RuleSet;
use super::settings::EngineSettings;
use super::shard::{Shard, ShardStats};
use crate::model::Event;
use std::sync::Arc;

/// Shards and a correlator, driven by one thread.
pub struct Pipeline {
    shards: Vec<Shard>,
    parts: Vec<Vec<Event>>,
    correlator: Correlator,
}

impl Pipeline {
    /// A pipeline of `shards` shards.
    pub fn new(rules: Arc<RuleSet>, settings: EngineSettings, shards: usize) -> Pipeline {
        let shards = shards.max(1);
        Pipeline {
            shards: (0..shards)
                .map(|_| Shard::new(rules.clone(), settings))
                .collect(),
            parts: vec![Vec::new(); shards],
            correlator: Correlator::new(rules, settings, shards),
        }
    }

    /// Runs a batch through shards and correlator.
    pub fn handle_events(&mut self, now_ms: i64, arrival: u64, events: &[Event]) {
        let n = self.shards.len();
        for e in events {
            self.parts[shard_of(e.cell, n)].push(*e);
        }
        for (i, shard) in self.shards.iter_mut().enumerate() {
            if self.parts[i].is_empty() {
                continue;
            }
            shard.handle_events(now_ms, arrival, &self.parts[i]);
            self.parts[i].clear();
            while let Some(d) = shard.poll_detection() {
                self.correlator.handle_detection(d);
            }
            self.correlator.flush();
            self.correlator
                .handle_watermark(i, shard.current_watermark());
        }
    }

    /// Ticks every shard and the correlator.
    pub fn handle_timeout(&mut self, now_ms: i64) {
        for (i, shard) in self.shards.iter_mut().enumerate() {
            shard.handle_timeout(now_ms);
            self.correlator
                .handle_watermark(i, shard.current_watermark());
        }
    }

    /// The next warning.
    #[must_use]
    pub fn poll_warning(&mut self) -> Option<Warning> {
        self.correlator.poll_warning()
    }

    /// Every warning ready now.
    pub fn drain_warnings(&mut self) -> Vec<Warning> {
        std::iter::from_fn(|| self.poll_warning()).collect()
    }

    /// Summed shard counts and the correlator's, since the last call.
    pub fn take_stats(&mut self) -> (ShardStats, CorrelatorStats) {
        let mut sum = ShardStats::default();
        for s in &mut self.shards {
            sum += s.take_stats();
        }
        (sum, self.correlator.take_stats())
    }

    /// Marks a device as needing corroboration.
    pub fn set_flagged(&mut self, device: u64, flagged: bool) {
        self.correlator.set_flagged(device, flagged);
    }

    /// Open incidents in the correlator.
    pub fn open_incidents(&self) -> usize {
        self.correlator.open_incidents()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo;
    use crate::model::{CameraRef, Category, Severity, Source};

    const T0: i64 = 1_780_000_000_000;

    fn event(
        device: u64,
        seq: u64,
        t: i64,
        cat: Category,
        src: Source,
        v: f64,
        at: (f64, f64),
    ) -> Event {
        Event {
            device,
            seq,
            time_ms: t,
            value: v,
            lat: at.0,
            lon: at.1,
            cell: geo::cell_of(at.0, at.1).unwrap(),
            category: cat,
            source: src,
            camera: if src == Source::Video {
                CameraRef::parse("31010700001320000007").unwrap()
            } else {
                CameraRef::NONE
            },
        }
    }

    fn pipeline(shards: usize) -> Pipeline {
        Pipeline::new(
            Arc::new(RuleSet::defaults()),
            EngineSettings::default(),
            shards,
        )
    }

    const HERE: (f64, f64) = (31.2575, 121.4125);

    #[test]
    fn smoke_sensor_and_camera_fire_in_one_cell_make_one_critical_warning() {
        let mut p = pipeline(2);
        let smoke = event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, HERE);
        let fire = event(2, 0, T0 + 20_000, Category::Fire, Source::Video, 0.95, HERE);
        p.handle_events(T0, 7, &[smoke, fire]);
        let w = p.drain_warnings();
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(w[0].severity, Severity::Critical);
        assert_eq!(w[0].sources, vec![Source::Sensor, Source::Video]);
        assert_eq!(&*w[0].kind, "fire");
        assert!(w[0].camera().is_some());
        assert_eq!(w[0].arrival, 7);
    }

    #[test]
    fn a_later_camera_upgrades_the_same_incident() {
        let mut p = pipeline(2);
        p.handle_events(
            T0,
            1,
            &[event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, HERE)],
        );
        let first = p.drain_warnings();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].severity, Severity::Major);
        // Another smoke sensor adds nothing new: no update.
        p.handle_events(
            T0,
            2,
            &[event(
                3,
                0,
                T0 + 1000,
                Category::Smoke,
                Source::Sensor,
                4.0,
                HERE,
            )],
        );
        assert!(p.drain_warnings().is_empty());
        p.handle_events(
            T0,
            3,
            &[event(
                2,
                0,
                T0 + 50_000,
                Category::Fire,
                Source::Video,
                0.9,
                HERE,
            )],
        );
        let second = p.drain_warnings();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].incident, first[0].incident);
        assert_eq!(second[0].revision, 2);
        assert_eq!(second[0].severity, Severity::Critical);
        assert_eq!(second[0].detection_count, 3);
    }

    #[test]
    fn detections_outside_the_window_are_separate_incidents() {
        let mut p = pipeline(1);
        p.handle_events(
            T0,
            1,
            &[event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, HERE)],
        );
        p.handle_events(
            T0,
            2,
            &[event(
                2,
                0,
                T0 + 61_000,
                Category::Fire,
                Source::Video,
                0.9,
                HERE,
            )],
        );
        let w = p.drain_warnings();
        assert_eq!(w.len(), 2);
        assert_ne!(w[0].incident, w[1].incident);
        assert!(w.iter().all(|w| w.severity == Severity::Major));
    }

    /// Two neighbouring cells whose shard keys differ: the correlator sees
    /// both shards' detections, so the neighbourhood is whole.
    #[test]
    fn a_neighbourhood_straddling_two_shards_still_correlates() {
        let shards = 2;
        let (a, b) = straddling_pair(shards);
        let mut p = pipeline(shards);
        let smoke = event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, a);
        let fire = event(2, 0, T0 + 5_000, Category::Fire, Source::Video, 0.9, b);
        assert_ne!(shard_of(smoke.cell, shards), shard_of(fire.cell, shards));
        p.handle_events(T0, 1, &[smoke, fire]);
        let w = p.drain_warnings();
        let last = w.last().unwrap();
        assert!(
            w.iter().all(|x| x.incident == last.incident),
            "one incident: {w:#?}"
        );
        assert_eq!(last.severity, Severity::Critical);
        assert_eq!(last.detections.len(), 2);
    }

    /// Finds two adjacent res-9 cells in Putuo that fall in different shards.
    pub(crate) fn straddling_pair(shards: usize) -> ((f64, f64), (f64, f64)) {
        for i in 0..200 {
            let lat = 31.22 + 0.0004 * i as f64;
            let cell = geo::cell_of(lat, 121.40).unwrap();
            for n in geo::neighbourhood(cell) {
                if shard_of(n, shards) != shard_of(cell, shards) {
                    return (geo::cell_center(cell), geo::cell_center(n));
                }
            }
        }
        panic!("no shard border found in the district");
    }

    #[test]
    fn retransmits_and_repeats_make_no_extra_warnings() {
        let mut p = pipeline(2);
        let e = event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, HERE);
        for _ in 0..5 {
            p.handle_events(T0, 1, &[e]);
        }
        // The condition keeps being reported every second for 9 s.
        for s in 1..10 {
            let again = event(
                1,
                s,
                T0 + s as i64 * 1000,
                Category::Smoke,
                Source::Sensor,
                5.0,
                HERE,
            );
            p.handle_events(T0, 1, &[again]);
        }
        assert_eq!(p.drain_warnings().len(), 1);
        let (stats, _) = p.take_stats();
        assert_eq!(stats.retransmits, 4);
        assert_eq!(stats.processed, 10);
    }

    #[test]
    fn a_condition_still_present_after_the_repeat_interval_is_renotified() {
        let settings = EngineSettings {
            repeat_interval_ms: 10_000,
            ..EngineSettings::default()
        };
        let mut p = Pipeline::new(Arc::new(RuleSet::defaults()), settings, 1);
        for s in 0..25u64 {
            let e = event(
                1,
                s,
                T0 + s as i64 * 1000,
                Category::Smoke,
                Source::Sensor,
                5.0,
                HERE,
            );
            p.handle_events(T0, 1, &[e]);
        }
        let w = p.drain_warnings();
        assert_eq!(w.len(), 3, "at 0 s, 10 s and 20 s");
        assert_eq!(
            w.iter().map(|w| w.repeat).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(w[2].detections[0].count, 21);
        assert_eq!(w[2].detections[0].first_seen_ms, T0);
    }

    #[test]
    fn a_flagged_device_alone_dispatches_nothing_until_another_device_corroborates() {
        let mut p = pipeline(2);
        p.set_flagged(1, true);
        p.handle_events(
            T0,
            1,
            &[event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, HERE)],
        );
        assert!(p.drain_warnings().is_empty(), "flagged device alone");
        // Its own later reports do not corroborate it.
        p.handle_events(
            T0,
            1,
            &[event(
                1,
                1,
                T0 + 700_000,
                Category::Smoke,
                Source::Sensor,
                5.0,
                HERE,
            )],
        );
        assert!(p.drain_warnings().is_empty());
        // A second device in the same place does.
        p.handle_events(
            T0,
            1,
            &[event(
                2,
                0,
                T0 + 701_000,
                Category::Smoke,
                Source::Sensor,
                5.0,
                HERE,
            )],
        );
        let w = p.drain_warnings();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].revision, 1);
        assert_eq!(
            w[0].detections.iter().map(|d| d.device).collect::<Vec<_>>(),
            vec![1, 2]
        );
        // An unflagged device is dispatched alone as before.
        p.handle_events(
            T0,
            1,
            &[event(
                3,
                0,
                T0 + 702_000,
                Category::Gas,
                Source::Sensor,
                50.0,
                HERE,
            )],
        );
        p.handle_events(
            T0,
            1,
            &[event(
                3,
                1,
                T0 + 708_000,
                Category::Gas,
                Source::Sensor,
                50.0,
                HERE,
            )],
        );
        assert_eq!(p.drain_warnings().len(), 1);
    }

    #[test]
    fn a_flood_of_distinct_devices_stays_within_the_limits() {
        let settings = EngineSettings {
            max_devices: 1_000,
            max_conditions: 200,
            max_incidents: 100,
            ..EngineSettings::default()
        };
        let mut p = Pipeline::new(Arc::new(RuleSet::defaults()), settings, 1);
        let mut total = 0u64;
        for round in 0..100u64 {
            // 100 fresh devices a round, each with a smoke alarm far from the last.
            let batch: Vec<Event> = (0..100u64)
                .map(|i| {
                    let d = round * 100 + i;
                    let at = (
                        31.22 + (d % 97) as f64 * 0.0008,
                        121.36 + (d / 97 % 97) as f64 * 0.001,
                    );
                    event(
                        d,
                        0,
                        T0 + d as i64,
                        Category::Smoke,
                        Source::Sensor,
                        9.0,
                        at,
                    )
                })
                .collect();
            total += batch.len() as u64;
            p.handle_events(T0, 0, &batch);
            p.drain_warnings();
            assert!(p.shards[0].devices() <= 1_000);
            assert!(p.shards[0].open_state() <= 200);
            assert!(p.open_incidents() <= 100);
        }
        let (stats, corr) = p.take_stats();
        assert_eq!(stats.events(), total, "every event still counted");
        assert!(
            stats.evicted_devices >= 9_000 - 1_000,
            "{}",
            stats.evicted_devices
        );
        assert!(stats.evicted_conditions > 0 && corr.evicted > 0);
    }

    #[test]
    fn late_events_are_counted_not_processed() {
        let mut p = pipeline(1);
        p.handle_events(
            T0,
            1,
            &[event(
                1,
                0,
                T0,
                Category::WaterLevel,
                Source::Sensor,
                1.0,
                HERE,
            )],
        );
        p.handle_events(
            T0,
            1,
            &[event(
                2,
                0,
                T0 - 31_000,
                Category::Smoke,
                Source::Sensor,
                9.0,
                HERE,
            )],
        );
        let (stats, _) = p.take_stats();
        assert_eq!((stats.processed, stats.late), (1, 1));
        // Counted late, and still an alarm: marked late, by how much.
        let w = p.drain_warnings();
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(w[0].detections[0].late_ms, Some(1_000));
        assert_eq!(stats.late_alarmed, 1);
    }

    #[test]
    fn a_quiet_district_still_closes_its_incidents() {
        let mut p = pipeline(2);
        p.handle_events(
            T0,
            1,
            &[event(1, 0, T0, Category::Smoke, Source::Sensor, 5.0, HERE)],
        );
        assert_eq!(p.open_incidents(), 1);
        p.handle_timeout(T0 + 10_000);
        assert_eq!(p.open_incidents(), 1, "window still open");
        // No events at all for a while: watermarks follow the clock.
        p.handle_timeout(T0 + 95_000);
        assert_eq!(p.open_incidents(), 0);
        let (_, c) = p.take_stats();
        assert_eq!((c.opened, c.closed), (1, 1));
    }

    #[test]
    fn three_noise_complaints_in_one_cell_within_an_hour_make_one_warning() {
        let mut p = pipeline(2);
        for i in 0..3u64 {
            let e = event(
                100 + i,
                0,
                T0 + i as i64 * 600_000,
                Category::NoiseComplaint,
                Source::Hotline,
                1.0,
                HERE,
            );
            p.handle_events(T0 + i as i64 * 600_000, 1, &[e]);
        }
        let w = p.drain_warnings();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].severity, Severity::Minor);
        assert_eq!(w[0].detections[0].count, 3);
    }

    #[test]
    fn water_level_needs_its_hold_and_hysteresis_stops_flapping() {
        let mut p = pipeline(1);
        let mut seq = 0;
        let mut feed = |p: &mut Pipeline, t: i64, v: f64| {
            seq += 1;
            p.handle_events(
                T0 + t,
                1,
                &[event(
                    9,
                    seq,
                    T0 + t,
                    Category::WaterLevel,
                    Source::Sensor,
                    v,
                    HERE,
                )],
            );
        };
        feed(&mut p, 0, 12.0);
        feed(&mut p, 1_000, 20.0);
        feed(&mut p, 30_000, 20.0);
        assert!(p.drain_warnings().is_empty(), "not yet held 60 s");
        feed(&mut p, 61_000, 20.0);
        assert_eq!(p.drain_warnings().len(), 1);
        for i in 0..30 {
            feed(
                &mut p,
                62_000 + i * 1000,
                if i % 2 == 0 { 13.0 } else { 17.0 },
            );
        }
        assert!(
            p.drain_warnings().is_empty(),
            "hovering above the clear level"
        );
    }
}
