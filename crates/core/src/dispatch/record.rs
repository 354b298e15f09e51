//! What the outbox keeps of an order: the latest revision as sent, its
//! status, the acknowledgement, and a history a duty officer can read.

use super::lifecycle::{Photo, Stage};
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
    /// Who did it, as "张三（310107005000）", for a person's step; absent
    /// for what the hub did by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Notes and photos from the spot (现场反馈).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// When the hub recorded it, Unix ms.
    pub at_ms: i64,
    /// Who reported it.
    pub by: String,
    /// What was found or done, personal data masked.
    pub note: String,
    /// The photos, by hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<Photo>,
}

/// An order's place in the disposal loop (处置流转), kept with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disposal {
    /// Where it is in the loop.
    #[serde(default)]
    pub stage: Stage,
    /// Resolve by this time when it is not the order's `deadline_ms`
    /// (work sent back gets a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_by_ms: Option<i64>,
    /// Who accepted it (签收人).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// The person or team doing the work (处置人).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Reports from the spot, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feedback: Vec<FeedbackRecord>,
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
    /// Where it is in the disposal loop, who has it, its limits (all at
    /// their defaults for an order written before there were stages).
    #[serde(flatten, default)]
    pub disposal: Disposal,
}

impl OrderRecord {
    /// A new order's record: dispatched, open, with its stages' limits.
    pub fn dispatched(order: Order, street_seq: u64, district_seq: u64) -> OrderRecord {
        OrderRecord {
            order,
            status: Status::Open,
            street_seq,
            district_seq,
            ack: None,
            history: Vec::new(),
            disposal: Disposal::default(),
        }
    }

    /// The next time limit it can miss (see [`super::lifecycle::limits`]).
    pub fn next_limit_ms(&self) -> Option<i64> {
        // Escalated, resolved, or an escalation itself: nothing to watch.
        if self.status != Status::Open || self.order.escalation_of.is_some() {
            return None;
        }
        let resolve_by = self
            .disposal
            .resolve_by_ms
            .unwrap_or(self.order.deadline_ms);
        super::lifecycle::limits::next_limit(
            self.disposal.stage,
            self.order.accept_by_ms,
            resolve_by,
        )
    }

    /// The latest log entry of this order in a scope's log.
    pub fn seq_in(&self, scope: &str) -> u64 {
        if scope == crate::wire::control::DISTRICT {
            self.district_seq
        } else {
            self.street_seq
        }
    }
}
