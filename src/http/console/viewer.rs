//! Who is looking: a person signed in to the console (a session cookie,
//! see [`crate::http::session`], or the identity provider's JWT), or the
//! console's bearer token checked as a street or district subscriber
//! token (what a scope may see is
//! [`Scope::may_see`](crate::auth::tokens::Scope::may_see)).

use crate::audit::{Kind, Record};
use crate::auth::person::{Role, Via};
use crate::auth::sso::looks_like_jwt;
use crate::auth::tokens::{Principal, Scope};
use crate::http::actor::{bearer, identify, refuse, request_line, Actor};
use crate::http::error::error;
use crate::runtime::Shared;
use crate::wire::control::Role as WireRole;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// A console user: the name and scope, and who it is in full.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The person's account name, or the token's name in the config.
    pub name: String,
    /// What it may see.
    pub scope: Scope,
    /// Who it is (role, how signed in), for histories and the audit trail.
    pub actor: Actor,
}

impl FromRequestParts<Arc<Shared>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let token = match bearer(&parts.headers) {
            Some(t) if !(looks_like_jwt(t) && shared.gate.sso_enabled()) => t,
            // A person: a session cookie or a JWT.
            _ => return person(parts, shared).await,
        };
        match shared.auth.check(WireRole::Subscriber, token, &shared.map) {
            Ok(Principal::Subscriber { name, scope }) => {
                let role = match scope {
                    Scope::District => Role::DistrictDesk,
                    Scope::Street(_) => Role::StreetSupervisor,
                };
                let actor = Actor {
                    name: name.clone(),
                    display_name: name.clone(),
                    role,
                    scope,
                    via: Via::SubscriberToken,
                    session: None,
                    request: request_line(parts),
                };
                Ok(Viewer { name, scope, actor })
            }
            _ => {
                let why = "this token is not a street or district token of this hub";
                shared.audit.record(refused(parts, why)).await;
                shared
                    .metrics
                    .http_refused
                    .with_label_values(&["unknown_token"])
                    .inc();
                Err(error(StatusCode::UNAUTHORIZED, why))
            }
        }
    }
}

/// The audit record of a refused console token.
fn refused(parts: &Parts, why: &str) -> Record {
    Record {
        action: Kind::Refused,
        person: String::new(),
        display_name: String::new(),
        role: String::new(),
        scope: String::new(),
        via: "subscriber_token".into(),
        request: request_line(parts),
        order: None,
        outcome: "unknown_token".into(),
        detail: why.to_owned(),
    }
}

/// A person signed in, or the refusal (no credentials keeps the old
/// message, naming both ways in).
async fn person(parts: &Parts, shared: &Shared) -> Result<Viewer, Response> {
    match identify(shared, parts) {
        Ok(Some(actor)) => Ok(Viewer {
            name: actor.name.clone(),
            scope: actor.scope,
            actor,
        }),
        Ok(None) => Err(error(
            StatusCode::UNAUTHORIZED,
            "sign in: send a street or district token as Authorization: Bearer TOKEN, \
             or sign in at POST /api/session (请先登录)",
        )),
        Err(r) => Err(refuse(shared, &request_line(parts), r, None).await),
    }
}
