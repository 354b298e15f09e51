//! Orders from the outbox over HTTP, in JSON: `GET /api/orders` (filtered
//! by status and street, newest first) and `GET /api/orders/{id}` (one
//! order with its history).

use crate::audit::Kind;
pub use crate::dispatch::view::OrderView;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::{listed, read, status_filter, MAX_LIMIT};
use crate::runtime::Shared;
use crate::store::{OrderQuery, StreetFilter};
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
    let query = OrderQuery {
        status,
        street: match filter.street {
            None => StreetFilter::Any,
            Some(s) if s == "district" => StreetFilter::NoStreet,
            Some(code) => StreetFilter::Code(code),
        },
        limit: filter.limit.unwrap_or(100).min(MAX_LIMIT),
        ..OrderQuery::all(0)
    };
    match read(&shared, move |s| s.list_orders(&query)).await {
        Ok(page) => Json(listed(page)).into_response(),
        Err(resp) => resp,
    }
}

/// `GET /api/orders/{id}`
pub async fn get_order(
    State(shared): State<Arc<Shared>>,
    MayRead(actor): MayRead,
    Path(id): Path<String>,
) -> Response {
    let key = id.clone();
    match read(&shared, move |s| s.order(&key)).await {
        Ok(Some(r)) => {
            let read = actor.record(Kind::ReadOrder, Some(&id), "ok", "", &shared);
            shared.audit.record(read).await;
            Json(OrderView::whole(r)).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no order {id:?}")),
        Err(resp) => resp,
    }
}
