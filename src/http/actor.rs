//! 当事人 (who acts): the one axum extractor, [`Actor`], that tells a
//! handler WHO makes a request: a person signed in with a session cookie
//! (password or single sign-on), a person with the identity provider's JWT
//! as `Authorization: Bearer`, or a machine with the admin token or a
//! subscriber token. Handlers record `actor.name` in histories and in the
//! audit trail, and ask [`Actor::may`] before they act.
//!
//! ```ignore
//! async fn accept(State(shared): State<Arc<Shared>>, actor: Actor, ...) -> Response {
//!     if let Err(r) = actor.may(Action::HandleOrder) { return refuse(&shared, &actor.request, r, Some(&actor)).await; }
//!     ... // record actor.name as who accepted
//!     shared.audit.record(actor.record(Kind::OrderStep, Some(id), "ok", "accept")).await;
//! }
//! ```
//!
//! A request with a session cookie that changes anything (any method but
//! GET, HEAD, OPTIONS) must echo the session's CSRF token in
//! `X-CSRF-Token`; without it the extractor refuses (403). Every refusal
//! is answered `{"error": "中文 / English", "reason": CODE}` (401 when we do
//! not know who it is, 403 when we do and they may not) and appended to
//! the audit trail.
//!
//! Bearer tokens keep their meaning for machine clients: the admin token
//! acts as an administrator of the district, a district subscriber token
//! as the district desk, a street token as that street's supervisor, each
//! named by the token's name in the config.

use crate::audit::{Kind, Record};
use crate::auth::person::{Action, Person, Role, Via};
use crate::auth::refusal::Refusal;
use crate::auth::session::{cookie_value, Session, CSRF_HEADER};
use crate::auth::sso::looks_like_jwt;
use crate::auth::tokens::{Principal, Scope};
use crate::runtime::Shared;
use crate::wire::control::Role as WireRole;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Who makes the request.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The account name (a person), or the token's name (a machine).
    pub name: String,
    /// The name to show (and to draw in the console's watermark).
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// Where the role applies.
    pub scope: Scope,
    /// How they proved it.
    pub via: Via,
    /// The session, when they came with a session cookie.
    pub session: Option<Session>,
    /// `METHOD /path`, for the audit trail.
    pub request: String,
}

impl Actor {
    fn from_person(p: Person, via: Via, session: Option<Session>, request: String) -> Actor {
        Actor {
            name: p.name,
            display_name: p.display_name,
            role: p.role,
            scope: p.scope,
            via,
            session,
            request,
        }
    }

    /// Whether the actor's role may do `action` (its scope is the
    /// caller's to check, with [`Scope::may_see`]).
    pub fn may(&self, action: Action) -> Result<(), Refusal> {
        if self.role.may(action) {
            Ok(())
        } else {
            Err(Refusal::Forbidden {
                role: self.role,
                action,
            })
        }
    }

    /// An audit record of what the actor did.
    pub fn record(
        &self,
        action: Kind,
        order: Option<&str>,
        outcome: &str,
        detail: impl Into<String>,
        shared: &Shared,
    ) -> Record {
        Record {
            action,
            person: self.name.clone(),
            display_name: self.display_name.clone(),
            role: self.role.name().to_owned(),
            scope: self.scope.name(&shared.map),
            via: self.via.name().to_owned(),
            request: self.request.clone(),
            order: order.map(str::to_owned),
            outcome: outcome.to_owned(),
            detail: detail.into(),
        }
    }
}

impl FromRequestParts<Arc<Shared>> for Actor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        match identify(shared, parts) {
            Ok(Some(actor)) => Ok(actor),
            Ok(None) => {
                Err(refuse(shared, &request_line(parts), Refusal::NoCredentials, None).await)
            }
            Err(r) => Err(refuse(shared, &request_line(parts), r, None).await),
        }
    }
}

/// `METHOD /path` of a request.
pub fn request_line(parts: &Parts) -> String {
    format!("{} {}", parts.method, parts.uri.path())
}

/// The token of an `Authorization: Bearer TOKEN` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether `given` is the admin token (in constant time).
pub fn is_admin(shared: &Shared, given: Option<&str>) -> bool {
    match (&shared.config.auth.admin_token, given) {
        (Some(token), Some(given)) => bool::from(token.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    }
}

/// Who the request comes from: `Ok(None)` when it carries no credentials,
/// an error when it carries bad ones (a bearer token wins over a cookie).
pub fn identify(shared: &Shared, parts: &Parts) -> Result<Option<Actor>, Refusal> {
    let request = request_line(parts);
    if let Some(token) = bearer(&parts.headers) {
        return by_token(shared, token, request).map(Some);
    }
    let cookies = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let Some(cookie) = cookie_value(cookies) else {
        return Ok(None);
    };
    let session = shared.gate.session(cookie, shared.clock.now_ms())?;
    let changes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes {
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !shared.gate.csrf_ok(&session, given) {
            return Err(Refusal::Csrf);
        }
    }
    let person = session.person(&shared.map)?;
    let via = session.via;
    Ok(Some(Actor::from_person(
        person,
        via,
        Some(session),
        request,
    )))
}

/// The actor a bearer token names.
fn by_token(shared: &Shared, token: &str, request: String) -> Result<Actor, Refusal> {
    let machine = |name: String, role, scope, via| Actor {
        display_name: name.clone(),
        name,
        role,
        scope,
        via,
        session: None,
        request: request.clone(),
    };
    if is_admin(shared, Some(token)) {
        return Ok(machine(
            "admin token".into(),
            Role::Admin,
            Scope::District,
            Via::AdminToken,
        ));
    }
    if let Ok(Principal::Subscriber { name, scope }) =
        shared.auth.check(WireRole::Subscriber, token, &shared.map)
    {
        let role = match scope {
            Scope::District => Role::DistrictDesk,
            Scope::Street(_) => Role::StreetSupervisor,
        };
        return Ok(machine(name, role, scope, Via::SubscriberToken));
    }
    if looks_like_jwt(token) && shared.gate.sso_enabled() {
        let person = shared
            .gate
            .verify_jwt(token, &shared.map, shared.clock.now_ms())?;
        return Ok(Actor::from_person(person, Via::Sso, None, request));
    }
    Err(Refusal::UnknownToken)
}

/// The answer to a refused request, after appending it to the audit
/// trail (with who it was, when known).
pub async fn refuse(
    shared: &Shared,
    request: &str,
    refusal: Refusal,
    actor: Option<&Actor>,
) -> Response {
    let record = match actor {
        Some(a) => a.record(
            Kind::Refused,
            None,
            refusal.code(),
            refusal.to_string(),
            shared,
        ),
        None => Record {
            action: Kind::Refused,
            person: String::new(),
            display_name: String::new(),
            role: String::new(),
            scope: String::new(),
            via: String::new(),
            request: request.to_owned(),
            order: None,
            outcome: refusal.code().to_owned(),
            detail: refusal.to_string(),
        },
    };
    shared.audit.record(record).await;
    shared
        .metrics
        .http_refused
        .with_label_values(&[refusal.code()])
        .inc();
    answer(&refusal)
}

/// The JSON answer of a refusal: 401 or 403, the reason in Chinese and
/// English and its code.
pub fn answer(refusal: &Refusal) -> Response {
    let status = if refusal.is_forbidden() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    };
    let body = serde_json::json!({ "error": refusal.to_string(), "reason": refusal.code() });
    (status, Json(body)).into_response()
}
