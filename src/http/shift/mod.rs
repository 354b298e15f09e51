//! What a duty shift needs besides the live list: orders by date range and
//! state with paging (`GET /api/orders/history`), the shift handover
//! (`GET /api/orders/handover`) and exports of any list as CSV or XLSX
//! (`GET /api/orders/export`). All read through the outbox's indexes.

mod export;
mod handover;
mod history;
mod params;

use crate::runtime::Shared;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The shift's routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/orders/history", get(history::get_history))
        .route("/api/orders/handover", get(handover::get_handover))
        .route("/api/orders/export", get(export::get_export))
}
