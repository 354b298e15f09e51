//! Events through the cluster's log: a device acknowledged by one node has
//! every alarm run by the node that owns its partition and ordered (by the
//! dispatch owner, served by every node), also while a
//! NATS server is down (the stream is R3) and after the owner of half the
//! partitions is killed with -9 (the survivor takes them over and runs
//! what was acknowledged and not yet processed).

mod common;

use common::nats::{hub_node as node, send_alarms, shared_evenly, signal, NatsCluster};
use common::*;
use std::collections::HashSet;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient};

/// The devices of every order the nodes at `https` hold.
async fn ordered_devices(https: &[std::net::SocketAddr]) -> HashSet<u64> {
    let mut devices = HashSet::new();
    for &h in https {
        let Some((200, body)) = common::nats::get(h, "/api/orders?limit=10000").await else {
            continue;
        };
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        for o in list["orders"].as_array().unwrap() {
            for e in o["events"].as_array().unwrap() {
                devices.insert(e["device"].as_u64().unwrap());
            }
        }
    }
    devices
}

async fn all_ordered(https: &[std::net::SocketAddr], acked: &[u64], limit: Duration) {
    let start = std::time::Instant::now();
    loop {
        let got = ordered_devices(https).await;
        let missing: Vec<_> = acked.iter().filter(|d| !got.contains(d)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "acknowledged alarms without an order after {limit:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Three nats-servers, two hub nodes sharing the partitions evenly, and a
/// device connected to hub-a. The hubs are killed when dropped.
struct Cluster {
    nats: NatsCluster,
    a: HubProcess,
    b: HubProcess,
    https: [std::net::SocketAddr; 2],
    dev: DeviceClient,
    /// Event time of the first alarm.
    t0: i64,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start() -> Cluster {
        let nats = NatsCluster::start(3).await;
        let urls = nats.urls();
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let a = node(dirs[0].path(), &urls, "hub-a");
        let b = node(dirs[1].path(), &urls, "hub-b");
        let https = [a.http, b.http];
        shared_evenly(&https).await;
        let dev = DeviceClient::connect(&ClientOptions::dev(a.quic, DEVICE_TOKEN))
            .await
            .unwrap();
        Cluster {
            nats,
            a,
            b,
            https,
            dev,
            t0: now_ms() - 3 * 3_600_000,
            _dirs: dirs,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_alarm_is_ordered_by_its_partitions_owner_across_failures() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let Cluster {
        mut nats,
        a,
        mut b,
        https,
        mut dev,
        t0,
        _dirs,
    } = Cluster::start().await;

    // Both nodes up: ingest on hub-a, processing where each partition is.
    let mut acked = send_alarms(&mut dev, 1, 20, t0).await;
    all_ordered(&https, &acked, Duration::from_secs(30)).await;
    let on_b = ordered_devices(&https[1..]).await;
    assert!(
        acked.iter().all(|d| on_b.contains(d)),
        "hub-b serves every order too, whoever dispatched it"
    );

    // One NATS server down: a quorum of two still stores every batch.
    nats.kill(0);
    acked.extend(send_alarms(&mut dev, 21, 10, t0).await);
    all_ordered(&https, &acked, Duration::from_secs(30)).await;

    // hub-b killed: hub-a takes its partitions and runs what they hold.
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let later = send_alarms(&mut dev, 31, 10, t0).await;
    // Its partitions' leases lapse (ttl), the dispatch lease too if it held
    // it, and what it had taken and not acknowledged comes again (ack wait).
    all_ordered(&https[..1], &later, Duration::from_secs(45)).await;
    drop(a);
}

/// A node stopped (SIGSTOP) while alarms of its partitions arrive: the
/// other node takes the partitions over and orders them; woken (SIGCONT),
/// the stopped node runs none of what it had taken in before the stop: no
/// alarm has a second order, and its copy of the orders is the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_woken_from_a_stop_runs_nothing_of_the_partitions_it_lost() {
    let _one = common::nats::one_cluster_at_a_time().await;
    // (Bound, not `..`: what is not bound would be dropped, and killed, here.)
    let Cluster {
        nats: _nats,
        a: _a,
        b,
        https,
        mut dev,
        t0,
        _dirs,
    } = Cluster::start().await;
    signal(&b, "-STOP");
    let acked = send_alarms(&mut dev, 100, 20, t0).await;
    // hub-a takes hub-b's partitions once their leases lapse, and gets what
    // was handed to hub-b again after the ack wait.
    all_ordered(&https[..1], &acked, Duration::from_secs(40)).await;
    signal(&b, "-CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Had the woken node run them again, an alarm would have a second
    // order (or a second revision of its one): every node serves the
    // same orders, so look at them all.
    let start = std::time::Instant::now();
    loop {
        let (a_orders, b_orders) = (
            orders_by_device(https[0]).await,
            orders_by_device(https[1]).await,
        );
        let twice: Vec<_> = a_orders.iter().filter(|(_, ids)| ids.len() > 1).collect();
        assert!(
            twice.is_empty(),
            "alarms with more than one order: {twice:?}"
        );
        if a_orders == b_orders {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the woken node's copy of the orders differs: {a_orders:?} vs {b_orders:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The orders (id, revision) of each alarm's device at `http`.
async fn orders_by_device(
    http: std::net::SocketAddr,
) -> std::collections::BTreeMap<u64, Vec<(String, u64)>> {
    let mut by = std::collections::BTreeMap::<u64, Vec<(String, u64)>>::new();
    let Some((200, body)) = common::nats::get(http, "/api/orders?limit=10000").await else {
        return by;
    };
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    for o in list["orders"].as_array().unwrap() {
        let id = (
            o["id"].as_str().unwrap().to_owned(),
            o["revision"].as_u64().unwrap(),
        );
        for e in o["events"].as_array().unwrap() {
            by.entry(e["device"].as_u64().unwrap())
                .or_default()
                .push(id.clone());
        }
    }
    by
}
