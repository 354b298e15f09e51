//! Scenarios of a replay: the same rules make the same orders; a higher
//! smoke limit avoids a known false alarm; a longer hold misses or delays
//! a confirmed incident, and the report says by how much.

use super::compare::{compare, percentile, Only, DEFAULT_MATCH_WINDOW_MS};
use super::run::{Replay, ReplayRun};
use crate::engine::rules::{Profiles, DEFAULT_RULES};
use crate::engine::{EngineSettings, RuleSet};
use crate::geo::{self, RegionMap};
use crate::model::{CameraRef, Category, Event, Source};
use crate::wire::control::Outcome;
use std::collections::HashMap;
use std::sync::Arc;

const T0: i64 = 1_780_000_000_000;
const HERE: (f64, f64) = (31.2575, 121.4125);
const THERE: (f64, f64) = (31.2400, 121.3900);

fn smoke(device: u64, seq: u64, t: i64, value: f64, at: (f64, f64)) -> Event {
    Event {
        device,
        seq,
        time_ms: t,
        value,
        lat: at.0,
        lon: at.1,
        cell: geo::cell_of(at.0, at.1).unwrap(),
        category: Category::Smoke,
        source: Source::Sensor,
        camera: CameraRef::NONE,
    }
}

/// The default rules with the smoke rule's limit and hold changed.
fn rules(smoke_limit: f64, smoke_for: &str) -> Arc<RuleSet> {
    let text = DEFAULT_RULES
        .replacen(
            "limit = 3.0          # %/m obscuration",
            &format!("limit = {smoke_limit:?}"),
            1,
        )
        .replacen("for = \"0s\"", &format!("for = \"{smoke_for}\""), 1);
    assert_ne!(text, DEFAULT_RULES, "the smoke rule is where it was");
    Profiles::from_toml(&text).unwrap().normal
}

/// A faint puff (4.0 for one reading) at HERE at 0 s, and a real fire at
/// THERE: 6.0 every second from 100 s for 30 s.
fn recording() -> Vec<(i64, Vec<Event>)> {
    let mut batches = vec![(T0, vec![smoke(1, 0, T0, 4.0, HERE)])];
    for s in 0..30u64 {
        let t = T0 + 100_000 + s as i64 * 1000;
        batches.push((t + 5, vec![smoke(2, s, t, 6.0, THERE)]));
    }
    batches
}

fn replay(rules: Arc<RuleSet>) -> ReplayRun {
    let map = Arc::new(RegionMap::sample());
    let mut r = Replay::new(rules, EngineSettings::default(), 4, map);
    for (arrival, events) in recording() {
        r.handle_batch(arrival, &events);
    }
    r.handle_timeout(T0 + 600_000);
    r.finish()
}

/// The puff was judged a false alarm, the fire confirmed.
fn judged(run: &ReplayRun) -> HashMap<String, Outcome> {
    assert_eq!(run.orders.len(), 2, "{:#?}", run.orders);
    HashMap::from([
        (run.orders[0].id.clone(), Outcome::FalseAlarm),
        (run.orders[1].id.clone(), Outcome::Confirmed),
    ])
}

#[test]
fn the_same_rules_replay_to_the_same_orders_with_the_same_ids() {
    let a = replay(rules(3.0, "0s"));
    let b = replay(rules(3.0, "0s"));
    assert_eq!(a, b);
    assert_eq!(a.events, 31);
    let cmp = compare(&a, &b, &judged(&a), DEFAULT_MATCH_WINDOW_MS);
    assert!(cmp.differing.is_empty(), "{:#?}", cmp.differing);
    assert_eq!(cmp.total.baseline, cmp.total.candidate);
    assert_eq!(cmp.false_alarms_kept, 1);
    assert_eq!(cmp.baseline_judged, 2);
}

