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
