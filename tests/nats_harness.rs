//! The NATS JetStream behaviour the cluster mode is built on, checked
//! against real nats-server processes on loopback (tests/common/nats.rs),
//! so that a server or client upgrade that changes it fails here first:
//! message-id dedup and pipelined publishes on an R3 stream, publishing
//! through the loss of one server of three and the catch-up of its
//! replica, KV leases (create once, update by revision, expiry by
//! `max_age`, with and without limit markers), and what a publish does
//! when every server is gone.
//!
//! Each test starts its own cluster; every wait is bounded and the
//! figures the cluster design quotes are printed (`--nocapture`).

mod common;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self as js, Context};
use common::nats::NatsCluster;
use futures_util::future::join_all;
use futures_util::StreamExt;
use std::ops::Range;
use std::time::{Duration, Instant};

const EVENTS: &str = "TG_EVENTS";

/// The events stream of the cluster design: file storage, one subject per
/// partition, a two-minute dedup window.
fn events_stream(replicas: usize) -> stream::Config {
    stream::Config {
        name: EVENTS.into(),
        subjects: vec!["tg.events.*".into()],
        storage: StorageType::File,
        num_replicas: replicas,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// A JetStream context on a client that knows every server of `cluster`.
async fn jetstream(cluster: &NatsCluster) -> Context {
    let client = async_nats::connect(cluster.servers())
        .await
        .expect("client connects to the cluster");
    js::new(client)
}

/// An R3 events stream, created with the default API timeout (an R3
/// create can take over a second on a busy machine), and a context whose
/// publishes wait at most `ack_wait` for their acknowledgement.
async fn events_with_ack_wait(cluster: &NatsCluster, ack_wait: Duration) -> Context {
    let mut js = jetstream(cluster).await;
    js.create_stream(events_stream(3)).await.expect("R3 stream");
    js.set_timeout(ack_wait);
    js
}

/// The message of device `n`'s first batch: partition subject and id.
fn batch(n: u64) -> (String, PublishMessage) {
    let publish = PublishMessage::build()
        .payload(format!("event batch of device {n}").into())
        .message_id(format!("device-{n}/batch-1"));
    (format!("tg.events.{}", n % 64), publish)
}

/// The first publish to a stream just created: the servers may not all
/// know the stream yet (StreamNotFound for a moment, on a busy machine),
/// so it is sent again, with its id, for up to 10 s.
async fn first_publish(js: &Context, subject: &str, publish: &PublishMessage) -> PublishAck {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent = js.send_publish(subject.to_owned(), publish.clone()).await;
        match sent.expect("sent").await {
            Ok(ack) => return ack,
            Err(e) if Instant::now() < deadline => {
                eprintln!("first publish not acked yet ({e}); again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("first publish not acked within 10 s: {e}"),
        }
    }
}

/// Publishes the batches `ids` pipelined (all sent, then every ack
/// awaited) and re-sends those not acknowledged until all are or
/// `within` has passed. Returns how many acks said duplicate.
async fn publish_all(js: &Context, ids: Range<u64>, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut pending: Vec<u64> = ids.collect();
    let mut duplicates = 0;
    while !pending.is_empty() {
        assert!(Instant::now() < deadline, "{} unacked", pending.len());
        let mut sent = Vec::with_capacity(pending.len());
        for &n in &pending {
            let (subject, publish) = batch(n);
            sent.push((n, js.send_publish(subject, publish).await));
        }
        // Awaited together: each ack's timeout runs from its await.
        let acks = join_all(sent.into_iter().map(|(n, sent)| async move {
            let ack = match sent {
                Ok(future) => future.await.ok(),
                Err(_) => None,
            };
            (n, ack)
        }));
        pending.clear();
        for (n, ack) in acks.await {
            match ack {
                Some(ack) => duplicates += usize::from(ack.duplicate),
                None => pending.push(n),
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    duplicates
}

async fn messages(js: &Context) -> u64 {
    let stream = js.get_stream(EVENTS).await.expect("events stream");
    stream.get_info().await.expect("stream info").state.messages
}

/// The messages node `i`'s own replica of the events stream holds, from
/// its monitoring endpoint (stream info would answer from the leader).
async fn local_messages(cluster: &NatsCluster, i: usize) -> Option<u64> {
    let path = "/jsz?accounts=true&streams=true";
    let (_, body) = common::nats::get(cluster.monitor(i), path).await?;
    let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
    let accounts = jsz["account_details"].as_array()?;
    let streams = accounts
        .iter()
        .filter_map(|a| a["stream_detail"].as_array());
    let events = streams.flatten().find(|s| s["name"] == EVENTS)?;
    events["state"]["messages"].as_u64()
}

#[tokio::test]
async fn one_node_serves_jetstream_on_its_own() {
    let cluster = NatsCluster::start(1).await;
    assert_eq!(cluster.servers().len(), 1);
    assert_eq!(cluster.urls(), cluster.url(0));
    let js = jetstream(&cluster).await;
    js.create_stream(events_stream(1)).await.expect("R1 stream");
    assert_eq!(publish_all(&js, 0..10, Duration::from_secs(5)).await, 0);
    assert_eq!(messages(&js).await, 10);
}

#[tokio::test]
async fn an_r3_stream_drops_a_republished_message_id_and_acks_a_pipelined_thousand() {
    let cluster = NatsCluster::start(3).await;
    assert_eq!(cluster.urls().split(',').count(), 3);
    let js = jetstream(&cluster).await;
    js.create_stream(events_stream(3)).await.expect("R3 stream");

    let (subject, publish) = batch(42);
    let first = first_publish(&js, &subject, &publish).await;
    let again = js.send_publish(subject, publish).await;
    let again = again.unwrap().await.expect("re-publish acked");
    assert!(!first.duplicate);
    assert!(again.duplicate, "the same Nats-Msg-Id within the window");
    // The duplicate's ack names the sequence of the message it repeats.
    assert_eq!(again.sequence, first.sequence);
    assert_eq!(messages(&js).await, 1);

    let started = Instant::now();
    let duplicates = publish_all(&js, 1000..2000, Duration::from_secs(10)).await;
    eprintln!(
        "1000 pipelined R3 publishes acked in {:?}",
        started.elapsed()
    );
    assert_eq!(duplicates, 0);
    assert_eq!(messages(&js).await, 1001);
}

#[tokio::test]
async fn with_the_stream_leader_killed_publishing_goes_on_and_its_replica_catches_up() {
    let mut cluster = NatsCluster::start(3).await;
    // Short ack waits, so a publish lost with the leader is re-sent soon;
    // its message id makes the re-send harmless.
    let js = events_with_ack_wait(&cluster, Duration::from_secs(1)).await;
    publish_all(&js, 0..100, Duration::from_secs(10)).await;
    let stream = js.get_stream(EVENTS).await.unwrap();
    let info = stream.get_info().await.unwrap();
    let leader = info.cluster.and_then(|c| c.leader).expect("stream leader");
    let leader = cluster.index_of(&leader).expect("leader is one of ours");

    cluster.kill(leader);
    let killed = Instant::now();
    publish_all(&js, 100..200, Duration::from_secs(30)).await;
    eprintln!(
        "kill -9 of the stream leader: 100 publishes acked {:?} later",
        killed.elapsed()
    );
    // Re-sent publishes whose first try was stored are dropped as
    // duplicates: exactly one message per batch.
    assert_eq!(messages(&js).await, 200);

    let restarted = Instant::now();
    cluster.restart(leader).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while local_messages(&cluster, leader).await != Some(200) {
        assert!(Instant::now() < deadline, "restarted replica behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "restarted server's replica holds all 200 after {:?}",
        restarted.elapsed()
    );
}

/// A lease bucket as the cluster design keeps partition leases.
fn lease_bucket(name: &str, limit_markers: Option<Duration>) -> kv::Config {
    kv::Config {
        bucket: name.into(),
        history: 1,
        max_age: Duration::from_secs(2),
        storage: StorageType::File,
        num_replicas: 3,
        limit_markers,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_kv_lease_is_taken_once_and_renewed_only_by_its_current_revision() {
    let cluster = NatsCluster::start(3).await;
    let js = jetstream(&cluster).await;
    let leases = js.create_key_value(lease_bucket("tg_leases", None)).await;
    let leases = leases.expect("R3 lease bucket");

    let taken = leases.create("partition.7", "node-a".into()).await;
    let revision = taken.expect("a free lease is taken");
    let second = leases.create("partition.7", "node-b".into()).await;
    assert_eq!(second.unwrap_err().kind(), CreateErrorKind::AlreadyExists);

    let renewed = leases
        .update("partition.7", "node-a".into(), revision)
        .await;
    let renewed = renewed.expect("renewed with the current revision");
    assert!(renewed > revision);
    let stale = leases
        .update("partition.7", "node-b".into(), revision)
        .await;
    assert_eq!(
        stale.unwrap_err().kind(),
        UpdateErrorKind::WrongLastRevision
    );
    let entry = leases.entry("partition.7").await.unwrap().expect("lease");
    assert_eq!(
        (entry.revision, &entry.value[..]),
        (renewed, &b"node-a"[..])
    );
}

/// What became of a lease left to expire, timed from its write.
#[derive(Debug)]
struct Expiry {
    /// When `entry()` stopped reading it as a put.
    lapsed: Duration,
    /// What `entry()` read then: `None`, or a marker's operation.
    read: Option<Operation>,
    /// What a watcher of the key was told, and when, up to a second later.
    told: Vec<(Operation, Duration)>,
}

/// Keeps `renewed` alive by revision every 400 ms until `expiring` has
/// lapsed, and reports how it went; then another node takes `expiring`.
async fn expire(leases: &kv::Store, renewed: &str, expiring: &str) -> Expiry {
    let mut watch = leases.watch(expiring).await.expect("watch");
    let mut revision = leases.create(renewed, "node-a".into()).await.unwrap();
    leases.create(expiring, "node-b".into()).await.unwrap();
    let written = Instant::now();
    let put = tokio::time::timeout(Duration::from_secs(2), watch.next()).await;
    assert_eq!(put.unwrap().unwrap().unwrap().operation, Operation::Put);
    let mut renewal = Instant::now();
    let read = loop {
        let entry = leases.entry(expiring).await.unwrap();
        match entry.map(|e| e.operation) {
            Some(Operation::Put) => {}
            other => break other,
        }
        assert!(written.elapsed() < Duration::from_secs(10), "never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
        if renewal.elapsed() >= Duration::from_millis(400) {
            revision = leases
                .update(renewed, "node-a".into(), revision)
                .await
                .unwrap();
            renewal = Instant::now();
        }
    };
    let lapsed = written.elapsed();
    let mut told = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Some(Ok(entry))) = tokio::time::timeout_at(until, watch.next()).await {
        told.push((entry.operation, written.elapsed()));
    }
    let kept = leases.entry(renewed).await.unwrap().expect("renewed lease");
    assert_eq!(kept.revision, revision);
    let retaken = leases.create(expiring, "node-c".into()).await;
    retaken.expect("a lapsed lease can be taken again");
    Expiry { lapsed, read, told }
}

#[tokio::test]
async fn an_unrenewed_lease_vanishes_after_max_age_without_a_word_to_a_watcher() {
    let cluster = NatsCluster::start(3).await;
    let js = jetstream(&cluster).await;
    let leases = js.create_key_value(lease_bucket("tg_leases", None)).await;
    let leases = leases.expect("R3 lease bucket");
    let expiry = expire(&leases, "partition.7", "partition.9").await;
    eprintln!("max_age 2 s, no markers: {expiry:?}");
    assert!(expiry.lapsed >= Duration::from_secs(2), "{expiry:?}");
    // Observed on 2.15: max_age removes the message silently; the key
    // reads as absent and a watcher is told nothing. A node waiting for a
    // lease to lapse has to read it, or the bucket needs limit markers.
    assert_eq!(expiry.read, None);
    assert!(expiry.told.is_empty(), "{expiry:?}");
}

#[tokio::test]
async fn with_limit_markers_a_watcher_is_told_when_a_lease_expires() {
    let cluster = NatsCluster::start(3).await;
    let js = jetstream(&cluster).await;
    let bucket = lease_bucket("tg_leases", Some(Duration::from_secs(1)));
    let leases = js
        .create_key_value(bucket)
        .await
        .expect("bucket with markers");
    let expiry = expire(&leases, "partition.7", "partition.9").await;
    eprintln!("max_age 2 s, limit markers 1 s: {expiry:?}");
    assert!(expiry.lapsed >= Duration::from_secs(2), "{expiry:?}");
    // 2.11+: the server writes a delete marker (reason MaxAge) where the
    // expired message was; the client reads it as a purge, both from
    // `entry()` and on a watch. The marker itself goes after its own TTL.
    assert_eq!(expiry.read, Some(Operation::Purge));
    let told: Vec<Operation> = expiry.told.iter().map(|t| t.0).collect();
    assert_eq!(told, [Operation::Purge]);
}

#[tokio::test]
async fn with_every_server_gone_a_publish_fails_within_its_timeout_and_works_after_restart() {
    let mut cluster = NatsCluster::start(3).await;
    let js = events_with_ack_wait(&cluster, Duration::from_secs(2)).await;
    publish_all(&js, 0..10, Duration::from_secs(10)).await;

    cluster.stop_all();
    let stopped = Instant::now();
    let (subject, publish) = batch(10);
    let attempt = async { js.send_publish(subject, publish).await?.await };
    let failed = tokio::time::timeout(Duration::from_secs(10), attempt).await;
    let failed = failed.expect("the publish ends by itself").unwrap_err();
    let took = stopped.elapsed();
    eprintln!("no server: publish failed after {took:?}: {failed}");
    assert_eq!(failed.kind(), PublishErrorKind::TimedOut);
    assert!(took < Duration::from_secs(3), "{took:?}");

    cluster.restart_all().await;
    let restarted = Instant::now();
    let duplicates = publish_all(&js, 10..20, Duration::from_secs(20)).await;
    eprintln!(
        "servers back: publishes acked {:?} later, {duplicates} duplicates",
        restarted.elapsed()
    );
    assert_eq!(messages(&js).await, 20);
}
