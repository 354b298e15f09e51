//! Engine state that survives a partition's move: a road gauge's water
//! level is held above its limit, the hold begins on the node that owns
//! its partition, that node is killed with -9 before the hold is over,
//! the partition moves to the other node, and the rest of the series
//! arrives there: the survivor makes exactly one order, under the id the
//! single-process engine gives the same readings, and a retransmit of the
//! batches makes no second one. Beside the gauge, the partition holds
//! 12,000 other devices: its state is too big for a KV value and moves
//! through the object store.

mod common;

use common::nats::{get, shared_evenly, NatsCluster};
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::cluster::partition_state::PartitionState;
use tongguan::engine::partition::shard_of;
use tongguan::engine::{EngineSettings, RuleSet};
use tongguan::model::{CameraRef, Category, Event, Source};
use tongguan::wire::WireEvent;

const PARTITIONS: u32 = 64;
const GAUGE: u64 = 7_001;
/// Readings of the series, 20 s apart in event time, each above the road
/// water level limit (15 cm): the rule's 60 s hold is over at the fourth.
const READINGS: u64 = 6;
const STEP_MS: i64 = 20_000;
/// Other devices of the gauge's partition, reporting normal levels: a
/// state of some 64 bytes each, over a KV value's size.
const FILLERS: u64 = 12_000;
const FIRST_FILLER: u64 = 100_000;
/// What a partition's key holds when its state is in the object store.
const POINTER: &[u8] = b"TGPOBJ\0\0";

