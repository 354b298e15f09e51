//! Order lists through the index: one key range per status asked for (in
//! the street index when a street is given), each read newest first;
//! every match is counted from its key alone, and only the orders listed
//! are decoded.

use super::index::status_code;
use super::tables::{decode, BY_STATUS, BY_STREET, ORDERS};
use super::StoreError;
use crate::dispatch::outbox::{OrderPage, OrderQuery, StreetFilter};
use crate::dispatch::record::Status;
use redb::ReadTransaction;

/// The orders `q` matches, newest first (created_ms, then id), at most
/// `q.limit`, and how many match.
pub(super) fn list(txn: &ReadTransaction, q: &OrderQuery) -> Result<OrderPage, StoreError> {
    let codes: Vec<u8> = match q.status {
        Some(s) => vec![status_code(s)],
        None => Status::ALL.into_iter().map(status_code).collect(),
    };
    let mut page = Collector::new(q);
    match &q.street {
        StreetFilter::Any => {
            let table = txn.open_table(BY_STATUS)?;
            for code in codes {
                page.next_range();
                for entry in table
                    .range((code, i64::MIN, "")..(code + 1, i64::MIN, ""))?
                    .rev()
                {
                    let (key, facets) = entry?;
                    let (_, created_ms, id) = key.value();
                    page.offer(created_ms, id, facets.value());
                }
            }
        }
        StreetFilter::NoStreet | StreetFilter::Code(_) => {
            let street = match &q.street {
                StreetFilter::Code(code) => code.as_str(),
                _ => "",
            };
            let table = txn.open_table(BY_STREET)?;
            for code in codes {
                page.next_range();
                for entry in table
                    .range((street, code, i64::MIN, "")..(street, code + 1, i64::MIN, ""))?
                    .rev()
                {
                    let (key, facets) = entry?;
                    let (_, _, created_ms, id) = key.value();
                    page.offer(created_ms, id, facets.value());
                }
            }
        }
    }
    page.finish(txn)
}

/// Counts the matches of the ranges read and keeps the newest `limit` of
/// each range; the page is the newest `limit` of those.
struct Collector<'q> {
    query: &'q OrderQuery,
    count: usize,
    /// (created_ms, id) of the orders that may be listed.
    newest: Vec<(i64, String)>,
    /// How many of `newest` come from the range being read.
    in_range: usize,
}

impl<'q> Collector<'q> {
    fn new(query: &'q OrderQuery) -> Collector<'q> {
        Collector {
            query,
            count: 0,
            newest: Vec::new(),
            in_range: 0,
        }
    }

    /// The next range starts (each is read newest first).
    fn next_range(&mut self) {
        self.in_range = 0;
    }

    /// An index entry of the range being read.
    fn offer(&mut self, created_ms: i64, id: &str, (severity, escalation): (&str, bool)) {
        let q = self.query;
        if q.severity.is_some_and(|s| s.name() != severity) || (escalation && !q.escalations) {
            return;
        }
        self.count += 1;
        if self.in_range < q.limit {
            self.newest.push((created_ms, id.to_owned()));
            self.in_range += 1;
        }
    }

    /// The newest `limit` of the ranges' newest, decoded.
    fn finish(mut self, txn: &ReadTransaction) -> Result<OrderPage, StoreError> {
        self.newest.sort_unstable_by(|a, b| b.cmp(a));
        self.newest.truncate(self.query.limit);
        let orders = txn.open_table(ORDERS)?;
        let mut listed = Vec::with_capacity(self.newest.len());
        for (_, id) in &self.newest {
            // The index is written with the orders: an entry has its order.
            if let Some(raw) = orders.get(id.as_str())? {
                listed.push(decode(id, raw.value())?);
            }
        }
        Ok(OrderPage {
            count: self.count,
            orders: listed,
        })
    }
}
