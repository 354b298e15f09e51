//! The district desk's tools past the live list, in the console: seven
//! orders from registered devices in two streets, three of them accepted
//! and three acknowledged (two as false alarms); the district view plots
//! them (orders per hour per street, the time to accept and to resolve,
//! the false-alarm share, overdue counts) as the hub counts them; the
//! history lists them a page at a time and by state and street, and an
//! id opens the order; the handover says what came, what was done and
//! what is left; the history's list, the live list and a part of the
//! handover are exported as CSV and XLSX, downloaded and read back; the
//! devices gone quiet are shown by street with their registry names and
//! addresses and how long they are offline; and all of it in English by
//! the switch.

use super::*;

/// The devices of the test, as the registry (设备台账) has them:
/// (id, street, name, address).
const DEVICES: [(u64, &str, &str, &str); 7] = [
    (8100, CAOYANG, "1号楼烟感", "曹杨路 1040 弄 1 号楼"),
    (8101, CAOYANG, "2号楼烟感", "曹杨路 1040 弄 2 号楼"),
    (8102, CAOYANG, "3号楼烟感", "曹杨路 1040 弄 3 号楼"),
    (8103, CAOYANG, "4号楼烟感", "曹杨路 1040 弄 4 号楼"),
    (8104, CHANGSHOU, "长寿路烟感A", "长寿路 100 号"),
    (8105, CHANGSHOU, "长寿路烟感B", "长寿路 102 号"),
    (8106, CHANGSHOU, "长寿路烟感C", "长寿路 104 号"),
];

/// A district-token call of the hub's API: (status, body).
async fn as_district(hub: &Hub, method: &str, path: &str, body: &str) -> (u16, String) {
    let headers =
        format!("Authorization: Bearer {DISTRICT_TOKEN}\r\nContent-Type: application/json\r\n");
    http(hub.admin_addr, method, path, body, &headers).await
}

