//! The outbox as the hub sees it. [`OrderLookup`] is what the dispatcher
//! state machine reads orders through; [`Outbox`] is the whole surface the
//! shell uses (commit a batch, read an order, a scope's backlog and last
//! sequence, list orders through an index), so that another store (a
//! stream per street in a cluster) can take the embedded one's place. The
//! durable stores implement both in the shell; tests use a map.

use super::batch::Batch;
use super::record::{OrderRecord, Status};
use crate::model::Severity;

/// Reads orders by id. An order that cannot be read (an I/O error the
/// implementation has logged and counted) is `None`, like one never made.
pub trait OrderLookup {
    /// The order with this id, as last committed.
    fn find_order(&self, id: &str) -> Option<OrderRecord>;
}

impl OrderLookup for std::collections::HashMap<String, OrderRecord> {
    fn find_order(&self, id: &str) -> Option<OrderRecord> {
        self.get(id).cloned()
    }
}

/// A durable outbox: what one dispatcher round commits, and what readers
/// (subscriber catch-up, the API, the console, the reload at start) read.
pub trait Outbox {
    /// Why a read or write failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Commits a batch durably, all of it or nothing, before returning.
    fn commit(&self, batch: &Batch) -> Result<(), Self::Error>;

    /// One order, as last committed.
    fn order(&self, id: &str) -> Result<Option<OrderRecord>, Self::Error>;

    /// The orders of `scope`'s log after sequence `after` that `which`
    /// names (the unacknowledged ones, or all): each order once, at its
    /// latest log entry, oldest first, at most `limit`.
    fn backlog(
        &self,
        scope: &str,
        after: u64,
        which: BacklogFilter,
        limit: usize,
    ) -> Result<Vec<(u64, OrderRecord)>, Self::Error>;

    /// The highest sequence number in a scope's log (0 when empty).
    fn last_seq(&self, scope: &str) -> Result<u64, Self::Error>;

    /// The orders `query` matches, newest first (by `created_ms`, then id),
    /// at most `query.limit` of them, and how many match in all; read
    /// through an index, not by decoding every order.
    fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, Self::Error>;
}

/// Which orders of a scope's log a backlog holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BacklogFilter {
    /// Those not acknowledged: what a subscriber from `from_seq` 0 gets,
    /// and any subscriber that did not ask for the gapless log.
    Unacked,
    /// Every order, acknowledged ones too: the gapless log a subscriber
    /// resuming from its last `seq` gets.
    All,
}

impl BacklogFilter {
    /// Whether an order with this status belongs in the backlog.
    pub fn admits(self, status: Status) -> bool {
        match self {
            BacklogFilter::Unacked => status != Status::Acked,
            BacklogFilter::All => true,
        }
    }
}

/// Which street's orders a list holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StreetFilter {
    /// Every order.
    #[default]
    Any,
    /// Orders outside every street (the district's alone).
    NoStreet,
    /// Orders of the street with this 12-digit code.
    Code(String),
}

/// What [`Outbox::list_orders`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    /// Only orders with this status; `None` for any.
    pub status: Option<Status>,
    /// Only orders of this street.
    pub street: StreetFilter,
    /// Only orders of this severity; `None` for any.
    pub severity: Option<Severity>,
    /// Whether escalations (督办, the district's) are listed: a street's
    /// own view leaves them out.
    pub escalations: bool,
    /// Most orders listed (all matches are counted).
    pub limit: usize,
}

impl OrderQuery {
    /// Every order, newest first, at most `limit`.
    pub fn all(limit: usize) -> OrderQuery {
        OrderQuery {
            status: None,
            street: StreetFilter::Any,
            severity: None,
            escalations: true,
            limit,
        }
    }

    /// Whether a record matches (what an index must agree with).
    pub fn matches(&self, r: &OrderRecord) -> bool {
        self.status.is_none_or(|s| r.status == s)
            && match &self.street {
                StreetFilter::Any => true,
                StreetFilter::NoStreet => r.order.street_code().is_none(),
                StreetFilter::Code(code) => r.order.street_code() == Some(code.as_str()),
            }
            && self.severity.is_none_or(|s| r.order.severity == s)
            && (self.escalations || r.order.escalation_of.is_none())
    }
}

/// A page of a list: how many orders match, and the first of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderPage {
    /// All orders the query matches (not only those listed).
    pub count: usize,
    /// Newest first, at most the query's limit.
    pub orders: Vec<OrderRecord>,
}
