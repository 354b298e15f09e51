//! Device quality over HTTP, in JSON: `GET /api/devices`, the devices
//! that took part in orders with their figures from the outbox and their
//! activity from the shards (in the cluster mode, every live node's,
//! gathered for half a second at most).

use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::{read, MAX_LIMIT};
use crate::runtime::Shared;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    /// Its latest event's time less the hub's clock when it was taken, ms:
    /// positive when its clock is ahead (none if no shard knows it).
    pub clock_offset_ms: Option<i64>,
    /// Its latest event was further ahead of the hub's clock than
    /// `engine.clock_skew_threshold`.
    pub clock_skewed: bool,
    /// How long it has not been heard from, ms, when it is offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_for_ms: Option<i64>,
    /// What the device registry (设备台账) says of it, when registered:
    /// name, kind, address, street, owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<crate::dispatch::registry::DeviceInfo>,
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
    let activity = match &shared.cluster {
        Some(cluster) => cluster.activity.query(ids).await,
        None => shared.runtime.query_devices(ids).await,
    };
    let offline_after = shared.config.engine.device_offline_after.as_millis() as i64;
    let now = shared.clock.now_ms();
    let registry = shared.devices.registry();
    let devices = records
        .into_iter()
        .map(|r| {
            let seen = activity.get(&r.device);
            let online = seen.is_some_and(|s| now - s.last_seen_ms <= offline_after);
            DeviceView {
                offline_for_ms: seen.filter(|_| !online).map(|s| now - s.last_seen_ms),
                registered: registry.get(r.device).cloned(),
                false_alarm_rate: r.false_alarm_rate(),
                device: r.device,
                orders: r.orders,
                confirmed: r.confirmed,
                false_alarms: r.false_alarms,
                resolved: r.resolved,
                flagged: r.flagged,
                events: seen.map(|s| s.events),
                last_seen_ms: seen.map(|s| s.last_seen_ms),
                online,
                clock_offset_ms: seen.map(|s| s.clock_offset_ms),
                clock_skewed: seen.is_some_and(|s| s.clock_skewed),
            }
        })
        .collect();
    Ok(DeviceList { count, devices })
}
