//! Time that one device cannot bend, over real QUIC on loopback: a device
//! whose clock is minutes fast cannot make the on-time alarms of its part
//! of the map late, and is flagged; a late camera fire detection still
//! makes its order, marked late.
//!
//! These hubs keep the shipped allowed lateness (30 s), not the 12 h of
//! `common::test_config`, and run one shard, so every place shares it.

mod common;

use common::*;
use std::time::Duration;
use tongguan::config::Config;
use tongguan::hub::Hub;
use tongguan::model::{Category, Source};

const MINUTE: i64 = 60_000;

/// A hub with the embedded engine defaults (30 s allowed lateness) and one
/// shard, on loopback ports the OS picks.
async fn hub_with_shipped_lateness() -> TestHub {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "[hub]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nshards = 1\ndata_dir = {:?}\n",
        dir.path().display().to_string()
    );
    let config = Config::from_layers(Some(("test config".into(), &text))).expect("test config");
    assert_eq!(config.engine.allowed_lateness, Duration::from_secs(30));
    let hub = Hub::start(config).await.expect("hub starts");
    TestHub { hub, dir }
}

async fn metrics(hub: &TestHub) -> String {
    let (status, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_four_minutes_fast_cannot_make_another_streets_on_time_alarm_late() {
    let hub = hub_with_shipped_lateness().await;
    let mut caoyang = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    // Far from Caoyang, a smoke sensor whose clock is 4 min fast: inside
    // the 5 min ingest accepts.
    let fast = smoke_alarm(900, now_ms() + 4 * MINUTE, point_in(CHANGSHOU));
    let ack = dev.send_and_wait(&[fast]).await.unwrap();
    assert_eq!((ack.accepted, ack.rejected), (1, 0));
    eventually("the shard took the fast event", || async {
        metric(&metrics(&hub).await, "tongguan_events_future_total", "") == 1.0
    })
    .await;
    // Then an on-time smoke alarm in 曹杨新村街道, in the same shard.
    let on_time = smoke_alarm(901, now_ms() - 200, point_in(CAOYANG));
    dev.send_and_wait(&[on_time]).await.unwrap();
    let order = expect_order(&mut caoyang, 10).await;
    assert_eq!(order.street_code(), Some(CAOYANG));
    assert_eq!(order.events[0].device, 901);
    assert_eq!(order.late_ms, None, "on time");
    assert_eq!(order.events[0].late_ms, None);

    let body = metrics(&hub).await;
    assert_eq!(metric(&body, "tongguan_events_late_total", ""), 0.0);
    assert_eq!(metric(&body, "tongguan_events_processed_total", ""), 2.0);
    assert_eq!(metric(&body, "tongguan_devices_clock_skewed", ""), 1.0);
    // The fast device is flagged where devices are shown.
    eventually("both devices listed", || async {
        api(hub.admin_addr, "/api/devices").await["count"] == 2
    })
    .await;
    let list = api(hub.admin_addr, "/api/devices").await;
    let shown = |id: u64| {
        list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"] == id)
            .unwrap_or_else(|| panic!("device {id} in {list}"))
            .clone()
    };
    let (fast, punctual) = (shown(900), shown(901));
    assert_eq!(fast["clock_skewed"], true, "{fast}");
    let offset = fast["clock_offset_ms"].as_i64().unwrap();
    assert!(
        (3 * MINUTE..=4 * MINUTE).contains(&offset),
        "about 4 min ahead: {offset}"
    );
    assert_eq!(punctual["clock_skewed"], false, "{punctual}");
    assert!(punctual["clock_offset_ms"].as_i64().unwrap() <= 0);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_camera_fire_detection_still_makes_an_order_marked_late() {
    let hub = hub_with_shipped_lateness().await;
    let mut caoyang = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    // The shard has seen the present: a gauge's ordinary reading.
    let reading = event(
        10,
        1,
        now_ms(),
        Category::WaterLevel,
        Source::Sensor,
        2.0,
        point_in(CHANGSHOU),
    );
    dev.send_and_wait(&[reading]).await.unwrap();
    eventually("the reading went through", || async {
        metric(&metrics(&hub).await, "tongguan_events_processed_total", "") == 1.0
    })
    .await;
    // A camera's fire detection that reaches the hub 5 min after it
    // happened (its box was offline), far behind the watermark.
    let happened = now_ms() - 5 * MINUTE;
    let fire = event(
        20,
        7,
        happened,
        Category::Fire,
        Source::Video,
        0.93,
        point_in(CAOYANG),
    );
    let ack = dev.send_and_wait(&[fire]).await.unwrap();
    assert_eq!(ack.accepted, 1);
    let order = expect_order(&mut caoyang, 10).await;
    assert_eq!(order.category, Category::Fire);
    assert_eq!(order.camera.as_deref(), Some(CAMERA));
    assert_eq!(order.events[0].time_ms, happened);
    let late_ms = order.late_ms.expect("marked late");
    assert_eq!(order.events[0].late_ms, Some(late_ms));
    // 5 min old, less the 30 s allowed lateness, less the time it took.
    assert!(
        (4 * MINUTE..=5 * MINUTE - 30_000).contains(&late_ms),
        "late by {late_ms} ms"
    );
    // The same detection resent is a duplicate, late or not.
    dev.send_and_wait(&[fire]).await.unwrap();
    expect_no_order(&mut caoyang, 800).await;

    let body = metrics(&hub).await;
    assert_eq!(metric(&body, "tongguan_events_late_total", ""), 1.0);
    assert_eq!(
        metric(&body, "tongguan_events_late_outcome_total", "\"alarmed\""),
        1.0
    );
    assert_eq!(
        metric(&body, "tongguan_events_late_outcome_total", "\"skipped\""),
        0.0
    );
    assert_eq!(
        metric(&body, "tongguan_events_duplicate_total", "retransmit"),
        1.0
    );
    // The order as stored and listed says so too.
    let (status, one) = http_get(hub.admin_addr, &format!("/api/orders/{}", order.id)).await;
    assert_eq!(status, 200, "{one}");
    assert!(one.contains(&format!("\"late_ms\":{late_ms}")), "{one}");
    hub.shutdown(Duration::from_secs(2)).await;
}
