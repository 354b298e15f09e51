//! 登录会话 `POST`/`GET`/`DELETE /api/session`: signing in to the console
//! with a password or the identity provider's JWT, saying who is signed in,
//! and signing out.
//!
//! - `POST /api/session` with `{"name": N, "password": P}` or
//!   `{"token": JWT}`: sets the session cookie (`tongguan_session`,
//!   HttpOnly, SameSite=Strict, Secure on HTTPS, Max-Age `people.session_ttl`)
//!   and answers who it is, with the `csrf_token` that every change made
//!   with the cookie must send back as `X-CSRF-Token`.
//! - `GET /api/session`: who the request comes from (a cookie, or a bearer
//!   token), the same fields.
//! - `DELETE /api/session` (with `X-CSRF-Token`): signs the session out and
//!   clears the cookie.
//!
//! Sign-ins, refused ones too, and sign-outs go to the audit trail.

use crate::audit::{Kind, Record};
use crate::auth::person::{Person, Via};
use crate::auth::refusal::Refusal;
use crate::auth::session::{clear_cookie, set_cookie};
use crate::auth::tokens::Scope;
use crate::http::actor::{answer, Actor};
use crate::http::error::error;
use crate::runtime::Shared;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// What `POST /api/session` takes: a name and password, or a JWT.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The account name (with `password`).
    #[serde(default)]
    name: Option<String>,
    /// The password.
    #[serde(default)]
    password: Option<String>,
    /// A JWT of the identity provider (instead of name and password).
    #[serde(default)]
    token: Option<String>,
}

/// `POST /api/session`.
pub async fn sign_in(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "sign in with {{\"name\", \"password\"}} or {{\"token\": JWT}}: {}",
                    e.body_text()
                ),
            )
        }
    };
    let attempted = body.name.clone().unwrap_or_default();
    let checked = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || check(&shared, body)).await
    };
    let (person, via) = match checked {
        Ok(Ok(found)) => found,
        Ok(Err(refusal)) => return refused(&shared, attempted, refusal).await,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("sign-in failed: {e}"),
            )
        }
    };
    let now = shared.clock.now_ms();
    let (session, cookie) = shared.gate.start(&person, via, &shared.map, now);
    let actor = Actor {
        name: person.name.clone(),
        display_name: person.display_name.clone(),
        role: person.role,
        scope: person.scope,
        via,
        session: Some(session),
        request: "POST /api/session".into(),
    };
    shared
        .audit
        .record(actor.record(Kind::SignIn, None, "ok", "", &shared))
        .await;
    shared.metrics.sign_ins.with_label_values(&["ok"]).inc();
    let secure = shared.config.http.tls;
    let mut response = Json(describe(&shared, &actor)).into_response();
    let cookie = set_cookie(&cookie, shared.gate.ttl_s(), secure);
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie.parse().expect("a cookie is a header value"),
    );
    response
}

/// Checks the credentials (slow: argon2, maybe a JWKS fetch).
fn check(shared: &Shared, body: SignIn) -> Result<(Person, Via), Refusal> {
    match (body.name, body.password, body.token) {
        (Some(name), Some(password), None) => Ok((
            shared.gate.sign_in_password(&name, &password)?,
            Via::Password,
        )),
        (None, None, Some(token)) => Ok((
            shared
                .gate
                .sign_in_jwt(token.trim(), &shared.map, shared.clock.now_ms())?,
            Via::Sso,
        )),
        _ => Err(Refusal::Malformed(
            "give name and password, or token (a JWT), not both".into(),
        )),
    }
}

async fn refused(shared: &Shared, attempted: String, refusal: Refusal) -> Response {
    let record = Record {
        action: Kind::SignInRefused,
        person: attempted,
        display_name: String::new(),
        role: String::new(),
        scope: String::new(),
        via: String::new(),
        request: "POST /api/session".into(),
        order: None,
        outcome: refusal.code().to_owned(),
        detail: refusal.to_string(),
    };
    shared.audit.record(record).await;
    shared
        .metrics
        .sign_ins
        .with_label_values(&[refusal.code()])
        .inc();
    tracing::info!(reason = refusal.code(), "console sign-in refused");
    answer(&refusal)
}

/// `GET /api/session`.
pub async fn who(State(shared): State<Arc<Shared>>, actor: Actor) -> Response {
    Json(describe(&shared, &actor)).into_response()
}

/// `DELETE /api/session`.
pub async fn sign_out(State(shared): State<Arc<Shared>>, actor: Actor) -> Response {
    if let Some(session) = &actor.session {
        shared.gate.sign_out(session, shared.clock.now_ms());
    }
    shared
        .audit
        .record(actor.record(Kind::SignOut, None, "ok", "", &shared))
        .await;
    let mut response = Json(json!({ "signed_out": actor.session.is_some() })).into_response();
    let cookie = clear_cookie(shared.config.http.tls);
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie.parse().expect("a cookie is a header value"),
    );
    response
}

/// Who the actor is, as the API shows it.
fn describe(shared: &Shared, actor: &Actor) -> Value {
    let (scope_name, scope_name_en) = match actor.scope {
        Scope::District => ("全区".to_owned(), "the district".to_owned()),
        Scope::Street(s) => {
            let street = shared.map.street(s);
            (street.name.clone(), street.name_en.clone())
        }
    };
    json!({
        "name": actor.name,
        "display_name": actor.display_name,
        "role": actor.role.name(),
        "role_zh": actor.role.name_zh(),
        "scope": actor.scope.name(&shared.map),
        "scope_name": scope_name,
        "scope_name_en": scope_name_en,
        "via": actor.via.name(),
        "expires_ms": actor.session.as_ref().map(|s| s.expires_ms),
        "csrf_token": actor.session.as_ref().map(|s| shared.gate.csrf(s)),
    })
}
