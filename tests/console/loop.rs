//! The disposal loop walked in the console by three named people: 张三
//! (Caoyang's supervisor) accepts an order and assigns it to 李四 (an
//! officer there), who reports from the spot with a photo and resolves it;
//! 王五 at the district desk sends it back, 李四 resolves it again, 王五
//! verifies and closes it; 张三 transfers a second order to 长征镇. After
//! each step the history names the person; the hub's order, its audit
//! trail and `tongguan audit verify` agree, and one changed byte of the
//! audit log is found.

use super::*;
use person::add_user;

const CHANGZHENG: &str = "310107020000";

/// A 1×1 PNG, the photo from the spot.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A JSON document of the hub's API, read with the district's token.
async fn desk(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http_get_as(addr, path, DISTRICT_TOKEN).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Signs `account` in with its password; the header and watermark name
/// `display`.
async fn sign_in_as(c: &Client, base: &str, account: &str, display: &str) {
    c.goto(&format!("{base}/console")).await.unwrap();
    let name = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#person-name"))
        .await
        .unwrap();
    name.clear().await.unwrap();
    name.send_keys(account).await.unwrap();
    let password = c.find(Locator::Css("#person-password")).await.unwrap();
    password
        .send_keys(&format!("{account}-password"))
        .await
        .unwrap();
    click(c, "#person-button").await;
    for ready in ["#streets path", "#live.live-on"] {
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(ready))
            .await
            .unwrap_or_else(|e| panic!("{ready}: {e}"));
    }
    assert!(text_of(c, "#who").await.contains(display));
    assert!(
        watermark(c).await.contains(display),
        "the watermark names {display}"
    );
}

/// Opens order `id` in the detail pane.
async fn open(c: &Client, id: &str) {
    click(c, &format!("#order-list li[data-order-id='{id}']")).await;
    until(c, "the order's detail", &format!(
        "const t = document.querySelector('#detail-pane .item-sub'); return !!t && t.textContent.startsWith('{id}')"
    ))
    .await;
}

/// Takes a step with the button `button`, after `fill` (JS setting the
/// step's fields), and waits for the history's newest line to name `who`
/// and say `what`.
async fn step(c: &Client, button: &str, fill: &str, what: &str, who: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(button))
        .await
        .unwrap_or_else(|e| panic!("{button}: {e}"));
    let before = js(c, "return document.querySelectorAll('#history li').length").await;
    if !fill.is_empty() {
        js(c, fill).await;
    }
    click(c, button).await;
    until(c, what, &format!(
        "const l = [...document.querySelectorAll('#history li')];
         const n = l[l.length - 1];
         return l.length > {before} && !!n && n.textContent.includes('{what}') && n.textContent.includes('{who}')"
    ))
    .await;
}

