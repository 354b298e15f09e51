//! The browser side of tests/backtest_page.rs: a chromedriver this test
//! starts (its own process group, ended when dropped) with a headless
//! Chromium, and the helpers that drive it: clicks, waits, the
//! watermark's check, screenshots. The way tests/console.rs does it.

use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(30);

/// A chromedriver this test started, and its browser session.
pub struct Browser {
    driver: Child,
    pub client: Client,
}

impl Drop for Browser {
    /// Ends chromedriver and the Chromium it started (its process group),
    /// also when the test failed half-way.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn browser() -> Browser {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver runs: install Debian's chromium and chromium-driver \
             (`apt-get install -y chromium chromium-driver`), or run scripts/test.sh, which does",
        );
    let mut caps = serde_json::Map::new();
    let mut chrome = serde_json::json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--window-size=1440,1000", "--lang=zh-CN"]
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = "/usr/bin/chromium".into();
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if started.elapsed() > WAIT => panic!("no browser session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    Browser { driver, client }
}

/// Runs `script` in the page and returns its answer.
pub async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Waits until `script` answers true.
pub async fn until(c: &Client, what: &str, script: &str) {
    let started = std::time::Instant::now();
    while js(c, script).await != true {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// The text of the element matching `css`, once there.
pub async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
        .text()
        .await
        .unwrap()
}

/// The watermark's text, checked to be drawn: a visible layer over the
/// whole page with an SVG tile of that text as its background.
pub async fn watermark(c: &Client) -> String {
    let found = js(
        c,
        "const w = document.getElementById('watermark');
         const style = getComputedStyle(w);
         return [w.hidden, w.dataset.text || '', style.backgroundImage, style.position,
                 style.pointerEvents, w.getBoundingClientRect().width];",
    )
    .await;
    let [hidden, text, image, position, events, width] = found.as_array().unwrap().as_slice()
    else {
        panic!("watermark: {found}");
    };
    let text = text.as_str().unwrap().to_owned();
    assert_eq!(hidden, false, "the watermark is shown");
    assert!(!text.is_empty(), "the watermark has a text");
    let image = image.as_str().unwrap();
    assert!(image.starts_with("url(\"data:image/svg+xml"), "{image}");
    assert_eq!(position, "fixed");
    assert_eq!(events, "none", "the watermark takes no clicks");
    assert!(width.as_f64().unwrap() >= 1000.0, "it covers the page");
    text
}

/// Keeps a screenshot in target/tmp/backtest/, the watermark checked
/// first; returns the PNG.
pub async fn screenshot(c: &Client, name: &str) -> Vec<u8> {
    watermark(c).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("backtest");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = dir.join(name);
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    png
}
