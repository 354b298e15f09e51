//! The cluster under failure, end to end (three nats-servers with R3
//! streams, two hub processes, real QUIC devices): NATS gone entirely and
//! back (devices pushed back meanwhile, /readyz and the metrics say why,
//! every acknowledged alarm one order on both nodes after), escalations
//! that still fire once after the dispatching node's kill -9 (on time, or
//! late when the limit passed while no node dispatched), and a spread
//! load whose orders are exactly those of the single-process engine.

mod common;

use common::nats::{get, orders, until_orders, NatsCluster};
use common::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::engine::partition::shard_of;
use tongguan::engine::{EngineSettings, RuleSet};
use tongguan::model::{CameraRef, Category, Event, Source};
use tongguan::wire::WireEvent;

const PARTITIONS: u32 = 64;
const NODES: [&str; 2] = ["hub-a", "hub-b"];
/// The tests' lease timings: short, so a failover fits a test's time.
const SHORT_LEASES: &str = "lease_ttl = \"3s\"\nlease_renew = \"1s\"\n";
/// The default lease timings: a failover takes at least 4 s (the ttl less
/// a renewal period), longer than a 3 s accept limit.
const DEFAULT_LEASES: &str = "lease_ttl = \"6s\"\nlease_renew = \"2s\"\n";

/// A node of these tests: these `leases` timings, a state saved every
/// second, the rules in `rules` when given.
fn hub_node(data: &Path, urls: &str, name: &str, rules: Option<&str>, leases: &str) -> HubProcess {
    let mut hub = String::new();
    if let Some(text) = rules {
        let path = data.join("rules.toml");
        std::fs::write(&path, text).unwrap();
        hub = format!("[hub]\nrules = {:?}\n", path.display().to_string());
    }
    let config = data.join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "{hub}[engine]\nallowed_lateness = \"12h\"\ncheckpoint_interval = \"1s\"\n\
             [cluster]\npreview = true\nreplicas = 3\n{leases}"
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    spawn_hub(data, &["--config", &config, "--nats", urls, "--node", name])
}

/// Three nats-servers (R3) and two hub nodes sharing the partitions, one
/// of them dispatching.
struct Cluster {
    nats: NatsCluster,
    hubs: Vec<Option<HubProcess>>,
    https: [SocketAddr; 2],
    quics: [SocketAddr; 2],
    dispatcher: usize,
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(rules: Option<&str>, leases: &str) -> Cluster {
        let nats = NatsCluster::start(3).await;
        let urls = nats.urls();
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let hubs: Vec<HubProcess> = (0..2)
            .map(|i| hub_node(dirs[i].path(), &urls, NODES[i], rules, leases))
            .collect();
        let https = [hubs[0].http, hubs[1].http];
        let quics = [hubs[0].quic, hubs[1].quic];
        let mut c = Cluster {
            nats,
            hubs: hubs.into_iter().map(Some).collect(),
            https,
            quics,
            dispatcher: 0,
            dirs,
        };
        c.dispatcher = c.settled(Duration::from_secs(30)).await;
        c
    }

