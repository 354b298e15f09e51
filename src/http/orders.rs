//! Orders from the outbox over HTTP, in JSON: `GET /api/orders` (filtered
//! by status and street, newest first) and `GET /api/orders/{id}` (one
//! order with its history).

pub use crate::dispatch::view::OrderView;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::{newest_first, read, status_filter, MAX_LIMIT};
use crate::runtime::Shared;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/orders` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderFilter {
    status: Option<String>,
    street: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/orders?status=open|acked|escalated&street=CODE&limit=N`
pub async fn list_orders(
    State(shared): State<Arc<Shared>>,
    _: MayRead,
    filter: Result<Query<OrderFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(filter)) = filter else {
        return error(
            StatusCode::BAD_REQUEST,
            "query parameters are status (open|acked|escalated), street (12-digit code or district) and limit",
        );
    };
    let status = match status_filter(filter.status.as_deref()) {
        Ok(s) => s,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    if let Some(street) = &filter.street {
        if street != "district" && shared.map.street_by_code(street).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                format!("street {street:?} is not on the region map"),
            );
        }
    }
    let limit = filter.limit.unwrap_or(100).min(MAX_LIMIT);
    let all = match read(&shared, |s| s.all_orders()).await {
        Ok(all) => all,
        Err(resp) => return resp,
    };
    Json(newest_first(all, limit, |r| {
        status.is_none_or(|s| r.status == s)
            && match filter.street.as_deref() {
                None => true,
                Some("district") => r.order.street_code().is_none(),
                Some(code) => r.order.street_code() == Some(code),
            }
    }))
    .into_response()
}

/// `GET /api/orders/{id}`
pub async fn get_order(
    State(shared): State<Arc<Shared>>,
    _: MayRead,
    Path(id): Path<String>,
) -> Response {
    let key = id.clone();
    match read(&shared, move |s| s.order(&key)).await {
        Ok(Some(r)) => Json(OrderView::whole(r)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no order {id:?}")),
        Err(resp) => resp,
    }
}
