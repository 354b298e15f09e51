//! An order as people and scripts see it: the order's fields, where it
//! stands, its acknowledgement, and (for one order) its history. The HTTP
//! API, the console and its live stream all show this shape.

use super::record::{AckRecord, Disposal, HistoryEntry, OrderRecord, Status};
use super::Order;
use serde::{Deserialize, Serialize};

/// An order as the API shows it: the order's fields, its status and ack,
/// and (for one order) its history.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderView {
    /// The latest revision.
    #[serde(flatten)]
    pub order: Order,
    /// open, acked or escalated.
    pub status: Status,
    /// The acknowledgement, if any.
    pub ack: Option<AckRecord>,
    /// Where it is in the disposal loop: `stage`, `accepted_by`,
    /// `assignee`, `feedback`, `resolve_by_ms` beside the order's fields.
    #[serde(flatten, default)]
    pub disposal: Disposal,
    /// The next time limit it can miss (accept, then resolve), Unix ms;
    /// absent once none is watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_limit_ms: Option<i64>,
    /// What happened to it (only in `GET /api/orders/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

impl OrderView {
    /// A record as a list shows it: no history.
    pub fn summary(r: OrderRecord) -> OrderView {
        OrderView {
            next_limit_ms: r.next_limit_ms(),
            order: r.order,
            status: r.status,
            ack: r.ack,
            disposal: r.disposal,
            history: None,
        }
    }

    /// A record as a list shows it, copied from a borrowed record.
    pub fn summary_of(r: &OrderRecord) -> OrderView {
        OrderView {
            order: r.order.clone(),
            status: r.status,
            ack: r.ack.clone(),
            disposal: r.disposal.clone(),
            next_limit_ms: r.next_limit_ms(),
            history: None,
        }
    }

    /// A record whole, with its history.
    pub fn whole(r: OrderRecord) -> OrderView {
        OrderView {
            history: Some(r.history),
            ..OrderView::summary(OrderRecord {
                history: Vec::new(),
                ..r
            })
        }
    }
}

/// A list of orders: how many match, and the first of them.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderList {
    /// All orders matching the filters (not only those listed).
    pub count: usize,
    /// Newest first, at most `limit`.
    pub orders: Vec<OrderView>,
}
