//! The hub as Prometheus and Grafana see it: a real Prometheus server
//! scrapes a running hub and answers a query for one of its metrics, and
//! every metric the shipped dashboards query is one the hub exports.
//!
//! Prometheus comes from Debian's `prometheus` package, which
//! scripts/test.sh installs. Without it the Prometheus test fails, naming
//! the command that installs it.

mod common;

use common::*;
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;
use tongguan::model::{Category, Source};

/// A hub that has done a bit of everything: orders, an update, an ack.
async fn busy_hub() -> TestHub {
    let hub = start_hub("").await;
    let mut sub = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t = now_ms() - 60_000;
    dev.send_and_wait(&[smoke_alarm(1, t, here)]).await.unwrap();
    let order = expect_order(&mut sub, 10).await;
    let fire = event(2, 1, t + 5_000, Category::Fire, Source::Video, 0.95, here);
    dev.send_and_wait(&[fire]).await.unwrap();
    assert_eq!(expect_order(&mut sub, 10).await.revision, 2);
    sub.ack(&order.id, tongguan::wire::control::Outcome::Confirmed, "")
        .await
        .unwrap();
    let http = hub.admin_addr;
    eventually("the ack", || async {
        api(http, "/api/orders?status=acked").await["count"] == 1
    })
    .await;
    // Let the shards tick their gauges.
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub
}

/// Metric names in PromQL: every `tongguan_...` token.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("tongguan_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboards_query_is_exported() {
    let hub = busy_hub().await;
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    let mut exported = HashSet::new();
    for line in body.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split(' ');
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        exported.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.insert(format!("{name}{suffix}"));
            }
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut all = Vec::new();
        exprs(&doc, &mut all);
        assert!(!all.is_empty(), "{} has no queries", path.display());
        for expr in all {
            for name in metric_names(&expr) {
                assert!(
                    exported.contains(&name),
                    "{}: {name} is not exported (in {expr})",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} metric references checked");
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_hub() {
    assert!(
        Command::new("prometheus").arg("--version").output().is_ok(),
        "prometheus not found: install Debian's prometheus package \
         (`apt-get update && apt-get install -y prometheus`), or run scripts/test.sh, which does"
    );
    let hub = busy_hub().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tongguan\n    static_configs:\n      - targets: ['{}']\n",
            hub.admin_addr
        ),
    )
    .unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut value = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        drop(stream);
        let (status, body) = http_get(
            addr,
            "/api/v1/query?query=sum(tongguan_orders_dispatched_total)",
        )
        .await;
        if status != 200 {
            continue;
        }
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        if let Some(v) = doc["data"]["result"][0]["value"][1].as_str() {
            value = Some(v.parse::<f64>().unwrap());
            break;
        }
    }
    prometheus.kill().unwrap();
    prometheus.wait().unwrap();
    assert_eq!(
        value,
        Some(1.0),
        "Prometheus saw the hub's one dispatched order"
    );
    hub.shutdown(Duration::from_secs(2)).await;
}
