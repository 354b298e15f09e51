//! What the outbox keeps of an order: the latest revision as sent, its
//! status, the acknowledgement, and a history a duty officer can read.

use super::Order;
use crate::vocabulary::vocabulary;
use crate::wire::control::Outcome;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// Where an order stands (its name is the query parameter and JSON).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Status {
        /// Dispatched, not acknowledged.
        Open => "open",
        /// Acknowledged with an outcome.
        Acked => "acked",
        /// Not acknowledged by its deadline: escalated to the district.
        Escalated => "escalated",
    }
}

/// An acknowledgement as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckRecord {
    /// What the street found.
    pub outcome: Outcome,
    /// The duty officer's note, personal data masked.
    pub note: String,
    /// Who acknowledged: a street code or "district".
    pub by: String,
    /// When the hub recorded it, Unix ms.
    pub at_ms: i64,
}

/// One line of an order's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When, Unix ms.
    pub at_ms: i64,
    /// What happened: dispatched, updated, acked, escalated.
    pub what: String,
    /// Details: revision, severity, outcome, escalation order id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// An order in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The latest revision, as sent (its `seq` is the street's, or the
    /// district's for an order outside every street).
    pub order: Order,
    /// Where it stands.
    pub status: Status,
    /// The order's latest entry in its street's log (0: district only).
    pub street_seq: u64,
    /// The order's latest entry in the district's log.
    pub district_seq: u64,
    /// The acknowledgement, once there is one.
    pub ack: Option<AckRecord>,
    /// Everything that happened to it, oldest first.
    pub history: Vec<HistoryEntry>,
}

impl OrderRecord {
    /// The latest log entry of this order in a scope's log.
    pub fn seq_in(&self, scope: &str) -> u64 {
        if scope == crate::wire::control::DISTRICT {
            self.district_seq
        } else {
            self.street_seq
        }
    }
}
