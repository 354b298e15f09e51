//! Acks that tell the truth, for clients that ask at HELLO: BATCH_ACK_V2
//! names every rejected event and says which may be sent again; rate
//! tokens are spent on valid events only; every ORDER_ACK is answered;
//! the backlog ends with a marker. A client that asks for nothing gets the
//! protocol as it was.

mod common;

use common::*;
use std::time::Duration;
use tongguan::client::{ClientOptions, Delivery, DeviceClient, SubscriberClient};
use tongguan::model::{Category, Source};
use tongguan::wire::batch::{EventReject, RejectReason};
use tongguan::wire::control::{AckResult, Feature, Outcome};
use tongguan::wire::WireEvent;

const HOUR: i64 = 3_600_000;

const TWO_TOKENS: &str = "[auth]\ndevelopment = true\n\
    [[auth.device]]\nname = \"gw-a\"\ntoken = \"dev-device-token\"\n\
    [[auth.device]]\nname = \"gw-b\"\ntoken = \"other-device-token\"\n\
    [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = \"dev-district-token\"\n\
    [[auth.subscriber]]\nname = \"caoyang\"\nstreet = \"310107005000\"\ntoken = \"dev-street-310107005000\"\n";

/// `n` orders in `street`, each from its own smoke device, two minutes
/// apart in event time (so none correlates with another).
async fn make_orders(hub: &TestHub, street: &str, first_device: u64, n: u64, t0: i64) {
    let mut dev = device(hub).await;
    let here = point_in(street);
    for k in 0..n {
        let e = smoke_alarm(first_device + k, t0 + k as i64 * 120_000, here);
        dev.send_and_wait(&[e]).await.unwrap();
    }
}

