//! What the nodes share besides orders, on three nats-servers (R3) and two
//! hub nodes: the device book (a registry put on one node is the other's,
//! and names the devices of the orders the dispatcher makes wherever it
//! runs; a maintenance window posted on the node that does not dispatch
//! keeps a device's alarm from the dispatcher, and the dispatching node
//! counts it), photos (uploaded to one node, shown by the other with the
//! same bytes, and named in a feedback step there) and the devices' activity (`/api/devices` on either node
//! shows the same for devices whose partitions the two nodes run).

mod common;

use common::nats::{get, hub_node as node, send_alarms, until_doc as until, NatsCluster};
use common::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tongguan::client::{ClientOptions, DeviceClient};

const PARTITIONS: u32 = 64;
const NODES: [&str; 2] = ["hub-a", "hub-b"];

/// Three nats-servers (R3) and two hub nodes sharing the partitions, one
/// of them dispatching.
struct Cluster {
    _nats: NatsCluster,
    _hubs: Vec<HubProcess>,
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
            _hubs: vec![a, b],
            https,
            quics,
            dispatcher,
            _dirs: dirs,
        }
    }

    /// Sends alarms of devices `first..first + n` to node `i`.
    async fn alarms(&self, i: usize, first: u64, n: u64, t0: i64) {
        let mut dev = DeviceClient::connect(&ClientOptions::dev(self.quics[i], DEVICE_TOKEN))
            .await
            .unwrap();
        send_alarms(&mut dev, first, n, t0).await;
    }
}

/// Waits (30 s at most) until the partitions are shared evenly and one
/// node dispatches; returns which.
async fn settled(https: &[SocketAddr; 2]) -> usize {
    let mut seen = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let (mut owned, mut dispatching) = (Vec::new(), Vec::new());
        for &h in https {
            let (_, body) = http_get(h, "/metrics").await;
            owned.push(metric(&body, "tongguan_cluster_partitions_owned", ""));
            dispatching.push(metric(&body, "tongguan_cluster_dispatch_owner", ""));
        }
        if owned == [32.0, 32.0] && dispatching.iter().sum::<f64>() == 1.0 {
            return dispatching.iter().position(|&d| d == 1.0).unwrap();
        }
        seen = (owned, dispatching);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not settled within 30 s: owned, dispatching {seen:?}");
}

/// The orders' events a node lists, by device.
async fn ordered_events(http: SocketAddr) -> HashMap<u64, serde_json::Value> {
    let Some((200, body)) = get(http, "/api/orders?limit=10000").await else {
        return HashMap::new();
    };
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut by_device = HashMap::new();
    for o in list["orders"].as_array().unwrap() {
        for e in o["events"].as_array().unwrap() {
            by_device.insert(e["device"].as_u64().unwrap(), e.clone());
        }
    }
    by_device
}

