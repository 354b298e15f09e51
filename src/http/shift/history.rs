//! `GET /api/orders/history?from=&to=&status=&street=&limit=&before=`:
//! the orders made in a time range, newest first, a page at a time
//! (`next` is the next page's `before`), with how many match in all.

use super::params::{cursor_text, ListParams};
use crate::dispatch::view::OrderView;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::read;
use crate::runtime::Shared;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// `GET /api/orders/history`
pub async fn get_history(
    State(shared): State<Arc<Shared>>,
    _may: MayRead,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "参数为 from、to、status、street、limit、before / query parameters are from, to, status, street, limit and before",
        );
    };
    let checked = match params.check(&shared, 100) {
        Ok(c) => c,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match read(&shared, move |s| s.history(&checked.query, &checked.range)).await {
        Ok(page) => Json(serde_json::json!({
            "count": page.count,
            "orders": page.orders.into_iter().map(OrderView::summary).collect::<Vec<_>>(),
            "next": page.next.as_ref().map(cursor_text),
        }))
        .into_response(),
        Err(resp) => resp,
    }
}
