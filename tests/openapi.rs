//! `GET /api/openapi.json` on a real hub: the description is served as
//! JSON (OpenAPI 3.1, the hub's version), and every GET operation without
//! a path parameter answers the district's token with a status the
//! description lists for it. The whole API is fuzzed from the same
//! description by scripts/schemathesis.sh; what it found is kept here
//! as a case of its own.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request whose body is `body`, bytes that need not be UTF-8;
/// returns the answer's status, headers and body as text.
async fn send_bytes(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    (text[9..12].parse().expect("a status"), text)
}

#[tokio::test]
async fn the_hub_serves_its_own_description() {
    let hub = start_hub("").await;
    let (status, raw) = http(hub.admin_addr, "GET", "/api/openapi.json", "", "").await;
    assert_eq!(status, 200, "{raw}");
    let doc: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for path in ["/api/orders/{id}/steps", "/api/console/stream", "/metrics"] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["csrf"]["in"], "header");
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn every_plain_get_answers_with_a_status_the_description_lists() {
    let hub = start_hub("").await;
    let doc = api(hub.admin_addr, "/api/openapi.json").await;
    let mut asked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // The event stream never ends; paths with a parameter need one.
        if path.contains('{') || path == "/api/console/stream" {
            continue;
        }
        let Some(get) = item.get("get") else { continue };
        let (status, body) = http_get_as(hub.admin_addr, path, DISTRICT_TOKEN).await;
        assert!(
            get["responses"].get(status.to_string()).is_some(),
            "GET {path} answered {status}, which is not described: {body}"
        );
        asked += 1;
    }
    assert!(asked >= 15, "only {asked} operations asked");
    hub.shutdown(Duration::from_secs(5)).await;
}

/// schemathesis found POST /api/rules/backtest answering a body that is
/// not UTF-8 in plain text; PUT /api/rules and /api/mode did the same.
#[tokio::test]
async fn a_body_that_is_not_utf8_is_refused_in_json() {
    let hub = start_hub("").await;
    let not_utf8 = b"\x14g\xff\xfe\x19\x15";
    for (method, path) in [
        ("POST", "/api/rules/backtest"),
        ("PUT", "/api/rules"),
        ("PUT", "/api/mode"),
    ] {
        let (status, answer) = send_bytes(hub.admin_addr, method, path, not_utf8).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/json"),
            "{method} {path}: {answer}"
        );
        let body = answer.split_once("\r\n\r\n").expect("a body").1;
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert!(json["error"].is_string(), "{method} {path}: {body}");
    }
    hub.shutdown(Duration::from_secs(5)).await;
}
