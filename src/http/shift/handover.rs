//! `GET /api/orders/handover?from=&to=`: a shift's handover (交接班),
//! by default the last eight hours: what was open when it began, what
//! came, what was done, what is left for the next shift (the core's
//! classification of the records the indexes give).

use crate::dispatch::handover::handover;
use crate::dispatch::outbox::OrderQuery;
use crate::dispatch::record::{OrderRecord, Status};
use crate::dispatch::view::OrderView;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::{read, MAX_LIMIT};
use crate::runtime::Shared;
use crate::store::history::TimeRange;
use crate::store::{Store, StoreError};
use crate::time_text::parse_time_ms;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// A shift, by default.
const SHIFT_MS: i64 = 8 * 3_600_000;

/// How far before the shift open orders are looked for: a month.
const LOOKBACK_MS: i64 = 31 * 86_400_000;

/// The parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftParams {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/orders/handover`
pub async fn get_handover(
    State(shared): State<Arc<Shared>>,
    _may: MayRead,
    params: Result<Query<ShiftParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "参数为 from、to / query parameters are from and to",
        );
    };
    let to_ms = match params
        .to
        .as_deref()
        .map(|t| parse_time_ms("to", t))
        .transpose()
    {
        Ok(t) => t.unwrap_or_else(|| shared.clock.now_ms()),
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let from_ms = match params
        .from
        .as_deref()
        .map(|t| parse_time_ms("from", t))
        .transpose()
    {
        Ok(f) => f.unwrap_or(to_ms - SHIFT_MS),
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    if from_ms >= to_ms {
        return error(
            StatusCode::BAD_REQUEST,
            "from 须早于 to / from must be before to",
        );
    }
    match read(&shared, move |s| shift_records(s, from_ms, to_ms)).await {
        Ok(records) => Json(answer(&records, from_ms, to_ms)).into_response(),
        Err(resp) => resp,
    }
}

/// The records a shift's handover can name: made during it, and made in
/// the month before it (open then, or resolved since).
fn shift_records(store: &Store, from_ms: i64, to_ms: i64) -> Result<Vec<OrderRecord>, StoreError> {
    let mut out = Vec::new();
    for (from, to) in [
        (from_ms.saturating_sub(LOOKBACK_MS), from_ms),
        (from_ms, to_ms),
    ] {
        let range = TimeRange {
            from_ms: from,
            to_ms: to,
            before: None,
        };
        let q = OrderQuery {
            escalations: false,
            ..OrderQuery::all(MAX_LIMIT)
        };
        out.extend(store.history(&q, &range)?.orders);
    }
    Ok(out)
}

fn answer(records: &[OrderRecord], from_ms: i64, to_ms: i64) -> serde_json::Value {
    let h = handover(records, from_ms, to_ms);
    let by_id: HashMap<&str, &OrderRecord> =
        records.iter().map(|r| (r.order.id.as_str(), r)).collect();
    let views = |ids: &[String]| -> Vec<OrderView> {
        ids.iter()
            .filter_map(|id| by_id.get(id.as_str()))
            .map(|r| OrderView::summary_of(r))
            .collect()
    };
    let escalated = records
        .iter()
        .filter(|r| h.left.contains(&r.order.id) && r.status == Status::Escalated)
        .count();
    serde_json::json!({
        "from_ms": from_ms,
        "to_ms": to_ms,
        "counts": {
            "open_at_start": h.open_at_start.len(),
            "came": h.came.len(),
            "done": h.done.len(),
            "left": h.left.len(),
            "left_escalated": escalated,
        },
        "open_at_start": views(&h.open_at_start),
        "came": views(&h.came),
        "done": views(&h.done),
        "left": views(&h.left),
    })
}
