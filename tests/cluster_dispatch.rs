//! Dispatch on JetStream: one node at a time correlates and dispatches
//! for the whole district, from the detections stream, and every node
//! keeps a copy of the orders stream in its own outbox. So an incident
//! whose two sources fall in partitions of two different nodes is one
//! order; /api/orders, SUBSCRIBE and ORDER_ACK answer alike on every node;
//! and when the dispatching node is killed with -9 another takes over
//! from its copy, every acknowledged alarm still becomes an order, no
//! incident appears under two ids, and a street platform of the dead node
//! resumes on the survivor from its last sequence number.

mod common;

use common::nats::{hub_node as node, send_alarms, signal, until_orders, NatsCluster};
use common::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient, SubscriberClient};
use tongguan::model::{Category, Source};
use tongguan::wire::control::{AckResult, Feature, Outcome};

const PARTITIONS: u32 = 64;
const NODES: [&str; 2] = ["hub-a", "hub-b"];

/// Two places a few metres apart in adjacent map cells whose partitions
/// the two nodes own one each (by the same assignment the nodes compute).
fn places_of_two_owners() -> ((f64, f64), (f64, f64)) {
    let owner = tongguan::cluster::assignment::assign(&NODES, PARTITIONS);
    let partition = |at: (f64, f64)| {
        let cell = tongguan::geo::cell_of(at.0, at.1).unwrap();
        (
            cell,
            tongguan::engine::partition::shard_of(cell, PARTITIONS as usize),
        )
    };
    for i in 0..4000 {
        let a = (
            31.235 + (i / 80) as f64 * 0.0009,
            121.38 + (i % 80) as f64 * 0.0009,
        );
        let b = (a.0, a.1 + 0.0008);
        let ((ca, pa), (cb, pb)) = (partition(a), partition(b));
        let near = tongguan::geo::neighbourhood(ca).any(|c| c == cb);
        if near && ca != cb && owner[pa] != owner[pb] {
            return (a, b);
        }
    }
    panic!("no two neighbouring cells of two owners found");
}

