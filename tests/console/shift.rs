//! A district duty desk's shift in the console: 100 orders arrive live
//! (a critical fire seen by a sensor and a camera, major smoke alarms, minor
//! parking); the most
//! urgent leads the list, countdowns run, the alarm insists until muted,
//! clusters on the map split as one zooms, the chosen order is centred,
//! search finds an order by its device, English is kept across a reload;
//! then the hub stops: a banner says since when and what still works,
//! acknowledging is disabled, and all comes back when the hub starts
//! again on the same port.

use super::*;

/// 97 smoke alarms (major) spread over every street, minutes apart in
/// event time so each is an order of its own; a fire seen by a smoke
/// sensor and a camera at once (critical: two kinds of source agree); two
/// cars parked past the parking rule's hold (minor). 100 orders; returns
/// the fire's smoke sensor.
async fn send_a_shift(hub: &Hub) -> u64 {
    let map = tongguan::geo::RegionMap::sample();
    let codes: Vec<String> = map.streets().iter().map(|s| s.code.clone()).collect();
    let t0 = now_ms() - 4 * 3_600_000;
    let mut events = Vec::new();
    for k in 0..97u64 {
        let (lat, lon) = point_in(&codes[k as usize % codes.len()]);
        let at = (
            lat + (k / 10) as f64 * 0.0006,
            lon + (k / 10) as f64 * 0.0004,
        );
        events.push(smoke_alarm(7000 + k, t0 + k as i64 * 120_000, at));
    }
    // A smoke sensor and a camera agree on one fire: the critical order.
    let fire = 7500;
    let (lat, lon) = point_in(CHANGSHOU);
    events.extend(smoke_and_fire(fire, now_ms(), (lat + 0.001, lon + 0.001)));
    for (k, device) in [7600u64, 7601].into_iter().enumerate() {
        let (lat, lon) = point_in(CAOYANG);
        let at = (lat + k as f64 * 0.004, lon);
        for (seq, dt) in [(1, 0), (2, 301_000)] {
            let when = t0 + dt + k as i64 * 900_000;
            events.push(event(
                device,
                seq,
                when,
                Category::IllegalParking,
                Source::Video,
                0.95,
                at,
            ));
        }
    }
    let mut dev = device(hub).await;
    let ack = dev.send_and_wait(&events).await.unwrap();
    assert_eq!((ack.accepted, ack.rejected), (events.len() as u32, 0));
    fire
}

