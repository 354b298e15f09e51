//! `/metrics` passes `promtool check metrics` (Prometheus' own linter),
//! scraped from a real hub that has dispatched an order.
//!
//! promtool comes with Debian's `prometheus` package, which
//! scripts/test.sh installs. Without it the test fails, naming the command
//! that installs it.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tongguan::model::{Category, Source};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_passes_promtool_check_metrics() {
    assert!(
        Command::new("promtool").arg("--version").output().is_ok(),
        "promtool not found: install Debian's prometheus package \
         (`apt-get update && apt-get install -y prometheus`), or run scripts/test.sh, which does"
    );
    let hub = start_hub("").await;
    let mut district = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let e = event(
        1,
        1,
        now_ms(),
        Category::Smoke,
        Source::Sensor,
        8.0,
        point_in(CAOYANG),
    );
    dev.send_and_wait(&[e]).await.unwrap();
    expect_order(&mut district, 10).await;
    let (status, body) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metric(&body, "tongguan_event_to_order_seconds_count", "major") >= 1.0);
    // The order's latency split in two: each part observed once per order,
    // and together no longer than the whole.
    let orders = metric(&body, "tongguan_event_to_order_seconds_count", "");
    let before = metric(
        &body,
        "tongguan_order_stage_seconds_count",
        "\"before_dispatch\"",
    );
    let round = metric(&body, "tongguan_order_stage_seconds_count", "\"dispatch\"");
    assert_eq!((before, round), (orders, orders), "{body}");
    let parts = metric(&body, "tongguan_order_stage_seconds_sum", "");
    let whole = metric(&body, "tongguan_event_to_order_seconds_sum", "");
    assert!(parts <= whole + 1e-9, "stages {parts} s > whole {whole} s");

    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{said}"
    );
    assert!(said.trim().is_empty(), "promtool has remarks:\n{said}");
    hub.shutdown(Duration::from_secs(2)).await;
}
