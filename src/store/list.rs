//! Order lists through the index: one key range per status asked for (in
//! the street index when a street is given), each read newest first and
//! only until it has given `limit` matches; the count of all matches is
//! summed from the index's counts, and only the orders listed are
//! decoded. What a list reads grows with its limit, not with the outbox.

use super::index::{status_code, ACKED, COUNTS};
use super::tables::{decode, BY_STATUS, BY_STREET, ORDERS};
use super::{Store, StoreError};
use crate::dispatch::outbox::{OrderPage, OrderQuery, StreetFilter};
use crate::dispatch::record::{OrderRecord, Status};
use redb::{ReadTransaction, ReadableTable};

/// The orders `q` matches, newest first (created_ms, then id), at most
/// `q.limit`, and how many match.
pub(super) fn list(txn: &ReadTransaction, q: &OrderQuery) -> Result<OrderPage, StoreError> {
    let codes = status_codes(q);
    let mut page = Collector::new(q);
    if q.limit > 0 {
        match &q.street {
            StreetFilter::Any => {
                let table = txn.open_table(BY_STATUS)?;
                for &code in &codes {
                    page.next_range();
                    for entry in table
                        .range((code, i64::MIN, "")..(code + 1, i64::MIN, ""))?
                        .rev()
                    {
                        let (key, facets) = entry?;
                        let (_, created_ms, id) = key.value();
                        if page.offer(created_ms, id, facets.value()) {
                            break;
                        }
                    }
                }
            }
            StreetFilter::NoStreet | StreetFilter::Code(_) => {
                let street = street_of(q);
                let table = txn.open_table(BY_STREET)?;
                for &code in &codes {
                    page.next_range();
                    for entry in table
                        .range((street, code, i64::MIN, "")..(street, code + 1, i64::MIN, ""))?
                        .rev()
                    {
                        let (key, facets) = entry?;
                        let (_, _, created_ms, id) = key.value();
                        if page.offer(created_ms, id, facets.value()) {
                            break;
                        }
                    }
                }
            }
        }
    }
    let count = count(txn, q, &codes)?;
    page.finish(txn, count)
}

/// The status codes a query reads, one range each.
fn status_codes(q: &OrderQuery) -> Vec<u8> {
    match q.status {
        Some(s) => vec![status_code(s)],
        None => Status::ALL.into_iter().map(status_code).collect(),
    }
}

/// The street part of the keys a street query reads.
fn street_of(q: &OrderQuery) -> &str {
    match &q.street {
        StreetFilter::Code(code) => code.as_str(),
        _ => "",
    }
}

/// How many orders match `q`, from the index's counts (a few hundred rows
/// at most: streets x statuses x severities x escalation or not).
fn count(txn: &ReadTransaction, q: &OrderQuery, codes: &[u8]) -> Result<usize, StoreError> {
    let counts = txn.open_table(COUNTS)?;
    let mut total = 0u64;
    for entry in counts.iter()? {
        let (key, n) = entry?;
        let (street, status, severity, escalation) = key.value();
        let street_ok = match &q.street {
            StreetFilter::Any => true,
            StreetFilter::NoStreet => street.is_empty(),
            StreetFilter::Code(code) => street == code,
        };
        if street_ok
            && codes.contains(&status)
            && q.severity.is_none_or(|s| s.name() == severity)
            && (q.escalations || !escalation)
        {
            total += n.value();
        }
    }
    Ok(usize::try_from(total).unwrap_or(usize::MAX))
}

/// Orders by status, counted from the index: what the outbox holds, for
/// the `tongguan_outbox_orders` gauge and retention's count cap.
pub(super) fn status_counts(txn: &ReadTransaction) -> Result<[(Status, u64); 3], StoreError> {
    let counts = txn.open_table(COUNTS)?;
    let mut out = Status::ALL.map(|s| (s, 0u64));
    for entry in counts.iter()? {
        let (key, n) = entry?;
        let status = key.value().1;
        if let Some(slot) = out.iter_mut().find(|(s, _)| status_code(*s) == status) {
            slot.1 += n.value();
        }
    }
    Ok(out)
}

/// The acknowledged orders made at or after `since_ms`, oldest first, at
/// most `limit`: the time-bounded part of the district's summary.
pub(super) fn acked_since(
    txn: &ReadTransaction,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<OrderRecord>, StoreError> {
    let index = txn.open_table(BY_STATUS)?;
    let orders = txn.open_table(ORDERS)?;
    let mut out = Vec::new();
    for entry in index
        .range((ACKED, since_ms, "")..(ACKED + 1, i64::MIN, ""))?
        .take(limit)
    {
        let (key, _) = entry?;
        let id = key.value().2;
        if let Some(raw) = orders.get(id)? {
            out.push(decode(id, raw.value())?);
        }
    }
    Ok(out)
}

/// Keeps the newest `limit` matches of each range read; the page is the
/// newest `limit` of those.
struct Collector<'q> {
    query: &'q OrderQuery,
    /// (created_ms, id) of the orders that may be listed.
    newest: Vec<(i64, String)>,
    /// How many of `newest` come from the range being read.
    in_range: usize,
}

impl<'q> Collector<'q> {
    fn new(query: &'q OrderQuery) -> Collector<'q> {
        Collector {
            query,
            newest: Vec::new(),
            in_range: 0,
        }
    }

    /// The next range starts (each is read newest first).
    fn next_range(&mut self) {
        self.in_range = 0;
    }

    /// An index entry of the range being read; true once the range has
    /// given `limit` matches (nothing older in it can be listed).
    fn offer(&mut self, created_ms: i64, id: &str, (severity, escalation): (&str, bool)) -> bool {
        let q = self.query;
        if q.severity.is_some_and(|s| s.name() != severity) || (escalation && !q.escalations) {
            return false;
        }
        self.newest.push((created_ms, id.to_owned()));
        self.in_range += 1;
        self.in_range >= q.limit
    }

    /// The newest `limit` of the ranges' newest, decoded.
    fn finish(mut self, txn: &ReadTransaction, count: usize) -> Result<OrderPage, StoreError> {
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
            count,
            orders: listed,
        })
    }
}

impl Store {
    /// How many orders the outbox holds in each status, from the index.
    pub fn status_counts(&self) -> Result<[(Status, u64); 3], StoreError> {
        status_counts(&self.read_txn()?)
    }

    /// The acknowledged orders made at or after `since_ms`, oldest first,
    /// at most `limit`: what the district's summary reads besides counts.
    pub fn acked_since(&self, since_ms: i64, limit: usize) -> Result<Vec<OrderRecord>, StoreError> {
        acked_since(&self.read_txn()?, since_ms, limit)
    }
}
