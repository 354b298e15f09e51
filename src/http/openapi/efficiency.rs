//! The district's efficiency (一网评效, src/http/efficiency.rs): the figures
//! the console plots, with their parameter and answer, on a stub as in
//! `api.rs`.

// Stubs and mirrors: described, never called or built.
#![allow(dead_code)]

use super::schemas::Error;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/orders/efficiency`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EfficiencyQuery {
    /// Whole hours, ending with the current one (default 24).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<u32>,
}

/// A distribution of durations in bins.
#[derive(ToSchema)]
pub struct Histogram {
    /// The bins' upper edges, seconds (the last bin holds the rest).
    edges_s: Vec<u64>,
    /// Durations per bin: one more than the edges.
    counts: Vec<u64>,
    /// Durations in all.
    n: u64,
    /// Median, seconds.
    p50_s: Option<f64>,
    /// 90th percentile, seconds.
    p90_s: Option<f64>,
}

/// One street's figures over the window.
#[derive(ToSchema)]
pub struct StreetEfficiency {
    code: String,
    name: String,
    name_en: String,
    /// Orders made in the window.
    orders: u64,
    /// Of those, made in each hour.
    per_hour: Vec<u64>,
    /// From dispatch to the accept step (签收).
    accept: Histogram,
    /// From dispatch to the acknowledgement (办结).
    resolve: Histogram,
    acked: u64,
    false_alarms: u64,
    /// Not resolved and past their next limit now.
    overdue_open: u64,
    /// Resolved after their deadline.
    resolved_late: u64,
    /// Escalated and not resolved.
    escalated: u64,
}

/// Acknowledgements and false alarms by the hour of the ack.
#[derive(ToSchema)]
pub struct FalseAlarmsByHour {
    acked: Vec<u64>,
    false_alarms: Vec<u64>,
}

/// The district's efficiency over a window of whole hours.
#[derive(ToSchema)]
pub struct Efficiency {
    from_ms: i64,
    to_ms: i64,
    /// Each hour's start, Unix ms, oldest first.
    hours: Vec<i64>,
    orders: u64,
    streets: Vec<StreetEfficiency>,
    accept: Histogram,
    resolve: Histogram,
    false_alarms: FalseAlarmsByHour,
    /// More orders than one read holds: the figures are of the newest.
    truncated: bool,
}

/// The district's efficiency (一网评效): per street, orders per hour, time to accept and to resolve, false alarms, overdue counts
#[utoipa::path(get, path = "/api/orders/efficiency", tag = "orders", params(EfficiencyQuery),
    responses(
        (status = 200, description = "The figures", body = Efficiency),
        (status = 400, description = "hours outside 1..=168, or another parameter", body = Error),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every order", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn efficiency() {}