    /// Waits until the live nodes own every partition, evenly, and one of
    /// them dispatches; returns which.
    async fn settled(&self, limit: Duration) -> usize {
        let live: Vec<usize> = (0..2).filter(|&i| self.hubs[i].is_some()).collect();
        let share = PARTITIONS as f64 / live.len() as f64;
        let start = Instant::now();
        loop {
            let (mut owned, mut dispatching) = (Vec::new(), Vec::new());
            for &i in &live {
                let m = metrics(self.https[i]).await;
                owned.push(metric(&m, "tongguan_cluster_partitions_owned", ""));
                dispatching.push(metric(&m, "tongguan_cluster_dispatch_owner", ""));
            }
            if owned.iter().all(|&o| o == share) && dispatching.iter().sum::<f64>() == 1.0 {
                return live[dispatching.iter().position(|&d| d == 1.0).unwrap()];
            }
            assert!(
                start.elapsed() < limit,
                "not settled within {limit:?}: owned {owned:?}, dispatching {dispatching:?}{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The hubs' log tails, for a failure's message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, d) in self.dirs.iter().enumerate() {
            let log = std::fs::read_to_string(d.path().join("hub.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            out.push_str(&format!("\n--- {} log:\n{tail}", NODES[i]));
        }
        out
    }

    /// Kills node `i` with -9 and waits for it.
    fn kill(&mut self, i: usize) {
        let mut hub = self.hubs[i].take().expect("a running node");
        hub.child.kill().unwrap();
        hub.child.wait().unwrap();
    }
}

async fn metrics(http: SocketAddr) -> String {
    get(http, "/metrics").await.map(|r| r.1).unwrap_or_default()
}

/// Waits until `check` holds for every node's metrics.
async fn until_metrics(
    https: &[SocketAddr],
    what: &str,
    limit: Duration,
    check: impl Fn(&str) -> bool,
) {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for &h in https {
            all.push(metrics(h).await);
        }
        if all.iter().all(|m| check(m)) {
            return;
        }
        let cluster: Vec<String> = (all.iter())
            .map(|m| {
                m.lines()
                    .filter(|l| l.starts_with("tongguan_cluster_partitions_owned"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}: {cluster:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The devices of each order, by order id (escalations left out).
fn devices_by_order(o: &HashMap<String, serde_json::Value>) -> HashMap<String, Vec<u64>> {
    o.iter()
        .filter(|(_, o)| o["escalation_of"].is_null())
        .map(|(id, o)| {
            let devices = (o["events"].as_array().unwrap().iter())
                .map(|e| e["device"].as_u64().unwrap())
                .collect();
            (id.clone(), devices)
        })
        .collect()
}

/// Asserts that every device in `acked` has exactly one order, on every
/// node, under the same ids, and no order is about anything else.
fn one_order_per_alarm(seen: &[HashMap<String, serde_json::Value>], acked: &[u64]) {
    let expected: HashSet<u64> = acked.iter().copied().collect();
    for (i, o) in seen.iter().enumerate() {
        let by_order = devices_by_order(o);
        let mut devices: Vec<u64> = by_order.values().flatten().copied().collect();
        devices.sort_unstable();
        let mut want: Vec<u64> = expected.iter().copied().collect();
        want.sort_unstable();
        assert_eq!(
            devices, want,
            "{}: one order per acknowledged alarm, none twice",
            NODES[i]
        );
    }
    let ids = |o: &HashMap<String, serde_json::Value>| o.keys().cloned().collect::<HashSet<_>>();
    assert_eq!(
        ids(&seen[0]),
        ids(&seen[1]),
        "the same orders on both nodes"
    );
}

/// The node's /readyz: status and body.
async fn readyz(http: SocketAddr) -> (u16, String) {
    get(http, "/readyz").await.unwrap_or((0, String::new()))
}

/// A smoke alarm of its own device somewhere in Putuo, minutes apart.
fn alarm(d: u64, t0: i64) -> WireEvent {
    let k = d as f64;
    let at = (31.23 + (k * 0.0037) % 0.06, 121.37 + (k * 0.0053) % 0.08);
    smoke_alarm(d, t0 + (d % 60) as i64 * 120_000, at)
}

/// Sends `batch` and waits (20 s at most) for its acknowledgement.
async fn send(dev: &mut DeviceClient, batch: &[WireEvent]) {
    let ack = tokio::time::timeout(Duration::from_secs(20), dev.send_and_wait(batch))
        .await
        .expect("an ack within 20 s")
        .unwrap();
    assert_eq!(ack.accepted as usize, batch.len(), "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_gone_entirely_pushes_devices_back_and_everything_acknowledged_is_ordered_once_after()
{
    let _one = common::nats::one_cluster_at_a_time().await;
    let mut c = Cluster::start(None, SHORT_LEASES).await;
    let t0 = now_ms() - 3 * 3_600_000;
    let mut dev = DeviceClient::connect(&ClientOptions::dev(c.quics[0], DEVICE_TOKEN))
        .await
        .unwrap();
    let mut acked = Vec::new();
    for d in 1..=6 {
        send(&mut dev, &[alarm(d, t0)]).await;
        acked.push(d);
    }
    until_orders(&c.https, "the first orders", Duration::from_secs(20), |o| {
        o.len() == 6
    })
    .await;

    // Every nats-server gone. A device (connected to the other node) sends
    // a batch meanwhile: it is not acknowledged, its connection closes.
    let mut late = DeviceClient::connect(&ClientOptions::dev(c.quics[1], DEVICE_TOKEN))
        .await
        .unwrap();
    c.nats.stop_all();
    let stopped = Instant::now();
    let pushed_back = [alarm(100, t0)];
    let refused = tokio::spawn(async move {
        let answer =
            tokio::time::timeout(Duration::from_secs(30), late.send_and_wait(&pushed_back))
                .await
                .expect("the device is answered (its connection closed) within 30 s");
        (answer.map(|_| ()), stopped.elapsed())
    });

    // Meanwhile every node says it is not ready, and why, and owns
    // nothing once its leases are no longer surely its own.
    let start = Instant::now();
    let (mut unready, mut unowned) = (None, None);
    while unready.is_none() || unowned.is_none() {
        let r = [readyz(c.https[0]).await, readyz(c.https[1]).await];
        if unready.is_none() && r.iter().all(|(s, _)| *s == 503) {
            for (i, (_, body)) in r.iter().enumerate() {
                assert!(
                    body.contains("NATS cannot be reached"),
                    "{}'s /readyz: {body}",
                    NODES[i]
                );
                eprintln!("{} /readyz 503: {}", NODES[i], body.trim());
            }
            unready = Some(stopped.elapsed());
        }
        let mut owning = 0.0;
        for h in c.https {
            let m = metrics(h).await;
            owning += metric(&m, "tongguan_cluster_partitions_owned", "")
                + metric(&m, "tongguan_cluster_dispatch_owner", "");
        }
        if unowned.is_none() && owning == 0.0 {
            unowned = Some(stopped.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "while NATS is gone: /readyz {r:?}, partitions and dispatch owned {owning}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (answer, closed_after) = refused.await.unwrap();
    let closed = answer.expect_err("no BATCH_ACK while NATS is gone");
    let m = metrics(c.https[1]).await;
    assert!(
        metric(&m, "tongguan_cluster_publish_failed_total", "") >= 1.0,
        "the refused batch's parts counted as not stored"
    );
    eprintln!(
        "NATS gone: /readyz 503 on both nodes {:.1} s after the stop, nothing owned at {:.1} s \
         (lease ttl 3 s, renewed every 1 s), the device's batch unacknowledged and its connection closed at {:.1} s ({closed})",
        unready.unwrap().as_secs_f64(),
        unowned.unwrap().as_secs_f64(),
        closed_after.as_secs_f64()
    );
    let pushed_back = [alarm(100, t0)];

    // The servers back, on their stores.
    let restarted = Instant::now();
    c.nats.restart_all().await;
    let nats_ready = restarted.elapsed();
    let start = Instant::now();
    loop {
        let r = [readyz(c.https[0]).await, readyz(c.https[1]).await];
        if r.iter().all(|(s, _)| *s == 200) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "/readyz after NATS is back: {r:?}{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = restarted.elapsed();
    // (The servers answer slowly for a while after they are back; on a
    // loaded machine the 64 claims, one after another, take tens of
    // seconds.)
    c.settled(Duration::from_secs(60)).await;
    let leased = restarted.elapsed();

    // The device reconnects and sends its unacknowledged batch again.
    let mut again = DeviceClient::connect(&ClientOptions::dev(c.quics[1], DEVICE_TOKEN))
        .await
        .unwrap();
    send(&mut again, &pushed_back).await;
    let resent = restarted.elapsed();
    acked.push(100);
    let first_new = until_orders(
        &c.https[1..],
        "the resent alarm's order",
        Duration::from_secs(30),
        |o| devices_by_order(o).values().flatten().any(|&d| d == 100),
    )
    .await;
    drop(first_new);
    let ordered = restarted.elapsed();
    for d in 101..=104 {
        send(&mut again, &[alarm(d, t0)]).await;
        acked.push(d);
    }
    let seen = until_orders(
        &c.https,
        "every alarm ordered",
        Duration::from_secs(30),
        |o| devices_by_order(o).len() >= acked.len(),
    )
    .await;
    one_order_per_alarm(&seen, &acked);
    eprintln!(
        "NATS back: servers ready {:.1} s after the restart, /readyz 200 on both nodes at {:.1} s, \
         the partitions and dispatch leased at {:.1} s, the resent batch acknowledged at {:.1} s, \
         the first new order at {:.1} s",
        nats_ready.as_secs_f64(),
        ready.as_secs_f64(),
        leased.as_secs_f64(),
        resent.as_secs_f64(),
        ordered.as_secs_f64()
    );
}

/// The default rules with accept limits: a smoke alarm's order must be
/// accepted within 3 s, a camera's fire within 20 s.
fn rules_with_accept_limits() -> String {
    let rules = tongguan::engine::rules::DEFAULT_RULES;
    let with = rules
        .replace(
            "name = \"smoke-sensor-alarm\"\n",
            "name = \"smoke-sensor-alarm\"\naccept = \"3s\"\n",
        )
        .replace(
            "name = \"video-fire-detection\"\n",
            "name = \"video-fire-detection\"\naccept = \"20s\"\n",
        );
    assert_eq!(with.matches("accept = ").count(), 2, "both rules found");
    with
}

/// The escalations a node lists, by the order they escalate.
fn escalations(o: &HashMap<String, serde_json::Value>) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut by = BTreeMap::<String, Vec<serde_json::Value>>::new();
    for e in o.values().filter(|o| !o["escalation_of"].is_null()) {
        let of = e["escalation_of"].as_str().unwrap().to_owned();
        by.entry(of).or_default().push(e.clone());
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_limits_escalate_once_after_the_dispatchers_kill_late_if_due_while_none_dispatched()
{
    let _one = common::nats::one_cluster_at_a_time().await;
    let rules = rules_with_accept_limits();
    let mut c = Cluster::start(Some(&rules), DEFAULT_LEASES).await;
    let dying = c.dispatcher;
    let survivor = 1 - dying;
    let t = now_ms() - 3_600_000;
    let smoke = smoke_alarm(8001, t, point_in(CAOYANG));
    let fire = event(
        8002,
        1,
        t + 30_000,
        Category::Fire,
        Source::Video,
        0.93,
        point_in(CHANGSHOU),
    );
    // The device talks to the survivor: its connection outlives the kill.
    let mut dev = DeviceClient::connect(&ClientOptions::dev(c.quics[survivor], DEVICE_TOKEN))
        .await
        .unwrap();
    send(&mut dev, &[smoke, fire]).await;
    let only = [c.https[survivor]];
    let seen = until_orders(&only, "the two orders", Duration::from_secs(20), |o| {
        o.len() == 2
    })
    .await;
    // At once: the dispatching node dies before either limit.
    c.kill(dying);
    let killed = Instant::now();
    let killed_ms = now_ms();
    let by_device: HashMap<u64, serde_json::Value> = seen[0]
        .values()
        .map(|o| (o["events"][0]["device"].as_u64().unwrap(), o.clone()))
        .collect();
    let accept_by = |d: u64| {
        by_device[&d]["accept_by_ms"]
            .as_i64()
            .expect("an accept limit")
    };
    assert!(
        escalations(&seen[0]).is_empty() && killed_ms < accept_by(8001),
        "killed {} ms after the smoke order's accept limit: too late for this test",
        killed_ms - accept_by(8001)
    );
    let id = |d: u64| by_device[&d]["id"].as_str().unwrap().to_owned();

    // The survivor takes the dispatch lease.
    until_metrics(
        &only,
        "the survivor dispatches",
        Duration::from_secs(20),
        |m| metric(m, "tongguan_cluster_dispatch_owner", "") == 1.0,
    )
    .await;
    let took_over_ms = now_ms();
    eprintln!(
        "the survivor dispatches {:.1} s after the kill; the smoke order's limit was {:.1} s after it",
        killed.elapsed().as_secs_f64(),
        (accept_by(8001) - killed_ms) as f64 / 1000.0
    );

    // The smoke order's limit passed while nobody dispatched: escalated
    // once, late, by the survivor.
    let seen = until_orders(
        &only,
        "the smoke order escalated",
        Duration::from_secs(20),
        |o| escalations(o).contains_key(&id(8001)),
    )
    .await;
    let late = &escalations(&seen[0])[&id(8001)][0];
    let late_ms = late["created_ms"].as_i64().unwrap();
    eprintln!(
        "smoke order escalated {:.1} s after its accept limit (the survivor took over {:.1} s after it)",
        (late_ms - accept_by(8001)) as f64 / 1000.0,
        (took_over_ms - accept_by(8001)) as f64 / 1000.0
    );
    assert!(
        accept_by(8001) < took_over_ms && late_ms >= accept_by(8001),
        "escalated late, by the survivor: {late}"
    );

    // The fire order's limit falls after the takeover: escalated once, on
    // time (within a second or two of it).
    let seen = until_orders(
        &only,
        "the fire order escalated",
        Duration::from_secs(30),
        |o| escalations(o).contains_key(&id(8002)),
    )
    .await;
    let on_time = &escalations(&seen[0])[&id(8002)][0];
    let delay = on_time["created_ms"].as_i64().unwrap() - accept_by(8002);
    eprintln!(
        "fire order escalated {:.2} s after its accept limit",
        delay as f64 / 1000.0
    );
    assert!((0..2_500).contains(&delay), "on time: {on_time}");

    // Once each, not twice: the list, the originals' status, the count.
    // (An escalation made twice would be a second revision or id within
    // a few seconds of the first; watch that long.)
    let watch = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch {
        let o = orders(c.https[survivor]).await;
        let esc = escalations(&o);
        assert_eq!(esc.len(), 2, "two orders escalated: {esc:?}");
        for (of, list) in &esc {
            assert_eq!(list.len(), 1, "{of} escalated once: {list:?}");
            assert_eq!(list[0]["revision"], 1, "{of}'s escalation: {}", list[0]);
            assert_eq!(o[of]["status"], "escalated", "{of}: {}", o[of]);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let m = metrics(c.https[survivor]).await;
    assert_eq!(metric(&m, "tongguan_orders_escalated_total", ""), 2.0);
}

/// Devices of the spread load, readings per device, and their spacing in
/// event time.
const DEVICES: u64 = 300;
const ROUNDS: u64 = 10;
const ROUND_MS: i64 = 20_000;
const FIRST_DEVICE: u64 = 20_000;
/// The two sources of the multi-source incident.
const SENSOR: u64 = 30_001;
const CAMERA: u64 = 30_002;

/// Where device `d` of the load stands: a grid over Putuo.
fn place(d: u64) -> (f64, f64) {
    (
        31.235 + (d / 20) as f64 * 0.0031,
        121.375 + (d % 20) as f64 * 0.0037,
    )
}

/// The partition a place falls in.
fn partition_of(at: (f64, f64)) -> usize {
    shard_of(
        tongguan::geo::cell_of(at.0, at.1).unwrap(),
        PARTITIONS as usize,
    )
}

/// Two places a few metres apart in adjacent map cells whose partitions
/// the two nodes own one each (by the same assignment the nodes compute).
fn places_of_two_owners() -> ((f64, f64), (f64, f64)) {
    let owner = tongguan::cluster::assignment::assign(&NODES, PARTITIONS);
    for i in 0..4000 {
        let a = (
            31.235 + (i / 80) as f64 * 0.0009,
            121.38 + (i % 80) as f64 * 0.0009,
        );
        let b = (a.0, a.1 + 0.0008);
        let (ca, cb) = (
            tongguan::geo::cell_of(a.0, a.1).unwrap(),
            tongguan::geo::cell_of(b.0, b.1).unwrap(),
        );
        let near = tongguan::geo::neighbourhood(ca).any(|c| c == cb);
        if near && ca != cb && owner[partition_of(a)] != owner[partition_of(b)] {
            return (a, b);
        }
    }
    panic!("no two neighbouring cells of two owners found");
}

/// Round `r` (1-based) of the load, split by the node it is sent to:
/// mostly quiet smoke sensors, some of which go into alarm from round 6;
/// road gauges that rise above the limit at round 4 and stay (a 60 s
/// hold); a smoke sensor and, 5 s later, a camera's fire in adjacent cells
/// of the two owners at round 5.
fn round(r: u64, t0: i64, incident: ((f64, f64), (f64, f64))) -> [Vec<WireEvent>; 2] {
    let mut to: [Vec<WireEvent>; 2] = [Vec::new(), Vec::new()];
    let t = t0 + r as i64 * ROUND_MS;
    for d in 0..DEVICES {
        let at = place(d);
        let time = t + (d % 20) as i64 * 50;
        let e = if d % 50 == 25 {
            let level = if r >= 4 { 18.0 } else { 4.0 };
            event(
                FIRST_DEVICE + d,
                r,
                time,
                Category::WaterLevel,
                Source::Sensor,
                level,
                at,
            )
        } else {
            let alarm = d % 37 == 5 && r >= 6;
            let value = if alarm {
                7.0
            } else {
                0.4 + (d % 7) as f64 * 0.1
            };
            event(
                FIRST_DEVICE + d,
                r,
                time,
                Category::Smoke,
                Source::Sensor,
                value,
                at,
            )
        };
        to[(d % 2) as usize].push(e);
    }
    if r == 5 {
        let smoke = event(
            SENSOR,
            1,
            t + 1_000,
            Category::Smoke,
            Source::Sensor,
            6.5,
            incident.0,
        );
        to[0].push(smoke);
    }
    to
}

/// The camera's fire, 5 s after the sensor's smoke, sent on its own once
/// the smoke is ordered: the order the two reach the dispatch owner is
/// then the order the one engine sees them in (sent together, either
/// could be first: their partitions run on two nodes).
fn camera_fire(t0: i64, incident: ((f64, f64), (f64, f64))) -> [Vec<WireEvent>; 2] {
    let t = t0 + 5 * ROUND_MS + 6_000;
    let fire = event(
        CAMERA,
        1,
        t,
        Category::Fire,
        Source::Video,
        0.93,
        incident.1,
    );
    [Vec::new(), vec![fire]]
}

/// The load: the rounds, the camera's fire after round 5.
fn load(t0: i64, incident: ((f64, f64), (f64, f64))) -> Vec<[Vec<WireEvent>; 2]> {
    let mut steps = Vec::new();
    for r in 1..=ROUNDS {
        steps.push(round(r, t0, incident));
        if r == 5 {
            steps.push(camera_fire(t0, incident));
        }
    }
    steps
}

/// The orders the single-process engine makes of the same batches.
fn oracle(batches: &[[Vec<WireEvent>; 2]]) -> Vec<tongguan_core::replay::run::ReplayedOrder> {
    let settings = EngineSettings {
        allowed_lateness_ms: 12 * 3_600_000,
        ..EngineSettings::default()
    };
    let mut engine = tongguan_core::replay::run::Replay::new(
        Arc::new(RuleSet::defaults()),
        settings,
        1,
        Arc::new(tongguan::geo::RegionMap::sample()),
    );
    let mut now = 0;
    for pair in batches {
        for batch in pair.iter().filter(|b| !b.is_empty()) {
            let events: Vec<Event> = batch.iter().map(model_event).collect();
            now = batch.iter().map(|w| w.time_ms).max().unwrap_or(now) + 1_000;
            engine.handle_batch(now, &events);
        }
    }
    engine.handle_timeout(now + 120_000);
    engine.finish().orders
}

fn model_event(w: &WireEvent) -> Event {
    Event {
        device: w.device_id,
        seq: w.seq,
        time_ms: w.time_ms,
        value: w.value,
        lat: w.lat,
        lon: w.lon,
        cell: tongguan::geo::cell_of(w.lat, w.lon).unwrap(),
        category: Category::from_code(w.category).unwrap(),
        source: Source::from_code(w.source).unwrap(),
        camera: CameraRef(w.camera),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_spread_over_both_nodes_makes_exactly_the_orders_of_the_one_process_engine() {
    let _one = common::nats::one_cluster_at_a_time().await;
    let incident = places_of_two_owners();
    let t0 = now_ms() - 2 * 3_600_000;
    let batches = load(t0, incident);
    let events: usize = batches.iter().flatten().map(Vec::len).sum();
    let owner = tongguan::cluster::assignment::assign(&NODES, PARTITIONS);
    let per_owner = (0..DEVICES).fold([0; 2], |mut n, d| {
        n[owner[partition_of(place(d))]] += 1;
        n
    });
    assert!(
        per_owner.iter().all(|&n| n >= DEVICES / 4),
        "devices in partitions of both owners: {per_owner:?}"
    );
    let expected = oracle(&batches);
    let alarms = expected.len();
    assert!(alarms >= 10, "several orders: {expected:?}");
    assert!(
        expected.iter().filter(|o| o.multi_source).count() == 1,
        "one multi-source incident: {expected:?}"
    );

    let c = Cluster::start(None, SHORT_LEASES).await;
    let mut devs = Vec::new();
    for q in c.quics {
        devs.push(
            DeviceClient::connect(&ClientOptions::dev(q, DEVICE_TOKEN))
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    for pair in &batches {
        if pair[0].is_empty() {
            until_orders(
                &c.https,
                "the smoke sensor's order",
                Duration::from_secs(20),
                |o| devices_by_order(o).values().flatten().any(|&d| d == SENSOR),
            )
            .await;
            send(&mut devs[1], &pair[1]).await;
            continue;
        }
        let (a, b) = devs.split_at_mut(1);
        tokio::join!(send(&mut a[0], &pair[0]), send(&mut b[0], &pair[1]));
    }
    let sent = started.elapsed();
    let seen = until_orders(
        &c.https,
        "the oracle's count of orders, the camera joined",
        Duration::from_secs(40),
        |o| o.len() >= alarms && o.values().any(|o| o["multi_source"] == true),
    )
    .await;
    let ordered = started.elapsed();
    let want: BTreeMap<&str, &tongguan_core::replay::run::ReplayedOrder> =
        expected.iter().map(|o| (o.id.as_str(), o)).collect();
    for (i, o) in seen.iter().enumerate() {
        let got: BTreeMap<&str, &serde_json::Value> =
            o.iter().map(|(id, o)| (id.as_str(), o)).collect();
        let strays: Vec<String> = (got.iter())
            .filter(|(id, _)| !want.contains_key(*id))
            .map(|(id, o)| format!("{id}: {}", o["events"]))
            .collect();
        let missing: Vec<String> = (want.iter())
            .filter(|(id, _)| !got.contains_key(*id))
            .map(|(id, o)| format!("{id}: {o:?}"))
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{}: the one engine's ids, each once; not the oracle's: {strays:#?}; \
             the oracle's not made: {missing:#?}",
            NODES[i]
        );
        for (id, w) in &want {
            let g = got[id];
            assert_eq!(g["multi_source"], w.multi_source, "{id}: {g}");
            assert_eq!(g["severity"], serde_json::json!(w.severity), "{id}: {g}");
            assert_eq!(g["events"][0]["device"], w.device, "{id}: {g}");
            assert_eq!(
                g["place"]["street"]["code"].as_str(),
                w.street.as_deref(),
                "{id}"
            );
        }
    }
    // Nothing more comes of it: the same orders a while later.
    let later = Instant::now() + Duration::from_secs(2);
    while Instant::now() < later {
        for (i, &h) in c.https.iter().enumerate() {
            let o = orders(h).await;
            assert_eq!(
                o.len(),
                alarms,
                "{}: no order beyond the oracle's",
                NODES[i]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "{events} events of {} devices over both nodes in {:.1} s; the oracle's {alarms} orders \
         (one multi-source) on both nodes {:.1} s after the first batch",
        DEVICES + 2,
        sent.as_secs_f64(),
        ordered.as_secs_f64()
    );
}