#[test]
fn a_higher_smoke_limit_avoids_the_known_false_alarm_and_keeps_the_fire() {
    let base = replay(rules(3.0, "0s"));
    let cand = replay(rules(5.0, "0s"));
    let cmp = compare(&base, &cand, &judged(&base), DEFAULT_MATCH_WINDOW_MS);
    assert_eq!(cmp.false_alarms_avoided.len(), 1);
    assert_eq!(cmp.false_alarms_avoided[0].id, base.orders[0].id);
    assert!(cmp.missed.is_empty() && cmp.shifted.is_empty());
    assert_eq!(
        (cmp.total.baseline.orders, cmp.total.candidate.orders),
        (2, 1)
    );
    let smoke = cmp.by_rule.iter().find(|r| r.key == "smoke").unwrap();
    assert_eq!((smoke.baseline.orders, smoke.candidate.orders), (2, 1));
    assert_eq!(cmp.differing.len(), 1);
    assert_eq!(cmp.differing[0].only, Only::Baseline);
}

#[test]
fn a_limit_above_the_fire_misses_the_confirmed_incident_and_says_its_delay() {
    let base = replay(rules(3.0, "0s"));
    let cand = replay(rules(7.0, "0s"));
    let cmp = compare(&base, &cand, &judged(&base), DEFAULT_MATCH_WINDOW_MS);
    assert!(cand.orders.is_empty());
    assert_eq!(cmp.missed.len(), 1);
    assert_eq!(cmp.missed[0].id, base.orders[1].id);
    assert_eq!(cmp.missed[0].outcome, Some(Outcome::Confirmed));
    assert_eq!(cmp.missed[0].delay_ms, 0, "the baseline ordered at once");
}

#[test]
fn a_longer_hold_raises_the_confirmed_fire_later_by_the_hold() {
    let base = replay(rules(3.0, "0s"));
    let cand = replay(rules(3.0, "10s"));
    let cmp = compare(&base, &cand, &judged(&base), DEFAULT_MATCH_WINDOW_MS);
    assert_eq!(cmp.false_alarms_avoided.len(), 1, "one reading never holds");
    assert_eq!(cmp.shifted.len(), 1, "{cmp:#?}");
    assert_eq!(cmp.shifted[0].later_by_ms, 10_000);
    let fire = &cand.orders[0];
    assert_eq!(fire.delay_ms(), 10_000);
    assert_eq!(cmp.total.candidate.delay_median_ms, Some(10_000));
    assert!(
        cmp.new_unjudged.is_empty(),
        "the later fire is the same incident"
    );
}

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<i64> = (1..=10).collect();
    assert_eq!(percentile(&v, 50), Some(5));
    assert_eq!(percentile(&v, 90), Some(9));
    assert_eq!(percentile(&[7], 90), Some(7));
    assert_eq!(percentile(&[], 50), None);
}

#[test]
fn the_clusters_log_replayed_partition_by_partition_gives_the_recordings_orders() {
    // The same batches as the cluster's log holds them: each part on its
    // partition's subject, and a tick for every quiet partition each
    // second, as their owners write them.
    let map = Arc::new(RegionMap::sample());
    let partitions = 64;
    let by_batch = {
        let mut r = Replay::new(
            rules(3.0, "0s"),
            EngineSettings::default(),
            partitions,
            map.clone(),
        );
        for (arrival, events) in recording() {
            r.handle_batch(arrival, &events);
        }
        r.handle_timeout(T0 + 600_000);
        r.finish()
    };
    let mut r = Replay::new(rules(3.0, "0s"), EngineSettings::default(), partitions, map);
    let mut next_tick = T0;
    for (arrival, events) in recording() {
        while next_tick < arrival {
            for p in 0..partitions {
                r.handle_partition_message(p, next_tick, &[]);
            }
            next_tick += 1_000;
        }
        let mut parts = vec![Vec::new(); partitions];
        for e in &events {
            parts[crate::engine::partition::shard_of(e.cell, partitions)].push(*e);
        }
        for (p, part) in parts.iter().enumerate().filter(|(_, x)| !x.is_empty()) {
            r.handle_partition_message(p, arrival, part);
        }
    }
    r.handle_timeout(T0 + 600_000);
    let by_partition = r.finish();
    assert_eq!(by_partition.orders, by_batch.orders);
    assert_eq!(by_partition.events, 31);
}
