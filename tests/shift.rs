//! A duty shift's lists on a real hub: history by time range and state a
//! page at a time, the handover (what was open, what came, what was done,
//! what is left), and exports that read back: CSV with the Chinese
//! columns, XLSX a spreadsheet opens.

mod common;

use common::*;
use tongguan::wire::control::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_handover_and_exports_read_back() {
    let hub = start_hub("").await;
    let mut street = subscriber(&hub, &street_token(CAOYANG), CAOYANG).await;
    let mut dev = device(&hub).await;
    let t0 = now_ms() - 3_600_000;
    let start = now_ms();
    for k in 0..5 {
        dev.send_and_wait(&[smoke_alarm(
            9_700 + k,
            t0 + k as i64 * 120_000,
            point_in(CAOYANG),
        )])
        .await
        .unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(expect_order(&mut street, 10).await.id);
    }
    street
        .ack(&ids[0], Outcome::Confirmed, "已处置")
        .await
        .unwrap();
    eventually("the ack is recorded", || async {
        api(hub.admin_addr, &format!("/api/orders/{}", ids[0])).await["status"] == "acked"
    })
    .await;

    let page = api(
        hub.admin_addr,
        &format!("/api/orders/history?from={start}&limit=2"),
    )
    .await;
    assert_eq!(page["count"], 5, "{page}");
    assert_eq!(page["orders"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().expect("a next page").to_owned();
    let second = api(
        hub.admin_addr,
        &format!("/api/orders/history?from={start}&limit=2&before={next}"),
    )
    .await;
    assert_eq!(second["orders"].as_array().unwrap().len(), 2);
    assert_ne!(page["orders"][1]["id"], second["orders"][0]["id"]);
    let open = api(
        hub.admin_addr,
        &format!("/api/orders/history?from={start}&status=open"),
    )
    .await;
    assert_eq!(open["count"], 4);
    let (s, body) = http_get(hub.admin_addr, "/api/orders/history?from=tomorrow").await;
    assert_eq!(s, 400, "{body}");

    let h = api(
        hub.admin_addr,
        &format!("/api/orders/handover?from={start}"),
    )
    .await;
    assert_eq!(h["counts"]["came"], 5, "{h}");
    assert_eq!(h["counts"]["done"], 1);
    assert_eq!(h["counts"]["left"], 4);
    assert_eq!(h["done"][0]["id"], ids[0].as_str());

    let (s, csv) = http_get(
        hub.admin_addr,
        &format!("/api/orders/export?format=csv&from={start}"),
    )
    .await;
    assert_eq!(s, 200);
    let csv = csv.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert!(reader
        .headers()
        .unwrap()
        .iter()
        .any(|h| h.starts_with("工单号")));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    assert!(rows
        .iter()
        .any(|r| r.get(0) == Some(ids[0].as_str()) && r.get(9) == Some("confirmed")));

    let (s, head) = http_get(
        hub.admin_addr,
        &format!("/api/orders/export?format=xlsx&from={start}"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(head.starts_with("PK"), "an XLSX file is a zip");
    let (s, _) = http_get(hub.admin_addr, "/api/orders/export?format=pdf").await;
    assert_eq!(s, 400);
}
