//! Who may use the admin HTTP API. Changes (rules, mode, JSON ingest)
//! need `auth.admin_token`; reads of orders and devices, which hold every
//! street's orders and masked reports, need the admin token or a district
//! token once an admin token is configured, now that street platforms
//! reach this port for the console. Rules, mode, health and metrics stay
//! open to the monitoring network.

use crate::auth::tokens::{Principal, Scope};
use crate::http::error::error;
use crate::runtime::Shared;
use crate::wire::control::Role;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// An extractor: the request may change the hub (see [`refusal`]); a
/// handler taking it is refused before it runs otherwise.
pub struct MayChange;

/// An extractor: the request may read orders and devices (see
/// [`read_refusal`]).
pub struct MayRead;

impl FromRequestParts<Arc<Shared>> for MayChange {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        refusal(shared, &parts.headers).map_or(Ok(MayChange), Err)
    }
}

impl FromRequestParts<Arc<Shared>> for MayRead {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        read_refusal(shared, &parts.headers).map_or(Ok(MayRead), Err)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn is_admin(shared: &Shared, given: Option<&str>) -> bool {
    match (&shared.config.auth.admin_token, given) {
        (Some(token), Some(given)) => bool::from(token.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    }
}

/// The refusal of a request that may not change the hub, or `None` if it
/// may: with an admin token configured, it must come as `Authorization:
/// Bearer TOKEN`; without one, only a hub on development defaults
/// (loopback) accepts changes.
fn refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    match &shared.config.auth.admin_token {
        Some(_) if is_admin(shared, bearer(headers)) => None,
        Some(_) => Some(error(
            StatusCode::UNAUTHORIZED,
            "admin token required: Authorization: Bearer TOKEN",
        )),
        None if shared.config.auth.development => None,
        None => Some(error(
            StatusCode::FORBIDDEN,
            "no auth.admin_token is configured: changes over HTTP are refused",
        )),
    }
}

/// The refusal of a read of orders or devices, or `None` if it may: with
/// an admin token configured, the admin token or a district subscriber
/// token must come as `Authorization: Bearer TOKEN` (a street's token
/// reads its own orders through /api/console).
fn read_refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    shared.config.auth.admin_token.as_ref()?;
    let given = bearer(headers);
    if is_admin(shared, given) {
        return None;
    }
    let district = given.is_some_and(|t| {
        matches!(
            shared.auth.check(Role::Subscriber, t, &shared.map),
            Ok(Principal::Subscriber {
                scope: Scope::District,
                ..
            })
        )
    });
    if district {
        None
    } else {
        Some(error(
            StatusCode::UNAUTHORIZED,
            "orders and devices need the admin token or a district token: Authorization: Bearer TOKEN \
             (a street reads its own orders at /api/console/orders)",
        ))
    }
}
