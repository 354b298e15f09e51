//! kill -9 of a real hub process in the middle of load: after a restart on
//! the same data directory, every order the hub had counted as dispatched
//! reaches its subscriber, and none it had seen acknowledged comes again.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::wire::control::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_load_loses_no_dispatched_order() {
    let data = tempfile::tempdir().unwrap();
    let mut hub = spawn_hub(data.path(), &[]);
    let opts = |addr, token: &str| ClientOptions::dev(addr, token);
    let mut district =
        tongguan::client::SubscriberClient::connect(&opts(hub.quic, DISTRICT_TOKEN), "district", 0)
            .await
            .unwrap();
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 2 * 3_600_000;

    // Phase 1: six orders, three acknowledged (and seen to be durable).
    let mut dev = DeviceClient::connect(&opts(hub.quic, DEVICE_TOKEN))
        .await
        .unwrap();
    for k in 0..6u64 {
        dev.send_and_wait(&[smoke_alarm(k, t0 + k as i64 * 120_000, here)])
            .await
            .unwrap();
    }
    let mut before: Vec<String> = Vec::new();
    for _ in 0..6 {
        before.push(expect_order(&mut district, 10).await.id);
    }
    let acked: HashSet<String> = before[..3].iter().cloned().collect();
    for id in &acked {
        district.ack(id, Outcome::Resolved, "done").await.unwrap();
    }
    let http = hub.http;
    eventually("three durable acks", || async {
        api(http, "/api/orders?status=acked").await["count"] == 3
    })
    .await;

    // Phase 2: a stream of alarms, pipelined, with the subscriber reading.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let collector = {
        let got = got.clone();
        tokio::spawn(async move {
            while let Ok(o) = district.next_order().await {
                got.lock().unwrap().push(o.id);
            }
        })
    };
    let t1 = t0 + 20 * 60_000;
    let mut counted = 0.0;
    for k in 0..60u64 {
        let e = smoke_alarm(100 + k, t1 + k as i64 * 120_000, here);
        if dev.send_batch(&[e]).await.is_err() {
            break;
        }
        if k == 40 {
            // Mid-load: note what the hub says it has dispatched, then kill it.
            let (_, body) = http_get(hub.http, "/metrics").await;
            counted = metric(&body, "tongguan_orders_dispatched_total", "");
            hub.child.kill().expect("SIGKILL");
            hub.child.wait().unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A killed process sends no close: stop listening instead of waiting
    // for the idle timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    collector.abort();
    before.extend(got.lock().unwrap().drain(..));

    // Restart on the same data: the outbox knows every dispatched order.
    let hub2 = spawn_hub(data.path(), &[]);
    let stored = api(hub2.http, "/api/orders?limit=10000").await;
    let stored_ids: HashSet<String> = stored["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        counted > 6.0,
        "the kill came mid-load: {counted} dispatched"
    );
    assert!(
        stored_ids.len() as f64 >= counted,
        "every order counted as dispatched is in the outbox: {} stored, {counted} counted",
        stored_ids.len()
    );

    let mut district = tongguan::client::SubscriberClient::connect(
        &opts(hub2.quic, DISTRICT_TOKEN),
        "district",
        0,
    )
    .await
    .unwrap();
    let mut after = Vec::new();
    while let Ok(Ok(o)) =
        tokio::time::timeout(Duration::from_millis(1500), district.next_order()).await
    {
        after.push(o.id);
    }
    let after_set: HashSet<String> = after.iter().cloned().collect();
    assert_eq!(
        after_set.len(),
        after.len(),
        "no order twice in the resumed stream"
    );
    assert!(
        after_set.is_disjoint(&acked),
        "acknowledged orders are not delivered again"
    );
    let delivered: HashSet<String> = before
        .iter()
        .cloned()
        .chain(after.iter().cloned())
        .collect();
    let missing: Vec<&String> = stored_ids.difference(&delivered).collect();
    assert!(
        missing.is_empty(),
        "dispatched but never delivered: {missing:?}"
    );
    let mut hub2 = hub2;
    hub2.child.kill().unwrap();
    hub2.child.wait().unwrap();
}

/// kill -9 within milliseconds of a BATCH_ACK, many times: every alarm the
/// hub acknowledged to its device has its order after the restarts. The
/// alarms are minutes apart in event time, so each is an incident (and an
/// order) of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_alarm_has_its_order_across_kill_9_right_after_the_ack() {
    let data = tempfile::tempdir().unwrap();
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 3 * 3_600_000;
    let mut acked_devices = HashSet::new();
    let mut device = 0u64;
    for _kill in 0..8 {
        let mut hub = spawn_hub(data.path(), &[]);
        let mut dev = DeviceClient::connect(&ClientOptions::dev(hub.quic, DEVICE_TOKEN))
            .await
            .unwrap();
        // Six alarms pipelined, then the kill as soon as the acks are in.
        let mut sent = Vec::new();
        for _ in 0..6 {
            device += 1;
            let alarm = smoke_alarm(1000 + device, t0 + device as i64 * 120_000, here);
            dev.send_batch(&[alarm]).await.unwrap();
            sent.push(1000 + device);
        }
        for d in sent {
            match tokio::time::timeout(Duration::from_secs(10), dev.recv_ack()).await {
                Ok(Ok(ack)) if ack.accepted == 1 => {
                    acked_devices.insert(d);
                }
                other => panic!("alarm of device {d}: {other:?}"),
            }
        }
        hub.child.kill().unwrap();
        hub.child.wait().unwrap();
    }
    let mut hub = spawn_hub(data.path(), &[]);
    let list = api(hub.http, "/api/orders?limit=10000").await;
    let ordered: HashSet<u64> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["events"].as_array().unwrap().iter())
        .map(|e| e["device"].as_u64().unwrap())
        .collect();
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
    let lost: Vec<&u64> = acked_devices
        .iter()
        .filter(|d| !ordered.contains(d))
        .collect();
    assert_eq!(acked_devices.len(), 48);
    assert!(
        lost.is_empty(),
        "acknowledged alarms without an order: {lost:?}"
    );
}
