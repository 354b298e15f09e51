//! The HTTP side of the hub (axum): `/metrics` in the Prometheus text
//! format, `/healthz` (the process answers), `/readyz` (it is serving),
//! the JSON API (orders, devices, events, rules) and the console (`/` leads to it).

use crate::runtime::Shared;
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
        .route("/api/orders", get(crate::http::orders::list_orders))
        .route("/api/orders/{id}", get(crate::http::orders::get_order))
        .route("/api/devices", get(crate::http::devices::list_devices))
        .route(
            "/api/orders/efficiency",
            get(crate::http::efficiency::get_efficiency),
        )
        .route(
            "/api/events",
            axum::routing::post(crate::http::events::post_events),
        )
        .route(
            "/api/rules",
            get(crate::http::rules::get_rules).put(crate::http::rules::put_rules),
        )
        .route(
            "/api/mode",
            get(crate::http::rules::get_mode).put(crate::http::rules::put_mode),
        )
        .route(
            "/api/session",
            get(crate::http::session::who)
                .post(crate::http::session::sign_in)
                .delete(crate::http::session::sign_out),
        )
        .route("/api/audit", get(crate::http::audit::list))
        .route("/api/audit.csv", get(crate::http::audit::csv))
        .route("/api/openapi.json", get(crate::http::openapi::serve))
        .merge(crate::http::disposal::router())
        .merge(crate::http::shift::router())
        .merge(crate::http::console::router())
        .merge(crate::http::backtest::router())
        .with_state(shared)
}

/// The monitoring router: `/metrics`, `/healthz` and `/readyz` only, for
/// the plain HTTP port kept beside HTTPS (`http.monitoring_listen`).
pub fn monitoring_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(shared)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    for (i, depth) in shared.runtime.queue_depths().enumerate() {
        shared
            .metrics
            .shard_queue
            .with_label_values(&[&i.to_string()])
            .set(depth as i64);
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
    } else if !shared.cluster_ok.load(Ordering::Acquire) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: NATS cannot be reached (partition leases are not renewed)\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    }
}
