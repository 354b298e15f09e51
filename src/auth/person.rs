//! 当事人 Who acts: a person (or a machine's token) with a role, a scope
//! and the way they proved it. What a session cookie carries, what
//! the HTTP extractor `Actor` hands to handlers, and what every audit
//! entry names.

use crate::geo::RegionMap;
use crate::wire::control::DISTRICT;
use tongguan_core::dispatch::scope::Scope;
pub use tongguan_core::people::{Action, Role};

/// How someone proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A password from the people file (a session cookie).
    Password,
    /// A JWT of the district's identity provider (a session cookie, or
    /// `Authorization: Bearer JWT`).
    Sso,
    /// The admin token (`auth.admin_token`).
    AdminToken,
    /// A street or district subscriber token (machine clients).
    SubscriberToken,
    /// Nobody: a development hub without an admin token lets anyone in.
    Open,
}

impl Via {
    /// The name JSON and the audit trail use.
    pub fn name(self) -> &'static str {
        match self {
            Via::Password => "password",
            Via::Sso => "sso",
            Via::AdminToken => "admin_token",
            Via::SubscriberToken => "subscriber_token",
            Via::Open => "open",
        }
    }

    /// Whether this came as a session cookie (and so needs CSRF proof on
    /// changes).
    pub fn is_session(self) -> bool {
        matches!(self, Via::Password | Via::Sso)
    }
}

/// A person with a role bound to a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The account name (unique): what audit entries and histories record.
    pub name: String,
    /// The name to show (and to draw in the watermark).
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// Where the role applies.
    pub scope: Scope,
}

/// Parses a scope as configs and claims write it: a street code on the
/// map, or `district`.
pub fn parse_scope(text: &str, map: &RegionMap) -> Option<Scope> {
    if text == DISTRICT {
        return Some(Scope::District);
    }
    map.street_by_code(text).map(Scope::Street)
}
