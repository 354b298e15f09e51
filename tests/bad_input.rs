//! Bad input closes only the offending connection, with a clear code and
//! reason, and is counted; other devices' events still become orders.

mod common;

use common::*;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient, SubscriberClient};
use tongguan::model::{Category, Source};
use tongguan::wire::batch::{BatchEncoder, RejectReason};
use tongguan::wire::frame::{encode_frame, encode_header, FrameType};
use tongguan::wire::ErrorCode;
use tongguan::wire::WireEvent;

/// A well-behaved device gets an order through while `bad` misbehaves.
async fn still_served(hub: &TestHub, district: &mut SubscriberClient, device_id: u64) {
    let mut good = device(hub).await;
    let e = event(
        device_id,
        1,
        now_ms(),
        Category::Smoke,
        Source::Sensor,
        7.0,
        point_in(CAOYANG),
    );
    good.send_and_wait(&[e]).await.unwrap();
    let order = expect_order(district, 10).await;
    assert_eq!(order.events[0].device, device_id);
}

async fn expect_closed(dev: &DeviceClient, code: ErrorCode) -> String {
    let err = tokio::time::timeout(Duration::from_secs(10), dev.closed())
        .await
        .expect("the hub closes the connection");
    assert_eq!(err.close_code(), Some(code), "{err}");
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_batch_closes_that_connection_while_another_device_gets_orders() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut bad = device(&hub).await;
    // A BATCH frame whose payload is not a valid archive.
    bad.send_raw(&encode_frame(FrameType::Batch, &[0xAB; 100]))
        .await
        .unwrap();
    let reason = expect_closed(&bad, ErrorCode::InvalidBatch).await;
    assert!(reason.contains("validation"), "{reason}");
    still_served(&hub, &mut district, 501).await;
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(&body, "tongguan_frames_rejected_total", "invalid_batch"),
        1.0
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_before_a_bad_frame_are_acknowledged_before_the_close() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t = now_ms() - 3_600_000;
    // Good, good, garbage, in one write: two alarms (their acks wait for
    // the journal), then a BATCH whose payload is no archive.
    let mut encoder = BatchEncoder::new();
    let mut bytes = Vec::new();
    for (batch_seq, device_id, at) in [(1u64, 511u64, t), (2, 512, t + 120_000)] {
        let payload = encoder.encode(batch_seq, &[smoke_alarm(device_id, at, here)]);
        bytes.extend_from_slice(&encode_header(FrameType::Batch, payload.len()));
        bytes.extend_from_slice(payload);
    }
    bytes.extend_from_slice(&encode_frame(FrameType::Batch, &[0xAB; 100]));
    dev.send_raw(&bytes).await.unwrap();
    for batch_seq in [1, 2] {
        let ack = tokio::time::timeout(Duration::from_secs(10), dev.recv_ack())
            .await
            .expect("an ack within the timeout")
            .unwrap_or_else(|e| panic!("batch {batch_seq} not acknowledged before: {e}"));
        assert_eq!(
            (ack.batch_seq, ack.accepted, ack.rejected),
            (batch_seq, 1, 0)
        );
    }
    let reason = expect_closed(&dev, ErrorCode::InvalidBatch).await;
    assert!(reason.contains("validation"), "{reason}");
    // Acknowledged means durable: both alarms have their orders.
    let mut devices: Vec<u64> = Vec::new();
    for _ in 0..2 {
        devices.push(expect_order(&mut district, 10).await.events[0].device);
    }
    devices.sort_unstable();
    assert_eq!(devices, [511, 512]);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_length_prefix_is_refused_without_reading_it() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut bad = device(&hub).await;
    bad.send_raw(&encode_header(FrameType::Batch, u32::MAX as usize))
        .await
        .unwrap();
    let reason = expect_closed(&bad, ErrorCode::FrameTooLarge).await;
    assert!(reason.contains("4294967295"), "{reason}");
    still_served(&hub, &mut district, 502).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_frame_type_is_a_protocol_violation() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut bad = device(&hub).await;
    bad.send_raw(&[3, 0, 0, 0, 0x7f, 1, 2, 3]).await.unwrap();
    let reason = expect_closed(&bad, ErrorCode::ProtocolViolation).await;
    assert!(reason.contains("0x7f"), "{reason}");
    // A frame a device may not send (an ORDER) is refused the same way.
    let mut bad2 = device(&hub).await;
    bad2.send_raw(&encode_frame(FrameType::Order, b"{}"))
        .await
        .unwrap();
    expect_closed(&bad2, ErrorCode::ProtocolViolation).await;
    still_served(&hub, &mut district, 503).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_with_an_auth_error() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    for token in ["not-a-token", "", DISTRICT_TOKEN] {
        let err = match DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, token)).await {
            Ok(_) => panic!("token {token:?} accepted as a device"),
            Err(e) => e,
        };
        assert_eq!(err.close_code(), Some(ErrorCode::AuthFailed), "{err}");
    }
    still_served(&hub, &mut district, 504).await;
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(&body, "tongguan_frames_rejected_total", "auth_failed"),
        3.0
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_are_rejected_one_by_one_and_counted() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t = now_ms();
    let ok = |seq| event(9, seq, t, Category::Manhole, Source::Sensor, 1.0, here);
    let bad = [
        (
            WireEvent {
                value: f64::NAN,
                ..ok(2)
            },
            RejectReason::ValueNotFinite,
        ),
        (
            WireEvent {
                time_ms: t + 3_600_000,
                ..ok(3)
            },
            RejectReason::TimeInFuture,
        ),
        (
            WireEvent {
                time_ms: t - 48 * 3_600_000,
                ..ok(4)
            },
            RejectReason::TimeTooOld,
        ),
        (
            WireEvent {
                category: 4242,
                ..ok(5)
            },
            RejectReason::UnknownCategory,
        ),
        (
            WireEvent {
                source: 77,
                ..ok(6)
            },
            RejectReason::UnknownSource,
        ),
        (WireEvent { lat: 95.0, ..ok(7) }, RejectReason::BadPosition),
        (
            WireEvent {
                camera: [b'x'; 20],
                ..ok(8)
            },
            RejectReason::BadField,
        ),
    ];
    let mut batch = vec![ok(1)];
    batch.extend(bad.iter().map(|(e, _)| *e));
    let ack = dev.send_and_wait(&batch).await.unwrap();
    assert_eq!(ack.accepted, 1);
    assert_eq!(ack.rejected, bad.len() as u32);
    assert_eq!(ack.first_reject, Some(RejectReason::ValueNotFinite));
    // The connection stays up: per-event problems are not frame errors.
    let ack = dev.send_and_wait(&[ok(9)]).await.unwrap();
    assert_eq!(ack.accepted, 1);
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    for (_, reason) in &bad {
        assert_eq!(
            metric(&body, "tongguan_events_rejected_total", reason.name()),
            1.0,
            "{reason:?}"
        );
    }
    assert_eq!(
        metric(
            &body,
            "tongguan_events_received_total",
            "category=\"manhole\""
        ),
        2.0
    );
    still_served(&hub, &mut district, 505).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer_over_http() {
    let hub = start_hub("").await;
    assert_eq!(http_get(hub.admin_addr, "/healthz").await.0, 200);
    assert_eq!(http_get(hub.admin_addr, "/readyz").await.0, 200);
    let (status, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "tongguan_events_received_total",
        "tongguan_events_duplicate_total",
        "tongguan_frames_rejected_total",
        "tongguan_event_to_order_seconds",
    ] {
        assert!(
            body.contains(&format!("# TYPE {name}")),
            "{name} missing from:\n{body}"
        );
    }
    hub.shutdown(Duration::from_secs(2)).await;
}