/// JS that sets field `id` to `value`.
fn set(id: &str, value: &str) -> String {
    format!("document.getElementById('{id}').value = {value:?};")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_walk_the_disposal_loop_and_the_audit_trail_holds_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.toml");
    for (account, display, role, scope) in [
        ("zhang.san", "张三", "street_supervisor", CAOYANG),
        ("li.si", "李四", "street_officer", CAOYANG),
        ("wang.wu", "王五", "district_desk", "district"),
    ] {
        add_user(
            &people,
            account,
            display,
            role,
            scope,
            &format!("{account}-password"),
        );
    }
    let photo = dir.path().join("spot.png");
    std::fs::write(&photo, PNG).unwrap();
    let config = format!(
        "[people]\nusers = {:?}\n[auth]\ndevelopment = true\n\
         [[auth.device]]\nname = \"d\"\ntoken = {DEVICE_TOKEN:?}\n\
         [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = {DISTRICT_TOKEN:?}\n",
        people.display().to_string()
    );
    let hub = start_hub_in(dir, &config).await;
    let addr = hub.admin_addr;
    let base = format!("http://{addr}");
    let caoyang = |addr| async move {
        let list = desk(addr, &format!("/api/orders?street={CAOYANG}")).await;
        list["orders"].as_array().unwrap().clone()
    };
    send_fire(&hub, CAOYANG, 6100).await;
    eventually("order 1", || async { caoyang(addr).await.len() == 1 }).await;
    let one = caoyang(addr).await[0]["id"].as_str().unwrap().to_owned();
    send_gas(&hub, CAOYANG, 6200).await;
    eventually("order 2", || async { caoyang(addr).await.len() == 2 }).await;
    let two = caoyang(addr)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .find(|id| *id != one)
        .unwrap();

    let browser = browser().await;
    let c = &browser.client;

    sign_in_as(c, &base, "zhang.san", "张三").await;
    open(c, &one).await;
    step(c, "#accept-button", "", "签收", "张三").await;
    step(
        c,
        "#step-assign-button",
        &set("step-assign-to", "李四"),
        "派遣到人",
        "张三",
    )
    .await;
    assert!(text_of(c, "#detail-assignee").await.contains("李四"));
    screenshot(c, "loop-1-assigned.png").await;
    sign_out(c).await;

    sign_in_as(c, &base, "li.si", "李四").await;
    open(c, &one).await;
    c.find(Locator::Css("#step-feedback-photo"))
        .await
        .unwrap()
        .send_keys(photo.to_str().unwrap())
        .await
        .unwrap();
    step(
        c,
        "#step-feedback-button",
        &set("step-feedback-note", "现场有烟，已处置"),
        "现场反馈",
        "李四",
    )
    .await;
    assert!(text_of(c, "#feedback").await.contains("现场有烟"));
    step(
        c,
        "#step-resolve-button",
        &set("step-resolve-outcome", "confirmed"),
        "办结",
        "李四",
    )
    .await;
    screenshot(c, "loop-2-resolved.png").await;
    sign_out(c).await;

    sign_in_as(c, &base, "wang.wu", "王五").await;
    open(c, &one).await;
    until(
        c,
        "the photo's thumbnail",
        "return !!document.querySelector(\"#feedback img.thumb[src^='data:image/png']\")",
    )
    .await;
    step(
        c,
        "#step-send_back-button",
        &set("step-send_back-reason", "照片不清，请补拍"),
        "退回返工",
        "王五",
    )
    .await;
    screenshot(c, "loop-3-sent-back.png").await;
    sign_out(c).await;

    sign_in_as(c, &base, "li.si", "李四").await;
    open(c, &one).await;
    step(
        c,
        "#step-resolve-button",
        &set("step-resolve-outcome", "confirmed"),
        "办结",
        "李四",
    )
    .await;
    sign_out(c).await;

    sign_in_as(c, &base, "wang.wu", "王五").await;
    open(c, &one).await;
    step(c, "#step-verify-button", "", "核查", "王五").await;
    step(c, "#step-close-button", "", "结案", "王五").await;
    assert_eq!(text_of(c, "#detail-stage").await, "已结案");
    screenshot(c, "loop-4-closed.png").await;
    sign_out(c).await;

    sign_in_as(c, &base, "zhang.san", "张三").await;
    open(c, &two).await;
    let fill = set("step-transfer-to", CHANGZHENG) + &set("step-transfer-reason", "地点属长征镇");
    js(c, &fill).await;
    screenshot(c, "loop-5-transfer.png").await;
    click(c, "#step-transfer-button").await;
    until(c, "the transfer's answer",
        "const m = document.getElementById('step-message'); return !m || m.textContent.includes('转派')").await;
    eventually("order 2 in 长征镇", || async {
        desk(addr, &format!("/api/orders/{two}")).await["place"]["street"]["code"] == CHANGZHENG
    })
    .await;

    // The hub's order: closed, and every step by its person.
    let order = desk(addr, &format!("/api/orders/{one}")).await;
    assert_eq!(order["stage"], "closed", "{order}");
    let by: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["by"].as_str())
        .collect();
    let names = [
        "张三", "张三", "李四", "李四", "王五", "李四", "王五", "王五",
    ];
    assert!(by.len() >= names.len(), "{by:?}");
    for (got, want) in by[by.len() - names.len()..].iter().zip(names) {
        assert!(got.contains(want), "{by:?}");
    }
    let moved = desk(addr, &format!("/api/orders/{two}")).await;
    let last = moved["history"].as_array().unwrap().last().unwrap().clone();
    assert!(last["by"].as_str().unwrap_or("").contains("张三"), "{last}");

    // The audit trail: every step, by account.
    let steps = |trail: serde_json::Value| -> Vec<String> {
        let mut p: Vec<String> = trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "order_step" && e["outcome"] == "applied")
            .map(|e| e["person"].as_str().unwrap().to_owned())
            .collect();
        p.sort();
        p
    };
    let trail = steps(desk(addr, &format!("/api/audit?order={one}")).await);
    let mut want = [
        "zhang.san",
        "zhang.san",
        "li.si",
        "li.si",
        "li.si",
        "wang.wu",
        "wang.wu",
        "wang.wu",
    ];
    want.sort();
    assert_eq!(trail, want);
    assert_eq!(
        steps(desk(addr, &format!("/api/audit?order={two}")).await),
        ["zhang.san"]
    );
    c.clone().close().await.unwrap();
    drop(browser);

    let data = hub.stop_keeping_data().await;
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_tongguan"))
            .args(["audit", "verify", "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = data.path().join("audit").join("audit.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.windows(10).position(|w| w == b"order_step").unwrap();
    bytes[at] = b'O';
    std::fs::write(&log, bytes).unwrap();
    let out = verify();
    assert!(!out.status.success(), "one changed byte is found");
    eprintln!(
        "audit verify: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
