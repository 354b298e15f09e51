//! The loadgen binary against a real hub on loopback (QUIC, auth, the
//! whole pipeline, the subscribers): its pre-encoded batches are accepted
//! event for event, its devices' positions are inside the map (no
//! rejects), and the orders its incidents cause come back to its
//! subscribers and are measured.

use std::process::{Command, Stdio};
use std::time::Duration;
use tongguan::config::Config;
use tongguan::hub::Hub;

/// A hub on embedded defaults, loopback ports the OS picks, data in `dir`.
async fn hub(dir: &std::path::Path) -> Hub {
    let text = format!(
        "[hub]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nshards = 2\ndata_dir = {:?}\n",
        dir.display().to_string()
    );
    let config = Config::from_layers(Some(("test config".into(), &text))).expect("test config");
    Hub::start(config).await.expect("hub starts")
}

/// Runs loadgen with `args` against `hub` (bounded: killed after 60 s)
/// and returns its JSON summary.
async fn loadgen(hub: &Hub, args: &[&str]) -> serde_json::Value {
    let child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--hub")
        .arg(hub.quic_addr.to_string())
        .args(["--json", "--quiet"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loadgen starts");
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(output) = waited else {
        // Only the child this test started, by its PID.
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("loadgen did not finish within 60 s");
    };
    let output = output.expect("join").expect("loadgen output");
    assert!(
        output.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON summary")
}

fn count(summary: &serde_json::Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_offered_on_two_connections_are_all_accepted_and_come_back_as_orders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = hub(dir.path()).await;
    let summary = loadgen(
        &hub,
        &[
            "--rate",
            "20000",
            "--duration",
            "3s",
            "--connections",
            "2",
            "--devices",
            "2000",
            "--scenario",
            "correlated-fire",
            "--incidents",
            "20",
            "--subscribe",
            "--drain",
            "2s",
        ],
    )
    .await;
    hub.shutdown(Duration::from_secs(5)).await;
    let sent = count(&summary, "sent");
    assert!(sent >= 58_000, "about 60,000 events offered: {summary}");
    assert_eq!(count(&summary, "acked"), sent, "every event accepted");
    assert_eq!(
        count(&summary, "rejected"),
        0,
        "no position outside the map"
    );
    assert_eq!(count(&summary, "unsent"), 0);
    assert_eq!(count(&summary, "errors"), 0);
    assert!(count(&summary, "orders_received") > 0, "{summary}");
    assert!(
        count(&summary, "latency_samples") > 0,
        "orders matched to their triggers' intended times: {summary}"
    );
    assert!(summary["cpu_ns_per_event"]
        .as_f64()
        .is_some_and(|ns| ns > 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_run_ends_by_time_with_every_batch_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = hub(dir.path()).await;
    let summary = loadgen(
        &hub,
        &[
            "--rate",
            "max",
            "--duration",
            "1s",
            "--devices",
            "500",
            "--drain",
            "0s",
        ],
    )
    .await;
    hub.shutdown(Duration::from_secs(5)).await;
    let sent = count(&summary, "sent");
    assert!(sent > 0, "{summary}");
    assert_eq!(count(&summary, "acked"), sent);
    assert!(summary["rate_target"].is_null());
}
