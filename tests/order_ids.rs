//! Order ids are deterministic: the same events through the same rules
//! give the same ids in two hub processes, and a hub restarted on its data
//! dir that sees an incident's events again updates the order it has
//! instead of making a second one.

mod common;

use common::*;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient, SubscriberClient};
use tongguan::model::{Category, Source};

const HOUR: i64 = 3_600_000;

/// Sends the same three incidents to the hub at `quic` and returns the ids
/// of the orders the district receives, sorted.
async fn ids_of_three_incidents(quic: std::net::SocketAddr, t: i64) -> Vec<String> {
    let mut district =
        SubscriberClient::connect(&ClientOptions::dev(quic, DISTRICT_TOKEN), "district", 0)
            .await
            .expect("district subscribes");
    let mut dev = DeviceClient::connect(&ClientOptions::dev(quic, DEVICE_TOKEN))
        .await
        .expect("device connects");
    dev.send_and_wait(&smoke_and_fire(10, t, point_in(CAOYANG)))
        .await
        .unwrap();
    dev.send_and_wait(&[smoke_alarm(20, t + 60_000, point_in(CHANGSHOU))])
        .await
        .unwrap();
    dev.send_and_wait(&[smoke_alarm(30, t + 120_000, point_in(CAOYANG))])
        .await
        .unwrap();
    let mut ids = std::collections::BTreeSet::new();
    // A multi-source incident may arrive as a revision 1 and an update.
    while ids.len() < 3 {
        ids.insert(expect_order(&mut district, 10).await.id);
    }
    expect_no_order(&mut district, 500).await;
    ids.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_events_through_the_same_rules_give_the_same_order_ids_in_two_hub_processes() {
    let t = now_ms() - HOUR;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = spawn_hub(a_dir.path(), &[]);
    let mut b = spawn_hub(b_dir.path(), &[]);
    let from_a = ids_of_three_incidents(a.quic, t).await;
    // Later, in another process: ids come from the events, not the clock.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let from_b = ids_of_three_incidents(b.quic, t).await;
    for hub in [&mut a, &mut b] {
        hub.child.kill().unwrap();
        hub.child.wait().unwrap();
    }
    assert_eq!(from_a, from_b);
    assert_eq!(from_a.len(), 3, "three incidents, three ids: {from_a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restarted_on_its_data_dir_seeing_an_incident_again_gives_it_no_second_id_and_no_noise(
) {
    let t = now_ms() - HOUR;
    let alarm = smoke_alarm(7, t, point_in(CAOYANG));
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    device(&hub).await.send_and_wait(&[alarm]).await.unwrap();
    let first = expect_order(&mut district, 10).await;
    district.close().await;
    let dir = hub.stop_keeping_data().await;

    // The device, never told otherwise, sends the same alarm again to the
    // restarted hub, whose engine starts empty: the order it has stays the
    // one order of that incident, neither doubled nor re-sent as news.
    let hub = start_hub_in(dir, "").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let resent = expect_order(&mut district, 10).await;
    assert_eq!(
        (resent.id.as_str(), resent.revision),
        (first.id.as_str(), first.revision),
        "the unacknowledged order, from the outbox"
    );
    device(&hub).await.send_and_wait(&[alarm]).await.unwrap();
    expect_no_order(&mut district, 1000).await;
    let list = api(hub.admin_addr, "/api/orders").await;
    assert_eq!(list["count"], 1, "{list}");
    // With more to say (a camera now sees the fire) it is an update of the
    // same order, not a second one.
    let fire = event(
        8,
        1,
        t + 5_000,
        Category::Fire,
        Source::Video,
        0.9,
        point_in(CAOYANG),
    );
    device(&hub).await.send_and_wait(&[fire]).await.unwrap();
    let update = expect_order(&mut district, 10).await;
    assert_eq!(update.id, first.id, "the same incident keeps its id");
    assert!(
        update.revision > first.revision,
        "an update, not a new order"
    );
    let list = api(hub.admin_addr, "/api/orders").await;
    assert_eq!(list["count"], 1, "{list}");
    hub.shutdown(Duration::from_secs(2)).await;
}