/// A batch of sixteen: invalid events at 0, 1, 2, 5 and 14, eleven valid
/// ones around them.
fn mixed_batch(first_device: u64) -> (Vec<WireEvent>, Vec<(u32, RejectReason)>) {
    let here = point_in(CHANGSHOU);
    let t = now_ms() - HOUR;
    let ok = |i: u64| {
        event(
            first_device + i,
            1,
            t,
            Category::Gas,
            Source::Sensor,
            1.0,
            here,
        )
    };
    let invalid = [
        (
            0,
            WireEvent {
                value: f64::NAN,
                ..ok(0)
            },
            RejectReason::ValueNotFinite,
        ),
        (
            1,
            WireEvent { lat: 95.0, ..ok(1) },
            RejectReason::BadPosition,
        ),
        (
            2,
            WireEvent {
                category: 4242,
                ..ok(2)
            },
            RejectReason::UnknownCategory,
        ),
        (
            5,
            WireEvent {
                source: 77,
                ..ok(5)
            },
            RejectReason::UnknownSource,
        ),
        (14, WireEvent { flags: 1, ..ok(14) }, RejectReason::BadField),
    ];
    let mut events: Vec<WireEvent> = (0..16).map(ok).collect();
    for (i, e, _) in &invalid {
        events[*i] = *e;
    }
    let reasons = invalid.iter().map(|(i, _, r)| (*i as u32, *r)).collect();
    (events, reasons)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_ack_v2_names_every_reject_and_rate_tokens_pay_for_valid_events_only() {
    // Ten events a second per token; a bucket starts with one second's worth.
    let hub = start_hub(&format!(
        "{TWO_TOKENS}[limits]\nmax_events_per_second_per_token = 10\n"
    ))
    .await;
    let opts = ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN);
    let mut dev = DeviceClient::connect_with(&opts, &[Feature::BatchAckV2, Feature::GaplessLog])
        .await
        .unwrap();
    assert!(dev.granted().has(Feature::BatchAckV2));
    assert_eq!(
        dev.welcome().features,
        ["batch_ack_v2"],
        "a subscriber's feature is not a device's"
    );
    let (events, invalid) = mixed_batch(700);
    let v2 = dev.send_and_wait_v2(&events).await.unwrap();
    // Eleven valid events, ten tokens: the five invalid ones cost nothing,
    // and the last valid event (15) is the one over the rate.
    assert_eq!((v2.ack.accepted, v2.ack.rejected), (10, 6), "{v2:?}");
    assert_eq!(v2.ack.first_reject, Some(RejectReason::ValueNotFinite));
    let mut want: Vec<EventReject> = invalid
        .iter()
        .map(|&(i, r)| EventReject::new(i, r))
        .collect();
    want.push(EventReject::new(15, RejectReason::RateLimited));
    assert_eq!(v2.rejects, want);
    assert_eq!(v2.retryable().collect::<Vec<_>>(), [15]);
    assert!(v2.rejects[..5].iter().all(|r| !r.is_retryable()));
    // A batch of invalid events only: nothing charged, nothing accepted.
    let bad: Vec<WireEvent> = invalid.iter().map(|&(i, _)| events[i as usize]).collect();
    let v2 = dev.send_and_wait_v2(&bad).await.unwrap();
    assert_eq!((v2.ack.accepted, v2.ack.rejected), (0, 5));
    assert!(v2.rejects.iter().all(|r| !r.is_retryable()), "{v2:?}");
    // The rate-limited event, sent again once the bucket has refilled, is taken.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v2 = dev.send_and_wait_v2(&[events[15]]).await.unwrap();
    assert_eq!((v2.ack.accepted, v2.ack.rejected), (1, 0));
    assert!(v2.rejects.is_empty());

    // A device that asked for nothing gets the 20-byte BATCH_ACK, with the
    // same verdict (another token: a bucket of its own).
    let mut old = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, "other-device-token"))
        .await
        .unwrap();
    assert!(old.welcome().features.is_empty());
    assert!(old.send_and_wait_v2(&events).await.is_err(), "not granted");
    let (events, _) = mixed_batch(800);
    let ack = old.send_and_wait(&events).await.unwrap();
    assert_eq!((ack.accepted, ack.rejected), (10, 6));
    assert_eq!(ack.first_reject, Some(RejectReason::ValueNotFinite));
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(&body, "tongguan_events_rejected_total", "rate_limited"),
        2.0
    );
    assert_eq!(
        metric(&body, "tongguan_events_received_total", "category=\"gas\""),
        21.0,
        "ten of each token's first batch, and the one sent again"
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_event_before_an_invalid_one_is_the_first_reject() {
    let hub = start_hub("[limits]\nmax_events_per_second_per_token = 3\n").await;
    let opts = ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN);
    let mut dev = DeviceClient::connect_with(&opts, &[Feature::BatchAckV2])
        .await
        .unwrap();
    let here = point_in(CHANGSHOU);
    let t = now_ms() - HOUR;
    let ok = |d| event(d, 1, t, Category::Gas, Source::Sensor, 1.0, here);
    // Valid 0..=3 (three tokens: 3 is over), then an invalid 4.
    let mut events: Vec<WireEvent> = (0..5).map(|i| ok(900 + i)).collect();
    events[4].time_ms = t + 10 * HOUR;
    let v2 = dev.send_and_wait_v2(&events).await.unwrap();
    assert_eq!((v2.ack.accepted, v2.ack.rejected), (3, 2));
    assert_eq!(v2.ack.first_reject, Some(RejectReason::RateLimited));
    assert_eq!(
        v2.rejects,
        [
            EventReject::new(3, RejectReason::RateLimited),
            EventReject::new(4, RejectReason::TimeInFuture)
        ]
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_ack_is_answered_for_a_subscriber_that_asked() {
    let hub = start_hub("").await;
    let token = street_token(CAOYANG);
    let opts = ClientOptions::dev(hub.quic_addr, &token);
    let mut street = SubscriberClient::connect_with(
        &opts,
        CAOYANG,
        0,
        &[Feature::OrderAckResult, Feature::BatchAckV2],
    )
    .await
    .unwrap();
    assert_eq!(street.welcome().features, ["order_ack_result"]);
    make_orders(&hub, CAOYANG, 1000, 3, now_ms() - HOUR).await;
    make_orders(&hub, CHANGSHOU, 1100, 1, now_ms() - HOUR).await;
    let mine: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(expect_order(&mut street, 10).await.id);
        }
        ids
    };
    let theirs = api(hub.admin_addr, &format!("/api/orders?street={CHANGSHOU}")).await["orders"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = |id: &str| {
        let id = id.to_owned();
        move |r: tongguan::wire::control::OrderAckResult| {
            assert_eq!(r.order_id, id);
            r.result
        }
    };
    assert_eq!(
        street
            .ack_and_wait(&mine[0], Outcome::Confirmed, "")
            .await
            .unwrap(),
        AckResult::Applied
    );
    // Applied means recorded: the outbox says so already.
    let one = api(hub.admin_addr, &format!("/api/orders/{}", mine[0])).await;
    assert_eq!(one["status"], "acked");
    assert_eq!(
        street
            .ack_and_wait(&mine[0], Outcome::Resolved, "")
            .await
            .unwrap(),
        AckResult::Duplicate
    );
    assert_eq!(
        street
            .ack_and_wait(&theirs, Outcome::Resolved, "")
            .await
            .unwrap(),
        AckResult::Forbidden
    );
    assert_eq!(
        street
            .ack_and_wait("TG-no-such-order", Outcome::Resolved, "")
            .await
            .unwrap(),
        AckResult::Unknown
    );
    // Pipelined acks are answered in the order they were sent.
    street.ack(&mine[2], Outcome::FalseAlarm, "").await.unwrap();
    street.ack(&mine[1], Outcome::Confirmed, "").await.unwrap();
    street.ack(&mine[2], Outcome::Confirmed, "").await.unwrap();
    let results = [
        answer(&mine[2])(street.next_ack_result().await.unwrap()),
        answer(&mine[1])(street.next_ack_result().await.unwrap()),
        answer(&mine[2])(street.next_ack_result().await.unwrap()),
    ];
    assert_eq!(
        results,
        [AckResult::Applied, AckResult::Applied, AckResult::Duplicate]
    );
    // The answer to the last ack before the stream ends still arrives,
    // then the session ends.
    make_orders(&hub, CAOYANG, 1200, 1, now_ms() - HOUR / 2).await;
    let last = expect_order(&mut street, 10).await;
    street.ack(&last.id, Outcome::Resolved, "").await.unwrap();
    street.finish().unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), street.next_ack_result())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.order_id.as_str(), r.result),
        (last.id.as_str(), AckResult::Applied)
    );
    let end = tokio::time::timeout(Duration::from_secs(10), street.next_delivery())
        .await
        .unwrap();
    assert!(end.is_err(), "the session is over: {end:?}");
    street.close().await;

    // A subscriber that did not ask is sent no answer.
    let mut plain = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    assert!(plain.welcome().features.is_empty());
    let open = expect_order(&mut plain, 10).await;
    assert_eq!(open.id, theirs, "the one order still open");
    plain.ack(&theirs, Outcome::Resolved, "").await.unwrap();
    assert!(plain.next_ack_result().await.is_err(), "not granted");
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(800), plain.next_delivery()).await
    {
        panic!("nothing more for a subscriber that asked for nothing: {frame:?}");
    }
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(
        metric(&body, "tongguan_orders_acked_total", "duplicate"),
        2.0
    );
    assert_eq!(
        metric(&body, "tongguan_orders_acked_total", "forbidden"),
        1.0
    );
    assert_eq!(
        metric(&body, "tongguan_orders_acked_total", "unknown_order"),
        1.0
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_ends_with_a_marker_then_live_orders_follow() {
    let hub = start_hub("").await;
    let token = street_token(CAOYANG);
    let opts = ClientOptions::dev(hub.quic_addr, &token);
    make_orders(&hub, CAOYANG, 1300, 3, now_ms() - HOUR).await;
    let mut street = SubscriberClient::connect_with(&opts, CAOYANG, 0, &[Feature::BacklogEnd])
        .await
        .unwrap();
    let (backlog, end) = street.backlog().await.unwrap();
    assert_eq!(backlog.len(), 3);
    assert_eq!(end.orders, 3);
    assert_eq!(end.last_seq, backlog[2].order.seq);
    assert!(
        backlog.iter().all(|o| o.status.is_none()),
        "no status without the gapless log"
    );
    make_orders(&hub, CAOYANG, 1400, 1, now_ms() - HOUR / 2).await;
    let live = expect_order(&mut street, 10).await;
    assert!(live.seq > end.last_seq);
    street.close().await;

    // From the last seq: an empty backlog, its marker at that seq.
    let mut again =
        SubscriberClient::connect_with(&opts, CAOYANG, live.seq, &[Feature::BacklogEnd])
            .await
            .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), again.next_delivery())
        .await
        .unwrap()
        .unwrap()
    {
        Delivery::BacklogEnd(end) => assert_eq!((end.last_seq, end.orders), (live.seq, 0)),
        other => panic!("expected BACKLOG_END, got {other:?}"),
    }
    // Once only: a live order next, no second marker.
    make_orders(&hub, CAOYANG, 1500, 1, now_ms() - HOUR / 3).await;
    match tokio::time::timeout(Duration::from_secs(10), again.next_delivery())
        .await
        .unwrap()
        .unwrap()
    {
        Delivery::Order(o) => assert!(o.order.seq > live.seq),
        other => panic!("expected an ORDER, got {other:?}"),
    }
    hub.shutdown(Duration::from_secs(2)).await;
}
