//! The operations of a duty shift (src/http/shift/): orders by time range
//! a page at a time, the shift handover (交接班) and exports as CSV or
//! XLSX, with their parameters and answers, on stubs as in `api.rs`.

// Stubs and mirrors: described, never called or built.
#![allow(dead_code)]

use super::schemas::{Binary, Error, OrderView};
use super::vocabulary::StatusName;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/orders/history` and `GET /api/orders/export`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShiftListQuery {
    /// From (inclusive): ms since the epoch or RFC 3339; a day before `to`
    /// when absent.
    from: Option<String>,
    /// To (exclusive): ms since the epoch or RFC 3339; now when absent.
    to: Option<String>,
    /// Only orders of this status (empty: any).
    status: Option<StatusName>,
    /// A 12-digit street code of the region map, or `district`.
    street: Option<String>,
    /// 1 to 10000 (history: default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u64>,
    /// The previous page's `next` (`CREATED_MS:ID`).
    before: Option<String>,
    /// For the export: `csv` (default) or `xlsx`.
    #[param(pattern = "^(csv|xlsx)$")]
    format: Option<String>,
}

/// `GET /api/orders/handover`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HandoverQuery {
    /// The shift's start: ms since the epoch or RFC 3339; eight hours
    /// before `to` when absent.
    from: Option<String>,
    /// The shift's end: ms since the epoch or RFC 3339; now when absent.
    to: Option<String>,
}

/// A page of orders made in a time range.
#[derive(ToSchema)]
pub struct HistoryPage {
    /// All orders matching.
    count: u64,
    /// Newest first, without history.
    orders: Vec<OrderView>,
    /// The next page's `before`; null on the last page.
    next: Option<String>,
}

/// How many orders each part of a handover holds.
#[derive(ToSchema)]
pub struct HandoverCounts {
    open_at_start: u64,
    came: u64,
    done: u64,
    left: u64,
    /// Of those left, escalated.
    left_escalated: u64,
}

/// A shift's handover: what was open when it began, what came, what was
/// done, what is left for the next shift.
#[derive(ToSchema)]
pub struct Handover {
    from_ms: i64,
    to_ms: i64,
    counts: HandoverCounts,
    open_at_start: Vec<OrderView>,
    came: Vec<OrderView>,
    done: Vec<OrderView>,
    left: Vec<OrderView>,
}

/// Orders made in a time range, newest first, a page at a time
#[utoipa::path(get, path = "/api/orders/history", tag = "orders", params(ShiftListQuery),
    responses(
        (status = 200, description = "A page", body = HistoryPage),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every order", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn history() {}

/// A shift's handover (交接班), by default the last eight hours
#[utoipa::path(get, path = "/api/orders/handover", tag = "orders", params(HandoverQuery),
    responses(
        (status = 200, description = "The handover", body = Handover),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every order", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn handover() {}

/// Orders as a file (CSV with a BOM, or XLSX), columns in Chinese
#[utoipa::path(get, path = "/api/orders/export", tag = "orders", params(ShiftListQuery),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/csv"),
            (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every order", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn export() {}
