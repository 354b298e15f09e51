//! The read side of the admin HTTP API, in JSON: orders from the outbox
//! (`GET /api/orders`, `GET /api/orders/{id}`) and device quality
//! (`GET /api/devices`). Reads are redb snapshots taken off the runtime.

use super::engine_threads::ShardMsg;
use super::http_auth::MayRead;
use super::{clock, Shared};
use crate::dispatch::record::{AckRecord, HistoryEntry, OrderRecord, Status};
use crate::dispatch::Order;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Most entries one list returns.
const MAX_LIMIT: usize = 10_000;

/// An order as the API shows it: the order's fields, its status and ack,
/// and (for one order) its history.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderView {
    /// The latest revision.
    #[serde(flatten)]
    pub order: Order,
    /// open, acked or escalated.
    pub status: Status,
    /// The acknowledgement, if any.
    pub ack: Option<AckRecord>,
    /// What happened to it (only in `GET /api/orders/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

/// `GET /api/orders` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderList {
    /// All orders matching the filters (not only those listed).
    pub count: usize,
    /// Newest first, at most `limit`.
    pub orders: Vec<OrderView>,
}

/// `GET /api/orders` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderFilter {
    status: Option<String>,
    street: Option<String>,
    limit: Option<usize>,
}

/// A JSON error answer, `{"error": "..."}`: every endpoint's refusal.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

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

impl OrderView {
    /// A record as a list shows it: no history.
    pub fn summary(r: OrderRecord) -> OrderView {
        OrderView {
            order: r.order,
            status: r.status,
            ack: r.ack,
            history: None,
        }
    }

    /// A record as a list shows it, copied from a borrowed record.
    pub fn summary_of(r: &OrderRecord) -> OrderView {
        OrderView {
            order: r.order.clone(),
            status: r.status,
            ack: r.ack.clone(),
            history: None,
        }
    }

    /// A record whole, with its history.
    pub fn whole(r: OrderRecord) -> OrderView {
        OrderView {
            history: Some(r.history),
            ..OrderView::summary(OrderRecord {
                history: Vec::new(),
                ..r
            })
        }
    }
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

/// `GET /api/devices` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFilter {
    flagged: Option<bool>,
    limit: Option<usize>,
}

/// A device as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceView {
    /// The device id.
    pub device: u64,
    /// Orders it took part in.
    pub orders: u64,
    /// Outcomes.
    pub confirmed: u64,
    /// Outcomes.
    pub false_alarms: u64,
    /// Outcomes.
    pub resolved: u64,
    /// false_alarms / judged orders.
    pub false_alarm_rate: f64,
    /// Whether its detections need corroboration.
    pub flagged: bool,
    /// Events seen since the hub started (none if no shard knows it).
    pub events: Option<u64>,
    /// Latest event or heartbeat, Unix ms.
    pub last_seen_ms: Option<i64>,
    /// Heard from within the offline timeout.
    pub online: bool,
}

/// `GET /api/devices` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceList {
    /// All devices matching.
    pub count: usize,
    /// The devices, most false alarms first.
    pub devices: Vec<DeviceView>,
}

/// `GET /api/devices?flagged=true&limit=N`: devices that took part in
/// orders, with their quality figures and activity.
pub async fn list_devices(
    State(shared): State<Arc<Shared>>,
    _: MayRead,
    filter: Result<Query<DeviceFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(filter)) = filter else {
        return error(
            StatusCode::BAD_REQUEST,
            "query parameters are flagged (true|false) and limit",
        );
    };
    match device_views(&shared, filter.flagged, filter.limit.unwrap_or(100)).await {
        Ok(list) => Json(list).into_response(),
        Err(resp) => resp,
    }
}

/// Devices that took part in orders (only flagged or unflagged ones when
/// `flagged` says so), most false alarms first, at most `limit` listed,
/// with what the shards know of their activity.
pub(crate) async fn device_views(
    shared: &Arc<Shared>,
    flagged: Option<bool>,
    limit: usize,
) -> Result<DeviceList, Response> {
    let mut records = read(shared, |s| s.devices()).await?;
    records.retain(|r| flagged.is_none_or(|f| r.flagged == f));
    records.sort_by(|a, b| {
        b.false_alarms
            .cmp(&a.false_alarms)
            .then(a.device.cmp(&b.device))
    });
    let count = records.len();
    records.truncate(limit.min(MAX_LIMIT));
    let ids: Arc<[u64]> = records.iter().map(|r| r.device).collect();
    let activity = query_shards(shared, ids).await;
    let offline_after = shared.config.engine.device_offline_after.as_millis() as i64;
    let now = clock::now_ms();
    let devices = records
        .into_iter()
        .map(|r| {
            let seen = activity.get(&r.device);
            DeviceView {
                false_alarm_rate: r.false_alarm_rate(),
                device: r.device,
                orders: r.orders,
                confirmed: r.confirmed,
                false_alarms: r.false_alarms,
                resolved: r.resolved,
                flagged: r.flagged,
                events: seen.map(|s| s.events),
                last_seen_ms: seen.map(|s| s.last_seen_ms),
                online: seen.is_some_and(|s| now - s.last_seen_ms <= offline_after),
            }
        })
        .collect();
    Ok(DeviceList { count, devices })
}

/// Asks every shard what it knows of `ids` (answers within a second).
async fn query_shards(
    shared: &Arc<Shared>,
    ids: Arc<[u64]>,
) -> std::collections::HashMap<u64, crate::engine::shard::DeviceState> {
    let txs = shared.shard_txs.clone();
    tokio::task::spawn_blocking(move || {
        let (reply, answers) = crossbeam_channel::unbounded();
        let asked = txs
            .iter()
            .filter(|tx| {
                tx.send_timeout(
                    ShardMsg::Query {
                        ids: ids.clone(),
                        reply: reply.clone(),
                    },
                    Duration::from_secs(1),
                )
                .is_ok()
            })
            .count();
        let mut out = std::collections::HashMap::new();
        for _ in 0..asked {
            match answers.recv_timeout(Duration::from_secs(1)) {
                Ok(found) => out.extend(found),
                Err(_) => break,
            }
        }
        out
    })
    .await
    .unwrap_or_default()
}
