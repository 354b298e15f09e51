//! The hub end to end over real QUIC on loopback: devices send batches,
//! street platforms receive orders.

mod common;

use common::*;
use std::time::Duration;
use tongguan::model::{Category, Severity, Source};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_sensor_and_camera_fire_in_one_cell_make_one_critical_order_for_the_owning_street() {
    let hub = start_hub("").await;
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t = now_ms();
    let smoke = event(1001, 1, t, Category::Smoke, Source::Sensor, 6.5, here);
    let fire = event(
        2001,
        1,
        t + 15_000,
        Category::Fire,
        Source::Video,
        0.93,
        here,
    );
    let ack = dev.send_and_wait(&[smoke, fire]).await.unwrap();
    assert_eq!((ack.accepted, ack.rejected), (2, 0));

    let order = expect_order(&mut street, 10).await;
    assert_eq!(order.severity, Severity::Critical);
    assert!(order.multi_source);
    assert_eq!(order.sources, vec![Source::Sensor, Source::Video]);
    assert_eq!(order.incident_kind, "fire");
    assert_eq!(order.street_code(), Some(CAOYANG));
    assert_eq!(order.camera.as_deref(), Some(CAMERA));
    assert_eq!(order.events.len(), 2);
    let rules = tongguan::engine::RuleSet::defaults();
    let plans = [Category::Smoke, Category::Fire].map(|c| rules.get(c).unwrap().plan.to_string());
    assert!(
        plans.contains(&order.plan),
        "the plan of one of the rules involved"
    );
    assert!(order.deadline_ms > order.created_ms);
    expect_no_order(&mut street, 500).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmitted_batches_do_not_create_extra_orders() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CHANGSHOU);
    let batch = [event(
        7,
        100,
        now_ms(),
        Category::Gas,
        Source::Sensor,
        45.0,
        here,
    )];
    // Gas must hold 5 s: the next reading completes the hold.
    let later = [event(
        7,
        101,
        now_ms() + 6_000,
        Category::Gas,
        Source::Sensor,
        47.0,
        here,
    )];
    for _ in 0..3 {
        dev.send_and_wait(&batch).await.unwrap();
        dev.send_and_wait(&later).await.unwrap();
    }
    let order = expect_order(&mut district, 10).await;
    assert_eq!(order.category, Category::Gas);
    assert_eq!(order.street_code(), Some(CHANGSHOU));
    expect_no_order(&mut district, 800).await;
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(&body, "tongguan_events_duplicate_total", "retransmit"),
        4.0
    );
    assert_eq!(
        metric(&body, "tongguan_orders_dispatched_total", CHANGSHOU),
        1.0
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_repeating_every_second_makes_one_order_until_the_repeat_interval() {
    let hub = start_hub("[engine]\nrepeat_interval = \"10s\"\n").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 60_000;
    // Twelve readings a second apart: one order at 0 s, one re-notification at 10 s.
    for s in 0..12u64 {
        let e = event(
            55,
            s,
            t0 + s as i64 * 1000,
            Category::Smoke,
            Source::Sensor,
            4.0,
            here,
        );
        dev.send_and_wait(&[e]).await.unwrap();
    }
    let first = expect_order(&mut district, 10).await;
    assert_eq!(first.repeat, 0);
    let again = expect_order(&mut district, 10).await;
    assert_eq!(again.repeat, 1);
    assert_ne!(first.id, again.id, "a re-notification is a new order");
    assert_eq!(again.events[0].count, 11);
    assert_eq!(again.events[0].first_seen_ms, t0);
    expect_no_order(&mut district, 800).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn water_level_orders_need_the_hold_and_hysteresis_prevents_flapping() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 600_000;
    let mut seq = 0;
    let mut reading = |t: i64, v: f64| {
        seq += 1;
        event(
            77,
            seq,
            t0 + t,
            Category::WaterLevel,
            Source::Sensor,
            v,
            here,
        )
    };
    // Below the 15 cm limit: nothing.
    let below: Vec<_> = (0..30).map(|i| reading(i * 1000, 12.0)).collect();
    dev.send_and_wait(&below).await.unwrap();
    // Above it, but for 30 s only: nothing yet.
    let short: Vec<_> = (30..61).map(|i| reading(i * 1000, 18.0)).collect();
    dev.send_and_wait(&short).await.unwrap();
    expect_no_order(&mut district, 800).await;
    // Still above at 91 s: the 60 s hold is complete.
    dev.send_and_wait(&[reading(91_000, 18.0)]).await.unwrap();
    let order = expect_order(&mut district, 10).await;
    assert_eq!(order.category, Category::WaterLevel);
    assert_eq!(order.events[0].first_seen_ms, t0 + 30_000);
    // Hovering between 12 and 17 cm (above the 10 cm clear level): no flapping.
    let hover: Vec<_> = (92..150)
        .map(|i| reading(i * 1000, if i % 2 == 0 { 12.0 } else { 17.0 }))
        .collect();
    dev.send_and_wait(&hover).await.unwrap();
    expect_no_order(&mut district, 800).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_in_street_a_never_reaches_a_subscriber_of_street_b() {
    let hub = start_hub("").await;
    let mut a = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut b = subscriber(&hub, &street_token(CHANGSHOU), CHANGSHOU).await;
    let mut dev = device(&hub).await;
    let t = now_ms();
    let in_a = event(
        1,
        1,
        t,
        Category::Smoke,
        Source::Sensor,
        9.0,
        point_in(CAOYANG),
    );
    dev.send_and_wait(&[in_a]).await.unwrap();
    let order = expect_order(&mut a, 10).await;
    assert_eq!(order.street_code(), Some(CAOYANG));
    expect_no_order(&mut b, 1000).await;
    // B's subscription works: its own street's order reaches it, not A.
    let in_b = event(
        2,
        1,
        t,
        Category::Smoke,
        Source::Sensor,
        9.0,
        point_in(CHANGSHOU),
    );
    dev.send_and_wait(&[in_b]).await.unwrap();
    assert_eq!(
        expect_order(&mut b, 10).await.street_code(),
        Some(CHANGSHOU)
    );
    expect_no_order(&mut a, 500).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_street_token_cannot_subscribe_to_another_street() {
    let hub = start_hub("").await;
    let opts = tongguan::client::ClientOptions::dev(hub.quic_addr, &street_token(CAOYANG));
    for wanted in [CHANGSHOU, "district"] {
        let err = match tongguan::client::SubscriberClient::connect(&opts, wanted, 0).await {
            Ok(_) => panic!("street token subscribed to {wanted}"),
            Err(e) => e,
        };
        assert_eq!(
            err.close_code(),
            Some(tongguan::wire::ErrorCode::Forbidden),
            "{err}"
        );
    }
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_is_accounted_for_under_a_burst_through_tiny_queues() {
    // Queues of one batch: ingest must wait for the shards (backpressure)
    // rather than drop anything.
    let hub = start_hub("[limits]\nshard_queue_batches = 1\n").await;
    let mut dev = device(&hub).await;
    let t = now_ms();
    let places = [
        point_in(CAOYANG),
        point_in(CHANGSHOU),
        point_in("310107103000"),
    ];
    let batches: Vec<Vec<_>> = (0..40u64)
        .map(|b| {
            (0..2000u64)
                .map(|i| {
                    let device = i % 500;
                    // Every tenth batch repeats the previous one's sequence numbers.
                    let seq = if b % 10 == 9 {
                        (b - 1) * 2000 + i
                    } else {
                        b * 2000 + i
                    };
                    event(
                        device,
                        seq,
                        t,
                        Category::Gas,
                        Source::Sensor,
                        1.0,
                        places[(i % 3) as usize],
                    )
                })
                .collect()
        })
        .collect();
    for b in &batches {
        dev.send_batch(b).await.unwrap();
    }
    let mut accepted = 0;
    for _ in &batches {
        accepted += dev.recv_ack().await.unwrap().accepted as u64;
    }
    assert_eq!(accepted, 80_000);
    // Wait until the shards have worked through their queues.
    let mut body = String::new();
    for _ in 0..100 {
        body = http_get(hub.admin_addr, "/metrics").await.1;
        let done = metric(&body, "tongguan_events_processed_total", "")
            + metric(&body, "tongguan_events_duplicate_total", "")
            + metric(&body, "tongguan_events_late_total", "");
        if done >= 80_000.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = metric(&body, "tongguan_events_received_total", "");
    let processed = metric(&body, "tongguan_events_processed_total", "");
    let duplicate = metric(&body, "tongguan_events_duplicate_total", "");
    let late = metric(&body, "tongguan_events_late_total", "");
    assert_eq!(received, 80_000.0);
    assert_eq!(
        processed + duplicate + late,
        received,
        "every accepted event is counted once"
    );
    // Batch 9, 19, 29, 39 repeat 2000 sequence numbers each, but only those
    // still inside a device's 64-wide window are retransmits for sure.
    assert!(duplicate >= 4.0 * 2000.0 * 0.9, "{duplicate} duplicates");
    eprintln!(
        "backpressure waits: {}",
        metric(&body, "tongguan_ingest_backpressure_total", "")
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_validates_and_acknowledges_and_does_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let sink = tongguan::hub::Hub::start_sink(test_config(dir.path(), ""))
        .await
        .unwrap();
    let mut dev = tongguan::client::DeviceClient::connect(&tongguan::client::ClientOptions::dev(
        sink.quic_addr,
        DEVICE_TOKEN,
    ))
    .await
    .unwrap();
    let here = point_in(CAOYANG);
    let mut alarm = event(1, 1, now_ms(), Category::Smoke, Source::Sensor, 9.0, here);
    let ack = dev.send_and_wait(&[alarm]).await.unwrap();
    assert_eq!(ack.accepted, 1);
    alarm.value = f64::NAN;
    alarm.seq = 2;
    assert_eq!(
        dev.send_and_wait(&[alarm]).await.unwrap().rejected,
        1,
        "still validated"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = http_get(sink.admin_addr, "/metrics").await;
    assert_eq!(metric(&body, "tongguan_events_received_total", ""), 1.0);
    assert_eq!(metric(&body, "tongguan_events_processed_total", ""), 0.0);
    assert_eq!(metric(&body, "tongguan_orders_dispatched_total", ""), 0.0);
    sink.shutdown(Duration::from_secs(2)).await;
}
