//! The query parameters of the HTTP API, mirrored for the description
//! (the handlers' own filter structs are private to their files). Every
//! one is optional; an unknown parameter is refused (400), as the
//! handlers' `deny_unknown_fields` filters do.

// Mirrors only: their fields are read by the derive, never by code.
#![allow(dead_code)]

use super::vocabulary::{SeverityName, StatusName};
use utoipa::IntoParams;

/// `GET /api/orders`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersQuery {
    /// Only orders of this status (empty: any).
    status: Option<StatusName>,
    /// A 12-digit street code of the region map, or `district` (orders
    /// outside every street).
    street: Option<String>,
    /// At most this many (default 100, at most 10000).
    limit: Option<u64>,
}

/// `GET /api/devices`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DevicesQuery {
    /// Only flagged (or only unflagged) devices.
    flagged: Option<bool>,
    /// At most this many (default 100, at most 10000).
    limit: Option<u64>,
}

/// `GET /api/audit` and `GET /api/audit.csv`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Account name, exactly.
    person: Option<String>,
    /// Order id, exactly.
    order: Option<String>,
    /// From (inclusive): ms since the epoch or RFC 3339.
    from: Option<String>,
    /// To (exclusive): ms since the epoch or RFC 3339.
    to: Option<String>,
    /// 1 to 10000, default 100.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u64>,
}

/// `GET /api/console/orders`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsoleOrdersQuery {
    /// Only orders of this status (empty: any).
    status: Option<StatusName>,
    /// Only orders of this severity (empty: any).
    severity: Option<SeverityName>,
    /// At most this many (default 500, at most 10000).
    limit: Option<u64>,
}
