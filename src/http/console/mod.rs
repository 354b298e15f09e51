//! The street platform console: a page at `/console` on the HTTP port
//! (assets built into the binary) and the JSON and event-stream API it
//! reads under `/api/console`. Every API call carries a street or
//! district subscriber token as `Authorization: Bearer`, and sees what
//! that token's QUIC subscription would: a street its own orders, the
//! district every order.

mod api;
mod assets;
mod stream;
mod viewer;

use crate::runtime::Shared;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub use viewer::Viewer;

/// The console's routes: the page, its assets and its API.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/console", get(assets::index))
        .route("/console/", get(assets::index))
        .route("/console/{file}", get(assets::file))
        .route("/api/console/session", get(api::session))
        .route("/api/console/map", get(api::map))
        .route("/api/console/orders", get(api::orders))
        .route("/api/console/orders/{id}", get(api::order))
        .route("/api/console/orders/{id}/ack", post(api::ack))
        .route("/api/console/district", get(api::district))
        .route("/api/console/stream", get(stream::stream))
}
