//! What the integration tests share: a real hub on loopback ports chosen
//! by the OS, real QUIC clients, a plain HTTP scrape, and events at real
//! places of the sample map.
#![allow(dead_code)]

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

/// A hub on embedded defaults with `extra` TOML laid over them, on
/// loopback ports the OS picks, two shards.
pub async fn start_hub(extra: &str) -> Hub {
    let text =
        format!("[hub]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nshards = 2\n{extra}");
    let config = Config::from_layers(Some(("test config".into(), &text))).expect("test config");
    Hub::start(config).await.expect("hub starts")
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

/// GET a path from the hub's HTTP server; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("HTTP connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
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
