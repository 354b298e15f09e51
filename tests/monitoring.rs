//! The hub as Prometheus and Grafana see it: a real Prometheus server
//! scrapes a running hub, answers a query for one of its metrics, evaluates
//! every alert rule of deploy/prometheus/alerts.yml without an error and
//! runs every query of the shipped dashboards; and every metric (with every
//! exact label value) that the dashboards, the alert rules and their tests
//! name is one the hub exports, so a rename breaks this test.
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

/// Metrics the deploy files name before the hub exports them, announced by
/// the work that adds them. Absent, they are let through; exported, they
/// are checked like every other name. Remove each once the hub exports it.
const ANNOUNCED: [&str; 0] = [];

/// Labels whose values depend on the deployment (the scrape's, the shards',
/// the cluster's partitions, the map's), not on the hub's code: their
/// values are not checked.
const DEPLOYMENT_LABELS: [&str; 6] = ["job", "instance", "shard", "partition", "street", "le"];

/// A metric named in PromQL (or in a rule's text) with the label values it
/// matches exactly (`label="value"`).
#[derive(Debug)]
struct Selector {
    name: String,
    exact: Vec<(String, String)>,
}

/// Every `tongguan_...` token of `expr`, with its exact matchers.
fn selectors(expr: &str) -> Vec<Selector> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("tongguan_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].to_owned();
        rest = &tail[end..];
        let mut exact = Vec::new();
        if let Some(body) = rest.strip_prefix('{') {
            let close = body.find('}').unwrap_or(body.len());
            exact = exact_matchers(&body[..close]);
            rest = &body[close..];
        }
        out.push(Selector { name, exact });
    }
    out
}

/// The `label="value"` matchers of a selector's body (`=~`, `!=`, `!~` and
/// values holding a dashboard variable are left out).
fn exact_matchers(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(q) = rest.find('"') {
        let head = rest[..q].trim_end();
        let Some(close) = rest[q + 1..].find('"') else {
            break;
        };
        let value = &rest[q + 1..q + 1 + close];
        rest = &rest[q + 2 + close..];
        let Some(label) = head.strip_suffix('=') else {
            continue;
        };
        if label.ends_with(['!', '=', '~']) || value.contains('$') {
            continue;
        }
        let label = label
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        out.push((label.to_owned(), value.to_owned()));
    }
    out
}

/// What a hub's /metrics holds: every name (a histogram's series too) and
/// every `label="value"` pair seen on each name's samples.
struct Exported {
    names: HashSet<String>,
    pairs: HashSet<(String, String, String)>,
}

impl Exported {
    fn parse(body: &str) -> Exported {
        let mut names = HashSet::new();
        let mut pairs = HashSet::new();
        for line in body.lines() {
            if let Some(family) = line.strip_prefix("# TYPE ") {
                names.insert(family.split(' ').next().unwrap().to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..end];
            names.insert(name.to_owned());
            if line[end..].starts_with('{') {
                let close = line.find('}').expect("a closed label set");
                for (label, value) in exact_matchers(&line[end + 1..close]) {
                    pairs.insert((name.to_owned(), label, value));
                }
            }
        }
        Exported { names, pairs }
    }

    /// Why `sel` names something the hub does not export, if it does.
    fn missing(&self, sel: &Selector) -> Option<String> {
        if !self.names.contains(&sel.name) {
            return (!ANNOUNCED.contains(&sel.name.as_str()))
                .then(|| format!("{} is not exported", sel.name));
        }
        for (label, value) in &sel.exact {
            if DEPLOYMENT_LABELS.contains(&label.as_str()) {
                continue;
            }
            let found = ["", "_bucket", "_sum", "_count"].iter().any(|suffix| {
                let key = (
                    format!("{}{suffix}", sel.name),
                    label.clone(),
                    value.clone(),
                );
                self.pairs.contains(&key)
            });
            if !found {
                return Some(format!(
                    "{} has no series with {label}=\"{value}\"",
                    sel.name
                ));
            }
        }
        None
    }
}

/// Every PromQL string of a dashboard: its `expr` and `query` fields.
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

/// The shipped Grafana dashboards.
fn dashboards() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["dashboards", "deploy/grafana"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every query of a dashboard.
fn dashboard_queries(path: &std::path::Path) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut all = Vec::new();
    exprs(&doc, &mut all);
    assert!(!all.is_empty(), "{} has no queries", path.display());
    all
}

/// The alert rules files Prometheus loads (deploy/prometheus/prometheus.yml),
/// each with its unit tests: the hub's, and the cluster mode's.
const RULES: [(&str, &str); 2] = [
    ("alerts.yml", "alerts_test.yml"),
    ("cluster.yml", "cluster_test.yml"),
];

/// deploy/prometheus.
fn prometheus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus")
}

