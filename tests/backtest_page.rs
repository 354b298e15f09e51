//! The district's backtest page (科学阈值) in a real headless Chromium:
//! a hub recording everything (`[record] mode = "all"`) makes orders from
//! events sent over QUIC, the district desk judges three of them false
//! alarms and one a confirmed fire; the district signs in at
//! /console/backtest, raises the smoke limit in the editor, runs the
//! backtest and reads the report (the three false alarms avoided, the
//! fire kept, the plots drawn); "apply" is enabled for exactly the text
//! the report tried, disabled by a one-character edit and enabled again
//! when it is undone; applied, GET /api/rules holds the new limit. A
//! street's token is refused by the page. Screenshots, each with the
//! watermark checked first, are kept in target/tmp/backtest/.

#[path = "browser/mod.rs"]
mod browser;
mod common;

use browser::*;
use common::*;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use std::time::Duration;
use tongguan::client::{ClientOptions, SubscriberClient};
use tongguan::model::{Category, Source};
use tongguan::wire::control::{AckResult, Feature, Outcome};

/// The smoke rule's limit as the default rules write it, and as raised.
const SMOKE_LIMIT: &str = "limit = 3.0          # %/m obscuration";
const RAISED: &str = "limit = 5.0          # %/m obscuration";

/// Faint smoke (4.0, above the default limit 3.0) from three sensors,
/// judged false alarms; a real fire (8.0), confirmed. Two minutes apart
/// in event time, an hour ago. Returns the false alarms' order ids.
async fn orders_judged(hub: &TestHub) -> Vec<String> {
    let opts = ClientOptions::dev(hub.quic_addr, DISTRICT_TOKEN);
    let mut desk = SubscriberClient::connect_with(&opts, "district", 0, &[Feature::OrderAckResult])
        .await
        .expect("desk connects");
    let mut dev = device(hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 3_600_000;
    let mut false_alarms = Vec::new();
    for (k, (device, value)) in [(101, 4.0), (102, 4.0), (103, 4.0), (201, 8.0)]
        .into_iter()
        .enumerate()
    {
        let t = t0 + k as i64 * 120_000;
        let smoke = event(device, 1, t, Category::Smoke, Source::Sensor, value, here);
        dev.send_and_wait(&[smoke])
            .await
            .expect("batch acknowledged");
        let order = expect_order(&mut desk, 10).await;
        let outcome = if value < 5.0 {
            false_alarms.push(order.id.clone());
            Outcome::FalseAlarm
        } else {
            Outcome::Confirmed
        };
        let answer = desk.ack_and_wait(&order.id, outcome, "核查").await.unwrap();
        assert_eq!(answer, AckResult::Applied);
    }
    let addr = hub.admin_addr;
    eventually("the four events recorded", || async move {
        let (_, m) = http_get(addr, "/metrics").await;
        metric(&m, "tongguan_record_events_total", "") == 4.0
    })
    .await;
    false_alarms.sort();
    false_alarms
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/console/backtest")).await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login:not([hidden]) #token"))
        .await
        .expect("the page asks who is looking")
        .send_keys(token)
        .await
        .unwrap();
    click(c, "#login-button").await;
}

/// Where "apply" stands: (enabled, the reason the page gives).
async fn apply_state(c: &Client) -> (bool, String) {
    let v = js(
        c,
        "return [!document.getElementById('apply').disabled,
                 document.getElementById('apply-why').dataset.reason || ''];",
    )
    .await;
    (v[0] == true, v[1].as_str().unwrap().to_owned())
}

/// A browser with a window 1440 x 1000.
async fn browser() -> Browser {
    browser_with(1000, None).await
}

