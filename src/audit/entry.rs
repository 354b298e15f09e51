//! 审计条目 One audit entry: who (person, role, scope, how signed in), did
//! what (action, path, order), when, and with what outcome. A [`Record`]
//! is what a handler hands in; the writer gives it its sequence number and
//! time, and the chain (chain.rs) seals it into a line.

use serde::{Deserialize, Serialize};

/// What happened, as the audit trail names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A sign-in that succeeded.
    SignIn,
    /// A sign-in that was refused.
    SignInRefused,
    /// A sign-out.
    SignOut,
    /// A read of one order's detail.
    ReadOrder,
    /// The rules replaced.
    ChangeRules,
    /// The mode switched.
    ChangeMode,
    /// A step on an order (accept, assign, feedback, resolve, verify,
    /// transfer, close, acknowledge).
    OrderStep,
    /// Events sent through the JSON ingest.
    Ingest,
    /// A request refused (who, what, why).
    Refused,
}

impl Kind {
    /// The name the trail and its CSV use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignInRefused => "sign_in_refused",
            Kind::SignOut => "sign_out",
            Kind::ReadOrder => "read_order",
            Kind::ChangeRules => "change_rules",
            Kind::ChangeMode => "change_mode",
            Kind::OrderStep => "order_step",
            Kind::Ingest => "ingest",
            Kind::Refused => "refused",
        }
    }
}

/// What a handler records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// What happened.
    pub action: Kind,
    /// The account (or token) name; empty when nobody could be told.
    pub person: String,
    /// The name shown.
    #[serde(default)]
    pub display_name: String,
    /// The role, if any.
    #[serde(default)]
    pub role: String,
    /// The scope: a street code or `district`.
    #[serde(default)]
    pub scope: String,
    /// How they signed in (`password`, `sso`, `admin_token`, ...).
    #[serde(default)]
    pub via: String,
    /// The HTTP method and path.
    #[serde(default)]
    pub request: String,
    /// The order concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `ok`, or the refusal's code.
    pub outcome: String,
    /// More: the step, the mode, the refusal's reason.
    #[serde(default)]
    pub detail: String,
}

/// A sealed entry: the record with its place in the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// When, in ms since the epoch (the hub's clock).
    pub time_ms: i64,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
}