/// The alert rules and their unit tests, whole (expressions, the metrics
/// their descriptions name, the tests' input series), quotes unescaped.
fn alert_files() -> Vec<(std::path::PathBuf, String)> {
    let dir = prometheus_dir();
    RULES
        .iter()
        .flat_map(|(rules, tests)| [rules, tests])
        .map(|f| {
            let path = dir.join(f);
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("\\\"", "\"");
            (path, text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboards_and_alerts_name_is_exported() {
    let hub = busy_hub().await;
    let (_, body) = http_get(hub.admin_addr, "/metrics").await;
    let exported = Exported::parse(&body);
    let mut sources: Vec<(std::path::PathBuf, String)> = dashboards()
        .into_iter()
        .flat_map(|p| {
            dashboard_queries(&p)
                .into_iter()
                .map(move |q| (p.clone(), q))
        })
        .collect();
    sources.extend(alert_files());
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (path, text) in &sources {
        for sel in selectors(text) {
            if let Some(why) = exported.missing(&sel) {
                wrong.push(format!("{}: {why}", path.display()));
            }
            checked += 1;
        }
    }
    hub.shutdown(Duration::from_secs(2)).await;
    assert!(wrong.is_empty(), "not exported:\n{}", wrong.join("\n"));
    assert!(checked > 100, "only {checked} metric references checked");
}

#[test]
fn selectors_read_names_and_exact_label_values() {
    let sel = selectors(
        r#"sum by (reason) (rate(tongguan_events_rejected_total{instance=~"$instance", reason="rate_limited", outcome!="x"}[5m])) / tongguan_events_received_total"#,
    );
    assert_eq!(sel.len(), 2);
    assert_eq!(sel[0].name, "tongguan_events_rejected_total");
    assert_eq!(
        sel[0].exact,
        [("reason".to_owned(), "rate_limited".to_owned())]
    );
    assert_eq!(sel[1].name, "tongguan_events_received_total");
    assert!(sel[1].exact.is_empty());
    let exported = Exported::parse(
        "# TYPE tongguan_events_rejected_total counter\ntongguan_events_rejected_total{reason=\"bad_field\"} 0\n",
    );
    assert!(
        exported.missing(&sel[0]).is_some(),
        "a label value the hub does not have"
    );
    assert!(
        exported.missing(&sel[1]).is_some(),
        "a name the hub does not have"
    );
}

/// promtool, as `cargo test` runs it: the scrape config and every rules
/// file checked, and every rules file's unit tests run, from
/// deploy/prometheus (where the files name each other).
fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(prometheus_dir())
        .output()
        .expect(
            "promtool not found: install Debian's prometheus package \
             (`apt-get update && apt-get install -y prometheus`), or run scripts/test.sh, which does",
        );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn promtool_checks_the_config_and_every_rules_file_and_runs_their_tests() {
    let (ok, said) = promtool(&["check", "config", "prometheus.yml"]);
    assert!(ok, "promtool check config prometheus.yml:\n{said}");
    for (rules, tests) in RULES {
        assert!(
            said.contains(&format!("Checking {rules}")),
            "prometheus.yml loads {rules}:\n{said}"
        );
        let (ok, said) = promtool(&["check", "rules", rules]);
        assert!(ok, "promtool check rules {rules}:\n{said}");
        let (ok, said) = promtool(&["test", "rules", tests]);
        assert!(ok, "promtool test rules {tests}:\n{said}");
        // Every cluster alert has a test that expects it to fire (six of
        // alerts.yml's have none yet: not checked there).
        if rules != "cluster.yml" {
            continue;
        }
        let text = std::fs::read_to_string(prometheus_dir().join(rules)).unwrap();
        let tested = std::fs::read_to_string(prometheus_dir().join(tests)).unwrap();
        for alert in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- alert: "))
        {
            assert!(
                tested.contains(&format!(
                    "alertname: {alert}\n        exp_alerts:\n          - exp_labels:"
                )),
                "{tests} has no test in which {alert} fires"
            );
        }
    }
}

/// A Prometheus the test started, stopped when the test ends, even by a
/// failed assertion.
struct Prometheus(std::process::Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET from Prometheus' HTTP API as HTTP/1.0, so that a long answer comes
/// whole rather than chunked. None while it does not answer.
async fn prometheus_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> Option<(u16, serde_json::Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.ok()?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.get(9..12)?.parse().ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(body).ok()?))
}

/// `s` as a URL query value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A dashboard query as Prometheus takes it: Grafana's interval and range
/// variables as durations, any other variable (`$instance`) as `.*`, and a
/// variable's `label_values(SELECTOR, label)` as its selector.
fn without_variables(query: &str) -> String {
    let query = match query
        .strip_prefix("label_values(")
        .and_then(|q| q.rsplit_once(','))
    {
        Some((selector, _)) => selector,
        None => query,
    };
    let q = query
        .replace("$__rate_interval", "1m")
        .replace("$__range", "5m");
    let mut out = String::new();
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars
                .next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                .is_some()
            {}
            out.push_str(".*");
        } else {
            out.push(c);
        }
    }
    out
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
    let rules: Vec<_> = RULES
        .iter()
        .map(|(r, _)| prometheus_dir().join(r))
        .collect();
    let rule_files: String = rules
        .iter()
        .map(|r| format!("  - '{}'\n", r.display()))
        .collect();
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{rule_files}scrape_configs:\n  - job_name: tongguan\n    static_configs:\n      - targets: ['{}']\n",
            hub.admin_addr
        ),
    )
    .unwrap();
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut value = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let query = "/api/v1/query?query=sum(tongguan_orders_dispatched_total)";
        let Some((200, doc)) = prometheus_get(addr, query).await else {
            continue;
        };
        if let Some(v) = doc["data"]["result"][0]["value"][1].as_str() {
            value = Some(v.parse::<f64>().unwrap());
            break;
        }
    }
    assert_eq!(
        value,
        Some(1.0),
        "Prometheus saw the hub's one dispatched order"
    );

    // Every alert rule evaluated against the hub's series, without an error
    // (a many-to-many match, say, fails only when evaluated).
    let mut evaluated = Vec::new();
    for _ in 0..40 {
        let Some((200, doc)) = prometheus_get(addr, "/api/v1/rules?type=alert").await else {
            continue;
        };
        evaluated = doc["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect::<Vec<_>>();
        if !evaluated.is_empty() && evaluated.iter().all(|r| r["health"] != "unknown") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let written: usize = rules
        .iter()
        .map(|r| {
            std::fs::read_to_string(r)
                .unwrap()
                .matches("- alert: ")
                .count()
        })
        .sum();
    assert_eq!(
        evaluated.len(),
        written,
        "Prometheus loaded every rule of alerts.yml and cluster.yml"
    );
    for rule in &evaluated {
        assert_eq!(
            rule["health"], "ok",
            "{} evaluated: {}",
            rule["name"], rule["lastError"]
        );
    }

    // Every dashboard query runs.
    let mut ran = 0;
    for path in dashboards() {
        for query in dashboard_queries(&path) {
            let query = without_variables(&query);
            let url = format!("/api/v1/query?query={}", url_encode(&query));
            let answer = prometheus_get(addr, &url).await;
            let (status, doc) = answer.unwrap_or_else(|| panic!("no answer to {query}"));
            assert_eq!(
                (status, doc["status"].as_str()),
                (200, Some("success")),
                "{}: {query}: {}",
                path.display(),
                doc["error"]
            );
            ran += 1;
        }
    }
    assert!(ran > 100, "only {ran} dashboard queries ran");
    hub.shutdown(Duration::from_secs(2)).await;
}
