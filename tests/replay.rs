//! Scientific thresholds end to end: a live hub records what it accepts
//! (`[record] mode = "all"`), its orders are judged by the district desk
//! over QUIC, the hub stops, and `tongguan replay` runs the recording:
//! with the rules the hub ran it gives exactly the hub's orders (ids and
//! counts); a higher smoke limit avoids the orders the desk judged false
//! alarms and reports them avoided; a limit above a confirmed fire misses
//! it and says so, with its delay.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use tongguan::client::{ClientOptions, SubscriberClient};
use tongguan::engine::rules::DEFAULT_RULES;
use tongguan::model::{Category, Source};
use tongguan::wire::control::{AckResult, Feature, Outcome};

/// The engine settings of the test hub (common::test_config), for the replay.
const REPLAY_CONFIG: &str = "[engine]\nallowed_lateness = \"12h\"\n";

/// Devices and what the desk said of their orders.
const FALSE_ALARMS: [u64; 3] = [101, 102, 103];
const FIRE: u64 = 201;
const SMOKE_AND_CAMERA: u64 = 301;

/// What the live run left: its data directory and its orders by device.
struct Live {
    dir: tempfile::TempDir,
    /// (order id, device that opened it, outcome)
    orders: Vec<(String, u64, Outcome)>,
}

/// A live hub recording everything: faint smoke (4.0, above the default
/// limit 3.0) from three sensors, judged false alarms; a real fire (8.0),
/// confirmed; smoke (9.0) with a camera's fire in the same cell, resolved.
/// Incidents are two minutes apart in event time, an hour ago.
async fn live_run() -> Live {
    let (hub, orders) = live_hub().await;
    let dir = hub.stop_keeping_data().await;
    Live { dir, orders }
}

/// The live run's hub, still running, and its orders.
async fn live_hub() -> (TestHub, Vec<(String, u64, Outcome)>) {
    let hub = start_hub("[record]\nmode = \"all\"\n").await;
    let opts = ClientOptions::dev(hub.quic_addr, DISTRICT_TOKEN);
    let mut desk = SubscriberClient::connect_with(&opts, "district", 0, &[Feature::OrderAckResult])
        .await
        .expect("desk connects");
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 3_600_000;
    let mut sent = Vec::new();
    for (k, d) in FALSE_ALARMS.into_iter().enumerate() {
        let t = t0 + k as i64 * 120_000;
        sent.push((
            vec![event(d, 1, t, Category::Smoke, Source::Sensor, 4.0, here)],
            d,
            Outcome::FalseAlarm,
        ));
    }
    let t = t0 + 10 * 120_000;
    sent.push((
        vec![event(
            FIRE,
            1,
            t,
            Category::Smoke,
            Source::Sensor,
            8.0,
            here,
        )],
        FIRE,
        Outcome::Confirmed,
    ));
    let t = t0 + 12 * 120_000;
    sent.push((
        smoke_and_fire(SMOKE_AND_CAMERA, t, point_in(CHANGSHOU)).to_vec(),
        SMOKE_AND_CAMERA,
        Outcome::Resolved,
    ));
    let mut orders = Vec::new();
    for (events, d, outcome) in sent {
        dev.send_and_wait(&events)
            .await
            .expect("batch acknowledged");
        let order = expect_order(&mut desk, 10).await;
        assert_eq!(order.events[0].device, d, "{order:#?}");
        let answer = desk.ack_and_wait(&order.id, outcome, "核查").await.unwrap();
        assert_eq!(answer, AckResult::Applied);
        orders.push((order.id, d, outcome));
    }
    (hub, orders)
}

