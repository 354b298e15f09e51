//! Several QUIC endpoints on one port (`hub.endpoints`, SO_REUSEPORT), each
//! on its own thread: many devices connect at once, the kernel spreads
//! them over the endpoints, every event is counted and the orders are what
//! one endpoint would have made; a graceful stop closes them all.

mod common;

use common::*;
use std::time::Duration;
use tongguan::hub::Hub;

const DEVICES: u64 = 24;
const BATCHES: u64 = 20;
const PER_BATCH: u64 = 25;

async fn hub_with_endpoints(n: usize) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), "");
    config.hub.endpoints = n;
    let hub = Hub::start(config).await.expect("hub starts");
    TestHub { hub, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_over_three_endpoints_are_all_counted_and_make_their_orders() {
    let hub = hub_with_endpoints(3).await;
    assert_eq!(hub.quic_endpoints(), 3);
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let t0 = now_ms() - 3_600_000;
    let here = point_in(CHANGSHOU);
    let senders: Vec<_> = (0..DEVICES)
        .map(|d| {
            let addr = hub.quic_addr;
            tokio::spawn(async move {
                let opts = tongguan::client::ClientOptions::dev(addr, DEVICE_TOKEN);
                let mut dev = tongguan::client::DeviceClient::connect(&opts)
                    .await
                    .unwrap();
                for b in 0..BATCHES {
                    let events: Vec<_> = (0..PER_BATCH)
                        .map(|k| {
                            let seq = b * PER_BATCH + k + 1;
                            event(
                                10_000 + d,
                                seq,
                                t0 + seq as i64 * 1_000,
                                tongguan::model::Category::Gas,
                                tongguan::model::Source::Sensor,
                                1.0,
                                here,
                            )
                        })
                        .collect();
                    dev.send_and_wait(&events).await.unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        tokio::time::timeout(Duration::from_secs(60), s)
            .await
            .expect("devices finish")
            .unwrap();
    }
    // One alarm besides, to see an order made through any endpoint.
    device(&hub)
        .await
        .send_and_wait(&[smoke_alarm(9_500, t0, point_in(CAOYANG))])
        .await
        .unwrap();
    let order = expect_order(&mut street, 10).await;
    assert_eq!(order.events[0].device, 9_500);

    let m = http_get(hub.admin_addr, "/metrics").await.1;
    let received = metric(&m, "tongguan_events_received_total", "");
    assert_eq!(
        received,
        (DEVICES * BATCHES * PER_BATCH + 1) as f64,
        "every event counted"
    );
    let per_endpoint: Vec<f64> = (0..3)
        .map(|i| {
            metric(
                &m,
                "tongguan_quic_endpoint_connections_total",
                &format!("endpoint=\"{i}\""),
            )
        })
        .collect();
    let total: f64 = per_endpoint.iter().sum();
    assert!(total >= (DEVICES + 2) as f64, "{per_endpoint:?}");
    assert!(
        per_endpoint.iter().filter(|&&n| n > 0.0).count() >= 2,
        "the kernel spreads {DEVICES} connections over the endpoints: {per_endpoint:?}"
    );
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endpoint_is_the_hub_as_it_always_ran() {
    let hub = hub_with_endpoints(1).await;
    assert_eq!(hub.quic_endpoints(), 1);
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    device(&hub)
        .await
        .send_and_wait(&[smoke_alarm(9_600, now_ms() - 600_000, point_in(CAOYANG))])
        .await
        .unwrap();
    expect_order(&mut street, 10).await;
    hub.shutdown(Duration::from_secs(5)).await;
}