/// Waits (30 s at most) until the two nodes own half the partitions each
/// and one of them dispatches; returns which.
async fn settled(https: &[SocketAddr; 2]) -> usize {
    let (mut owned, mut dispatching) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        owned.clear();
        dispatching.clear();
        for &h in https {
            let (_, body) = http_get(h, "/metrics").await;
            owned.push(metric(&body, "tongguan_cluster_partitions_owned", ""));
            dispatching.push(metric(&body, "tongguan_cluster_dispatch_owner", ""));
        }
        if owned == [32.0, 32.0] && dispatching.iter().sum::<f64>() == 1.0 {
            return dispatching.iter().position(|&d| d == 1.0).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the partitions were not shared evenly with one dispatcher within 30 s: owned {owned:?}, dispatching {dispatching:?}");
}

/// Three nats-servers (R3) and two hub nodes.
struct Cluster {
    _nats: NatsCluster,
    hubs: Vec<Option<HubProcess>>,
    https: [SocketAddr; 2],
    quics: [SocketAddr; 2],
    dispatcher: usize,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start() -> Cluster {
        let nats = NatsCluster::start(3).await;
        let urls = nats.urls();
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let a = node(dirs[0].path(), &urls, NODES[0]);
        let b = node(dirs[1].path(), &urls, NODES[1]);
        let https = [a.http, b.http];
        let quics = [a.quic, b.quic];
        let dispatcher = settled(&https).await;
        Cluster {
            _nats: nats,
            hubs: vec![Some(a), Some(b)],
            https,
            quics,
            dispatcher,
            _dirs: dirs,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_across_two_nodes_partitions_is_one_order_that_every_node_serves() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let c = Cluster::start().await;
    let (at_sensor, at_camera) = places_of_two_owners();
    let t = now_ms() - 3_600_000;
    let smoke = event(5001, 1, t, Category::Smoke, Source::Sensor, 6.5, at_sensor);
    let fire = event(
        5002,
        1,
        t + 5_000,
        Category::Fire,
        Source::Video,
        0.93,
        at_camera,
    );
    // The device talks to the node that does not dispatch.
    let ingest = 1 - c.dispatcher;
    let mut dev = DeviceClient::connect(&ClientOptions::dev(c.quics[ingest], DEVICE_TOKEN))
        .await
        .unwrap();
    let ack = dev.send_and_wait(&[smoke, fire]).await.unwrap();
    assert_eq!((ack.accepted, ack.rejected), (2, 0));

    let seen = until_orders(
        &c.https,
        "one multi-source order on both nodes",
        Duration::from_secs(30),
        |o| o.values().any(|o| o["multi_source"] == true),
    )
    .await;
    for o in &seen {
        assert_eq!(
            o.len(),
            1,
            "one order, not one per partition: {:?}",
            o.keys()
        );
    }
    let (id, order) = seen[0].iter().next().unwrap();
    assert_eq!(
        order["severity"], "critical",
        "smoke sensor and camera: {order}"
    );
    assert!(seen[1].contains_key(id), "the same id on both nodes");

    // A district platform on the node that does not dispatch: it gets the
    // order from its node's copy and acknowledges it there.
    let opts = ClientOptions::dev(c.quics[ingest], DISTRICT_TOKEN);
    let mut sub = SubscriberClient::connect_with(&opts, "district", 0, &[Feature::OrderAckResult])
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next_order())
        .await
        .expect("the order within 10 s")
        .unwrap();
    assert_eq!(&got.id, id);
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        sub.ack_and_wait(id, Outcome::Confirmed, "到场确认"),
    )
    .await
    .expect("an answer within 15 s")
    .unwrap();
    assert_eq!(answer, AckResult::Applied);
    until_orders(
        &c.https,
        "the ack on both nodes",
        Duration::from_secs(15),
        |o| o.get(id).is_some_and(|o| o["status"] == "acked"),
    )
    .await;
    drop(c);
}

/// `n` smoke alarms of devices `first..`, in places far apart (one order
/// each), sent to the node at `quic`; returns the devices acknowledged.
async fn alarms(quic: SocketAddr, first: u64, n: u64, t0: i64) -> Vec<u64> {
    let mut dev = DeviceClient::connect(&ClientOptions::dev(quic, DEVICE_TOKEN))
        .await
        .unwrap();
    send_alarms(&mut dev, first, n, t0).await
}

/// The devices of each order, by order id.
fn devices_by_order(o: &HashMap<String, serde_json::Value>) -> HashMap<String, HashSet<u64>> {
    o.iter()
        .map(|(id, o)| {
            let devices = o["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["device"].as_u64().unwrap())
                .collect();
            (id.clone(), devices)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatching_node_killed_its_successor_resumes_from_its_copy() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let mut c = Cluster::start().await;
    let survivor = 1 - c.dispatcher;
    let t0 = now_ms() - 3 * 3_600_000;
    let mut acked = alarms(c.quics[survivor], 1, 12, t0).await;
    until_orders(&c.https, "the first orders", Duration::from_secs(30), |o| {
        o.len() == 12
    })
    .await;

    // A district platform on the node about to die reads the first orders.
    let on_dying = ClientOptions::dev(c.quics[c.dispatcher], DISTRICT_TOKEN);
    let mut sub = SubscriberClient::connect(&on_dying, "district", 0)
        .await
        .unwrap();
    let mut first_ids = HashSet::new();
    let mut last_seq = 0;
    while first_ids.len() < 12 {
        let o = tokio::time::timeout(Duration::from_secs(10), sub.next_order())
            .await
            .expect("the first orders within 10 s")
            .unwrap();
        last_seq = last_seq.max(o.seq);
        first_ids.insert(o.id);
    }

    // The dispatcher dies with -9; alarms go on arriving at the survivor.
    let mut dead = c.hubs[c.dispatcher].take().unwrap();
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let killed = std::time::Instant::now();
    acked.extend(alarms(c.quics[survivor], 13, 12, t0).await);
    let only = [c.https[survivor]];
    let seen = until_orders(
        &only,
        "every alarm ordered by the survivor",
        Duration::from_secs(45),
        |o| o.len() >= 24,
    )
    .await;
    println!(
        "orders of 24 alarms on the survivor {:?} after the kill",
        killed.elapsed()
    );
    let by_order = devices_by_order(&seen[0]);
    assert_eq!(
        by_order.len(),
        24,
        "one order per alarm, none twice: {by_order:?}"
    );
    let devices: HashSet<u64> = by_order.values().flatten().copied().collect();
    let expected: HashSet<u64> = acked.into_iter().collect();
    assert_eq!(devices, expected, "every acknowledged alarm is ordered");

    // The platform reconnects to the survivor and resumes from its last
    // seq: the rest, in sequence, none of what it had.
    drop(sub);
    let on_survivor = ClientOptions::dev(c.quics[survivor], DISTRICT_TOKEN);
    let mut sub = SubscriberClient::connect(&on_survivor, "district", last_seq)
        .await
        .unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 12 {
        let o = tokio::time::timeout(Duration::from_secs(10), sub.next_order())
            .await
            .expect("the rest within 10 s")
            .unwrap();
        assert!(!first_ids.contains(&o.id), "{} again", o.id);
        seqs.push(o.seq);
    }
    seqs.sort_unstable();
    let expected_seqs: Vec<u64> = (last_seq + 1..=last_seq + 12).collect();
    assert_eq!(
        seqs, expected_seqs,
        "the survivor goes on with the same sequence"
    );
    let (_, body) = http_get(c.https[survivor], "/metrics").await;
    assert_eq!(metric(&body, "tongguan_cluster_dispatch_owner", ""), 1.0);
    drop(dead);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_woken_from_a_stop_makes_nothing_that_counts() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let c = Cluster::start().await;
    let stalled = c.dispatcher;
    let other = 1 - stalled;
    signal(c.hubs[stalled].as_ref().unwrap(), "-STOP");
    let t0 = now_ms() - 3 * 3_600_000;
    let acked = alarms(c.quics[other], 200, 8, t0).await;
    let only = [c.https[other]];
    until_orders(
        &only,
        "the alarms ordered by the other node",
        Duration::from_secs(60),
        |o| o.len() >= 8,
    )
    .await;
    signal(c.hubs[stalled].as_ref().unwrap(), "-CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The woken node catches up from the stream: both list the same
    // orders, one per alarm, none twice.
    let seen = until_orders(
        &c.https,
        "the same orders on both nodes",
        Duration::from_secs(20),
        |o| o.len() == 8,
    )
    .await;
    assert_eq!(
        seen[0].keys().collect::<HashSet<_>>(),
        seen[1].keys().collect::<HashSet<_>>()
    );
    let devices: HashSet<u64> = devices_by_order(&seen[0])
        .values()
        .flatten()
        .copied()
        .collect();
    assert_eq!(devices, acked.into_iter().collect::<HashSet<_>>());
    let mut owners = 0.0;
    for h in c.https {
        let (_, body) = http_get(h, "/metrics").await;
        owners += metric(&body, "tongguan_cluster_dispatch_owner", "");
    }
    assert_eq!(owners, 1.0, "one dispatcher after the wake");
}
