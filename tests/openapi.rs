//! `GET /api/openapi.json` on a real hub: the description is served as
//! JSON (OpenAPI 3.1, the hub's version), and every GET operation without
//! a path parameter answers the district's token with a status the
//! description lists for it. The whole API is fuzzed from the same
//! description by scripts/schemathesis.sh.

mod common;

use common::*;
use std::time::Duration;

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
