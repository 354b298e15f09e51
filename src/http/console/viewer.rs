//! Who is looking: the console's bearer token checked as a street or
//! district subscriber token (what a scope may see is
//! [`Scope::may_see`](crate::auth::tokens::Scope::may_see)).

use crate::auth::tokens::{Principal, Scope};
use crate::http::auth::bearer;
use crate::http::error::error;
use crate::runtime::Shared;
use crate::wire::control::Role;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// A console user: the token's name and scope.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The token's name in the config.
    pub name: String,
    /// What it may see.
    pub scope: Scope,
}

impl FromRequestParts<Arc<Shared>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "sign in: send a street or district token as Authorization: Bearer TOKEN",
            )
        })?;
        match shared.auth.check(Role::Subscriber, token, &shared.map) {
            Ok(Principal::Subscriber { name, scope }) => Ok(Viewer { name, scope }),
            _ => Err(error(
                StatusCode::UNAUTHORIZED,
                "this token is not a street or district token of this hub",
            )),
        }
    }
}
