//! The operations of the hub's JSON API (orders, devices, events, rules
//! and mode, sessions, the audit trail, the disposal loop, photos, the
//! device registry and maintenance windows), each described on a stub
//! function: utoipa's `path` attribute wants a function to hang on, and
//! the real handlers live in files of their own that this description
//! must not touch. `coverage.rs` fails when a route of the router is not
//! described here or in `console.rs`.
//!
//! Security: `bearer` is `Authorization: Bearer TOKEN` (the admin token, a
//! district or street subscriber token, or the identity provider's JWT);
//! `session` is the console's session cookie, and a change made with it
//! also needs `csrf` (the `X-CSRF-Token` header). A development hub
//! without `auth.admin_token` lets reads and changes of the hub in
//! without any.

// Stubs: described, never called.
#![allow(dead_code)]

use super::queries::{AuditQuery, DevicesQuery, OrdersQuery};
use super::schemas::{
    AuditEntries, BacktestJob, BacktestRequest, BacktestStarted, Binary, DeviceInfo, DeviceList,
    Error, EventsAccepted, EventsBody, EventsRefused, ModeAnswer, NewWindow, OrderList, OrderView,
    Photo, Registered, Registry, Rules, RulesReplaced, SignIn, SignedOut, StepBody, StepRefused,
    StepResult, Who, Window, WindowRemoved, Windows,
};
use super::vocabulary::ModeName;

