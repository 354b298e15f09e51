//! The HTTP side of the hub (axum): `/metrics` in the Prometheus text
//! format, `/healthz` (the process answers), `/readyz` (it is serving),
//! the JSON API of src/hub/api.rs and the console (`/` leads to it).

use super::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The admin router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        // Someone who opens the HTTP address in a browser wants the console.
        .route("/", get(|| async { Redirect::temporary("/console") }))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/orders", get(super::api::list_orders))
        .route("/api/orders/{id}", get(super::api::get_order))
        .route("/api/devices", get(super::api::list_devices))
        .route(
            "/api/events",
            axum::routing::post(super::events_api::post_events),
        )
        .route(
            "/api/rules",
            get(super::rules_api::get_rules).put(super::rules_api::put_rules),
        )
        .route(
            "/api/mode",
            get(super::rules_api::get_mode).put(super::rules_api::put_mode),
        )
        .merge(super::console::router())
        .with_state(shared)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    for (i, tx) in shared.shard_txs.iter().enumerate() {
        shared
            .metrics
            .shard_queue
            .with_label_values(&[&i.to_string()])
            .set(tx.len() as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
}

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if !shared.ready.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    } else if !shared.outbox_ok.load(Ordering::Acquire) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the outbox cannot be written (orders are not dispatched)\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    }
}
