//! Dispatch that loses nothing: orders are in the outbox before they go
//! out, subscribers resume with exactly what they have not acknowledged,
//! acks are durable, deadlines escalate, unreliable devices need
//! corroboration, and a stalled subscriber holds no one up.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use tongguan::client::{ClientOptions, SubscriberClient};
use tongguan::model::{Category, Source};
use tongguan::wire::control::Outcome;

const HOUR: i64 = 3_600_000;

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

async fn receive(sub: &mut SubscriberClient, n: usize) -> Vec<tongguan::dispatch::Order> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(expect_order(sub, 10).await);
    }
    out
}

async fn acked_count(hub: &TestHub) -> u64 {
    api(hub.admin_addr, "/api/orders?status=acked").await["count"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reconnects_gets_exactly_what_it_had_not_acknowledged() {
    let hub = start_hub("").await;
    let token = street_token(CAOYANG);
    let mut sub = subscriber(&hub, &token, CAOYANG).await;
    make_orders(&hub, CAOYANG, 100, 5, now_ms() - HOUR).await;
    let first = receive(&mut sub, 5).await;
    let seqs: Vec<u64> = first.iter().map(|o| o.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "street sequence grows: {seqs:?}"
    );
    for o in &first[..2] {
        sub.ack(&o.id, Outcome::Confirmed, "on our way")
            .await
            .unwrap();
    }
    eventually("two durable acks", || async {
        acked_count(&hub).await == 2
    })
    .await;
    sub.close().await;

    let mut again = subscriber(&hub, &token, CAOYANG).await;
    let resent = receive(&mut again, 3).await;
    let want: Vec<&str> = first[2..].iter().map(|o| o.id.as_str()).collect();
    let got: Vec<&str> = resent.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(got, want);
    expect_no_order(&mut again, 800).await;
    // New orders follow the backlog live, with higher sequence numbers.
    make_orders(&hub, CAOYANG, 200, 1, now_ms() - HOUR / 2).await;
    let live = expect_order(&mut again, 10).await;
    assert!(live.seq > seqs[4]);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_acks_survive_a_restart_and_the_api_shows_them() {
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    make_orders(&hub, CHANGSHOU, 300, 3, now_ms() - HOUR).await;
    let orders = receive(&mut district, 3).await;
    district
        .ack(
            &orders[0].id,
            Outcome::FalseAlarm,
            "来电人13812345678称已处理",
        )
        .await
        .unwrap();
    eventually("the ack", || async { acked_count(&hub).await == 1 }).await;
    district.close().await;
    let dir = hub.stop_keeping_data().await;

    let hub = start_hub_in(dir, "").await;
    let list = api(hub.admin_addr, &format!("/api/orders?street={CHANGSHOU}")).await;
    assert_eq!(list["count"], 3);
    let open = api(hub.admin_addr, "/api/orders?status=open&limit=1").await;
    assert_eq!(open["count"], 2, "count is every match, not the page");
    assert_eq!(open["orders"].as_array().unwrap().len(), 1);
    let one = api(hub.admin_addr, &format!("/api/orders/{}", orders[0].id)).await;
    assert_eq!(one["status"], "acked");
    assert_eq!(one["ack"]["outcome"], "false_alarm");
    assert_eq!(
        one["ack"]["note"], "来电人138****5678称已处理",
        "phone masked before storing"
    );
    let history: Vec<&str> = one["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["what"].as_str().unwrap())
        .collect();
    assert_eq!(history, vec!["dispatched", "acked"]);
    assert_eq!(http_get(hub.admin_addr, "/api/orders/nope").await.0, 404);
    assert_eq!(
        http_get(hub.admin_addr, "/api/orders?status=lost").await.0,
        400
    );

    // The district resumes with the two it had not acknowledged.
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let resent = receive(&mut district, 2).await;
    let ids: HashSet<String> = resent.iter().map(|o| o.id.clone()).collect();
    assert_eq!(
        ids,
        orders[1..]
            .iter()
            .map(|o| o.id.clone())
            .collect::<HashSet<_>>()
    );
    expect_no_order(&mut district, 800).await;
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn street_a_cannot_read_or_acknowledge_street_b_orders() {
    let hub = start_hub("").await;
    make_orders(&hub, CHANGSHOU, 400, 1, now_ms() - HOUR).await;
    let opts = ClientOptions::dev(hub.quic_addr, &street_token(CAOYANG));
    let err = SubscriberClient::connect(&opts, CHANGSHOU, 0)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.close_code(), Some(tongguan::wire::ErrorCode::Forbidden));
    // Its own subscription has nothing of B's, and its ack of B's order is ignored.
    let mut a = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    expect_no_order(&mut a, 500).await;
    let list = api(hub.admin_addr, "/api/orders").await;
    let b_order = list["orders"][0]["id"].as_str().unwrap().to_owned();
    a.ack(&b_order, Outcome::Resolved, "").await.unwrap();
    eventually("the refused ack to be counted", || async {
        let (_, body) = http_get(hub.admin_addr, "/metrics").await;
        metric(&body, "tongguan_orders_acked_total", "forbidden") == 1.0
    })
    .await;
    assert_eq!(acked_count(&hub).await, 0);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_no_ack_escalates_to_the_district_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules =
        tongguan::engine::rules::DEFAULT_RULES.replace("deadline = \"5m\"", "deadline = \"1s\"");
    let rules_path = dir.path().join("rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    let hub = start_hub_in(
        dir,
        &format!("rules = {:?}\n", rules_path.display().to_string()),
    )
    .await;
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    make_orders(&hub, CAOYANG, 500, 1, now_ms() - HOUR).await;
    let order = expect_order(&mut street, 10).await;
    assert_eq!(expect_order(&mut district, 10).await.id, order.id);
    // Nobody acknowledges: a second after its deadline the district gets the escalation.
    let esc = expect_order(&mut district, 10).await;
    assert_eq!(esc.escalation_of.as_deref(), Some(order.id.as_str()));
    assert!(esc.plan.starts_with("督办"), "{}", esc.plan);
    assert_ne!(esc.id, order.id);
    expect_no_order(&mut street, 300).await;
    expect_no_order(&mut district, 2500).await;
    let one = api(hub.admin_addr, &format!("/api/orders/{}", order.id)).await;
    assert_eq!(one["status"], "escalated");
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(metric(&body, "tongguan_orders_escalated_total", ""), 1.0);
    // The district acts on the escalation (督办): the street's order records
    // it and stays open until the street acts.
    district
        .ack(&esc.id, Outcome::Resolved, "处置完毕")
        .await
        .unwrap();
    eventually("the escalation closed", || async {
        api(hub.admin_addr, &format!("/api/orders/{}", esc.id)).await["status"] == "acked"
    })
    .await;
    let urged = api(hub.admin_addr, &format!("/api/orders/{}", order.id)).await;
    assert_eq!(
        urged["status"], "escalated",
        "the street has not acted: {urged}"
    );
    let last = urged["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["what"], "urged", "{urged}");
    street
        .ack(&order.id, Outcome::Confirmed, "已到场处置")
        .await
        .unwrap();
    eventually("the street closed its order", || async {
        api(hub.admin_addr, &format!("/api/orders/{}", order.id)).await["status"] == "acked"
    })
    .await;
    let closed = api(hub.admin_addr, &format!("/api/orders/{}", order.id)).await;
    assert_eq!(closed["ack"]["outcome"], "confirmed");
    assert_ne!(closed["ack"]["by"], "district", "closed by the street");
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_many_false_alarms_is_flagged_and_then_needs_corroboration() {
    let hub = start_hub("[quality]\nmax_false_alarm_rate = 0.5\nmin_judged_orders = 2\n").await;
    let mut sub = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - HOUR;
    let noisy = 77;
    // Two alarms, two false alarms (the reading clears in between).
    for k in 0..2u64 {
        let t = t0 + k as i64 * 300_000;
        let alarm = event(noisy, 2 * k, t, Category::Smoke, Source::Sensor, 8.0, here);
        let clear = event(
            noisy,
            2 * k + 1,
            t + 1000,
            Category::Smoke,
            Source::Sensor,
            0.2,
            here,
        );
        dev.send_and_wait(&[alarm, clear]).await.unwrap();
        let order = expect_order(&mut sub, 10).await;
        sub.ack(&order.id, Outcome::FalseAlarm, "nothing there")
            .await
            .unwrap();
    }
    eventually("the device to be flagged", || async {
        let flagged = api(hub.admin_addr, "/api/devices?flagged=true").await;
        flagged["count"] == 1 && flagged["devices"][0]["device"] == noisy
    })
    .await;
    let flagged = api(hub.admin_addr, "/api/devices?flagged=true").await;
    assert_eq!(flagged["devices"][0]["false_alarm_rate"], 1.0);
    assert_eq!(flagged["devices"][0]["events"], 4);
    assert_eq!(flagged["devices"][0]["online"], true);
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(metric(&body, "tongguan_devices_flagged", ""), 1.0);

    // Its third alarm alone dispatches nothing...
    let t = t0 + 600_000;
    dev.send_and_wait(&[event(
        noisy,
        4,
        t,
        Category::Smoke,
        Source::Sensor,
        8.0,
        here,
    )])
    .await
    .unwrap();
    expect_no_order(&mut sub, 1000).await;
    // ...until a second device at the same place corroborates it.
    dev.send_and_wait(&[smoke_alarm(78, t + 5000, here)])
        .await
        .unwrap();
    let order = expect_order(&mut sub, 10).await;
    let devices: Vec<u64> = order.events.iter().map(|e| e.device).collect();
    assert_eq!(devices, vec![noisy, 78]);
    hub.shutdown(Duration::from_secs(2)).await;
}

/// A subscriber that authenticates and subscribes, then never reads, with
/// a 4 KiB stream window so the hub feels it at once.
async fn stalled_subscriber(
    hub: &TestHub,
) -> (quinn::Endpoint, quinn::Connection, quinn::SendStream) {
    use tongguan::wire::frame::{encode_frame, FrameType};
    let cfg = tongguan::tls::client_config_with_window(
        &tongguan::tls::Trust::AnyOnLoopback,
        hub.quic_addr,
        4096,
    )
    .unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(cfg);
    let conn = endpoint
        .connect(hub.quic_addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let hello = serde_json::json!({"role": "subscriber", "token": DISTRICT_TOKEN});
    send.write_all(&encode_frame(
        FrameType::Hello,
        hello.to_string().as_bytes(),
    ))
    .await
    .unwrap();
    let sub = serde_json::json!({"street": "district"});
    send.write_all(&encode_frame(
        FrameType::Subscribe,
        sub.to_string().as_bytes(),
    ))
    .await
    .unwrap();
    std::mem::forget(_recv);
    (endpoint, conn, send)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_does_not_delay_another_subscribers_orders() {
    let hub = start_hub("[limits]\nsubscriber_queue_orders = 4\n").await;
    let _stalled = stalled_subscriber(&hub).await;
    let mut healthy = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let t0 = now_ms() - 2 * HOUR;
    let places = [point_in(CAOYANG), point_in(CHANGSHOU)];
    for k in 0..40u64 {
        let e = smoke_alarm(1000 + k, t0 + k as i64 * 120_000, places[(k % 2) as usize]);
        dev.send_and_wait(&[e]).await.unwrap();
        // Each order reaches the healthy subscriber while the other is stuck.
        let order = expect_order(&mut healthy, 5).await;
        assert_eq!(order.events[0].device, 1000 + k);
    }
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    assert!(
        metric(&body, "tongguan_subscriber_catchups_total", "") >= 1.0,
        "the stalled one fell behind"
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotline_callers_are_masked_before_an_order_is_stored_or_sent() {
    let hub = start_hub("").await;
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let (lat, lon) = point_in(CAOYANG);
    let complaints: Vec<serde_json::Value> = (0..3)
        .map(|k| {
            serde_json::json!({
                "device": 9_000 + k, "seq": 1, "source": "hotline", "category": "noise_complaint",
                "lat": lat, "lon": lon,
                "caller_name": "王小明", "caller_phone": "13912345678",
                "description": "楼下酒吧深夜噪声，回电13912345678"
            })
        })
        .collect();
    let (status, body) = http_post(
        hub.admin_addr,
        "/api/events",
        &serde_json::Value::from(complaints).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let order = expect_order(&mut street, 10).await;
    assert_eq!(order.category, Category::NoiseComplaint);
    let sent = serde_json::to_string(&order).unwrap();
    let stored = http_get(hub.admin_addr, &format!("/api/orders/{}", order.id))
        .await
        .1;
    for text in [&sent, &stored] {
        assert!(!text.contains("13912345678"), "phone in plain form: {text}");
        assert!(!text.contains("王小明"), "name in plain form: {text}");
        assert!(
            text.contains("139****5678") && text.contains("王**"),
            "{text}"
        );
    }

    // Broken input answers 400 with a reason, and nothing is taken.
    let (status, body) = http_post(hub.admin_addr, "/api/events", "{\"device\": 1").await;
    assert_eq!(status, 400);
    assert!(body.contains("not JSON"), "{body}");
    let nan = serde_json::json!({"device": 1, "seq": 1, "source": "patrol", "category": "lava", "lat": lat, "lon": lon});
    let (status, body) = http_post(hub.admin_addr, "/api/events", &nan.to_string()).await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown category"), "{body}");
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_quiet_device_online_and_silence_makes_it_offline() {
    let hub = start_hub("[engine]\ndevice_offline_after = \"1s\"\n").await;
    let mut sub = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    dev.send_and_wait(&[smoke_alarm(42, now_ms() - HOUR, point_in(CAOYANG))])
        .await
        .unwrap();
    expect_order(&mut sub, 10).await;
    let online = |hub_addr| async move {
        let list = api(hub_addr, "/api/devices").await;
        list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"] == 42)
            .unwrap()["online"]
            == true
    };
    // Quiet for 2 s, but its gateway vouches for it every 300 ms.
    for _ in 0..7 {
        dev.heartbeat(&[42, 4242]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(online(hub.admin_addr).await, "heartbeats keep it online");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!online(hub.admin_addr).await, "silence beyond the timeout");
    // A heartbeat that is not a list of u64 ids is a protocol violation.
    dev.send_raw(&tongguan::wire::frame::encode_frame(
        tongguan::wire::FrameType::Heartbeat,
        &[1, 2, 3],
    ))
    .await
    .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), dev.closed())
        .await
        .unwrap();
    assert_eq!(
        err.close_code(),
        Some(tongguan::wire::ErrorCode::ProtocolViolation)
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_resuming_from_its_last_seq_gets_every_order_acked_while_it_was_away() {
    use tongguan::dispatch::record::Status;
    use tongguan::wire::control::Feature;
    let hub = start_hub("").await;
    let district_opts = ClientOptions::dev(hub.quic_addr, DISTRICT_TOKEN);
    let resume = [Feature::GaplessLog, Feature::BacklogEnd];
    let device_of = |o: &tongguan::dispatch::order_frame::OrderFrame| o.order.events[0].device;

    // The district sees two orders, keeps its place, and goes away.
    let mut district = SubscriberClient::connect_with(&district_opts, "district", 0, &resume)
        .await
        .unwrap();
    assert_eq!(district.welcome().features, ["backlog_end", "gapless_log"]);
    let (backlog, _) = district.backlog().await.unwrap();
    assert!(backlog.is_empty());
    make_orders(&hub, CAOYANG, 2000, 2, now_ms() - 2 * HOUR).await;
    let seen = receive(&mut district, 2).await;
    let last_seq = seen[1].seq;
    district.close().await;

    // Meanwhile four more orders, and the streets acknowledge three of
    // them (and one the district had seen).
    make_orders(&hub, CAOYANG, 2100, 2, now_ms() - HOUR).await;
    make_orders(&hub, CHANGSHOU, 2200, 2, now_ms() - HOUR).await;
    let mut caoyang = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    for o in receive(&mut caoyang, 4).await {
        if [2000, 2100, 2101].contains(&o.events[0].device) {
            caoyang
                .ack(&o.id, Outcome::Resolved, "处置完毕")
                .await
                .unwrap();
        }
    }
    let mut changshou = subscriber(&hub, &street_token(CHANGSHOU), CHANGSHOU).await;
    for o in receive(&mut changshou, 2).await {
        if o.events[0].device == 2200 {
            changshou.ack(&o.id, Outcome::FalseAlarm, "").await.unwrap();
        }
    }
    eventually("four durable acks", || async {
        acked_count(&hub).await == 4
    })
    .await;

    // Back from its last seq: every order after it, acknowledged or not,
    // oldest first, each with its status, then the marker.
    let mut district =
        SubscriberClient::connect_with(&district_opts, "district", last_seq, &resume)
            .await
            .unwrap();
    let (backlog, end) = district.backlog().await.unwrap();
    let mut devices: Vec<u64> = backlog.iter().map(device_of).collect();
    devices.sort_unstable();
    assert_eq!(devices, [2100, 2101, 2200, 2201], "{backlog:#?}");
    let seqs: Vec<u64> = backlog.iter().map(|o| o.order.seq).collect();
    assert!(
        seqs[0] > last_seq && seqs.windows(2).all(|w| w[1] > w[0]),
        "{seqs:?}"
    );
    assert_eq!((end.last_seq, end.orders), (seqs[3], 4));
    for o in &backlog {
        let (status, by, outcome) = match device_of(o) {
            2100 | 2101 => (Status::Acked, Some(CAOYANG), Some(Outcome::Resolved)),
            2200 => (Status::Acked, Some(CHANGSHOU), Some(Outcome::FalseAlarm)),
            _ => (Status::Open, None, None),
        };
        assert_eq!(o.status, Some(status), "{o:#?}");
        assert_eq!(o.ack.as_ref().map(|a| a.by.as_str()), by);
        assert_eq!(o.ack.as_ref().map(|a| a.outcome), outcome);
    }
    // Live orders follow the log.
    make_orders(&hub, CHANGSHOU, 2300, 1, now_ms() - HOUR / 2).await;
    let live = expect_order(&mut district, 10).await;
    assert!(live.seq > end.last_seq);
    district.close().await;

    // From 0 it is still what is not acknowledged, with its status.
    let mut fresh = SubscriberClient::connect_with(&district_opts, "district", 0, &resume)
        .await
        .unwrap();
    let (backlog, _) = fresh.backlog().await.unwrap();
    let mut open: Vec<u64> = backlog.iter().map(device_of).collect();
    open.sort_unstable();
    assert_eq!(open, [2001, 2201, 2300]);
    assert!(backlog.iter().all(|o| o.status == Some(Status::Open)));
    fresh.close().await;

    // A district that did not ask for the gapless log resumes as before:
    // what is not acknowledged after its seq, no status.
    let mut plain = SubscriberClient::connect(&district_opts, "district", last_seq)
        .await
        .unwrap();
    let mut got: Vec<u64> = Vec::new();
    for _ in 0..2 {
        got.push(expect_order(&mut plain, 10).await.events[0].device);
    }
    got.sort_unstable();
    assert_eq!(got, [2201, 2300]);
    expect_no_order(&mut plain, 800).await;
    hub.shutdown(Duration::from_secs(2)).await;
}
