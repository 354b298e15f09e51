//! The operations of the street platforms' console (its page and assets,
//! and its API under `/api/console`), of monitoring (`/metrics`,
//! `/healthz`, `/readyz`) and of this description itself, each on a stub
//! function as in `api.rs`.
//!
//! The console's API takes a street or district subscriber token as
//! `bearer`, or a person's session cookie (and `csrf` for a change), and
//! answers only what that scope may see.

// Stubs: described, never called.
#![allow(dead_code)]

use super::queries::ConsoleOrdersQuery;
use super::schemas::{
    AckBody, AckQueued, ConsoleMap, ConsoleSession, District, Error, OrderList, OrderView,
};

/// Prometheus metrics (text format 0.0.4; docs/PROTOCOL.md 14)
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "Every tongguan_ metric",
        body = String, content_type = "text/plain")),
    security(()))]
pub fn metrics() {}

/// The process answers
#[utoipa::path(get, path = "/healthz", tag = "monitoring",
    responses((status = 200, description = "ok", body = String, content_type = "text/plain")),
    security(()))]
pub fn healthz() {}

/// The hub serves: its outbox can be written (and, in cluster mode, NATS
/// reached)
#[utoipa::path(get, path = "/readyz", tag = "monitoring",
    responses(
        (status = 200, description = "ready", body = String, content_type = "text/plain"),
        (status = 503, description = "not ready: why", body = String, content_type = "text/plain"),
    ),
    security(()))]
pub fn readyz() {}

/// This description (OpenAPI 3.1)
#[utoipa::path(get, path = "/api/openapi.json", tag = "monitoring",
    responses((status = 200, description = "The whole HTTP API", body = Object)),
    security(()))]
pub fn openapi() {}

/// Leads a browser to the console
#[utoipa::path(get, path = "/", tag = "console",
    responses((status = 307, description = "To /console",
        headers(("Location" = String, description = "/console")))),
    security(()))]
pub fn root() {}

/// The console's page
#[utoipa::path(get, path = "/console", tag = "console",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
    security(()))]
pub fn page() {}

/// The console's page
#[utoipa::path(get, path = "/console/", tag = "console",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
    security(()))]
pub fn page_slash() {}

/// A script or style of the console, built into the binary
#[utoipa::path(get, path = "/console/{file}", tag = "console",
    params(("file" = String, Path, description = "app.js, app.css, ...")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "No such file", body = Error),
    ),
    security(()))]
pub fn asset() {}

/// Who the console's user is and what it sees
#[utoipa::path(get, path = "/api/console/session", tag = "console",
    responses(
        (status = 200, description = "The viewer", body = ConsoleSession),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "Known, but refused", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn session() {}

/// Every street's outline, to draw
#[utoipa::path(get, path = "/api/console/map", tag = "console",
    responses(
        (status = 200, description = "The region map", body = ConsoleMap),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "Known, but refused", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn map() {}

/// The viewer's orders, newest first
#[utoipa::path(get, path = "/api/console/orders", tag = "console", params(ConsoleOrdersQuery),
    responses(
        (status = 200, description = "The orders the viewer may see", body = OrderList),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "Known, but refused", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn orders() {}

/// One of the viewer's orders with its history
#[utoipa::path(get, path = "/api/console/orders/{id}", tag = "console",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "Known, but refused", body = Error),
        (status = 404, description = "No such order the viewer may see", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn order() {}

/// Acknowledges an order with an outcome (as a QUIC ORDER_ACK)
#[utoipa::path(post, path = "/api/console/orders/{id}/ack", tag = "console",
    params(("id" = String, Path, description = "The order's id")),
    request_body(content = AckBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded: the order", body = OrderView),
        (status = 202, description = "Queued: the outbox could not be written yet", body = AckQueued),
        (status = 400, description = "Not an acknowledgement", body = Error),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "No CSRF token with the cookie", body = Error),
        (status = 404, description = "No such order the viewer may see", body = Error),
        (status = 409, description = "Already acknowledged", body = Error),
        (status = 503, description = "The hub is stopping, or too many acks wait", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn ack() {}

/// The district's figures per street, flagged and quiet devices
#[utoipa::path(get, path = "/api/console/district", tag = "console",
    responses(
        (status = 200, description = "The district view", body = District),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "Not the district", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn district() {}

/// The viewer's orders as they change (server-sent events)
///
/// Events `hello` (the scope), `order` (an order as lists show it) and
/// `resync` (fell behind: reload the list). The stream does not end.
#[utoipa::path(get, path = "/api/console/stream", tag = "console",
    responses(
        (status = 200, description = "An event stream", body = String, content_type = "text/event-stream"),
        (status = 401, description = "Not a street or district token, or no session", body = Error),
        (status = 403, description = "Known, but refused", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn stream() {}

/// The district's page to try rules on the hub's own recording (科学阈值)
#[utoipa::path(get, path = "/console/backtest", tag = "console",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
    security(()))]
pub fn backtest_page() {}

/// A script or style of the backtest page, built into the binary
#[utoipa::path(get, path = "/console/backtest/{file}", tag = "console",
    params(("file" = String, Path, description = "page.js, page.css, ...")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "No such file", body = Error),
    ),
    security(()))]
pub fn backtest_asset() {}
