//! Reading the outbox for an HTTP answer: a redb snapshot taken off the
//! async runtime, and the filters and paging the order lists share (the
//! API's and the console's).

use crate::dispatch::record::{OrderRecord, Status};
use crate::dispatch::view::{OrderList, OrderView};
use crate::http::error::error;
use crate::runtime::Shared;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// Most entries one list returns.
pub(crate) const MAX_LIMIT: usize = 10_000;

/// Runs `f` on the outbox off the runtime; a failed read is the answer.
pub(crate) async fn read<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// The `status` query parameter: none (or empty) for any status, or a
/// status by name; otherwise the message of a 400 naming the statuses.
pub(crate) fn status_filter(given: Option<&str>) -> Result<Option<Status>, String> {
    match given {
        None | Some("") => Ok(None),
        Some(s) => Status::from_name(s)
            .map(Some)
            .ok_or_else(|| format!("status {s:?} is not one of open, acked, escalated")),
    }
}

/// The records that `keep` accepts, newest first, at most `limit` of them
/// listed (without history) and all of them counted.
pub(crate) fn newest_first(
    records: Vec<OrderRecord>,
    limit: usize,
    keep: impl Fn(&OrderRecord) -> bool,
) -> OrderList {
    let mut matching: Vec<OrderRecord> = records.into_iter().filter(|r| keep(r)).collect();
    matching.sort_by(|a, b| {
        b.order
            .created_ms
            .cmp(&a.order.created_ms)
            .then(b.order.id.cmp(&a.order.id))
    });
    let count = matching.len();
    let orders = matching
        .into_iter()
        .take(limit.min(MAX_LIMIT))
        .map(OrderView::summary)
        .collect();
    OrderList { count, orders }
}