/// Orders, newest first
///
/// Filtered by status and street; without history.
#[utoipa::path(get, path = "/api/orders", tag = "orders", params(OrdersQuery),
    responses(
        (status = 200, description = "The orders that match", body = OrderList),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A refused session (its CSRF token, a signed-out session)", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn list_orders() {}

/// One order with its history
///
/// The read is in the audit trail.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A refused session (its CSRF token, a signed-out session)", body = Error),
        (status = 404, description = "No such order", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn get_order() {}

/// A step of the disposal loop (处置流转)
///
/// Answered once durable; the status says what became of it
/// (docs/PROTOCOL.md 16.3).
#[utoipa::path(post, path = "/api/orders/{id}/steps", tag = "disposal",
    params(("id" = String, Path, description = "The order's id")),
    request_body(content = StepBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Applied and durable", body = StepResult),
        (status = 400, description = "Not a step, or an invalid one", body = StepRefused),
        (status = 401, description = "Who asks is not known", body = Error),
        (status = 403, description = "This person may not take this step", body = StepRefused),
        (status = 404, description = "No such order", body = StepResult),
        (status = 409, description = "The order is not at a stage for this step", body = StepResult),
        (status = 503, description = "The outbox cannot be written now, or the hub is stopping", body = StepRefused),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn post_step() {}

/// Devices that took part in orders, with their quality figures
#[utoipa::path(get, path = "/api/devices", tag = "devices", params(DevicesQuery),
    responses(
        (status = 200, description = "Most false alarms first", body = DeviceList),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every device", body = Error),
        (status = 503, description = "The outbox cannot be read", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn list_devices() {}

/// JSON ingest for the hotline and patrols
///
/// All or nothing; answered once the events are durable.
#[utoipa::path(post, path = "/api/events", tag = "events",
    request_body(content = EventsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Every event taken", body = EventsAccepted),
        (status = 400, description = "None taken: the reasons", body = EventsRefused),
        (status = 401, description = "No admin token", body = Error),
        (status = 403, description = "Changes over HTTP are refused, or a role that may not", body = Error),
        (status = 503, description = "Not yet durable: send again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn post_events() {}

/// The mode, the rules in force and their file
#[utoipa::path(get, path = "/api/rules", tag = "rules",
    responses((status = 200, description = "The rules in force", body = Rules)),
    security(()))]
pub fn get_rules() {}

/// Puts a rules file (TOML) in force
///
/// A bad file is refused and the rules in force stay. In the cluster mode
/// the rules are the cluster's: written against `revision` (else the one in
/// force on this node), answered once stored, in force on every node moments
/// later.
#[utoipa::path(put, path = "/api/rules", tag = "rules",
    params(("revision" = Option<u64>, Query,
        description = "Cluster mode: the revision GET /api/rules answered, the one this change is made on")),
    request_body(content = String, content_type = "text/plain", description = "A rules file, TOML"),
    responses(
        (status = 200, description = "In force", body = RulesReplaced),
        (status = 400, description = "Refused: the reason", body = Error),
        (status = 401, description = "No admin token", body = Error),
        (status = 403, description = "Changes over HTTP are refused, or a role that may not", body = Error),
        (status = 409, description = "Cluster mode: the rules were changed since that revision; read them again", body = Error),
        (status = 503, description = "Cluster mode: the cluster did not store the change; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn put_rules() {}

/// The latest backtest job: its progress and, once done, its report
#[utoipa::path(get, path = "/api/rules/backtest", tag = "rules",
    responses(
        (status = 200, description = "The job (idle when none ran)", body = BacktestJob),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A refused session (its CSRF token, a signed-out session)", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn get_backtest() {}

/// Replays the hub's recording through proposed rules against the rules
/// in force, in the background (one job at a time)
#[utoipa::path(post, path = "/api/rules/backtest", tag = "rules",
    request_body(content = BacktestRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Started: read GET /api/rules/backtest", body = BacktestStarted),
        (status = 400, description = "Not a request, or rules refused", body = Error),
        (status = 401, description = "No admin token", body = Error),
        (status = 403, description = "Changes over HTTP are refused, or a role that may not", body = Error),
        (status = 409, description = "Nothing recorded in that range, or a job runs", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn post_backtest() {}

/// The mode (平急转换)
#[utoipa::path(get, path = "/api/mode", tag = "rules",
    responses((status = 200, description = "normal or emergency", body = ModeAnswer)),
    security(()))]
pub fn get_mode() {}

/// Switches the mode
///
/// In the cluster mode on every node, as `PUT /api/rules` changes the rules.
#[utoipa::path(put, path = "/api/mode", tag = "rules",
    params(("revision" = Option<u64>, Query,
        description = "Cluster mode: the revision GET /api/mode answered, the one this switch is made on")),
    request_body(content = ModeName, content_type = "text/plain",
        description = "normal or emergency (plain, or as a JSON string)"),
    responses(
        (status = 200, description = "The mode now", body = ModeAnswer),
        (status = 400, description = "Neither normal nor emergency, or not a revision", body = Error),
        (status = 401, description = "No admin token", body = Error),
        (status = 403, description = "Changes over HTTP are refused, or a role that may not", body = Error),
        (status = 409, description = "Cluster mode: the mode was switched since that revision; read it again", body = Error),
        (status = 503, description = "Cluster mode: the cluster did not store the switch; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn put_mode() {}

/// Who the request comes from
#[utoipa::path(get, path = "/api/session", tag = "people",
    responses(
        (status = 200, description = "Who it is", body = Who),
        (status = 401, description = "No or bad credentials", body = Error),
        (status = 403, description = "Known, but refused", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn who() {}

/// Signs in (password or JWT): sets the session cookie
#[utoipa::path(post, path = "/api/session", tag = "people",
    request_body(content = SignIn, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in, with the CSRF token", body = Who,
            headers(("Set-Cookie" = String, description = "tongguan_session=...; HttpOnly; SameSite=Strict"))),
        (status = 400, description = "Not a sign-in", body = Error),
        (status = 401, description = "Refused: the reason (15.4)", body = Error),
        (status = 403, description = "A disabled account, or a role that cannot have that scope", body = Error),
    ),
    security(()))]
pub fn sign_in() {}

/// Signs out
#[utoipa::path(delete, path = "/api/session", tag = "people",
    responses(
        (status = 200, description = "Signed out; the cookie is cleared", body = SignedOut),
        (status = 401, description = "No or bad credentials", body = Error),
        (status = 403, description = "No CSRF token with the cookie", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn sign_out() {}

/// The audit trail, newest first
#[utoipa::path(get, path = "/api/audit", tag = "people", params(AuditQuery),
    responses(
        (status = 200, description = "The entries that match", body = AuditEntries),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or bad credentials", body = Error),
        (status = 403, description = "A role that may not read the trail", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn audit() {}

/// The audit trail as CSV (UTF-8 with a BOM)
#[utoipa::path(get, path = "/api/audit.csv", tag = "people", params(AuditQuery),
    responses(
        (status = 200, description = "seq,time,action,person,display_name,role,scope,via,request,order,outcome,detail",
            body = String, content_type = "text/csv"),
        (status = 400, description = "A parameter that is not one of these", body = Error),
        (status = 401, description = "No or bad credentials", body = Error),
        (status = 403, description = "A role that may not read the trail", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn audit_csv() {}

/// Keeps a photo from the spot under its SHA-256
#[utoipa::path(post, path = "/api/photos", tag = "disposal",
    request_body(content(
        (Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "image/webp"))),
    responses(
        (status = 201, description = "Kept: name it so in a feedback step", body = Photo),
        (status = 401, description = "Who asks is not known", body = Error),
        (status = 403, description = "No CSRF token with the cookie", body = Error),
        (status = 413, description = "Larger than devices.max_photo_bytes", body = Error),
        (status = 415, description = "Not a JPEG, PNG or WebP image", body = Error),
        (status = 503, description = "Cluster mode: not stored in the cluster's photo store; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn post_photo() {}

/// A photo
#[utoipa::path(get, path = "/api/photos/{sha256}", tag = "disposal",
    params(("sha256" = String, Path, description = "64 lowercase hex digits")),
    responses(
        (status = 200, description = "The image", content(
            (Binary = "image/jpeg"), (Binary = "image/png"), (Binary = "image/webp"))),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A refused session (its CSRF token, a signed-out session)", body = Error),
        (status = 404, description = "No such photo", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn get_photo() {}

/// The device registry (设备台账)
#[utoipa::path(get, path = "/api/devices/registry", tag = "devices",
    responses(
        (status = 200, description = "Every registered device", body = Registry),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every device", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn get_registry() {}

/// Replaces the registry
#[utoipa::path(put, path = "/api/devices/registry", tag = "devices",
    request_body(description = "A JSON array of devices, or CSV with a header line \
        id,kind,name,address,street,owner",
        content((Vec<DeviceInfo> = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, description = "Registered", body = Registered),
        (status = 400, description = "Not a registry: the reason", body = Error),
        (status = 401, description = "No admin token", body = Error),
        (status = 403, description = "Changes over HTTP are refused, or a role that may not", body = Error),
        (status = 503, description = "Cluster mode: the cluster's device book did not take it; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn put_registry() {}

/// Adds or replaces registry entries
#[utoipa::path(post, path = "/api/devices/registry", tag = "devices",
    request_body(description = "A JSON array of devices, or CSV with a header line \
        id,kind,name,address,street,owner",
        content((Vec<DeviceInfo> = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, description = "Registered", body = Registered),
        (status = 400, description = "Not a registry: the reason", body = Error),
        (status = 401, description = "No admin token", body = Error),
        (status = 403, description = "Changes over HTTP are refused, or a role that may not", body = Error),
        (status = 503, description = "Cluster mode: the cluster's device book did not take it; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn post_registry() {}

/// Maintenance windows open or to come
#[utoipa::path(get, path = "/api/maintenance", tag = "devices",
    responses(
        (status = 200, description = "The windows", body = Windows),
        (status = 401, description = "No or an unknown token", body = Error),
        (status = 403, description = "A role that may not read every device", body = Error),
    ),
    security(("bearer" = []), ("session" = [])))]
pub fn list_windows() {}

/// Opens a maintenance window (the district only)
#[utoipa::path(post, path = "/api/maintenance", tag = "devices",
    request_body(content = NewWindow, content_type = "application/json"),
    responses(
        (status = 201, description = "The window, with its id", body = Window),
        (status = 400, description = "Not a window, or one the hub refuses", body = Error),
        (status = 401, description = "Who asks is not known", body = Error),
        (status = 403, description = "Not the district", body = Error),
        (status = 503, description = "Cluster mode: the cluster's device book did not take it; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn add_window() {}

/// Ends a maintenance window early (the district only)
#[utoipa::path(delete, path = "/api/maintenance/{id}", tag = "devices",
    params(("id" = String, Path, description = "MW-n")),
    responses(
        (status = 200, description = "Ended", body = WindowRemoved),
        (status = 401, description = "Who asks is not known", body = Error),
        (status = 403, description = "Not the district", body = Error),
        (status = 404, description = "No such window", body = Error),
        (status = 503, description = "Cluster mode: the cluster's device book did not take it; send it again", body = Error),
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])))]
pub fn remove_window() {}