/// A node of the test: short leases, a state saved every second.
fn hub_node(data: &std::path::Path, urls: &str, name: &str) -> HubProcess {
    let config = data.join("cluster.toml");
    std::fs::write(
        &config,
        "[engine]\nallowed_lateness = \"12h\"\ncheckpoint_interval = \"1s\"\n\
         [cluster]\nreplicas = 3\nlease_ttl = \"3s\"\nlease_renew = \"1s\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    spawn_hub(data, &["--config", &config, "--nats", urls, "--node", name])
}

fn reading(seq: u64, t0: i64, at: (f64, f64)) -> WireEvent {
    let t = t0 + (seq as i64 - 1) * STEP_MS;
    event(
        GAUGE,
        seq,
        t,
        Category::WaterLevel,
        Source::Sensor,
        18.0,
        at,
    )
}

/// The id of the order the single-process engine makes of the series.
fn oracle_id(series: &[WireEvent]) -> String {
    let mut engine = tongguan_core::replay::run::Replay::new(
        Arc::new(RuleSet::defaults()),
        EngineSettings::default(),
        1,
        Arc::new(tongguan::geo::RegionMap::sample()),
    );
    for w in series {
        let e = Event {
            device: w.device_id,
            seq: w.seq,
            time_ms: w.time_ms,
            value: w.value,
            lat: w.lat,
            lon: w.lon,
            cell: tongguan::geo::cell_of(w.lat, w.lon).unwrap(),
            category: Category::from_code(w.category).unwrap(),
            source: Source::from_code(w.source).unwrap(),
            camera: CameraRef::NONE,
        };
        engine.handle_batch(w.time_ms + 1_000, &[e]);
    }
    let orders = engine.orders();
    assert_eq!(orders.len(), 1, "the one engine makes one order");
    orders[0].id.clone()
}

/// The ids of the orders about the gauge that the node at `http` holds.
async fn gauge_orders(http: std::net::SocketAddr) -> Vec<String> {
    let Some((200, body)) = get(http, "/api/orders?limit=10000").await else {
        return Vec::new();
    };
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let about_gauge = |o: &&serde_json::Value| {
        o["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["device"].as_u64() == Some(GAUGE))
    };
    list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(about_gauge)
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn send(dev: &mut DeviceClient, batch: &[WireEvent]) {
    let ack = tokio::time::timeout(Duration::from_secs(20), dev.send_and_wait(batch))
        .await
        .expect("an ack within 20 s")
        .unwrap();
    assert_eq!(ack.accepted as usize, batch.len(), "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_begun_on_a_killed_node_makes_one_order_on_the_next_under_the_one_engines_id() {
    let nats = NatsCluster::start(3).await;
    let urls = nats.urls();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hubs = [
        Some(hub_node(dirs[0].path(), &urls, "hub-a")),
        Some(hub_node(dirs[1].path(), &urls, "hub-b")),
    ];
    let https = [
        hubs[0].as_ref().unwrap().http,
        hubs[1].as_ref().unwrap().http,
    ];
    shared_evenly(&https).await;

    // The gauge's partition, and the node that owns it.
    let at = point_in(CAOYANG);
    let p = shard_of(
        tongguan::geo::cell_of(at.0, at.1).unwrap(),
        PARTITIONS as usize,
    );
    let client = async_nats::connect(nats.servers()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let leases = js.get_key_value("tg_leases").await.unwrap();
    let owner = leases.get(p.to_string()).await.unwrap().expect("a lease");
    let owner = usize::from(owner.as_ref() != b"hub-a");
    let survivor = 1 - owner;
    let mut dev = DeviceClient::connect(&ClientOptions::dev(
        hubs[survivor].as_ref().unwrap().quic,
        DEVICE_TOKEN,
    ))
    .await
    .unwrap();

    let t0 = now_ms() - 3_600_000;
    let series: Vec<WireEvent> = (1..=READINGS).map(|s| reading(s, t0, at)).collect();
    let expected = oracle_id(&series);

    let fillers: Vec<WireEvent> = (0..FILLERS)
        .map(|k| {
            let normal = (Category::WaterLevel, Source::Sensor, 1.0, at);
            event(
                FIRST_FILLER + k,
                1,
                t0,
                normal.0,
                normal.1,
                normal.2,
                normal.3,
            )
        })
        .collect();
    for chunk in fillers.chunks(1_000) {
        send(&mut dev, chunk).await;
    }
    // The hold begins where the partition is; its state is saved there.
    for r in &series[..2] {
        send(&mut dev, std::slice::from_ref(r)).await;
    }
    let events = js.get_stream("TG_EVENTS").await.unwrap();
    let subject = format!("tg.events.{p}");
    let last = events
        .get_last_raw_message_by_subject(&subject)
        .await
        .unwrap()
        .sequence;
    let engine = js.get_key_value("tg_engine").await.unwrap();
    let objects = js.get_object_store("tg_engine_states").await.unwrap();
    let start = Instant::now();
    let saved = loop {
        let mut state = engine
            .get(format!("p{p}"))
            .await
            .unwrap()
            .map(|b| b.to_vec());
        // (A save taken while the fillers were still arriving may be
        // small enough for the key itself.)
        let pointer = state.as_ref().and_then(|v| v.strip_prefix(POINTER));
        let in_object = pointer.is_some();
        if let Some(name) = pointer {
            let name = String::from_utf8(name.to_vec()).unwrap();
            let mut object = objects.get(&name).await.unwrap();
            let mut bytes = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes)
                .await
                .unwrap();
            state = Some(bytes);
        }
        let state = state.map(|b| PartitionState::decode(&b, p as u32, PARTITIONS).unwrap());
        if let Some(s) = state.filter(|s| s.covers_seq >= last) {
            assert!(in_object, "a state this big is not in the key itself");
            break s;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let mut seen = String::new();
            for &h in &https {
                let (_, body) = http_get(h, "/metrics").await;
                seen.extend(
                    body.lines()
                        .filter(|l| l.starts_with("tongguan_cluster"))
                        .map(|l| format!("{l}\n")),
                );
            }
            panic!("partition {p}'s state covering seq {last} not saved within 15 s:\n{seen}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        saved.encode().len() as u64 > FILLERS * 40,
        "the fillers' and the gauge's state"
    );
    println!(
        "partition {p}: state saved by hub-{} covering seq {}, {} bytes in the object store",
        ["a", "b"][owner],
        saved.covers_seq,
        saved.encode().len()
    );
    // One more reading, then the owner dies at once: its state may or may
    // not cover it; the survivor replays what it does not.
    send(&mut dev, &series[2..3]).await;
    let mut dead = hubs[owner].take().unwrap();
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let killed = Instant::now();
    assert!(
        gauge_orders(https[survivor]).await.is_empty(),
        "40 s of the hold: no order yet"
    );

    // The rest of the series, to the survivor, which takes the partition.
    for r in &series[3..] {
        send(&mut dev, std::slice::from_ref(r)).await;
    }
    let start = Instant::now();
    let ids = loop {
        let ids = gauge_orders(https[survivor]).await;
        if !ids.is_empty() {
            break ids;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no order of the gauge within 30 s of the kill"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "order {} made by the survivor {:.1} s after the kill",
        ids[0],
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(
        ids,
        std::slice::from_ref(&expected),
        "one order, the one engine's id"
    );

    // Retransmits: the same batch again (the stream drops it as a
    // duplicate), and the last readings as one batch (a message of its
    // own: the engine's dedup knows every reading).
    send(&mut dev, &series[3..4]).await;
    send(&mut dev, &series[2..]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        gauge_orders(https[survivor]).await,
        [expected],
        "no second order"
    );
    let (_, body) = http_get(https[survivor], "/metrics").await;
    assert!(
        metric(
            &body,
            "tongguan_cluster_checkpoints_total",
            "result=\"loaded\""
        ) >= 1.0,
        "the survivor loaded saved state"
    );
    assert_eq!(
        metric(
            &body,
            "tongguan_cluster_checkpoints_total",
            "result=\"refused\""
        ),
        0.0
    );
    assert!(
        metric(&body, "tongguan_shard_devices", "") > FILLERS as f64,
        "the survivor's shards hold the partition's devices from the saved state"
    );
    println!(
        "survivor: checkpoint bytes {}, age {} s, replay lag {}",
        metric(&body, "tongguan_cluster_checkpoint_bytes", ""),
        metric(&body, "tongguan_cluster_checkpoint_age_seconds", ""),
        metric(&body, "tongguan_cluster_replay_lag_messages", "")
    );
    drop(hubs);
    drop(nats);
}
