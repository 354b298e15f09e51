//! The cluster's events stream is its recording: `tongguan replay --nats`
//! reads a time range of it through the same pass as a hub's recording,
//! each partition's messages (events and its owner's ticks) on a shard of
//! their own, and the rules in force give exactly the orders the cluster
//! dispatched, ids and all. Reading changes nothing on the servers: a
//! stream that is not there is an error naming it.

mod common;

use common::nats::{get, hub_node, send_alarms, shared_evenly, NatsCluster};
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::engine::rules::DEFAULT_RULES;
use tongguan::model::{Category, Source};

/// Single-source alarms of as many places (so many partitions).
const ALARMS: u64 = 12;

/// Every order the nodes at `https` serve: id to the device that opened it.
async fn cluster_orders(https: &[std::net::SocketAddr]) -> BTreeMap<String, u64> {
    let mut orders = BTreeMap::new();
    for &h in https {
        let Some((200, body)) = get(h, "/api/orders?limit=10000").await else {
            continue;
        };
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        for o in list["orders"].as_array().unwrap() {
            let device = o["events"][0]["device"].as_u64().unwrap();
            orders.insert(o["id"].as_str().unwrap().to_owned(), device);
        }
    }
    orders
}

/// `tongguan replay` with `args`, bounded to 60 s.
fn replay(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .arg("replay")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("replay still running after 60 s: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_stream_replayed_through_the_rules_in_force_gives_the_clusters_orders() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let nats = NatsCluster::start(3).await;
    let urls = nats.urls();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = hub_node(dirs[0].path(), &urls, "hub-a");
    let b = hub_node(dirs[1].path(), &urls, "hub-b");
    let https = [a.http, b.http];
    shared_evenly(&https).await;
    let started = now_ms();
    let mut dev = DeviceClient::connect(&ClientOptions::dev(a.quic, DEVICE_TOKEN))
        .await
        .unwrap();
    let t0 = now_ms() - 3 * 3_600_000;

    let sent = Instant::now();
    // Normal readings beside the alarms: run by their partitions, no order.
    let normal: Vec<_> = (0..8u64)
        .map(|i| {
            let at = (31.235 + i as f64 * 0.005, 121.38 + i as f64 * 0.007);
            event(
                500 + i,
                1,
                t0 + i as i64 * 1_000,
                Category::Smoke,
                Source::Sensor,
                0.4,
                at,
            )
        })
        .collect();
    let ack = tokio::time::timeout(Duration::from_secs(20), dev.send_and_wait(&normal))
        .await
        .expect("an ack within 20 s")
        .unwrap();
    assert_eq!(ack.accepted as usize, normal.len());
    let acked = send_alarms(&mut dev, 1, ALARMS, t0).await;

    // Wait until every alarm has its order on both nodes.
    let deadline = Instant::now() + Duration::from_secs(45);
    let orders = loop {
        let on_a = cluster_orders(&https[..1]).await;
        let on_b = cluster_orders(&https[1..]).await;
        if on_a.len() == acked.len() && on_a == on_b {
            break on_a;
        }
        assert!(
            Instant::now() < deadline,
            "not every alarm ordered on both nodes within 45 s: {on_a:?} / {on_b:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let ordered_in = sent.elapsed().as_secs_f64();

    // The replay: the rules the cluster runs (the embedded ones, which the
    // first node put in the rules' bucket) on the hub's config.
    let rules = write(dirs[2].path(), "rules.toml", DEFAULT_RULES);
    let config = dirs[0].path().join("cluster.toml").display().to_string();
    let from = (started - 1_000).to_string();
    let ran = Instant::now();
    let args = [
        "--nats", &urls, "--rules", &rules, "--config", &config, "--from", &from, "--json",
    ];
    let out = replay(&args);
    let seconds = ran.elapsed().as_secs_f64();
    assert!(out.status.success(), "replay failed: {out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let replayed: BTreeMap<String, u64> = report["baseline"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["device"].as_u64().unwrap(),
            )
        })
        .collect();
    let baseline_count = report["baseline"]["orders"].as_array().unwrap().len();
    assert_eq!(baseline_count, orders.len(), "one replayed order per order");
    assert_eq!(replayed, orders, "the cluster's orders, ids and devices");
    let baseline_rules = report["baseline_rules"].as_str().unwrap();
    assert!(
        baseline_rules.starts_with("the cluster's rules in force (tg_rules revision"),
        "the baseline is what the cluster runs: {baseline_rules}"
    );
    assert_eq!(report["source"]["kind"], "stream");
    assert_eq!(report["source"]["stream"], "TG_EVENTS");
    assert_eq!(report["partitions"], 64, "a shard per partition");
    assert_eq!(
        report["events"].as_u64(),
        Some(ALARMS + normal.len() as u64),
        "every event read once: {}",
        report["source"]
    );
    assert!(
        report["source"]["ticks"].as_u64().unwrap() > 0,
        "quiet partitions' ticks were run: {}",
        report["source"]
    );
    println!(
        "replayed {} messages ({} ticks, {} events) of the stream in {seconds:.2} s: {} orders, as the cluster's (ordered there {ordered_in:.1} s after the first send)",
        report["source"]["messages"], report["source"]["ticks"], report["events"], orders.len()
    );

    // The table, Chinese first as the rest of replay prints.
    let out = replay(&["--nats", &urls, "--rules", &rules, "--config", &config]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay failed: {out:?}");
    assert!(
        table.starts_with("回放 replayed events stream TG_EVENTS at nats://"),
        "{table}"
    );

    // One source, and a stream that is there: said, nothing created.
    let out = replay(&[
        "--recording",
        &dirs[2].path().display().to_string(),
        "--nats",
        &urls,
        "--rules",
        &rules,
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("--recording and the cluster's events stream"),
        "{said}"
    );
    let other = write(
        dirs[2].path(),
        "other.toml",
        "[cluster]\nprefix = \"elsewhere\"\n",
    );
    let out = replay(&["--nats", &urls, "--rules", &rules, "--config", &other]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("no events stream ELSEWHERE_EVENTS"), "{said}");
    drop((a, b));
}