/// Registers the devices, then sends one smoke alarm from each, two
/// minutes apart in event time and a little apart in place: one order
/// each. Returns the orders' ids by street.
async fn seven_orders(hub: &Hub) -> (Vec<String>, Vec<String>) {
    let registry: Vec<serde_json::Value> = DEVICES
        .iter()
        .map(|(id, street, name, address)| {
            serde_json::json!({"id": id, "kind": "烟感", "name": name, "address": address,
                               "street": street, "owner": "物业"})
        })
        .collect();
    let (status, body) = http_post(
        hub.admin_addr,
        "/api/devices/registry",
        &serde_json::Value::from(registry).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let t0 = now_ms() - 3_600_000;
    let events: Vec<_> = DEVICES
        .iter()
        .enumerate()
        .map(|(k, (id, street, _, _))| {
            let (lat, lon) = point_in(street);
            let at = (lat + (k % 4) as f64 * 0.0006, lon + (k % 4) as f64 * 0.0004);
            smoke_alarm(*id, t0 + k as i64 * 120_000, at)
        })
        .collect();
    let mut dev = device(hub).await;
    let ack = dev.send_and_wait(&events).await.unwrap();
    assert_eq!((ack.accepted, ack.rejected), (7, 0));
    eventually("seven orders", || async {
        api(hub.admin_addr, "/api/orders?limit=100").await["count"] == 7
    })
    .await;
    let ids = |street: &'static str| async move {
        let mut ids: Vec<String> = orders_of(hub, street)
            .await
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    (ids(CAOYANG).await, ids(CHANGSHOU).await)
}

/// Caoyang accepts three of its orders and acknowledges two of them as
/// false alarms; Changshou confirms one.
async fn work_some(hub: &Hub, caoyang: &[String], changshou: &[String]) {
    let street = |code: &str| {
        format!(
            "Authorization: Bearer {}\r\nContent-Type: application/json\r\n",
            street_token(code)
        )
    };
    for id in &caoyang[..3] {
        let (status, body) = http(
            hub.admin_addr,
            "POST",
            &format!("/api/orders/{id}/steps"),
            r#"{"step":"accept","by":"张三"}"#,
            &street(CAOYANG),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    for (code, id, outcome) in [
        (CAOYANG, &caoyang[0], "false_alarm"),
        (CAOYANG, &caoyang[1], "false_alarm"),
        (CHANGSHOU, &changshou[0], "confirmed"),
    ] {
        let (status, body) = http(
            hub.admin_addr,
            "POST",
            &format!("/api/console/orders/{id}/ack"),
            &format!(r#"{{"outcome":"{outcome}","note":"测试"}}"#),
            &street(code),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The values drawn by the marks matching `css`, as numbers.
async fn drawn(c: &Client, css: &str) -> Vec<f64> {
    let values = js(
        c,
        &format!(
            "return [...document.querySelectorAll(\"{css}\")].map((m) => Number(m.dataset.n))"
        ),
    )
    .await;
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_plots_its_orders_pages_their_history_hands_over_exports_and_names_quiet_devices(
) {
    let hub = start_hub("[engine]\ndevice_offline_after = \"3s\"\n").await;
    let (caoyang, changshou) = seven_orders(&hub).await;
    assert_eq!((caoyang.len(), changshou.len()), (4, 3));
    work_some(&hub, &caoyang, &changshou).await;
    let downloads = tempfile::tempdir().unwrap();
    let browser = browser_saving_to(Some(downloads.path())).await;
    let c = &browser.client;
    let base = format!("http://{}", hub.admin_addr);
    sign_in(c, &base, DISTRICT_TOKEN).await;

    plots(c, &hub).await;
    let all: Vec<String> = caoyang.iter().chain(&changshou).cloned().collect();
    history(c, &all).await;
    exports(c, downloads.path(), &all).await;
    handover(c, downloads.path()).await;
    devices(c).await;
    english(c).await;

    c.clone().close().await.unwrap();
    hub.shutdown(Duration::from_secs(2)).await;
}

/// The district view's plots draw what the hub counts, and the hub counts
/// what was sent.
async fn plots(c: &Client, hub: &Hub) {
    let (status, body) = as_district(hub, "GET", "/api/orders/efficiency", "").await;
    assert_eq!(status, 200, "{body}");
    let figures: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(figures["orders"], 7);
    let street = |code: &str| {
        figures["streets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["code"] == code)
            .unwrap()
            .clone()
    };
    let (cy, cs) = (street(CAOYANG), street(CHANGSHOU));
    assert_eq!(
        (cy["orders"].as_u64(), cs["orders"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(cy["accept"]["n"], 3, "three accepted: {cy}");
    assert_eq!(
        (cy["acked"].as_u64(), cy["false_alarms"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(figures["resolve"]["n"], 3);

    let started = std::time::Instant::now();
    click(c, "#tab-district").await;
    until(
        c,
        "the plots",
        "return !!document.querySelector('#plot-overdue svg') && !!document.querySelector('#plot-per-hour svg')",
    )
    .await;
    eprintln!(
        "district view with its plots drawn {} ms after the click",
        started.elapsed().as_millis()
    );
    let per_hour = |code: &str| format!("#plot-per-hour .multiple[data-street='{code}'] rect");
    assert_eq!(sum(&drawn(c, &per_hour(CAOYANG)).await), 4.0);
    assert_eq!(sum(&drawn(c, &per_hour(CHANGSHOU)).await), 3.0);
    assert_eq!(
        drawn(c, &per_hour(CAOYANG)).await.len(),
        24,
        "a bar an hour"
    );
    assert_eq!(sum(&drawn(c, "#plot-accept rect").await), 3.0);
    assert_eq!(sum(&drawn(c, "#plot-resolve rect").await), 3.0);
    let want_accept: Vec<f64> = figures["accept"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(drawn(c, "#plot-accept rect").await, want_accept);
    // The false-alarm share: a point for each hour with acks, as counted.
    let acked = figures["false_alarms"]["acked"].as_array().unwrap();
    let falses = figures["false_alarms"]["false_alarms"].as_array().unwrap();
    let want: Vec<f64> = acked
        .iter()
        .zip(falses)
        .filter(|(a, _)| a.as_u64() > Some(0))
        .map(|(a, f)| f.as_f64().unwrap() / a.as_f64().unwrap())
        .collect();
    let points = drawn(c, "#plot-false circle").await;
    assert_eq!(points.len(), want.len());
    for (p, w) in points.iter().zip(&want) {
        assert!((p - w).abs() < 1e-3, "{points:?} vs {want:?}");
    }
    let streets = figures["streets"].as_array().unwrap().len();
    assert_eq!(drawn(c, "#plot-overdue rect").await.len(), streets * 3);
    let caption = text_of(c, "#plot-accept figcaption").await;
    assert!(
        caption.contains("签收用时") && caption.contains("3 件"),
        "{caption}"
    );
    let row = text_of(c, &format!("#eff-streets tr[data-street='{CAOYANG}']")).await;
    assert!(
        row.contains("曹杨新村街道 4") && row.contains("100% (2/2)"),
        "{row}"
    );
    js(c, "document.getElementById('efficiency').scrollIntoView()").await;
    screenshot(c, "desk-plots.png").await;
}

/// The ids in the history table as shown.
async fn listed(c: &Client) -> Vec<String> {
    let ids = js(
        c,
        "return [...document.querySelectorAll('#hist-table tbody tr[data-order-id]')].map((r) => r.dataset.orderId)",
    )
    .await;
    ids.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Waits for the history table to show page `page` of a list of `count`.
async fn history_shows(c: &Client, page: u32, count: u32) {
    until(
        c,
        &format!("page {page} of {count} orders"),
        &format!(
            "const t = document.getElementById('hist-table');
             return t.dataset.page === '{page}' && t.dataset.count === '{count}'"
        ),
    )
    .await;
}

/// Orders of the last day three a page, newest first, then by state and
/// by street.
async fn history(c: &Client, all: &[String]) {
    click(c, "#tab-history").await;
    history_shows(c, 1, 7).await;
    js(
        c,
        "document.getElementById('hist-table').dataset.pageSize = '3'",
    )
    .await;
    click(c, "#hist-search").await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        history_shows(c, page, 7).await;
        until(
            c,
            "the page's rows",
            &format!(
            "return document.querySelectorAll('#hist-table tbody tr[data-order-id]').length === {}",
            if page < 3 { 3 } else { 1 }
        ),
        )
        .await;
        let rows = listed(c).await;
        seen.extend(rows);
        let pager = text_of(c, "#hist-page").await;
        assert!(pager.contains(&format!("第 {page} / 3 页")), "{pager}");
        if page < 3 {
            click(c, "#hist-next").await;
        }
    }
    assert_eq!(
        js(c, "return document.getElementById('hist-next').disabled").await,
        true
    );
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    let mut want = all.to_vec();
    want.sort();
    assert_eq!(sorted, want, "every order once over the pages");
    click(c, "#hist-prev").await;
    history_shows(c, 2, 7).await;
    assert_eq!(listed(c).await, seen[3..6].to_vec(), "the page before");
    screenshot(c, "desk-history.png").await;

    // By state: the three acknowledged; by street: Caoyang's four.
    js(
        c,
        "document.getElementById('hist-table').dataset.pageSize = '50';
         document.getElementById('hist-status').value = 'acked';",
    )
    .await;
    click(c, "#hist-search").await;
    history_shows(c, 1, 3).await;
    js(
        c,
        &format!(
            "document.getElementById('hist-status').value = '';
             document.getElementById('hist-street').value = '{CAOYANG}';"
        ),
    )
    .await;
    click(c, "#hist-search").await;
    history_shows(c, 1, 4).await;
    js(c, "document.getElementById('hist-street').value = ''").await;
    click(c, "#hist-search").await;
    history_shows(c, 1, 7).await;

    // An id opens the order whole in the orders tab.
    let first = &seen[0];
    click(c, &format!("#hist-table button[data-open-order='{first}']")).await;
    until(
        c,
        "the order open from the history",
        &format!(
            "return !document.getElementById('orders-view').hidden
                    && document.getElementById('detail-pane').textContent.includes('{first}')"
        ),
    )
    .await;
    click(c, "#tab-history").await;
    history_shows(c, 1, 7).await;
}

/// The first file in `dir` whose name ends with `suffix`, once it is
/// whole (Chromium writes a .crdownload first).
async fn downloaded(dir: &std::path::Path, suffix: &str) -> (String, Vec<u8>) {
    let started = std::time::Instant::now();
    loop {
        let found = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix));
        if let Some(path) = found {
            let bytes = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            return (path.file_name().unwrap().to_string_lossy().into(), bytes);
        }
        assert!(started.elapsed() < WAIT, "no {suffix} downloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of an exported CSV, checked to be the export's columns.
fn csv_ids(bytes: &[u8]) -> Vec<String> {
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "工单号 id");
    assert!(header.iter().any(|h| h == "街镇 street"), "{header:?}");
    let mut ids: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    ids.sort();
    ids
}

/// The history's list downloaded as CSV (read back: every order) and as
/// XLSX (a workbook).
async fn exports(c: &Client, dir: &std::path::Path, all: &[String]) {
    let mut want = all.to_vec();
    want.sort();
    click(c, "#hist-csv").await;
    let (name, bytes) = downloaded(dir, ".csv").await;
    assert!(name.starts_with("tongguan-history-"), "{name}");
    assert_eq!(csv_ids(&bytes), want, "the export holds the list");
    let message = text_of(c, "#hist-message").await;
    assert!(message.contains("已导出"), "{message}");
    click(c, "#hist-xlsx").await;
    let (_, bytes) = downloaded(dir, ".xlsx").await;
    assert!(bytes.starts_with(b"PK"), "an XLSX file is a zip");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("xl/worksheets/sheet1.xml"), "with its sheet");
    screenshot(c, "desk-exported.png").await;

    // The live list as it stands, saved by the page itself: the same
    // columns; the workbook's entries are stored, so its cells read as
    // they are.
    click(c, "#tab-orders").await;
    click(c, "#list-csv").await;
    let (name, bytes) = downloaded(dir, ".csv").await;
    assert!(name.starts_with("tongguan-orders-"), "{name}");
    assert_eq!(csv_ids(&bytes), want, "the live list");
    click(c, "#list-xlsx").await;
    let (_, bytes) = downloaded(dir, ".xlsx").await;
    assert!(bytes.starts_with(b"PK"), "a zip");
    let text = String::from_utf8_lossy(&bytes);
    for part in ["[Content_Types].xml", "xl/workbook.xml", "工单号 id"] {
        assert!(text.contains(part), "{part} in the workbook");
    }
    for id in &want {
        assert!(text.contains(&format!(">{id}</t>")), "{id} in the workbook");
    }
}

/// The last eight hours: nothing open at the start; seven came, three
/// were done, four are left; the shift's new orders exported.
async fn handover(c: &Client, dir: &std::path::Path) {
    click(c, "#tab-handover").await;
    until(
        c,
        "the handover",
        "const n = (p) => document.getElementById('hand-' + p)?.dataset.count;
         return n('open_at_start') === '0' && n('came') === '7' && n('done') === '3' && n('left') === '4'",
    )
    .await;
    let summary = text_of(c, "#hand-summary").await;
    assert!(
        summary.contains("本班新增 7 件") && summary.contains("移交下一班 4 件"),
        "{summary}"
    );
    screenshot(c, "desk-handover.png").await;
    click(c, "#hand-csv").await;
    let (name, bytes) = downloaded(dir, ".csv").await;
    assert!(name.starts_with("tongguan-handover-"), "{name}");
    assert_eq!(csv_ids(&bytes).len(), 7, "the shift's new orders");
    // A part of the handover, as the page shows it.
    click(c, "#hand-left button[data-format='csv']").await;
    let (name, bytes) = downloaded(dir, ".csv").await;
    assert!(name.starts_with("tongguan-handover-left-"), "{name}");
    assert_eq!(csv_ids(&bytes).len(), 4, "what is left");
}

/// Every device has been quiet past the offline limit: each street's are
/// listed under it with their registry names and addresses, and how long
/// they have been offline.
async fn devices(c: &Client) {
    click(c, "#tab-devices").await;
    until(
        c,
        "the devices by street",
        &format!(
            "const rows = (s) => document.querySelectorAll(`#device-groups section[data-street='${{s}}'] tbody tr`).length;
             return rows('{CAOYANG}') === 4 && rows('{CHANGSHOU}') === 3"
        ),
    )
    .await;
    let group = text_of(
        c,
        &format!("#device-groups section[data-street='{CAOYANG}']"),
    )
    .await;
    for (id, street, name, address) in DEVICES {
        if street == CAOYANG {
            assert!(
                group.contains(name) && group.contains(address),
                "{id}: {group}"
            );
        }
    }
    assert!(
        group.contains("曹杨新村街道") && group.contains("离线 4 台"),
        "{group}"
    );
    let offline_for = text_of(c, "#device-groups tr[data-device='8104'] .offline-for").await;
    assert!(
        offline_for.ends_with('秒') || offline_for.contains('分'),
        "{offline_for}"
    );
    screenshot(c, "desk-devices.png").await;
}

/// The same views in English, by the switch; Chinese again.
async fn english(c: &Client) {
    click(c, "#lang").await;
    until(
        c,
        "the devices in English",
        "return document.querySelector('#devices-view h2').textContent.startsWith('Devices needing attention')
                && document.getElementById('devices-summary').textContent.includes('7 offline')",
    )
    .await;
    let group = text_of(
        c,
        &format!("#device-groups section[data-street='{CAOYANG}'] h3"),
    )
    .await;
    assert!(
        group.contains("Caoyang") && group.contains("4 offline"),
        "{group}"
    );
    click(c, "#tab-district").await;
    until(
        c,
        "the plots in English",
        "const c = document.querySelector('#plot-accept figcaption');
         return !!c && c.textContent.startsWith('Time to accept') && c.textContent.includes('3 orders')",
    )
    .await;
    js(
        c,
        "document.getElementById('plot-streets').scrollIntoView()",
    )
    .await;
    screenshot(c, "desk-plots-english.png").await;
    click(c, "#tab-history").await;
    history_shows(c, 1, 7).await;
    assert!(text_of(c, "#hist-page")
        .await
        .starts_with("Page 1 of 1, 7 orders"));
    click(c, "#lang").await;
    until(
        c,
        "Chinese again",
        "return document.getElementById('hist-page').textContent.startsWith('第 1 / 1 页')",
    )
    .await;
}
