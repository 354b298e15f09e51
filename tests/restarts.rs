//! The engine's state across restarts of a real hub process: a sensor stuck
//! in alarm keeps its one order (and its id) over restarts, by SIGTERM and
//! by kill -9, and a gas leak held past its rule's hold still makes its
//! order while the hub restarts more often than the hold lasts.

mod common;

use common::*;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::model::{Category, Source};

/// Checkpoints written so far by the hub at `http`.
async fn checkpoints_written(http: std::net::SocketAddr) -> f64 {
    let (_, body) = http_get(http, "/metrics").await;
    metric(&body, "tongguan_engine_checkpoints_total", "result=\"ok\"")
}

/// The ids of the orders of device `device`.
async fn orders_of(http: std::net::SocketAddr, device: u64) -> Vec<String> {
    let list = api(http, "/api/orders?limit=10000").await;
    list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            o["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["device"].as_u64() == Some(device))
        })
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

fn stop(mut hub: HubProcess, kill: bool) {
    if kill {
        hub.child.kill().expect("SIGKILL");
    } else {
        // SIGTERM: the hub drains and saves its state on the way out.
        let pid = hub.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
    hub.child.wait().unwrap();
}

/// Readings of one smoke sensor 100 s apart in event time, longer
/// than the correlation window: without the engine's state, each restart's
/// first reading would open a new condition, a new incident, a new order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_stuck_in_alarm_across_five_restarts_has_one_order() {
    let data = tempfile::tempdir().unwrap();
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 2 * 3_600_000;
    let device = 4242;
    let mut seq = 0;
    let mut first_id = None;
    for round in 0..6i64 {
        let hub = spawn_hub(data.path(), &[]);
        let mut dev = DeviceClient::connect(&ClientOptions::dev(hub.quic, DEVICE_TOKEN))
            .await
            .unwrap();
        let written = checkpoints_written(hub.http).await;
        for k in 0..3i64 {
            seq += 1;
            let t = t0 + round * 100_000 + k * 1_000;
            let reading = event(device, seq, t, Category::Smoke, Source::Sensor, 8.0, here);
            let ack = dev.send_and_wait(&[reading]).await.unwrap();
            assert_eq!(ack.accepted, 1);
        }
        let http = hub.http;
        eventually("the order of the stuck sensor", || async {
            !orders_of(http, device).await.is_empty()
        })
        .await;
        let ids = orders_of(http, device).await;
        assert_eq!(ids.len(), 1, "round {round}: one order, {ids:?}");
        assert_eq!(
            first_id.get_or_insert_with(|| ids[0].clone()),
            &ids[0],
            "the same id"
        );
        if round == 5 {
            stop(hub, true);
            break;
        }
        // Every other restart is a kill -9, once the state is saved.
        let kill = round % 2 == 1;
        if kill {
            eventually("a checkpoint after the readings", || async {
                checkpoints_written(http).await > written
            })
            .await;
        }
        stop(hub, kill);
    }
    let hub = spawn_hub(data.path(), &[]);
    assert_eq!(orders_of(hub.http, device).await.len(), 1);
    stop(hub, true);
}

/// A gas leak (the default rule holds 5 s above 20 %LEL) read every 250 ms
/// while the hub is killed every 3 s: no run of the hub lasts the hold,
/// yet the hold began in the first run goes on across the restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gas_leak_held_past_its_hold_makes_its_order_while_the_hub_crash_loops() {
    let data = tempfile::tempdir().unwrap();
    let here = point_in(CAOYANG);
    let device = 777;
    let mut seq = 0;
    let mut runs = 0;
    let mut found = Vec::new();
    let first_reading = now_ms();
    while found.is_empty() && runs < 8 {
        runs += 1;
        let hub = spawn_hub(data.path(), &[]);
        let started = std::time::Instant::now();
        let mut dev = DeviceClient::connect(&ClientOptions::dev(hub.quic, DEVICE_TOKEN))
            .await
            .unwrap();
        while started.elapsed() < Duration::from_secs(3) {
            seq += 1;
            let reading = event(
                device,
                seq,
                now_ms(),
                Category::Gas,
                Source::Sensor,
                80.0,
                here,
            );
            assert_eq!(dev.send_and_wait(&[reading]).await.unwrap().accepted, 1);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        found = orders_of(hub.http, device).await;
        stop(hub, true);
    }
    assert!(
        runs >= 2,
        "the hold outlasted the first run (the hub started slowly?)"
    );
    assert_eq!(found.len(), 1, "the leak's order, after {runs} runs");
    let hub = spawn_hub(data.path(), &[]);
    let order = api(hub.http, &format!("/api/orders/{}", found[0])).await;
    stop(hub, true);
    let opened = order["events"][0]["first_seen_ms"].as_i64().unwrap();
    assert!(
        opened - first_reading < 1_000,
        "the condition began with the first run's readings: {order}"
    );
}
