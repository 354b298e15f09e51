//! Reading the outbox for an HTTP answer: a redb snapshot taken off the
//! async runtime, and the filters and pages the order lists share (the
//! API's and the console's).

use crate::dispatch::outbox::OrderPage;
use crate::dispatch::record::Status;
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
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.chain()))
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

/// A page of the outbox's index as a list answers it: the orders without
/// history, newest first, and the count of all that match.
pub(crate) fn listed(page: OrderPage) -> OrderList {
    OrderList {
        count: page.count,
        orders: page.orders.into_iter().map(OrderView::summary).collect(),
    }
}
