//! Who is looking: the console's bearer token checked as a subscriber
//! token, and what that scope may see of an order.

use super::super::api::error;
use super::super::auth::{Principal, Scope};
use super::super::http_auth::bearer;
use super::super::Shared;
use crate::dispatch::Order;
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

impl Viewer {
    /// Whether this viewer may see (and acknowledge) the order: the
    /// district every order, a street the orders of its own street but not
    /// their escalations, which are the district's.
    pub fn may_see(&self, shared: &Shared, order: &Order) -> bool {
        match self.scope {
            Scope::District => true,
            Scope::Street(s) => {
                order.escalation_of.is_none()
                    && order.street_code() == Some(shared.map.street(s).code.as_str())
            }
        }
    }

    /// The scope as the API names it: a street code or `district`.
    pub fn scope_name(&self, shared: &Shared) -> String {
        match self.scope {
            Scope::District => crate::wire::control::DISTRICT.to_owned(),
            Scope::Street(s) => shared.map.street(s).code.clone(),
        }
    }
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
