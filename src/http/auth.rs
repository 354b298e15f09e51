//! Who may use the admin HTTP API. Changes (rules, mode, JSON ingest)
//! need `auth.admin_token`, or a person signed in as an administrator;
//! reads of orders and devices, which hold every street's orders and
//! masked reports, need the admin token, a district token, or a person of
//! the district desk or an administrator, once an admin token is
//! configured, now that street platforms reach this port for the console.
//! Rules, mode, health and metrics stay open to the monitoring network.
//! Both extractors carry the [`Actor`] (a development hub without an admin
//! token lets anyone in, as [`Via::Open`]); every refusal is audited.

use crate::audit::{Kind, Record};
use crate::auth::person::{Action, Role, Via};
use crate::auth::sso::looks_like_jwt;
use crate::auth::tokens::{Principal, Scope};
pub use crate::http::actor::bearer;
use crate::http::actor::{identify, is_admin, refuse, request_line, Actor};
use crate::http::error::error;
use crate::runtime::Shared;
use crate::wire::control::Role as WireRole;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// An extractor: the request may change the hub (see [`MayChange`]'s
/// rules in the module doc); a handler taking it is refused before it runs
/// otherwise. Holds who it is.
pub struct MayChange(pub Actor);

/// An extractor: the request may read every order and device. Holds who
/// it is.
pub struct MayRead(pub Actor);

impl FromRequestParts<Arc<Shared>> for MayChange {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        permit(parts, shared, Action::ChangeHub)
            .await
            .map(MayChange)
    }
}

impl FromRequestParts<Arc<Shared>> for MayRead {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        permit(parts, shared, Action::ReadAll).await.map(MayRead)
    }
}

/// Anyone, on a hub that lets anyone in.
fn open(parts: &Parts) -> Actor {
    Actor {
        name: "anonymous".into(),
        display_name: "anonymous (development)".into(),
        role: Role::Admin,
        scope: Scope::District,
        via: Via::Open,
        session: None,
        request: request_line(parts),
    }
}

/// Whether the request comes as a person (a session cookie, or the
/// identity provider's JWT) rather than as a machine's token.
fn as_person(shared: &Shared, parts: &Parts) -> bool {
    match bearer(&parts.headers) {
        Some(t) => looks_like_jwt(t) && shared.gate.sso_enabled() && !is_admin(shared, Some(t)),
        None => parts.headers.contains_key(axum::http::header::COOKIE),
    }
}

/// The actor if it may do `action`, else the (audited) refusal.
async fn permit(parts: &Parts, shared: &Shared, action: Action) -> Result<Actor, Response> {
    let request = request_line(parts);
    if as_person(shared, parts) {
        match identify(shared, parts) {
            Ok(Some(actor)) => {
                return match actor.may(action) {
                    Ok(()) => Ok(actor),
                    Err(r) => Err(refuse(shared, &request, r, Some(&actor)).await),
                }
            }
            Err(r) => return Err(refuse(shared, &request, r, None).await),
            // Cookies, but not ours: as if none came.
            Ok(None) => {}
        }
    }
    let refusal = match action {
        Action::ChangeHub => change_refusal(shared, parts),
        _ => read_refusal(shared, parts),
    };
    match refusal {
        Ok(actor) => Ok(actor),
        Err((status, message)) => {
            let record = Record {
                action: Kind::Refused,
                person: String::new(),
                display_name: String::new(),
                role: String::new(),
                scope: String::new(),
                via: String::new(),
                request,
                order: None,
                outcome: "unauthorized".into(),
                detail: message.to_owned(),
            };
            shared.audit.record(record).await;
            let reason = if status == StatusCode::FORBIDDEN {
                "no_admin_token"
            } else {
                "unknown_token"
            };
            shared
                .metrics
                .http_refused
                .with_label_values(&[reason])
                .inc();
            Err(error(status, message))
        }
    }
}

/// A token's actor for a change: with an admin token configured, it must
/// come as `Authorization: Bearer TOKEN`; without one, only a hub on
/// development defaults (loopback) accepts changes.
fn change_refusal(shared: &Shared, parts: &Parts) -> Result<Actor, (StatusCode, &'static str)> {
    match &shared.config.auth.admin_token {
        Some(_) if is_admin(shared, bearer(&parts.headers)) => Ok(admin(parts)),
        Some(_) => Err((
            StatusCode::UNAUTHORIZED,
            "admin token required: Authorization: Bearer TOKEN",
        )),
        None if shared.config.auth.development => Ok(open(parts)),
        None => Err((
            StatusCode::FORBIDDEN,
            "no auth.admin_token is configured: changes over HTTP are refused",
        )),
    }
}

fn admin(parts: &Parts) -> Actor {
    Actor {
        name: "admin token".into(),
        display_name: "admin token".into(),
        role: Role::Admin,
        scope: Scope::District,
        via: Via::AdminToken,
        session: None,
        request: request_line(parts),
    }
}

/// A token's actor for a read of orders or devices: with an admin token
/// configured, the admin token or a district subscriber token must come as
/// `Authorization: Bearer TOKEN` (a street's token reads its own orders
/// through /api/console).
fn read_refusal(shared: &Shared, parts: &Parts) -> Result<Actor, (StatusCode, &'static str)> {
    if shared.config.auth.admin_token.is_none() {
        return Ok(open(parts));
    }
    let given = bearer(&parts.headers);
    if is_admin(shared, given) {
        return Ok(admin(parts));
    }
    let district =
        given.and_then(
            |t| match shared.auth.check(WireRole::Subscriber, t, &shared.map) {
                Ok(Principal::Subscriber {
                    name,
                    scope: Scope::District,
                }) => Some(name),
                _ => None,
            },
        );
    match district {
        Some(name) => Ok(Actor {
            display_name: name.clone(),
            name,
            role: Role::DistrictDesk,
            scope: Scope::District,
            via: Via::SubscriberToken,
            session: None,
            request: request_line(parts),
        }),
        None => Err((
            StatusCode::UNAUTHORIZED,
            "orders and devices need the admin token or a district token: Authorization: Bearer TOKEN \
             (a street reads its own orders at /api/console/orders)",
        )),
    }
}
