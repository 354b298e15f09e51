//! Orders by the time they were made (history, 历史工单): a page of the
//! orders made in a time range that a query matches, newest first, read
//! through the status and street indexes (one key range per status, from
//! the range's end or the page's cursor down to its start), and how many
//! match in the range, counted from the index keys alone. Only listed
//! orders are decoded.

use super::index::status_code;
use super::tables::{decode, BY_STATUS, BY_STREET, ORDERS};
use super::{Store, StoreError};
use crate::dispatch::outbox::{OrderQuery, StreetFilter};
use crate::dispatch::record::{OrderRecord, Status};
use redb::ReadTransaction;

/// Which part of time a history page covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRange {
    /// Orders made at or after this, Unix ms.
    pub from_ms: i64,
    /// Orders made before this, Unix ms.
    pub to_ms: i64,
    /// The page starts below this (created_ms, id): the previous page's
    /// `next`; none for the first page.
    pub before: Option<(i64, String)>,
}

/// A page of history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryPage {
    /// Every order in the range the query matches.
    pub count: usize,
    /// Newest first, at most the query's limit.
    pub orders: Vec<OrderRecord>,
    /// Where the next page starts, when there is one.
    pub next: Option<(i64, String)>,
}

/// An index key of one order: (created_ms, id, severity, escalation).
type Key = (i64, String, String, bool);

impl Store {
    /// The orders made in `range` that `q` matches, newest first.
    pub fn history(&self, q: &OrderQuery, range: &TimeRange) -> Result<HistoryPage, StoreError> {
        history(&self.read_txn()?, q, range)
    }
}

fn history(
    txn: &ReadTransaction,
    q: &OrderQuery,
    range: &TimeRange,
) -> Result<HistoryPage, StoreError> {
    let codes: Vec<u8> = match q.status {
        Some(s) => vec![status_code(s)],
        None => Status::ALL.into_iter().map(status_code).collect(),
    };
    let mut keys: Vec<Key> = Vec::new();
    for &code in &codes {
        keys.extend(range_keys(txn, q, code, range)?);
    }
    let wanted = |k: &Key| q.severity.is_none_or(|s| s.name() == k.2) && (q.escalations || !k.3);
    keys.retain(wanted);
    keys.sort_unstable_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let count = keys.len();
    let below = |k: &Key| {
        range
            .before
            .as_ref()
            .is_none_or(|(ms, id)| (k.0, k.1.as_str()) < (*ms, id.as_str()))
    };
    let page: Vec<&Key> = keys.iter().filter(|k| below(k)).take(q.limit + 1).collect();
    let more = page.len() > q.limit;
    let orders_table = txn.open_table(ORDERS)?;
    let mut orders = Vec::new();
    for k in page.iter().take(q.limit) {
        if let Some(raw) = orders_table.get(k.1.as_str())? {
            orders.push(decode(&k.1, raw.value())?);
        }
    }
    let next = more
        .then(|| page.get(q.limit - 1).map(|k| (k.0, k.1.clone())))
        .flatten();
    Ok(HistoryPage {
        count,
        orders,
        next,
    })
}

/// The index keys of one status made in the range (and of the street, when
/// the query names one).
fn range_keys(
    txn: &ReadTransaction,
    q: &OrderQuery,
    code: u8,
    range: &TimeRange,
) -> Result<Vec<Key>, StoreError> {
    let mut out = Vec::new();
    if range.to_ms <= range.from_ms {
        return Ok(out);
    }
    match &q.street {
        StreetFilter::Any => {
            let table = txn.open_table(BY_STATUS)?;
            for entry in table.range((code, range.from_ms, "")..(code, range.to_ms, ""))? {
                let (key, facets) = entry?;
                let (_, created_ms, id) = key.value();
                let (severity, escalation) = facets.value();
                out.push((created_ms, id.to_owned(), severity.to_owned(), escalation));
            }
        }
        StreetFilter::NoStreet | StreetFilter::Code(_) => {
            let street = match &q.street {
                StreetFilter::Code(c) => c.as_str(),
                _ => "",
            };
            let table = txn.open_table(BY_STREET)?;
            for entry in
                table.range((street, code, range.from_ms, "")..(street, code, range.to_ms, ""))?
            {
                let (key, facets) = entry?;
                let (_, _, created_ms, id) = key.value();
                let (severity, escalation) = facets.value();
                out.push((created_ms, id.to_owned(), severity.to_owned(), escalation));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{commit, record, STREETS};
    use super::*;

    #[test]
    fn history_pages_through_a_time_range_newest_first_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let records: Vec<OrderRecord> = (0..30)
            .map(|n| {
                let status = if n % 3 == 0 {
                    Status::Acked
                } else {
                    Status::Open
                };
                record(
                    n,
                    Some(STREETS[(n % 2) as usize]),
                    status,
                    1_000 + n as i64 * 100,
                )
            })
            .collect();
        commit(&store, records);
        let range = TimeRange {
            from_ms: 1_500,
            to_ms: 3_000,
            before: None,
        };
        let q = OrderQuery::all(4);
        let first = store.history(&q, &range).unwrap();
        assert_eq!(first.count, 15, "made at 1500..3000: orders 5..=19");
        let ids: Vec<&str> = first.orders.iter().map(|r| r.order.id.as_str()).collect();
        assert_eq!(ids, ["TG-00019", "TG-00018", "TG-00017", "TG-00016"]);
        let mut seen = ids.len();
        let mut next = first.next.clone();
        while let Some(cursor) = next {
            let page = store
                .history(
                    &q,
                    &TimeRange {
                        before: Some(cursor),
                        ..range.clone()
                    },
                )
                .unwrap();
            seen += page.orders.len();
            next = page.next;
        }
        assert_eq!(seen, 15, "every order once over the pages");
        let open_in_street = OrderQuery {
            status: Some(Status::Open),
            street: StreetFilter::Code(STREETS[1].into()),
            ..OrderQuery::all(100)
        };
        let page = store.history(&open_in_street, &range).unwrap();
        assert!(page
            .orders
            .iter()
            .all(|r| r.status == Status::Open && r.order.street_code() == Some(STREETS[1])));
        assert_eq!(page.count, page.orders.len());
        assert!(page.next.is_none());
    }
}
