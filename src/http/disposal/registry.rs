//! `GET /api/devices/registry`, `PUT` (the registry becomes the body) and
//! `POST` (entries added or replaced): the device registry (设备台账), as
//! CSV (`Content-Type: text/csv`, a header line `id,kind,name,address,
//! street,owner`) or a JSON array of the same fields. Orders dispatched
//! from then on name the devices. In the cluster mode a change is written
//! to the cluster's book first and answered once it is there (every node,
//! and so the dispatcher wherever it runs, takes it from there).

use crate::dispatch::registry::DeviceInfo;
use crate::http::auth::{MayChange, MayRead};
use crate::http::error::error;
use crate::runtime::Shared;
use crate::store::devices::{parse_csv, BookError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// `GET /api/devices/registry`
pub async fn get_registry(State(shared): State<Arc<Shared>>, _may: MayRead) -> Response {
    let devices = shared.devices.registry().devices();
    Json(serde_json::json!({ "count": devices.len(), "devices": devices })).into_response()
}

/// `PUT /api/devices/registry`
pub async fn put_registry(
    State(shared): State<Arc<Shared>>,
    _may: MayChange,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    register(&shared, &headers, &body, true).await
}

/// `POST /api/devices/registry`
pub async fn post_registry(
    State(shared): State<Arc<Shared>>,
    _may: MayChange,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    register(&shared, &headers, &body, false).await
}

async fn register(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: &[u8],
    replace: bool,
) -> Response {
    let devices = match parse(headers, body) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let given = devices.len();
    let done = match &shared.cluster {
        Some(cluster) => cluster.book.register(devices, replace).await,
        None => {
            let book = shared.devices.clone();
            match tokio::task::spawn_blocking(move || book.register(devices, replace)).await {
                Ok(done) => done,
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
    };
    match done {
        Ok(count) => {
            let _ = shared.runtime.devices_changed().await;
            Json(serde_json::json!({ "registered": given, "count": count })).into_response()
        }
        Err(e) => book_error(e),
    }
}

/// A refused or failed change of the book as an answer: a bad body is
/// the asker's (400), a cluster that did not take it all may take it
/// later (503: ask again; the same change twice is the same change), a
/// disk is the hub's (500).
pub(super) fn book_error(e: BookError) -> Response {
    let status = match &e {
        BookError::Invalid(_) => StatusCode::BAD_REQUEST,
        BookError::Cluster(_) => StatusCode::SERVICE_UNAVAILABLE,
        BookError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<DeviceInfo>, BookError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        BookError::Invalid("设备台账须为 UTF-8 / the registry must be UTF-8".into())
    })?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/csv"));
    if csv {
        parse_csv(text)
    } else {
        serde_json::from_str(text).map_err(|e| {
            BookError::Invalid(format!(
                "设备台账须为 JSON 数组或 CSV（Content-Type: text/csv）/ the registry must be a JSON array of devices or CSV with Content-Type: text/csv: {e}"
            ))
        })
    }
}