/// Keeps a screenshot in target/tmp/backtest/, the watermark checked
/// first; returns the PNG.
async fn screenshot(c: &Client, name: &str) -> Vec<u8> {
    screenshot_in(c, "backtest", name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_tries_a_higher_smoke_limit_reads_the_report_and_applies_it() {
    let hub = start_hub("[record]\nmode = \"all\"\n").await;
    let false_alarms = orders_judged(&hub).await;
    let base = format!("http://{}", hub.admin_addr);
    let browser = browser().await;
    let c = &browser.client;

    // A street may not try rules: the page says so.
    sign_in(c, &base, &street_token(CAOYANG)).await;
    let refused = text_of(c, "#refused:not([hidden])").await;
    assert!(
        refused.contains("区值班台") && refused.contains(CAOYANG),
        "{refused}"
    );
    assert!(js(c, "return document.getElementById('app').hidden").await == true);
    js(c, "sessionStorage.clear(); return true").await;

    // The district: the editor holds the rules in force.
    sign_in(c, &base, DISTRICT_TOKEN).await;
    until(
        c,
        "the rules in force in the editor",
        "return document.getElementById('rules').value.length > 0",
    )
    .await;
    let in_force = api(hub.admin_addr, "/api/rules").await["source"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = js(c, "return document.getElementById('rules').value").await;
    assert_eq!(shown.as_str().unwrap(), in_force);
    assert!(
        watermark(c).await.contains("dev"),
        "the watermark names the token"
    );
    assert_eq!(
        apply_state(c).await,
        (false, "apply.none".into()),
        "nothing run yet"
    );
    screenshot(c, "signed-in.png").await;

    // Raise the smoke limit above the faint smoke, and run.
    assert!(
        in_force.contains(SMOKE_LIMIT),
        "the smoke rule's limit is where it was"
    );
    let edit = format!(
        "const r = document.getElementById('rules');
         r.value = r.value.replace({SMOKE_LIMIT:?}, {RAISED:?});
         r.dispatchEvent(new Event('input'));
         return r.value;"
    );
    let proposed = js(c, &edit).await.as_str().unwrap().to_owned();
    click(c, "#run").await;
    until(
        c,
        "the report",
        "return !document.getElementById('report').hidden",
    )
    .await;

    // The report: five orders in force, one proposed; the three false
    // alarms avoided, nothing missed; three plots drawn.
    let totals = js(
        c,
        "return [...document.querySelectorAll('#totals b')].map(b => Number(b.dataset.orders));",
    )
    .await;
    assert_eq!(
        totals,
        serde_json::json!([4, 1]),
        "orders in force, proposed"
    );
    let mut avoided: Vec<String> = js(
        c,
        "return [...document.querySelectorAll('#avoided li')].map(li => li.dataset.orderId);",
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap().to_owned())
    .collect();
    avoided.sort();
    assert_eq!(avoided, false_alarms, "the false alarms avoided");
    let listed = text_of(c, "#avoided").await;
    assert!(
        listed.contains("避免的误报（3）") && listed.contains("误报"),
        "{listed}"
    );
    assert_eq!(
        js(c, "return document.querySelectorAll('#missed li').length").await,
        0
    );
    let smoke_row = text_of(c, "#by-rule tr[data-key='smoke']").await;
    assert!(smoke_row.starts_with("smoke 4 1"), "{smoke_row}");
    let plots = js(
        c,
        "return [...document.querySelectorAll('#plots svg')].map(s => [s.dataset.plot, s.querySelectorAll('rect, circle').length]);",
    )
    .await;
    assert_eq!(
        plots,
        serde_json::json!([["rules", 2], ["timeline", 3], ["delays", 1]]),
        "bars per rule, the three differing orders in time, their delays"
    );
    let status = text_of(c, "#status").await;
    assert!(status.contains("回测完成"), "{status}");
    assert_eq!(apply_state(c).await, (true, "apply.ready".into()));
    let png = screenshot(c, "report.png").await;
    assert!(png.len() > 10_000, "a report drawn");

    // One character more: the report no longer tried this text.
    let rules = c.find(Locator::Css("#rules")).await.unwrap();
    rules.send_keys(" ").await.unwrap();
    assert_eq!(apply_state(c).await, (false, "apply.edited".into()));
    let why = text_of(c, "#apply-why").await;
    assert!(why.contains("须重新运行回测"), "{why}");
    screenshot(c, "edited.png").await;
    rules.send_keys(&Key::Backspace.to_string()).await.unwrap();
    assert_eq!(apply_state(c).await, (true, "apply.ready".into()), "undone");

    // English, then applied: the hub runs the raised limit.
    click(c, "#lang").await;
    assert_eq!(text_of(c, "#run").await, "Run the backtest");
    click(c, "#apply").await;
    until(
        c,
        "applied",
        "return document.getElementById('status').textContent.startsWith('Applied')",
    )
    .await;
    let now = api(hub.admin_addr, "/api/rules").await;
    assert_eq!(
        now["source"].as_str().unwrap(),
        proposed,
        "the text the report tried"
    );
    assert!(now["source"].as_str().unwrap().contains(RAISED));
    let smoke = now["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "smoke")
        .unwrap();
    assert!(
        smoke["test"].as_str().unwrap().starts_with("value >= 5"),
        "{smoke}"
    );
    screenshot(c, "applied.png").await;
    click(c, "#lang").await;

    c.clone().close().await.unwrap();
    hub.shutdown(Duration::from_secs(5)).await;
}
