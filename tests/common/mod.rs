//! What the integration tests share: a real hub on loopback ports chosen
//! by the OS, real QUIC clients, a plain HTTP scrape, and events at real
//! places of the sample map.
#![allow(dead_code)]
pub mod nats;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tongguan::client::{ClientOptions, DeviceClient, SubscriberClient};
use tongguan::config::Config;
use tongguan::geo::RegionMap;
use tongguan::hub::Hub;
use tongguan::model::{Category, Source};
use tongguan::wire::WireEvent;

pub const DEVICE_TOKEN: &str = "dev-device-token";
pub const DISTRICT_TOKEN: &str = "dev-district-token";
pub const CAOYANG: &str = "310107005000";
pub const CHANGSHOU: &str = "310107015000";
pub const CAMERA: &str = "31010700001320000042";

/// A hub of a test, with the data directory it owns.
pub struct TestHub {
    pub hub: Hub,
    pub dir: tempfile::TempDir,
}

impl std::ops::Deref for TestHub {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl TestHub {
    /// Stops the hub; the data directory goes with it.
    pub async fn shutdown(self, grace: Duration) {
        self.hub.shutdown(grace).await;
    }

    /// Stops the hub and hands back its data directory, to start another
    /// hub on it.
    pub async fn stop_keeping_data(self) -> tempfile::TempDir {
        self.hub.shutdown(Duration::from_secs(5)).await;
        self.dir
    }
}

/// The test config: embedded defaults, loopback ports the OS picks, two
/// shards, data in `dir`, then `extra`.
pub fn test_config(dir: &std::path::Path, extra: &str) -> Config {
    let text = format!(
        "[hub]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nshards = 2\ndata_dir = {:?}\n{extra}",
        dir.display().to_string()
    );
    let mut config = Config::from_layers(Some(("test config".into(), &text))).expect("test config");
    // Tests space events in event time (minutes apart, hours ago) without
    // waiting; a shard idle for 2 s moves its watermark to the clock, so
    // allow events that old to count as on time.
    let lateness = std::time::Duration::from_secs(12 * 3600);
    config.engine.allowed_lateness = config.engine.allowed_lateness.max(lateness);
    config
}

/// A hub on embedded defaults with `extra` TOML laid over them, in a fresh
/// data directory.
pub async fn start_hub(extra: &str) -> TestHub {
    start_hub_in(tempfile::tempdir().expect("temp dir"), extra).await
}

/// A hub on an existing data directory.
pub async fn start_hub_in(dir: tempfile::TempDir, extra: &str) -> TestHub {
    let hub = Hub::start(test_config(dir.path(), extra))
        .await
        .expect("hub starts");
    TestHub { hub, dir }
}

pub fn street_token(code: &str) -> String {
    format!("dev-street-{code}")
}

pub async fn device(hub: &Hub) -> DeviceClient {
    DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, DEVICE_TOKEN))
        .await
        .expect("device connects")
}

pub async fn subscriber(hub: &Hub, token: &str, street: &str) -> SubscriberClient {
    SubscriberClient::connect(&ClientOptions::dev(hub.quic_addr, token), street, 0)
        .await
        .expect("subscriber connects")
}

