//! Retention in the real hub binary: with `retain_closed_max = 5` and a
//! pass every second, the acknowledged orders beyond the five newest
//! leave the outbox (`GET /api/orders` no longer has them) once they are
//! in DATA_DIR/exports/, the open ones stay, a subscriber from seq 0
//! still gets every open order, and the counters say what was done.

mod common;

use common::*;
use std::collections::HashSet;
use tongguan::client::{ClientOptions, DeviceClient, SubscriberClient};
use tongguan::dispatch::record::OrderRecord;
use tongguan::wire::control::Outcome;

/// The hub process, killed when the test ends, passed or not.
struct Running(HubProcess);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// Every record in the export files.
fn exported(data: &std::path::Path) -> Vec<OrderRecord> {
    let Ok(dir) = std::fs::read_dir(data.join("exports")) else {
        return Vec::new();
    };
    dir.flat_map(|f| {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<OrderRecord>(l).unwrap())
            .collect::<Vec<_>>()
    })
    .collect()
}

fn ids_of(list: &serde_json::Value) -> Vec<String> {
    list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_beyond_the_cap_are_exported_then_deleted_and_open_ones_stay() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("retention.toml");
    std::fs::write(
        &config,
        "[engine]\nallowed_lateness = \"12h\"\n\
         [retention]\nretain_closed_max = 5\nretention_interval = \"1s\"\n",
    )
    .unwrap();
    let hub = Running(spawn_hub(
        data.path(),
        &["--config", config.to_str().unwrap()],
    ));
    let (quic, http) = (hub.0.quic, hub.0.http);
    let opts = |token: &str| ClientOptions::dev(quic, token);
    let mut district = SubscriberClient::connect(&opts(DISTRICT_TOKEN), "district", 0)
        .await
        .unwrap();
    let mut dev = DeviceClient::connect(&opts(DEVICE_TOKEN)).await.unwrap();
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 2 * 3_600_000;
    let mut orders = Vec::new();
    for k in 0..12u64 {
        dev.send_and_wait(&[smoke_alarm(500 + k, t0 + k as i64 * 120_000, here)])
            .await
            .unwrap();
        orders.push(expect_order(&mut district, 10).await.id);
    }
    let (acked, open) = orders.split_at(9);
    for id in acked {
        district.ack(id, Outcome::Resolved, "done").await.unwrap();
    }

    // The cap: five acknowledged orders stay, the three open ones too.
    eventually("retention down to the cap", || async {
        let a = api(http, "/api/orders?status=acked").await;
        let o = api(http, "/api/orders?status=open").await;
        a["count"] == 5 && o["count"] == 3
    })
    .await;
    let kept_open: HashSet<String> = ids_of(&api(http, "/api/orders?status=open").await)
        .into_iter()
        .collect();
    assert_eq!(kept_open, open.iter().cloned().collect::<HashSet<_>>());
    let kept_acked: HashSet<String> = ids_of(&api(http, "/api/orders?status=acked").await)
        .into_iter()
        .collect();
    assert_eq!(api(http, "/api/orders").await["count"], 8);

    // The four that went are in the export, each once, acknowledged, and
    // older than every one kept; the API no longer has them.
    let out = exported(data.path());
    let out_ids: HashSet<String> = out.iter().map(|r| r.order.id.clone()).collect();
    assert_eq!(out.len(), 4, "{out_ids:?}");
    assert_eq!(out_ids.len(), 4);
    assert!(out_ids.is_disjoint(&kept_acked));
    let all_acked: HashSet<String> = acked.iter().cloned().collect();
    assert_eq!(
        out_ids.union(&kept_acked).cloned().collect::<HashSet<_>>(),
        all_acked
    );
    assert!(out.iter().all(|r| r.ack.is_some()));
    let newest_gone = out.iter().map(|r| r.order.created_ms).max().unwrap();
    for id in &kept_acked {
        let kept = api(http, &format!("/api/orders/{id}")).await;
        assert!(
            kept["created_ms"].as_i64().unwrap() >= newest_gone,
            "{kept}"
        );
    }
    for id in &out_ids {
        let (status, _) = http_get(http, &format!("/api/orders/{id}")).await;
        assert_eq!(status, 404, "{id} was deleted");
    }

    // A subscriber from 0 still gets every open order, and nothing else.
    district.close().await;
    let mut again = SubscriberClient::connect(&opts(DISTRICT_TOKEN), "district", 0)
        .await
        .unwrap();
    let mut resent = HashSet::new();
    for _ in 0..3 {
        resent.insert(expect_order(&mut again, 10).await.id);
    }
    assert_eq!(resent, kept_open);
    expect_no_order(&mut again, 500).await;

    // What the counters say.
    eventually("the gauge after a pass", || async {
        let (_, m) = http_get(http, "/metrics").await;
        metric(&m, "tongguan_outbox_orders", "status=\"acked\"") == 5.0
            && metric(&m, "tongguan_outbox_orders", "status=\"open\"") == 3.0
    })
    .await;
    let (_, m) = http_get(http, "/metrics").await;
    assert_eq!(
        metric(&m, "tongguan_outbox_retention_deleted_total", ""),
        4.0
    );
    assert_eq!(
        metric(&m, "tongguan_outbox_retention_exported_total", ""),
        4.0
    );
    assert_eq!(
        metric(&m, "tongguan_outbox_retention_failures_total", ""),
        0.0
    );
}
