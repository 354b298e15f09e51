//! The rules in force and the mode are the cluster's, on three
//! nats-servers (R3) and two hub nodes: a rules file put on hub-a is shown
//! by hub-b and judges the events of hub-b's partitions (an alarm above
//! the old limit and below the new one makes no order, one above the new
//! makes one); the emergency mode switched on hub-b is hub-a's too; a
//! change made against a revision someone else changed since is refused
//! with 409 and changes nothing; a node started again serves the
//! cluster's rules, not its own.

mod common;

use common::nats::{get, hub_node, shared_evenly, until_doc as until, NatsCluster};
use common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::engine::rules::DEFAULT_RULES;
use tongguan::model::{Category, Source};

const PARTITIONS: u32 = 64;
const NODES: [&str; 2] = ["hub-a", "hub-b"];
const A: usize = 0;
const B: usize = 1;

/// The devices of the orders a node lists.
async fn ordered_devices(http: SocketAddr) -> Vec<u64> {
    let Some((200, body)) = get(http, "/api/orders?limit=1000").await else {
        return Vec::new();
    };
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["events"].as_array().unwrap().clone())
        .map(|e| e["device"].as_u64().unwrap())
        .collect()
}

/// A place of the sample map in a partition `node` owns while both
/// nodes are up.
fn place_owned_by(node: usize) -> (f64, f64) {
    let owner = tongguan::cluster::assignment::assign(&NODES, PARTITIONS);
    (0..200)
        .map(|k| {
            let k = f64::from(k);
            (31.23 + (k * 0.0037) % 0.06, 121.37 + (k * 0.0053) % 0.08)
        })
        .find(|&(lat, lon)| {
            tongguan::geo::cell_of(lat, lon).is_some_and(|cell| {
                owner[tongguan::engine::partition::shard_of(cell, PARTITIONS as usize)] == node
            })
        })
        .expect("a place in the node's partitions")
}

