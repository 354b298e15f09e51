//! The browser the console's and the backtest page's tests drive: a
//! chromedriver the test starts (its own process group, ended when
//! dropped) with a headless Chromium, and the helpers that drive it:
//! clicks and reads that survive the page redrawing, waits, the
//! watermark's check, screenshots kept as artefacts.

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

/// A browser with a window 1440 px wide and `height` high that saves the
/// files it downloads in `downloads`, when given.
pub async fn browser_with(height: u32, downloads: Option<&std::path::Path>) -> Browser {
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
                 "--disable-dev-shm-usage", format!("--window-size=1440,{height}"), "--lang=zh-CN",
                 "--autoplay-policy=no-user-gesture-required"]
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = "/usr/bin/chromium".into();
    }
    if let Some(dir) = downloads {
        chrome["prefs"] = serde_json::json!({
            "download.default_directory": dir.display().to_string(),
            "download.prompt_for_download": false,
        });
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

/// The watermark's text, checked to be drawn: a visible layer over the
/// whole page with an SVG tile of that text as its background.
pub async fn watermark(c: &Client) -> String {
    let found = c
        .execute(
            "const w = document.getElementById('watermark');
             const style = getComputedStyle(w);
             return [w.hidden, w.dataset.text || '', style.backgroundImage, style.position,
                     style.pointerEvents, w.getBoundingClientRect().width];",
            vec![],
        )
        .await
        .unwrap();
    let [hidden, text, image, position, events, width] = found.as_array().unwrap().as_slice()
    else {
        panic!("watermark: {found}");
    };
    let text = text.as_str().unwrap().to_owned();
    assert_eq!(hidden, false, "the watermark is shown");
    assert!(!text.is_empty(), "the watermark has a text");
    let image = image.as_str().unwrap();
    assert!(image.starts_with("url(\"data:image/svg+xml"), "{image}");
    // The tile carries the text itself (URL-encoded), not only the layer.
    let first_word = text.split(' ').next().unwrap();
    let encoded: String = url_encoded(first_word);
    assert!(
        image.contains(&encoded),
        "the tile draws {first_word:?}: {image}"
    );
    assert_eq!(position, "fixed");
    assert_eq!(events, "none", "the watermark takes no clicks");
    assert!(width.as_f64().unwrap() >= 1000.0, "it covers the page");
    text
}

/// `text` as encodeURIComponent writes it.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Clicks the element matching `css`.
/// The list redraws its rows as orders change, so a row found may be
/// replaced before the click lands: it is then looked up again.
pub async fn click(c: &Client, css: &str) {
    let started = std::time::Instant::now();
    loop {
        let found = c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match found.click().await {
            Ok(_) => return,
            Err(e) if e.to_string().contains("stale") && started.elapsed() < WAIT => {}
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
}

/// The text of the element matching `css`, once there: the page redraws
/// as updates arrive, so an element found may be replaced before it is
/// read, and is then looked up again.
pub async fn text_of(c: &Client, css: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let found = c.wait().at_most(WAIT).for_element(Locator::Css(css)).await;
        match found {
            Ok(e) => match e.text().await {
                Ok(text) => return text,
                Err(err) if started.elapsed() > WAIT => panic!("{css}: {err}"),
                Err(_) => {}
            },
            Err(err) => panic!("{css} did not appear: {err}"),
        }
    }
}

/// Keeps a screenshot in target/tmp/`dir`/ as an artefact; a signed-in
/// page (every page but the console's sign-in) carries the watermark,
/// checked before the picture is taken. Returns the PNG.
pub async fn screenshot_in(c: &Client, dir: &str, name: &str) -> Vec<u8> {
    let signed_in = js(
        c,
        "const app = document.getElementById('app'); return !app || !app.hidden",
    )
    .await;
    if signed_in == true {
        watermark(c).await;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = dir.join(name);
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    png
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