/// Runs `tongguan replay --json` on the live run's recording and outbox.
fn replay(live: &Live, candidate_rules: &str) -> serde_json::Value {
    let dir = live.dir.path();
    let rules = dir.join("candidate.toml");
    std::fs::write(&rules, candidate_rules).unwrap();
    let config = dir.join("replay.toml");
    std::fs::write(&config, REPLAY_CONFIG).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .arg("replay")
        .arg("--recording")
        .arg(dir.join("recordings"))
        .arg("--rules")
        .arg(&rules)
        .arg("--outbox")
        .arg(dir.join("outbox.redb"))
        .arg("--config")
        .arg(&config)
        .arg("--json")
        .arg("--report")
        .arg(dir.join("report.html"))
        .output()
        .expect("tongguan replay runs");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids of the orders in the stopped hub's outbox (escalations aside).
fn outbox_ids(dir: &Path) -> Vec<String> {
    let store = tongguan::store::Store::open(dir).unwrap();
    let mut ids: Vec<String> = store
        .all_orders()
        .unwrap()
        .into_iter()
        .filter(|r| r.order.escalation_of.is_none())
        .map(|r| r.order.id)
        .collect();
    ids.sort();
    ids
}

fn smoke_limit(limit: f64) -> String {
    let text = DEFAULT_RULES.replacen(
        "limit = 3.0          # %/m obscuration",
        &format!("limit = {limit:?}"),
        1,
    );
    assert_ne!(
        text, DEFAULT_RULES,
        "the smoke rule's limit is where it was"
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replayed_with_the_hubs_rules_gives_exactly_its_orders() {
    let live = live_run().await;
    let r = replay(&live, DEFAULT_RULES);
    assert_eq!(
        r["partitions"], 2,
        "the hub's shard count, from the recording"
    );
    assert_eq!(r["events"], 6);
    let mut base = ids(&r["baseline"]["orders"]);
    base.sort();
    let mut live_ids: Vec<String> = live.orders.iter().map(|o| o.0.clone()).collect();
    live_ids.sort();
    assert_eq!(base, live_ids, "the same ids as the hub dispatched");
    assert_eq!(base, outbox_ids(live.dir.path()), "and as its outbox holds");
    let mut cand = ids(&r["candidate"]["orders"]);
    cand.sort();
    assert_eq!(cand, base);
    let c = &r["comparison"];
    assert_eq!(c["differing"].as_array().unwrap().len(), 0, "{c:#}");
    assert_eq!(c["baseline_judged"], 5);
    assert_eq!(c["false_alarms_kept"], 3);
    assert_eq!(c["total"]["baseline"]["orders"], 5);
    assert_eq!(c["total"]["baseline"]["multi_source"], 1);
    let page = std::fs::read_to_string(live.dir.path().join("report.html")).unwrap();
    assert!(
        page.contains("<svg") && page.matches("<svg").count() == 3,
        "three plots inline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_smoke_limit_avoids_the_orders_judged_false_alarms() {
    let live = live_run().await;
    let r = replay(&live, &smoke_limit(5.0));
    let c = &r["comparison"];
    let mut avoided = ids(&c["false_alarms_avoided"]);
    avoided.sort();
    let mut judged_false: Vec<String> = live
        .orders
        .iter()
        .filter(|o| o.2 == Outcome::FalseAlarm)
        .map(|o| o.0.clone())
        .collect();
    judged_false.sort();
    assert_eq!(avoided, judged_false);
    assert_eq!(c["missed"].as_array().unwrap().len(), 0, "{c:#}");
    assert_eq!(c["new_unjudged"].as_array().unwrap().len(), 0);
    assert_eq!(c["total"]["candidate"]["orders"], 2);
    let smoke = c["by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == "smoke")
        .unwrap();
    assert_eq!(
        (
            smoke["baseline"]["orders"].as_u64(),
            smoke["candidate"]["orders"].as_u64()
        ),
        (Some(5), Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_above_a_confirmed_fire_reports_it_missed_with_its_delay() {
    let live = live_run().await;
    let r = replay(&live, &smoke_limit(8.5));
    let c = &r["comparison"];
    let missed = c["missed"].as_array().unwrap();
    assert_eq!(missed.len(), 1, "{c:#}");
    let fire = live.orders.iter().find(|o| o.1 == FIRE).unwrap();
    assert_eq!(missed[0]["id"], fire.0.as_str());
    assert_eq!(missed[0]["outcome"], "confirmed");
    assert_eq!(
        missed[0]["delay_ms"], 0,
        "the hub ordered at the first breach"
    );
    // The smoke (9.0) and camera incident is still raised: not missed.
    assert_eq!(c["false_alarms_avoided"].as_array().unwrap().len(), 3);
    assert_eq!(c["total"]["candidate"]["orders"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backtest_api_replays_the_hubs_own_recording_in_the_background() {
    let (hub, orders) = live_hub().await;
    let addr = hub.admin_addr;
    eventually("the six events recorded", || async move {
        let (_, m) = http_get(addr, "/metrics").await;
        metric(&m, "tongguan_record_events_total", "") == 6.0
    })
    .await;
    let (status, body) = http_post(
        addr,
        "/api/rules/backtest",
        "{\"rules\": \"[[rule]]\\nname = 1\"}",
    )
    .await;
    assert_eq!(
        status, 400,
        "rules checked as PUT /api/rules checks them: {body}"
    );
    let request = serde_json::json!({ "rules": smoke_limit(5.0) }).to_string();
    let (status, body) = http_post(addr, "/api/rules/backtest", &request).await;
    assert_eq!(status, 202, "{body}");
    let mut job = serde_json::Value::Null;
    for _ in 0..200 {
        job = api(addr, "/api/rules/backtest").await;
        if job["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["events"], 6);
    assert_eq!(job["done_bytes"], job["total_bytes"]);
    assert_eq!(job["rules"], smoke_limit(5.0).as_str(), "the text to apply");
    let report = &job["report"];
    let mut avoided = ids(&report["false_alarms_avoided"]);
    avoided.sort();
    let mut judged_false: Vec<String> = orders
        .iter()
        .filter(|o| o.2 == Outcome::FalseAlarm)
        .map(|o| o.0.clone())
        .collect();
    judged_false.sort();
    assert_eq!(avoided, judged_false);
    assert_eq!(report["missed"].as_array().unwrap().len(), 0);
    hub.shutdown(std::time::Duration::from_secs(5)).await;
}
