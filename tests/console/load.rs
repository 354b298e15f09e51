//! 2,000 open orders in the console: the list (its most urgent 200 rows,
//! the rest drawn on scrolling) and the map drawn, the list filtered and
//! one order drawn whole, each within 200 ms as the page
//! measures it (performance.now() around its own work, kept in data
//! attributes the test reads); the time to read the order from the hub
//! is reported beside it.

use super::*;

/// `n` smoke alarms over the whole district: a grid of spots inside the
/// map, each alarmed again every two minutes of event time by another
/// device: about one order each (spots close enough to correlate merge).
async fn send_many(hub: &Hub, n: u64) {
    let map = tongguan::geo::RegionMap::sample();
    let spots: Vec<(f64, f64)> = (0..20)
        .flat_map(|i| {
            (0..20).map(move |j| (31.222 + i as f64 * 0.0042, 121.323 + j as f64 * 0.0062))
        })
        .filter(|&(lat, lon)| {
            tongguan::geo::cell_of(lat, lon)
                .and_then(|c| map.street_of(c))
                .is_some()
        })
        .collect();
    let t0 = now_ms() - 3 * 3_600_000;
    let events: Vec<_> = (0..n)
        .map(|k| {
            let spot = spots[k as usize % spots.len()];
            let round = k / spots.len() as u64;
            smoke_alarm(20_000 + k, t0 + round as i64 * 120_000, spot)
        })
        .collect();
    let mut dev = device(hub).await;
    for chunk in events.chunks(1000) {
        let ack = dev.send_and_wait(chunk).await.unwrap();
        assert_eq!(ack.accepted as usize, chunk.len());
    }
}

/// Open orders once their count stops moving, at least `least`.
async fn settled_open_orders(hub: &Hub, least: u64) -> u64 {
    let (mut open, started) = (0, std::time::Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = api(hub.admin_addr, "/api/orders?status=open&limit=1").await["count"]
            .as_u64()
            .unwrap();
        if now == open && now >= least {
            return now;
        }
        assert!(started.elapsed() < 4 * WAIT, "{now} open orders so far");
        open = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_open_orders_render_and_open_within_200_ms() {
    let hub = start_hub("").await;
    send_many(&hub, 2_600).await;
    let open = settled_open_orders(&hub, 2_000).await;
    let base = format!("http://{}", hub.admin_addr);
    let browser = browser().await;
    let c = &browser.client;
    sign_in(c, &base, DISTRICT_TOKEN).await;
    // Every open order counted, the most urgent 200 drawn; the rest are
    // drawn as the list scrolls down to them.
    until(
        c,
        "every open order counted",
        &format!(
            "return document.getElementById('count').textContent.startsWith('{open} /')
                    && document.querySelectorAll('#order-list li[data-order-id]').length === 200
                    && !!document.getElementById('list-more')"
        ),
    )
    .await;
    let render_ms = figure(c, "order-list", "renderMs").await;
    let list_ms = figure(c, "order-list", "listMs").await;
    let row = order_id_of(c, "#order-list li:nth-child(150)").await;
    click(c, &format!("#order-list li[data-order-id='{row}']")).await;
    until(
        c,
        "the order open",
        &format!(
            "const pane = document.getElementById('detail-pane');
             return pane.textContent.includes('{row}') && !!pane.dataset.openMs"
        ),
    )
    .await;
    let open_ms = figure(c, "detail-pane", "openMs").await;
    let read_ms = figure(c, "detail-pane", "readMs").await;
    js(c, "document.getElementById('list-pane').scrollTop = 1e7").await;
    until(
        c,
        "more rows drawn on scrolling",
        "return document.querySelectorAll('#order-list li[data-order-id]').length > 200",
    )
    .await;
    // Typing in the search box filters the whole list.
    let search = c.find(Locator::Css("#search")).await.unwrap();
    search.send_keys("烟感").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let filter_ms = figure(c, "order-list", "renderMs").await;
    eprintln!(
        "{open} open orders: list and map drawn in {render_ms} ms (the list {list_ms} ms), \
         filtered in {filter_ms} ms; an order opened in {open_ms} ms (read from the hub in {read_ms} ms)"
    );
    // The page's own work is held to 200 ms. Reading the order from the
    // hub is the hub's (a debug build here, sharing two cores with the
    // browser and the other tests): reported, not asserted.
    let drawn_ms = open_ms - read_ms;
    for (what, ms) in [
        ("render", render_ms),
        ("filter", filter_ms),
        ("open", drawn_ms),
    ] {
        assert!(ms < 200.0, "{what}: {ms} ms");
    }
    screenshot(c, "two-thousand.png").await;
    c.clone().close().await.unwrap();
    hub.shutdown(Duration::from_secs(2)).await;
}
