//! The console passes an axe accessibility check (axe-core, the npm
//! package, injected into the page) with no serious or critical
//! violation: the sign-in page; the orders with one open; the district
//! view with its plots; the history, the handover and the devices; and
//! the orders again in English. axe-core is installed under target/ with
//! npm when it is not there yet (scripts/test.sh installs it the same way).

use super::*;
use fantoccini::wd::TimeoutConfiguration;
use std::path::PathBuf;
use std::sync::Mutex;

/// The axe-core release the check runs.
const AXE: &str = "axe-core@4.14.1";

/// axe-core's script: installed with npm under target/ once (a lock keeps
/// two tests from installing at once).
fn axe_source() -> String {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("npm");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&dir)
            .arg(AXE)
            .status()
            .expect("npm runs: `apt-get install -y npm`, or run scripts/test.sh, which does");
        assert!(status.success(), "npm install {AXE}");
    }
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Runs axe on the page as it is and fails on any serious or critical
/// violation, naming each with the elements it found; `what` names the
/// view. Returns how many checks of lesser impact failed.
async fn check(c: &Client, axe: &str, what: &str) -> usize {
    let loaded = js(c, "return typeof window.axe === 'object'").await;
    if loaded != true {
        c.execute(&format!("{axe}\nreturn true;"), vec![])
            .await
            .unwrap_or_else(|e| panic!("axe-core loads: {e}"));
    }
    let started = std::time::Instant::now();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             // The watermark's faint layer lies over every pixel: axe cannot
             // judge a colour through it, so the colours are judged beneath.
             const mark = document.getElementById('watermark');
             const shown = !mark.hidden;
             mark.hidden = true;
             const back = (r) => { mark.hidden = !shown; return r; };
             axe.run(document, { resultTypes: ['violations', 'incomplete'] })
               .then(back, (e) => { back(); throw e; })
               .then((r) => done({
                 violations: r.violations.map((v) => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 6).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '')),
                 })),
                 incomplete: r.incomplete.map((v) => `${v.id} (${v.nodes.length}): ` +
                   [...new Set(v.nodes.map((n) => (n.any[0] || n.all[0] || {}).message))].slice(0, 3).join(' | ')),
               }))
               .catch((e) => done({ violations: [{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }], incomplete: [] }));",
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("axe runs on {what}: {e}"));
    let violations = found["violations"].as_array().unwrap();
    let (serious, minor): (Vec<_>, Vec<_>) = violations
        .iter()
        .partition(|v| v["impact"] == "serious" || v["impact"] == "critical");
    // Checks axe could not decide are reported, not failed.
    eprintln!(
        "axe on {what}: {} serious or critical, {} minor or moderate {:?}, undecided {}, in {} ms",
        serious.len(),
        minor.len(),
        minor.iter().map(|v| v["id"].clone()).collect::<Vec<_>>(),
        found["incomplete"],
        started.elapsed().as_millis()
    );
    assert!(
        serious.is_empty(),
        "axe finds serious violations on {what}:\n{}",
        serde_json::to_string_pretty(&serious).unwrap()
    );
    minor.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_passes_axe_without_a_serious_violation() {
    let axe = axe_source();
    let hub = start_hub("").await;
    let base = format!("http://{}", hub.admin_addr);
    let browser = browser().await;
    let c = &browser.client;
    c.update_timeouts(TimeoutConfiguration::new(
        Some(Duration::from_secs(120)),
        Some(Duration::from_secs(60)),
        Some(Duration::from_secs(0)),
    ))
    .await
    .unwrap();

    c.goto(&format!("{base}/console")).await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#login-form"))
        .await
        .unwrap();
    check(c, &axe, "the sign-in page").await;

    sign_in(c, &base, DISTRICT_TOKEN).await;
    send_fire(&hub, CAOYANG, 4700).await;
    send_gas(&hub, CHANGSHOU, 4800).await;
    until(
        c,
        "two orders listed",
        "return document.querySelectorAll('#order-list li[data-order-id]').length === 2",
    )
    .await;
    click(c, "#order-list li[data-order-id]").await;
    until(
        c,
        "the order open",
        "return !!document.getElementById('history')",
    )
    .await;
    check(c, &axe, "the orders with one open").await;

    for (tab, ready) in [
        ("district", "#plot-overdue svg"),
        ("history", "#hist-table tbody tr[data-order-id]"),
        ("handover", "#hand-left"),
        ("devices", "#devices-summary:not(:empty)"),
    ] {
        click(c, &format!("#tab-{tab}")).await;
        c.wait()
            .at_most(WAIT)
            .for_element(Locator::Css(ready))
            .await
            .unwrap_or_else(|e| panic!("{ready}: {e}"));
        check(c, &axe, &format!("the {tab} view")).await;
        screenshot(c, &format!("axe-{tab}.png")).await;
    }

    click(c, "#tab-orders").await;
    click(c, "#lang").await;
    until(
        c,
        "English",
        "return document.documentElement.lang === 'en'",
    )
    .await;
    check(c, &axe, "the orders in English").await;
    click(c, "#lang").await;

    c.clone().close().await.unwrap();
    hub.shutdown(Duration::from_secs(2)).await;
}