/// Waits (30 s at most) until both nodes list orders of all `devices`.
async fn ordered_on_both(
    https: &[SocketAddr; 2],
    devices: &[u64],
) -> HashMap<u64, serde_json::Value> {
    let start = Instant::now();
    loop {
        let a = ordered_events(https[0]).await;
        let b = ordered_events(https[1]).await;
        if devices
            .iter()
            .all(|d| a.contains_key(d) && b.contains_key(d))
        {
            return a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "orders of {devices:?} not on both nodes within 30 s: {:?} / {:?}",
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_and_a_window_set_on_the_node_that_does_not_dispatch_reach_the_dispatcher() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let c = Cluster::start().await;
    let (desk, owner) = (1 - c.dispatcher, c.dispatcher);
    let csv = "id,kind,name,address,street,owner\n\
        9400,烟感,3号楼烟感,曹杨路 1040 弄 3 号楼,310107005000,曹杨物业\n\
        9401,烟感,食堂烟感,兰溪路 2 号,310107005000,曹杨物业\n";
    let (s, text) = http(
        c.https[desk],
        "PUT",
        "/api/devices/registry",
        csv,
        "Content-Type: text/csv\r\n",
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let registry = until(
        c.https[owner],
        "/api/devices/registry",
        "the registry on the dispatching node",
        |r| r["count"] == 2,
    )
    .await;
    assert_eq!(registry["devices"][0]["name"], "3号楼烟感", "{registry}");

    // The window, posted where the desk is: not on the dispatcher.
    let until_ms = now_ms() + 3_600_000;
    let window = format!(
        r#"{{"target":{{"kind":"device","device":9401}},"until_ms":{until_ms},"reason":"检修"}}"#
    );
    let (s, text) = http(
        c.https[desk],
        "POST",
        "/api/maintenance",
        &window,
        &bearer(DISTRICT_TOKEN),
    )
    .await;
    assert_eq!(s, 201, "{text}");
    let posted: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(posted["id"], "MW-1");
    until(
        c.https[owner],
        "/api/maintenance",
        "the window on the dispatching node",
        |w| w["windows"][0]["id"] == "MW-1",
    )
    .await;

    // Two alarms, minutes apart: 9400's is ordered with its registered
    // name, 9401's is kept back by the window and counted where it was.
    c.alarms(desk, 9400, 2, now_ms() - 3 * 3_600_000).await;
    let events = ordered_on_both(&c.https, &[9400]).await;
    assert_eq!(events[&9400]["device_name"], "3号楼烟感");
    assert_eq!(events[&9400]["address"], "曹杨路 1040 弄 3 号楼");
    let counted = until(
        c.https[owner],
        "/api/maintenance",
        "the suppression counted by the dispatching node",
        |w| w["windows"][0]["suppressed"] == 1,
    )
    .await;
    assert_eq!(
        counted["windows"][0]["by"],
        "district duty desk (development)"
    );
    let (_, m) = http_get(c.https[owner], "/metrics").await;
    assert_eq!(metric(&m, "tongguan_warnings_suppressed_total", ""), 1.0);
    for &h in &c.https {
        let events = ordered_events(h).await;
        assert!(
            !events.contains_key(&9401),
            "the silenced device made no order on {h}"
        );
    }

    // Ended early on the dispatching node: gone on the other too.
    let (s, text) = http(
        c.https[owner],
        "DELETE",
        "/api/maintenance/MW-1",
        "",
        &bearer(DISTRICT_TOKEN),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    until(
        c.https[desk],
        "/api/maintenance",
        "the window ended on the other node",
        |w| w["windows"].as_array().is_some_and(|w| w.is_empty()),
    )
    .await;
    drop(c);
}

/// The place `send_alarms` puts device `d`'s alarm, and so its partition.
fn partition_of(d: u64) -> usize {
    let k = d as f64;
    let at = (31.23 + (k * 0.0037) % 0.06, 121.37 + (k * 0.0053) % 0.08);
    let cell = tongguan::geo::cell_of(at.0, at.1).unwrap();
    tongguan::engine::partition::shard_of(cell, PARTITIONS as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_and_the_devices_activity_are_the_same_on_either_node() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let c = Cluster::start().await;

    // A photo uploaded to hub-a is shown by hub-b, byte for byte.
    let photo = "a photo from the spot, not really a png";
    let (s, text) = http(
        c.https[0],
        "POST",
        "/api/photos",
        photo,
        &format!("Authorization: Bearer {DISTRICT_TOKEN}\r\nContent-Type: image/png\r\n"),
    )
    .await;
    assert_eq!(s, 201, "{text}");
    let posted: serde_json::Value = serde_json::from_str(&text).unwrap();
    let path = format!("/api/photos/{}", posted["sha256"].as_str().unwrap());
    let (s, bytes) = http_get_as(c.https[1], &path, DISTRICT_TOKEN).await;
    assert_eq!((s, bytes.as_str()), (200, photo));
    let (s, _) = http_get_as(c.https[1], "/api/photos/not-a-hash", DISTRICT_TOKEN).await;
    assert_eq!(s, 404, "not a photo's name");

    // Alarms in many partitions, all sent to hub-a: each device's
    // activity is in the shards of its partition's owner only.
    let devices: Vec<u64> = (9500..9512).collect();
    let owner = tongguan::cluster::assignment::assign(&NODES, PARTITIONS);
    let owners: HashSet<usize> = devices.iter().map(|&d| owner[partition_of(d)]).collect();
    assert_eq!(owners.len(), 2, "devices of both nodes' partitions");
    c.alarms(0, 9500, devices.len() as u64, now_ms() - 3 * 3_600_000)
        .await;
    ordered_on_both(&c.https, &devices).await;
    let mut views = Vec::new();
    for &h in &c.https {
        let list = until(h, "/api/devices", "every device listed", |l| {
            l["count"] == devices.len()
        })
        .await;
        let by_device: HashMap<u64, serde_json::Value> = list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["device"].as_u64().unwrap(), d.clone()))
            .collect();
        views.push(by_device);
    }
    for d in &devices {
        let (a, b) = (&views[0][d], &views[1][d]);
        assert_eq!(a["events"], 1, "device {d} on hub-a: {a}");
        for field in ["events", "last_seen_ms", "online", "clock_offset_ms"] {
            assert_eq!(a[field], b[field], "device {d}'s {field}: {a} / {b}");
        }
    }

    // A street's feedback on hub-b names a photo it uploaded to hub-a.
    let (id, street) = street_order(c.https[1]).await;
    let token = street_token(&street);
    let (s, text) = http(
        c.https[0],
        "POST",
        "/api/photos",
        "another photo, of the smoke",
        &format!("Authorization: Bearer {token}\r\nContent-Type: image/jpeg\r\n"),
    )
    .await;
    assert_eq!(s, 201, "{text}");
    let photo: serde_json::Value = serde_json::from_str(&text).unwrap();
    let steps = format!("/api/orders/{id}/steps");
    let (s, text) = http(
        c.https[1],
        "POST",
        &steps,
        r#"{"step":"accept","by":"张三"}"#,
        &bearer(&token),
    )
    .await;
    assert_eq!(s, 200, "{text}");
    let feedback = serde_json::json!({"step": "feedback", "note": "现场有烟", "photos": [photo], "by": "李四"});
    let (s, text) = http(
        c.https[1],
        "POST",
        &steps,
        &feedback.to_string(),
        &bearer(&token),
    )
    .await;
    assert_eq!(s, 200, "the photo is found in the cluster: {text}");
    drop(c);
}

/// An order of a street a node lists: its id and the street's code.
async fn street_order(http: SocketAddr) -> (String, String) {
    let (_, body) = get(http, "/api/orders?limit=10000").await.unwrap();
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let order = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["place"]["street"]["code"].is_string())
        .unwrap_or_else(|| panic!("no order of a street: {list}"));
    let street = order["place"]["street"]["code"].as_str().unwrap();
    (order["id"].as_str().unwrap().to_owned(), street.to_owned())
}

/// A measurement, not run by default (`cargo test --test cluster_book --
/// --ignored --nocapture`): a registry of 100,000 devices posted to one
/// node in ten bodies of 10,000 (the HTTP body limit is 2 MB), and how
/// long until the other node lists them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_registry_of_100000_devices_reaches_the_other_node() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let c = Cluster::start().await;
    let start = Instant::now();
    for part in 0..10u64 {
        let mut csv = String::from("id,kind,name,address,street,owner\n");
        for id in part * 10_000..(part + 1) * 10_000 {
            csv.push_str(&format!(
                "{id},烟感,{id}号烟感,曹杨路 {id} 号,310107005000,曹杨物业\n"
            ));
        }
        let (s, text) = http(
            c.https[0],
            "POST",
            "/api/devices/registry",
            &csv,
            "Content-Type: text/csv\r\n",
        )
        .await;
        assert_eq!(s, 200, "{text}");
    }
    let written = start.elapsed();
    loop {
        let (_, body) = http_get(c.https[1], "/api/devices/registry").await;
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        if r["count"] == 100_000 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "{}", r["count"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "100,000 devices: answered on hub-a after {written:?}, all on hub-b after {:?}",
        start.elapsed()
    );
}