/// A point well inside the street with this code on the sample map.
pub fn point_in(code: &str) -> (f64, f64) {
    let map = RegionMap::sample();
    map.interior_point(map.street_by_code(code).expect("street on the map"))
        .expect("street owns cells")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn event(
    device: u64,
    seq: u64,
    time_ms: i64,
    category: Category,
    source: Source,
    value: f64,
    at: (f64, f64),
) -> WireEvent {
    let mut camera = [0u8; 20];
    if source == Source::Video {
        camera.copy_from_slice(CAMERA.as_bytes());
    }
    WireEvent {
        device_id: device,
        seq,
        time_ms,
        value,
        lat: at.0,
        lon: at.1,
        category: category.code(),
        source: source.code(),
        flags: 0,
        camera,
    }
}

/// The next order, or a panic after `secs` seconds.
pub async fn expect_order(sub: &mut SubscriberClient, secs: u64) -> tongguan::dispatch::Order {
    tokio::time::timeout(Duration::from_secs(secs), sub.next_order())
        .await
        .expect("an order within the timeout")
        .expect("order frame")
}

/// Asserts that no order arrives within `ms` milliseconds.
pub async fn expect_no_order(sub: &mut SubscriberClient, ms: u64) {
    if let Ok(order) = tokio::time::timeout(Duration::from_millis(ms), sub.next_order()).await {
        panic!("expected no order, got {order:#?}");
    }
}

/// One HTTP/1.1 request to the hub's HTTP server; returns (status, body).
/// `headers` are extra header lines, each ending in CRLF.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("HTTP connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().expect("status code");
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// GET a path with `Authorization: Bearer TOKEN`; returns (status, body).
pub async fn http_get_as(addr: SocketAddr, path: &str, token: &str) -> (u16, String) {
    http(
        addr,
        "GET",
        path,
        "",
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .await
}

/// A smoke sensor's alarm and, 5 s later, a camera's fire in one cell: the
/// two sources of one multi-source critical order.
pub fn smoke_and_fire(first_device: u64, t: i64, at: (f64, f64)) -> [WireEvent; 2] {
    [
        event(first_device, 1, t, Category::Smoke, Source::Sensor, 6.5, at),
        event(
            first_device + 1,
            1,
            t + 5_000,
            Category::Fire,
            Source::Video,
            0.93,
            at,
        ),
    ]
}

/// GET a path; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, "", "").await
}

/// The sum of every sample of `name` whose labels contain `labels`.
pub fn metric(exposition: &str, name: &str, labels: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GET a JSON document from the hub's HTTP API.
pub async fn api(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `check` every 50 ms for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A smoke alarm from its own device at event time `t`: one new order.
pub fn smoke_alarm(device: u64, t: i64, at: (f64, f64)) -> WireEvent {
    event(device, 1, t, Category::Smoke, Source::Sensor, 8.0, at)
}

/// POST a JSON body; returns (status, body).
pub async fn http_post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    http(
        addr,
        "POST",
        path,
        body,
        "Content-Type: application/json\r\n",
    )
    .await
}

/// A hub process serving on ports the OS picks, and its addresses. Killed
/// when dropped, so a test that fails midway leaves no hub behind.
pub struct HubProcess {
    pub child: std::process::Child,
    pub quic: SocketAddr,
    pub http: SocketAddr,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        // Already waited for (a test's own kill or SIGTERM): nothing to do.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts the hub binary on `data` with more arguments; its first stdout
/// line names the addresses it bound.
pub fn spawn_hub(data: &std::path::Path, args: &[&str]) -> HubProcess {
    // As in `test_config`: events hours old stay on time when a shard idles.
    let lateness_config = data.join("test-lateness.toml");
    std::fs::write(&lateness_config, "[engine]\nallowed_lateness = \"12h\"\n").unwrap();
    let config_args: Vec<String> = if args.contains(&"--config") {
        Vec::new()
    } else {
        vec!["--config".into(), lateness_config.display().to_string()]
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--shards",
            "2",
        ])
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .args(&config_args)
        .env(
            "RUST_LOG",
            std::env::var("TONGGUAN_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::piped())
        // The hub's log beside its data, for a failing test to show.
        .stderr(
            std::fs::File::create(data.join("hub.log"))
                .map(std::process::Stdio::from)
                .unwrap_or_else(|_| std::process::Stdio::null()),
        )
        .spawn()
        .expect("hub binary starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .expect("hub prints its addresses");
    // "tongguan serving: QUIC 127.0.0.1:P (certificate in ...), HTTP http://127.0.0.1:Q/metrics"
    let quic = line
        .split("QUIC ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect(&line);
    let http = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect(&line);
    HubProcess {
        child,
        quic: quic.parse().unwrap(),
        http: http.parse().unwrap(),
    }
}

/// PUT a body with extra header lines; returns (status, body).
pub async fn http_put(addr: SocketAddr, path: &str, body: &str, headers: &str) -> (u16, String) {
    http(addr, "PUT", path, body, headers).await
}
