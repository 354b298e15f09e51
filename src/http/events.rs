//! `POST /api/events`: JSON ingest for low-rate sources (the 12345
//! hotline, grid patrols). One event or an array; every event is checked
//! exactly as a QUIC batch's are, and the request is all or nothing: any
//! broken event answers 400 with the reasons, and none is taken. Caller
//! names and phone numbers are masked before they are kept.

use crate::engine::partition::shard_of;
use crate::http::auth::MayChange;
use crate::http::error::error;
use crate::model::{CameraRef, Category, Source};
use crate::runtime::clock;
use crate::runtime::Shared;
use crate::wire::batch::TimeBounds;
use crate::wire::WireEvent;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// Most events in one request.
const MAX_EVENTS: usize = 1000;

/// How long a POST waits for its events to be durable before it answers
/// 503 (send again).
const DURABLE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One event as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonEvent {
    /// The reporting device (for the hotline: the line or seat's id).
    pub device: u64,
    /// Per-device sequence number.
    pub seq: u64,
    /// Event time, Unix ms; the hub's clock when absent.
    #[serde(default)]
    pub time_ms: Option<i64>,
    /// sensor, video, hotline or patrol.
    pub source: Source,
    /// A category name (noise_complaint, waterlogging, ...).
    pub category: String,
    /// Measurement or confidence; 1 when absent (a report).
    #[serde(default)]
    pub value: Option<f64>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// 20-digit camera code.
    #[serde(default)]
    pub camera: Option<String>,
    /// The caller's name (masked before it is kept).
    #[serde(default)]
    pub caller_name: Option<String>,
    /// The caller's phone (masked before it is kept).
    #[serde(default)]
    pub caller_phone: Option<String>,
    /// What was reported (numbers in it are masked).
    #[serde(default)]
    pub description: Option<String>,
}

fn bad(reasons: Vec<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": reasons.join("; "), "reasons": reasons })),
    )
        .into_response()
}

/// `POST /api/events`
pub async fn post_events(
    State(shared): State<Arc<Shared>>,
    _: MayChange,
    body: axum::body::Bytes,
) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(vec![format!("body is not JSON: {e}")]),
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    if items.is_empty() || items.len() > MAX_EVENTS {
        return bad(vec![format!(
            "send 1 to {MAX_EVENTS} events, not {}",
            items.len()
        )]);
    }
    let now = shared.clock.now_ms();
    let limits = &shared.config.limits;
    let bounds = TimeBounds {
        min_ms: now - limits.max_past.as_millis() as i64,
        max_ms: now + limits.max_future.as_millis() as i64,
    };
    let mut reasons = Vec::new();
    let mut accepted = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let e: JsonEvent = match serde_json::from_value(item) {
            Ok(e) => e,
            Err(err) => {
                reasons.push(format!("event {i}: {err}"));
                continue;
            }
        };
        let Some(category) = Category::from_name(&e.category) else {
            reasons.push(format!("event {i}: unknown category {:?}", e.category));
            continue;
        };
        let camera = match e.camera.as_deref() {
            None => CameraRef::NONE,
            Some(c) => match CameraRef::parse(c) {
                Some(c) => c,
                None => {
                    reasons.push(format!("event {i}: camera {c:?} is not 20 digits"));
                    continue;
                }
            },
        };
        let wire = WireEvent {
            device_id: e.device,
            seq: e.seq,
            time_ms: e.time_ms.unwrap_or(now),
            value: e.value.unwrap_or(1.0),
            lat: e.lat,
            lon: e.lon,
            category: category.code(),
            source: e.source.code(),
            flags: 0,
            camera: camera.0,
        };
        match wire.validate(bounds) {
            Ok(event) => accepted.push((event, e)),
            Err(r) => reasons.push(format!("event {i}: {}", r.name())),
        }
    }
    if !reasons.is_empty() {
        return bad(reasons);
    }
    let arrival = clock::stamp_ns();
    let shards = shared.event_partitions();
    let mut parts: Vec<Vec<_>> = vec![Vec::new(); shards];
    for (event, json) in &accepted {
        shared.details.insert(
            event.device,
            event.seq,
            json.caller_name.as_deref(),
            json.caller_phone.as_deref(),
            json.description.as_deref(),
        );
        shared.metrics.received(event.source, event.category).inc();
        parts[shard_of(event.cell, shards)].push(*event);
    }
    shared.record(now, &parts);
    let mut durable = Vec::new();
    for (i, events) in parts.into_iter().enumerate() {
        if events.is_empty() {
            continue;
        }
        match shared.publish_part(i, arrival, events).await {
            Ok(part_durable) => durable.push(part_durable),
            Err(stopped) => return error(StatusCode::SERVICE_UNAVAILABLE, stopped.to_string()),
        }
    }
    // Answered once durable, like a device's BATCH_ACK: an event the hub
    // said it took is one whose alarms become orders.
    let all_durable = async {
        for part in durable {
            part.await.is_ok().then_some(())?;
        }
        Some(())
    };
    match tokio::time::timeout(DURABLE_WAIT, all_durable).await {
        Ok(Some(())) => Json(serde_json::json!({ "accepted": accepted.len() })).into_response(),
        Ok(None) => error(StatusCode::SERVICE_UNAVAILABLE, "the hub is shutting down: send again"),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not yet durable (the outbox cannot be written): send again (a resend is recognised by device and seq)",
        ),
    }
}