/// PUTs `body` to `path` (with `?revision=` if given); answers the status
/// and the JSON answer.
async fn put(
    http: SocketAddr,
    path: &str,
    body: &str,
    revision: Option<u64>,
) -> (u16, serde_json::Value) {
    let path = match revision {
        Some(r) => format!("{path}?revision={r}"),
        None => path.to_owned(),
    };
    let (status, text) = http_put(http, &path, body, "").await;
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("PUT {path}: {e}: {text}"));
    (status, doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_mode_put_on_one_node_are_in_force_on_the_other_and_a_stale_change_is_refused() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let started = Instant::now();
    let nats = NatsCluster::start(3).await;
    let urls = nats.urls();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hubs: Vec<HubProcess> = (0..2)
        .map(|i| hub_node(dirs[i].path(), &urls, NODES[i]))
        .collect();
    let https = [hubs[A].http, hubs[B].http];
    shared_evenly(&https).await;

    // The first node to start gave the empty bucket its rules: both show
    // the same revision of the same file.
    let first = [
        api(https[A], "/api/rules").await,
        api(https[B], "/api/rules").await,
    ];
    assert_eq!(first[A]["source"], DEFAULT_RULES);
    assert_eq!(first[A]["source"], first[B]["source"]);
    let seeded = first[A]["revision"].as_u64().expect("a revision");
    assert_eq!(first[B]["revision"], seeded);

    // A bad file on hub-a is refused as in the embedded hub.
    let (status, answer) = put(https[A], "/api/rules", "[[rule]]\nname = 'x'\n", None).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("the rules in force stay"));

    // The smoke limit raised from 3 to 50 %/m on hub-a is hub-b's.
    let applied = |m: &str| metric(m, "tongguan_cluster_rules_applied_total", "what=\"rules\"");
    let before = applied(&http_get(https[B], "/metrics").await.1);
    let raised = DEFAULT_RULES.replacen("limit = 3.0 ", "limit = 50.0 ", 1);
    assert_ne!(raised, DEFAULT_RULES);
    let (status, answer) = put(https[A], "/api/rules", &raised, None).await;
    assert_eq!(status, 200, "{answer}");
    let raised_at = answer["revision"].as_u64().expect("the revision written");
    assert!(raised_at > seeded);
    until(https[B], "/api/rules", "the raised limit on hub-b", |r| {
        r["source"] == raised.as_str() && r["revision"] == raised_at
    })
    .await;
    let (_, m) = http_get(https[B], "/metrics").await;
    assert_eq!(
        metric(&m, "tongguan_cluster_rules_revision", ""),
        raised_at as f64
    );
    assert_eq!(
        applied(&m),
        before + 1.0,
        "hub-b put hub-a's change in force"
    );

    // In a partition of hub-b, sent to hub-a: 8 %/m (over the old limit,
    // under the new) makes no order, 60 %/m two minutes later makes one.
    let here = place_owned_by(B);
    let t0 = now_ms() - 3_600_000;
    let mut dev = DeviceClient::connect(&ClientOptions::dev(hubs[A].quic, DEVICE_TOKEN))
        .await
        .unwrap();
    let under = smoke_alarm(7100, t0, here);
    let over = event(
        7101,
        1,
        t0 + 120_000,
        Category::Smoke,
        Source::Sensor,
        60.0,
        here,
    );
    for e in [under, over] {
        let ack = tokio::time::timeout(Duration::from_secs(20), dev.send_and_wait(&[e]))
            .await
            .expect("an ack within 20 s")
            .unwrap();
        assert_eq!(ack.accepted, 1);
    }
    let start = Instant::now();
    let ordered = loop {
        let devices = ordered_devices(https[B]).await;
        if devices.contains(&7101) {
            break devices;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no order for 60 %/m within 20 s: {devices:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ordered, [7101], "8 %/m is under the raised limit");
    assert_eq!(ordered_devices(https[A]).await, [7101]);

    // The emergency mode switched on hub-b is hub-a's.
    let (status, answer) = put(https[B], "/api/mode", "emergency", None).await;
    assert_eq!(status, 200, "{answer}");
    let switched_at = answer["revision"].as_u64().expect("the mode's revision");
    until(https[A], "/api/mode", "the emergency mode on hub-a", |m| {
        m["mode"] == "emergency" && m["revision"] == switched_at
    })
    .await;
    let (_, m) = http_get(https[A], "/metrics").await;
    assert_eq!(metric(&m, "tongguan_emergency_mode", ""), 1.0);

    // Two desks: one on hub-a read the rules, one on hub-b changes them
    // first; hub-a's change, made on what it read, is refused and the
    // rules of hub-b's stay on both nodes.
    let read = api(https[A], "/api/rules").await["revision"]
        .as_u64()
        .unwrap();
    let forty = DEFAULT_RULES.replacen("limit = 3.0 ", "limit = 40.0 ", 1);
    let (status, answer) = put(https[B], "/api/rules", &forty, Some(read)).await;
    assert_eq!(status, 200, "{answer}");
    let forty_at = answer["revision"].as_u64().unwrap();
    let (status, answer) = put(https[A], "/api/rules", DEFAULT_RULES, Some(read)).await;
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("changed meanwhile") && message.contains(&format!("revision {forty_at}")),
        "{answer}"
    );
    for &h in &https {
        until(
            h,
            "/api/rules",
            "hub-b's rules after the refused change",
            |r| r["source"] == forty.as_str() && r["revision"] == forty_at,
        )
        .await;
    }
    // The same for the mode: switched back on hub-a against an old
    // revision of it, refused; against the one in force, made.
    let (status, answer) = put(https[A], "/api/mode", "normal", Some(seeded)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(api(https[B], "/api/mode").await["mode"], "emergency");
    let (status, answer) = put(https[A], "/api/mode", "normal", Some(switched_at)).await;
    assert_eq!(status, 200, "{answer}");
    until(https[B], "/api/mode", "the normal mode on hub-b", |m| {
        m["mode"] == "normal"
    })
    .await;

    // hub-b killed and started again on a new data dir, its config naming
    // no rules file: the cluster's rules and mode are in force there as
    // soon as it serves, and it says they win over its own.
    drop(hubs.pop());
    let dir = tempfile::tempdir().unwrap();
    let again = hub_node(dir.path(), &urls, NODES[B]);
    let rules = api(again.http, "/api/rules").await;
    assert_eq!(rules["source"], forty.as_str());
    assert_eq!(rules["revision"], forty_at);
    assert_eq!(api(again.http, "/api/mode").await["mode"], "normal");
    let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap();
    assert!(
        log.contains("the cluster's rules are in force, not this node's rules file"),
        "{log}"
    );
    println!("cluster rules test: {:?}", started.elapsed());
    drop(again);
    drop(hubs);
    drop(nats);
}