/// The config of a hub started again on `dir`, answering HTTP where the
/// first one did (the open page reconnects to the same address).
fn again_on(dir: &std::path::Path, admin: std::net::SocketAddr) -> tongguan::config::Config {
    let mut config = test_config(dir, "");
    config.hub.admin = admin;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_of_100_orders_most_urgent_first_counting_down_alarming_and_the_hub_going_away() {
    let hub = start_hub("").await;
    let admin = hub.admin_addr;
    let base = format!("http://{admin}");
    let browser = browser().await;
    let c = &browser.client;
    sign_in(c, &base, DISTRICT_TOKEN).await;
    let fire = send_a_shift(&hub).await;
    until(
        c,
        "100 orders listed",
        "return document.querySelectorAll('#order-list li').length === 100",
    )
    .await;
    let all = api(admin, "/api/orders?limit=500").await;
    let fire_order = all["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["severity"] == "critical")
        .expect("the fire's order")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    triage(c, &fire_order).await;
    alarms(c).await;
    clusters_and_centre(c, &fire_order).await;
    search(c, fire).await;
    languages(c, &fire_order).await;

    // The hub goes away: a banner says since when and what still works,
    // the order still opens from the list, acknowledging is disabled.
    let dir = hub.stop_keeping_data().await;
    until(
        c,
        "the banner",
        "return !document.getElementById('banner').hidden",
    )
    .await;
    let banner = text_of(c, "#banner").await;
    assert!(
        banner.contains("断开") && banner.contains("自") && banner.contains("仍可"),
        "{banner}"
    );
    click(c, &format!("#order-list li[data-order-id='{fire_order}']")).await;
    let note = text_of(c, "#detail-pane .offline-note").await;
    assert!(note.contains("断开"), "{note}");
    until(
        c,
        "acknowledging disabled",
        "return document.getElementById('ack-button').disabled",
    )
    .await;
    let reason = js(c, "return document.getElementById('ack-button').title").await;
    assert!(reason.as_str().unwrap().contains("连接已断开"), "{reason}");
    screenshot(c, "shift-hub-away.png").await;

    // Back: the banner goes, acting works again.
    let hub = Hub::start(again_on(dir.path(), admin))
        .await
        .expect("the hub starts again");
    until(c, "the banner gone", "return document.getElementById('banner').hidden && document.getElementById('live').className === 'live-on'").await;
    click(c, &format!("#order-list li[data-order-id='{fire_order}']")).await;
    until(c, "acknowledging enabled", "const b = document.getElementById('ack-button'); return !!b && !b.disabled && !document.querySelector('#detail-pane .offline-note')").await;
    // The README's picture (docs/console.png).
    screenshot(c, "console.png").await;

    c.clone().close().await.unwrap();
    hub.shutdown(Duration::from_secs(2)).await;
    drop(dir);
}

/// The critical order leads the list, severities never rise down it, and
/// its countdown runs.
async fn triage(c: &Client, fire_order: &str) {
    until(
        c,
        "the critical fire at the top",
        &format!(
            "return document.querySelector('#order-list li').dataset.orderId === '{fire_order}'"
        ),
    )
    .await;
    let first = text_of(c, "#order-list li .countdown").await;
    assert!(
        first.starts_with("剩余") && first.contains('分') && first.contains('秒'),
        "{first}"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = text_of(c, "#order-list li .countdown").await;
    assert_ne!(first, later, "the countdown moves");
    let sorted = js(
        c,
        "const rank = {critical: 4, major: 3, moderate: 2, minor: 1};
         const sev = [...document.querySelectorAll('#order-list li')].map((li) =>
           rank[[...li.classList].find((k) => k.startsWith('border-')).slice(7)]);
         return sev.every((s, i) => i === 0 || sev[i - 1] >= s);",
    )
    .await;
    assert_eq!(sorted, true, "severities never rise down the list");
    let render_ms = figure(c, "order-list", "renderMs").await;
    eprintln!("list of 100 drawn in {render_ms} ms");
    assert!(render_ms < 200.0, "{render_ms} ms");
}

/// The alarm sounds again and again, the title counts, a click mutes it
/// and the header says so.
async fn alarms(c: &Client) {
    until(c, "the alarm sounding", "const a = document.getElementById('alarm'); return a.dataset.state === 'sounding' && Number(a.dataset.plays) >= 2").await;
    let title = c.title().await.unwrap();
    assert!(
        title.starts_with('(') && title.contains("待处置"),
        "{title}"
    );
    click(c, "#alarm-toggle").await;
    until(
        c,
        "muted",
        "return document.getElementById('alarm').dataset.state === 'muted'",
    )
    .await;
    let plays = figure(c, "alarm", "plays").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(figure(c, "alarm", "plays").await, plays, "muted: no sound");
    assert!(text_of(c, "#alarm-toggle").await.contains("静音"));
}

/// Clusters with counts hold every open order and split as one zooms in;
/// the chosen order comes whole and centred.
async fn clusters_and_centre(c: &Client, fire_order: &str) {
    click(c, "#zoom-reset").await;
    let shapes = "return [document.querySelectorAll('#pins .cluster').length,
                         document.querySelectorAll('#pins .order-pin').length,
                         [...document.querySelectorAll('#pins .cluster')].reduce((n, g) => n + Number(g.dataset.count), 0)]";
    let whole = js(c, shapes).await;
    let [clusters, pins, inside] = [0, 1, 2].map(|i| whole[i].as_u64().unwrap());
    assert!(clusters > 0, "close orders are gathered: {whole}");
    assert_eq!(
        inside + pins,
        100,
        "every open order is in a cluster or a pin: {whole}"
    );
    screenshot(c, "shift-map-clusters.png").await;
    for _ in 0..4 {
        click(c, "#zoom-in").await;
    }
    let zoomed = js(c, shapes).await;
    let apart = |v: &serde_json::Value| v[0].as_u64().unwrap() + v[1].as_u64().unwrap();
    assert!(
        apart(&zoomed) > apart(&whole),
        "zoomed in, clusters split: {whole} -> {zoomed}"
    );

    click(c, "#zoom-reset").await;
    click(c, &format!("#order-list li[data-order-id='{fire_order}']")).await;
    let detail = text_of(c, "#detail-title").await;
    assert!(
        detail.contains("特别重大") && detail.contains("火情"),
        "{detail}"
    );
    let off_centre = js(
        c,
        &format!(
            "const map = document.getElementById('map').getBoundingClientRect();
             const pin = document.querySelector(\"#pins g[data-order-id='{fire_order}'] .pin\").getBoundingClientRect();
             return Math.hypot(pin.x + pin.width / 2 - (map.x + map.width / 2), pin.y + pin.height / 2 - (map.y + map.height / 2));"
        ),
    )
    .await;
    assert!(
        off_centre.as_f64().unwrap() < 3.0,
        "the chosen pin is centred: {off_centre} px off"
    );
}

/// Search by device id finds the one order; the filters stay in view
/// when the list scrolls.
async fn search(c: &Client, device: u64) {
    let search = c.find(Locator::Css("#search")).await.unwrap();
    search.send_keys(&device.to_string()).await.unwrap();
    until(
        c,
        "one order found",
        "return document.querySelectorAll('#order-list li').length === 1",
    )
    .await;
    search.clear().await.unwrap();
    js(
        c,
        "document.getElementById('search').dispatchEvent(new Event('input'))",
    )
    .await;
    until(
        c,
        "the list back",
        "return document.querySelectorAll('#order-list li').length === 100",
    )
    .await;
    js(c, "document.getElementById('list-pane').scrollTop = 100000").await;
    let in_view = js(
        c,
        "const pane = document.getElementById('list-pane').getBoundingClientRect();
         const f = document.querySelector('.filters').getBoundingClientRect();
         return document.getElementById('list-pane').scrollTop > 0 && f.top >= pane.top - 1 && f.top < pane.top + 20;",
    )
    .await;
    assert_eq!(
        in_view, true,
        "the filters stay at the top of the scrolled list"
    );
    screenshot(c, "shift-triage.png").await;
    js(c, "document.getElementById('list-pane').scrollTop = 0").await;
}

/// English by a switch, history lines included, kept across a reload;
/// Chinese again.
async fn languages(c: &Client, fire_order: &str) {
    click(c, "#lang").await;
    assert_eq!(text_of(c, "#tab-orders").await, "Orders");
    let mark = watermark(c).await;
    assert!(
        mark.contains("district desk, the district"),
        "the watermark's scope in English: {mark}"
    );
    let countdown = text_of(c, "#order-list li .countdown").await;
    assert!(
        countdown.ends_with("left") && countdown.contains("min"),
        "{countdown}"
    );
    let history = text_of(c, "#history").await;
    assert!(
        history.contains("dispatched") && !history.contains("派遣"),
        "{history}"
    );
    c.refresh().await.unwrap();
    until(c, "signed in again, in English", "return !document.getElementById('app').hidden && document.documentElement.lang === 'en' && document.querySelectorAll('#order-list li').length === 100").await;
    assert_eq!(text_of(c, "#tab-orders").await, "Orders");
    screenshot(c, "shift-english.png").await;
    click(c, "#lang").await;
    assert_eq!(text_of(c, "#tab-orders").await, "工单");
    click(c, &format!("#order-list li[data-order-id='{fire_order}']")).await;
    let history = text_of(c, "#history").await;
    assert!(history.contains("派遣"), "{history}");
}
