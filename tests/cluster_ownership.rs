//! Partition ownership of real hub processes on a real three-node NATS
//! JetStream cluster (R3 buckets): the nodes share the partitions evenly,
//! a node killed with -9 has its partitions taken over within the limit,
//! and a node stopped (SIGSTOP) past its lease, once woken (SIGCONT),
//! gives up every partition it held before it does anything else and gets
//! its share back. (That nothing a stalled node writes counts is tested
//! where nodes process partitions from the shared log.)

mod common;

use common::nats::{hub_node as node, signal, NatsCluster};
use common::*;
use std::time::{Duration, Instant};

const PARTITIONS: f64 = 64.0;

/// (owned, unowned) partitions as node `http` reports them.
async fn partitions(http: std::net::SocketAddr) -> Option<(f64, f64)> {
    let (status, body) = common::nats::get(http, "/metrics").await?;
    (status == 200).then(|| {
        (
            metric(&body, "tongguan_cluster_partitions_owned", ""),
            metric(&body, "tongguan_cluster_partitions_unowned", ""),
        )
    })
}

/// Waits until the nodes at `https` own all partitions between them, each
/// its even share; returns how long it took.
async fn settled(https: &[std::net::SocketAddr], limit: Duration) -> Duration {
    let start = Instant::now();
    let share = (PARTITIONS / https.len() as f64).floor();
    loop {
        let mut owned = Vec::new();
        for &h in https {
            owned.push(partitions(h).await.map_or(-1.0, |(o, _)| o));
        }
        let total: f64 = owned.iter().sum();
        if total == PARTITIONS && owned.iter().all(|&o| o == share || o == share + 1.0) {
            return start.elapsed();
        }
        if start.elapsed() >= limit {
            let mut errors = Vec::new();
            for &h in https {
                let (_, body) = common::nats::get(h, "/metrics").await.unwrap_or_default();
                errors.push(
                    body.lines()
                        .filter(|l| l.starts_with("tongguan_cluster_"))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
            panic!("not settled within {limit:?}: owned {owned:?}; the nodes' cluster metrics: {errors:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Partitions node `http` has lost so far.
async fn lost(http: std::net::SocketAddr) -> f64 {
    let (_, body) = common::nats::get(http, "/metrics").await.unwrap();
    metric(
        &body,
        "tongguan_cluster_ownership_changes_total",
        "change=\"lost\"",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_spread_move_on_kill_9_and_a_stalled_node_holds_nothing_it_lost() {
    let nats = NatsCluster::start(3).await;
    let urls = nats.urls();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hubs: Vec<HubProcess> = ["hub-a", "hub-b", "hub-c"]
        .iter()
        .zip(&dirs)
        .map(|(name, d)| node(d.path(), &urls, name))
        .collect();
    let https: Vec<_> = hubs.iter().map(|h| h.http).collect();
    settled(&https, Duration::from_secs(30)).await;

    // kill -9 of hub-c: hub-a and hub-b take its partitions.
    hubs[2].child.kill().unwrap();
    hubs[2].child.wait().unwrap();
    let took = settled(&https[..2], Duration::from_secs(10)).await;
    eprintln!("partitions of a killed node moved in {took:?}");

    // SIGSTOP hub-b past its lease (6 s): hub-a ends up with everything.
    let held = partitions(https[1]).await.unwrap().0;
    let lost_before = lost(https[1]).await;
    signal(&hubs[1], "-STOP");
    let alone = settled(&https[..1], Duration::from_secs(15)).await;
    eprintln!("partitions of a stopped node moved in {alone:?}");
    // SIGCONT: it gives up every partition it held (their leases lapsed
    // while it slept) before anything else, then gets its share back.
    signal(&hubs[1], "-CONT");
    settled(&https[..2], Duration::from_secs(15)).await;
    assert!(
        lost(https[1]).await - lost_before >= held,
        "the stopped node dropped the {held} partitions it held"
    );
    // hub-a's count is as it last read the leases (every second): the
    // partitions it handed back are unowned in its eyes until it sees
    // hub-b's claims.
    let mut unowned = f64::NAN;
    for _ in 0..50 {
        unowned = partitions(https[0]).await.unwrap().1;
        if unowned == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        unowned, 0.0,
        "partitions without owner, as hub-a reads them"
    );
    for mut h in hubs.into_iter().take(2) {
        h.child.kill().unwrap();
        h.child.wait().unwrap();
    }
}
