//! The disposal loop over QUIC, as a street platform and the district
//! desk work it: ORDER_STEP frames granted at HELLO (`order_steps`), each
//! answered once durable; the history names the officers; a transfer
//! reaches the second street with its next sequence and the first sees it
//! leave; a client that did not ask for steps cannot send one.

mod common;

use common::*;
use tongguan::client::{ClientOptions, SubscriberClient};
use tongguan::dispatch::lifecycle::{Stage, Step, StepKind, StepRequest};
use tongguan::wire::control::{Feature, Outcome};

const CHANGZHENG: &str = "310107020000";

async fn platform(hub: &TestHub, token: &str, street: &str) -> SubscriberClient {
    let opts = ClientOptions::dev(hub.quic_addr, token);
    let sub = SubscriberClient::connect_with(&opts, street, 0, &[Feature::OrderSteps])
        .await
        .expect("subscriber connects");
    assert!(sub.granted().has(Feature::OrderSteps));
    sub
}

fn req(order_id: &str, by: &str, step: Step) -> StepRequest {
    StepRequest {
        order_id: order_id.into(),
        step,
        by: by.into(),
    }
}

/// Takes a step and expects it applied at `stage`.
async fn take(sub: &mut SubscriberClient, r: StepRequest, stage: Stage) {
    let kind = r.step.kind();
    let answer = sub.step_and_wait(&r).await.expect("answered");
    assert_eq!(
        (answer.step, answer.result.as_str(), answer.stage),
        (kind, "applied", Some(stage)),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_street_and_the_district_walk_an_order_through_the_loop_over_quic() {
    let hub = start_hub("").await;
    let mut street = platform(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut desk = platform(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let t0 = now_ms() - 600_000;
    dev.send_and_wait(&[smoke_alarm(9_100, t0, point_in(CAOYANG))])
        .await
        .unwrap();
    let order = expect_order(&mut street, 10).await;
    expect_order(&mut desk, 10).await;
    let id = order.id.as_str();
    let note = |t: &str| t.to_owned();
    take(
        &mut street,
        req(
            id,
            "张三",
            Step::Accept {
                note: note("收到")
            },
        ),
        Stage::Accepted,
    )
    .await;
    take(
        &mut street,
        req(
            id,
            "张三",
            Step::Assign {
                to: note("李四"),
                note: String::new(),
            },
        ),
        Stage::InProgress,
    )
    .await;
    take(
        &mut street,
        req(
            id,
            "李四",
            Step::Feedback {
                note: note("到场，烟雾为炊烟"),
                photos: Vec::new(),
            },
        ),
        Stage::Feedback,
    )
    .await;
    take(
        &mut street,
        req(
            id,
            "李四",
            Step::Resolve {
                outcome: Outcome::FalseAlarm,
                note: String::new(),
            },
        ),
        Stage::Resolved,
    )
    .await;
    // The district cannot accept, the street cannot verify.
    let refused = street
        .step_and_wait(&req(
            id,
            "张三",
            Step::Verify {
                note: String::new(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(refused.result, "forbidden", "{refused:?}");
    assert!(refused.reason.contains("区总值班"), "{}", refused.reason);
    take(
        &mut desk,
        req(
            id,
            "王五",
            Step::SendBack {
                reason: note("缺少照片"),
            },
        ),
        Stage::SentBack,
    )
    .await;
    // The street sees the order come back, and why.
    let back = expect_order(&mut street, 10).await;
    let n = back
        .disposal
        .expect("the revision says what the district did");
    assert_eq!(
        (n.step, n.reason.as_str()),
        (StepKind::SendBack, "缺少照片")
    );
    take(
        &mut street,
        req(
            id,
            "李四",
            Step::Resolve {
                outcome: Outcome::FalseAlarm,
                note: note("补拍"),
            },
        ),
        Stage::Resolved,
    )
    .await;
    take(
        &mut desk,
        req(
            id,
            "王五",
            Step::Verify {
                note: String::new(),
            },
        ),
        Stage::Verified,
    )
    .await;
    take(
        &mut desk,
        req(
            id,
            "王五",
            Step::Close {
                note: String::new(),
            },
        ),
        Stage::Closed,
    )
    .await;

    let detail = api(hub.admin_addr, &format!("/api/orders/{id}")).await;
    assert_eq!(detail["stage"], "closed");
    assert_eq!(detail["status"], "acked");
    assert_eq!(detail["accepted_by"], "张三（310107005000）");
    assert_eq!(detail["assignee"], "李四");
    let by: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["by"].as_str())
        .collect();
    assert_eq!(
        by,
        [
            "张三（310107005000）",
            "张三（310107005000）",
            "李四（310107005000）",
            "李四（310107005000）",
            "王五（district）",
            "李四（310107005000）",
            "王五（district）",
            "王五（district）",
        ]
    );
    let m = http_get(hub.admin_addr, "/metrics").await.1;
    assert_eq!(
        metric(
            &m,
            "tongguan_order_steps_total",
            r#"result="applied",step="resolve""#
        ),
        2.0
    );
    assert_eq!(
        metric(
            &m,
            "tongguan_order_steps_total",
            r#"result="forbidden",step="verify""#
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transferred_order_reaches_the_next_street_with_its_next_sequence() {
    let hub = start_hub("").await;
    let mut caoyang = platform(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut changzheng = platform(&hub, &street_token(CHANGZHENG), CHANGZHENG).await;
    let mut dev = device(&hub).await;
    let t0 = now_ms() - 600_000;
    dev.send_and_wait(&[smoke_alarm(9_200, t0, point_in(CHANGZHENG))])
        .await
        .unwrap();
    let own = expect_order(&mut changzheng, 10).await;
    dev.send_and_wait(&[smoke_alarm(9_201, t0 + 1_000, point_in(CAOYANG))])
        .await
        .unwrap();
    let order = expect_order(&mut caoyang, 10).await;
    take(
        &mut caoyang,
        req(
            &order.id,
            "张三",
            Step::Transfer {
                to: CHANGZHENG.into(),
                reason: "地址属长征镇".into(),
            },
        ),
        Stage::Dispatched,
    )
    .await;
    // Caoyang sees it leave, and why.
    let left = expect_order(&mut caoyang, 10).await;
    assert_eq!(left.id, order.id);
    let n = left.disposal.as_ref().unwrap();
    assert_eq!(
        (n.from.as_deref(), n.to.as_deref()),
        (Some(CAOYANG), Some(CHANGZHENG))
    );
    assert_eq!(left.place.street.as_ref().unwrap().code, CHANGZHENG);
    // Changzheng gets it as the next entry of its own log.
    let arrived = expect_order(&mut changzheng, 10).await;
    assert_eq!(
        (arrived.id.as_str(), arrived.seq),
        (order.id.as_str(), own.seq + 1)
    );
    take(
        &mut changzheng,
        req(
            &order.id,
            "赵六",
            Step::Accept {
                note: String::new(),
            },
        ),
        Stage::Accepted,
    )
    .await;
    let refused = caoyang
        .step_and_wait(&req(
            &order.id,
            "张三",
            Step::Accept {
                note: String::new(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(refused.result, "forbidden");
    // A new subscriber of Changzheng has it in its backlog; Caoyang's not.
    let mut fresh = subscriber(&hub, &street_token(CHANGZHENG), CHANGZHENG).await;
    let mut seen = vec![expect_order(&mut fresh, 10).await.id];
    seen.push(expect_order(&mut fresh, 10).await.id);
    assert!(seen.contains(&order.id), "{seen:?}");
    let mut old = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    expect_no_order(&mut old, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_did_not_ask_for_steps_cannot_send_one() {
    let hub = start_hub("").await;
    let opts = ClientOptions::dev(hub.quic_addr, &street_token(CAOYANG));
    let mut sub = SubscriberClient::connect(&opts, CAOYANG, 0).await.unwrap();
    let e = sub
        .step_and_wait(&req(
            "TG-x",
            "张三",
            Step::Accept {
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("order_steps"), "{e}");
}
