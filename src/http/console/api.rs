//! The console's JSON API: who signed in, the map to draw, the orders the
//! viewer may see, one order whole, acknowledging one (the same durable
//! path as a QUIC ORDER_ACK), and the district's per-street figures.

use super::Viewer;
use crate::auth::tokens::Scope;
use crate::dispatch::dispatcher::AckAnswer;
use crate::dispatch::record::Status;
use crate::dispatch::summary;
use crate::dispatch::view::OrderView;
use crate::http::devices;
use crate::http::error::error;
use crate::http::outbox_read::{self as admin_api};
use crate::model::Severity;
use crate::runtime::Shared;
use crate::store::{OrderQuery, StreetFilter};
use crate::wire::control::{OrderAck, Outcome};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Longest ack note kept, in characters (a QUIC ack's note is bounded by
/// its frame; the console's by this).
const MAX_NOTE_CHARS: usize = 2000;

/// How long an ack waits to see its outcome in the outbox before the
/// answer says it is queued rather than recorded.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// `GET /api/console/session`: who the token is and what it sees.
pub async fn session(State(shared): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let street = match viewer.scope {
        Scope::District => None,
        Scope::Street(s) => Some(shared.map.street(s).clone()),
    };
    Json(json!({
        "name": viewer.name,
        "scope": viewer.scope.name(&shared.map),
        "street": street,
        "emergency": shared.rules.mode() == crate::engine::rules::Mode::Emergency,
    }))
    .into_response()
}

/// The credit the embedded map's licence (OpenStreetMap data, ODbL 1.0)
/// asks for wherever it is shown; the console draws it on the map. A
/// surveyed map loaded by config is usually drawn over OSM too, so the
/// credit stays.
const MAP_ATTRIBUTION: &str = "© OpenStreetMap contributors";

/// `GET /api/console/map`: every street's and town's outline, to draw.
/// Boundaries are not secret: a street sees its neighbours' too, as
/// context, and only its own orders on them.
pub async fn map(State(shared): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let mine = match viewer.scope {
        Scope::Street(s) => Some(shared.map.street(s).code.clone()),
        Scope::District => None,
    };
    let streets: Vec<_> = shared
        .map
        .streets()
        .iter()
        .map(|s| {
            json!({
                "code": s.code,
                "name": s.name,
                "name_en": s.name_en,
                "kind": s.kind,
                "outline": s.outline,
                "approximate": s.approximate,
                "mine": mine.as_deref().is_none_or(|m| m == s.code),
            })
        })
        .collect();
    Json(json!({
        "approximate": shared.map.is_approximate(),
        "attribution": MAP_ATTRIBUTION,
        "streets": streets,
    }))
    .into_response()
}

/// `GET /api/console/orders` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    status: Option<String>,
    severity: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/console/orders?status=&severity=&limit=`: the viewer's
/// orders, newest first.
pub async fn orders(
    State(shared): State<Arc<Shared>>,
    viewer: Viewer,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    let Ok(Query(filter)) = filter else {
        return error(
            StatusCode::BAD_REQUEST,
            "query parameters are status (open|acked|escalated), severity (minor|moderate|major|critical) and limit",
        );
    };
    let status = match admin_api::status_filter(filter.status.as_deref()) {
        Ok(s) => s,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let severity = match filter.severity.as_deref() {
        None | Some("") => None,
        Some(s) => match serde_json::from_value::<Severity>(json!(s)) {
            Ok(s) => Some(s),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("severity {s:?} is not one of minor, moderate, major, critical"),
                )
            }
        },
    };
    // What `Scope::may_see` lets the viewer see: the district everything,
    // a street its own orders and not their escalations.
    let (street, escalations) = match viewer.scope {
        Scope::District => (StreetFilter::Any, true),
        Scope::Street(s) => (StreetFilter::Code(shared.map.street(s).code.clone()), false),
    };
    let query = OrderQuery {
        status,
        street,
        severity,
        escalations,
        limit: filter.limit.unwrap_or(500).min(admin_api::MAX_LIMIT),
    };
    match admin_api::read(&shared, move |s| s.list_orders(&query)).await {
        Ok(page) => Json(admin_api::listed(page)).into_response(),
        Err(resp) => resp,
    }
}

/// `GET /api/console/orders/{id}`: one order with its history. An order
/// the viewer may not see is answered as if it did not exist.
pub async fn order(
    State(shared): State<Arc<Shared>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let key = id.clone();
    match admin_api::read(&shared, move |s| s.order(&key)).await {
        Ok(Some(r)) if viewer.scope.may_see(&shared.map, &r.order) => {
            let read =
                viewer
                    .actor
                    .record(crate::audit::Kind::ReadOrder, Some(&id), "ok", "", &shared);
            shared.audit.record(read).await;
            Json(OrderView::whole(r)).into_response()
        }
        Ok(_) => error(StatusCode::NOT_FOUND, format!("no order {id:?}")),
        Err(resp) => resp,
    }
}

/// The district's per-street figures and its open escalations: counts
/// of open and escalated orders from the index (no order decoded), the
/// acknowledgement figures from the acknowledged orders made since
/// `since_ms`.
fn district_figures(
    store: &crate::store::Store,
    map: &crate::geo::RegionMap,
    since_ms: i64,
) -> Result<(Vec<summary::StreetSummary>, usize), crate::store::StoreError> {
    let count = |status, street: StreetFilter, escalations| {
        let q = OrderQuery {
            status: Some(status),
            street,
            escalations,
            ..OrderQuery::all(0)
        };
        store.list_orders(&q).map(|page| page.count)
    };
    let acked = store.acked_since(since_ms, ACKED_MAX)?;
    let mut streets = summary::by_street(map, &acked);
    for s in &mut streets {
        // The street's own orders, not the district's escalations of them.
        let open = count(Status::Open, StreetFilter::Code(s.code.clone()), false)?;
        s.escalated = count(Status::Escalated, StreetFilter::Code(s.code.clone()), false)?;
        s.open = open + s.escalated;
    }
    let mut escalations_open = 0;
    for status in [Status::Open, Status::Escalated] {
        escalations_open +=
            count(status, StreetFilter::Any, true)? - count(status, StreetFilter::Any, false)?;
    }
    Ok((streets, escalations_open))
}

/// `POST /api/console/orders/{id}/ack` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    outcome: Outcome,
    #[serde(default)]
    note: String,
}

/// `POST /api/console/orders/{id}/ack` with `{"outcome", "note"}`: hands
/// the ack to the dispatcher like a QUIC ORDER_ACK, then waits (up to
/// five seconds) for the dispatcher's answer, which comes once the ack is
/// durable, and answers with the order: 200 recorded, 202 queued (the
/// outbox could not be written yet), 404 unknown or not the viewer's, 409
/// already acknowledged (also when another ack came first while this one
/// was queued), 400 bad body.
pub async fn ack(
    State(shared): State<Arc<Shared>>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Result<Json<AckBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be JSON {{\"outcome\": \"confirmed|false_alarm|resolved\", \"note\": \"...\"}}: {}",
                    e.body_text()
                ),
            )
        }
    };
    if body.note.chars().count() > MAX_NOTE_CHARS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("the note is longer than {MAX_NOTE_CHARS} characters"),
        );
    }
    let key = id.clone();
    let record = match admin_api::read(&shared, move |s| s.order(&key)).await {
        Ok(Some(r)) if viewer.scope.may_see(&shared.map, &r.order) => r,
        Ok(_) => return error(StatusCode::NOT_FOUND, format!("no order {id:?}")),
        Err(resp) => return resp,
    };
    if record.status == Status::Acked {
        return error(
            StatusCode::CONFLICT,
            format!("order {id:?} is already acknowledged"),
        );
    }
    let ack = OrderAck {
        order_id: id.clone(),
        outcome: body.outcome,
        note: body.note.clone(),
    };
    let Ok(answer) = shared.runtime.ack(ack, viewer.scope).await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the hub is shutting down");
    };
    // The dispatcher answers once the ack is durable (or refused); an
    // outbox that cannot be written keeps it queued past ACK_WAIT.
    let answer = match tokio::time::timeout(ACK_WAIT, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => return error(StatusCode::SERVICE_UNAVAILABLE, "the hub is shutting down"),
        Err(_) => {
            return (
                StatusCode::ACCEPTED,
                Json(json!({ "queued": true, "order_id": id })),
            )
                .into_response()
        }
    };
    let key = id.clone();
    let record = match admin_api::read(&shared, move |s| s.order(&key)).await {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no order {id:?}")),
        Err(resp) => return resp,
    };
    match answer {
        AckAnswer::Recorded(_) => {
            let detail = format!("ack {}", body.outcome.name());
            let step = viewer.actor.record(
                crate::audit::Kind::OrderStep,
                Some(&id),
                "ok",
                detail,
                &shared,
            );
            shared.audit.record(step).await;
            Json(OrderView::whole(record)).into_response()
        }
        AckAnswer::Duplicate => {
            // Another ack (QUIC, another console) came first.
            let (by, outcome) = record
                .ack
                .as_ref()
                .map_or(("?".into(), "?"), |a| (a.by.clone(), a.outcome.name()));
            error(
                StatusCode::CONFLICT,
                format!("order {id:?} was acknowledged first by {by} as {outcome}"),
            )
        }
        AckAnswer::Forbidden | AckAnswer::UnknownOrder => {
            error(StatusCode::NOT_FOUND, format!("no order {id:?}"))
        }
        AckAnswer::Busy => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many acknowledgements wait for the outbox; try again",
        ),
    }
}

/// How far back the district view's acknowledgement figures (acked,
/// time to acknowledge, false-alarm share) reach: orders made this
/// recently. The open and escalated counts are of every order.
const ACKED_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// Most acknowledged orders those figures read.
const ACKED_MAX: usize = 200_000;

/// `GET /api/console/district`: per street, open orders, time to
/// acknowledge and false-alarm share; devices flagged for false alarms
/// and devices that took part in orders and went quiet. District only.
/// Reads the outbox's counts and the acknowledged orders of the last
/// [`ACKED_WINDOW`], not every order.
pub async fn district(State(shared): State<Arc<Shared>>, viewer: Viewer) -> Response {
    if viewer.scope != Scope::District {
        return error(
            StatusCode::FORBIDDEN,
            "the district view is for the district duty desk's token",
        );
    }
    let since_ms = shared.clock.now_ms() - ACKED_WINDOW.as_millis() as i64;
    let map = shared.map.clone();
    let figures = admin_api::read(&shared, move |s| district_figures(s, &map, since_ms)).await;
    let (streets, escalations_open) = match figures {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let devices = match devices::device_views(&shared, None, 10_000).await {
        Ok(d) => d.devices,
        Err(resp) => return resp,
    };
    let (flagged, offline): (Vec<_>, Vec<_>) = (
        devices.iter().filter(|d| d.flagged).collect(),
        devices.iter().filter(|d| !d.online).collect(),
    );
    // Every device the shards track, not only those that took part in
    // orders (the same figure as tongguan_devices_offline, summed).
    let offline_total: i64 = (0..shared.runtime.shard_count())
        .map(|i| {
            shared
                .metrics
                .devices_offline
                .with_label_values(&[&i.to_string()])
                .get()
        })
        .sum();
    Json(json!({
        "streets": streets,
        "acked_since_ms": since_ms,
        "escalations_open": escalations_open,
        "flagged_devices": flagged,
        "offline_devices": offline,
        "offline_devices_total": offline_total,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::record::{AckRecord, OrderRecord};
    use crate::geo::RegionMap;
    use crate::store::{Batch, Store};

    /// Order `k` of street `street` (or outside every street), with its
    /// status, an escalation order or not, acknowledged 7 s per `k` after
    /// it was made.
    fn record(k: u64, street: Option<&str>, status: Status, escalation: bool) -> OrderRecord {
        let place_street = street.map(|code| json!({"code": code, "name": "x", "name_en": "x"}));
        let mut order: crate::dispatch::Order = serde_json::from_value(json!({
            "id": format!("T{k}"), "revision": 1, "seq": k, "created_ms": 1_000 + k as i64,
            "severity": "major", "category": "smoke", "incident_kind": "fire",
            "multi_source": false, "sources": ["sensor"],
            "place": {"cell": "891f1d4a49bffff", "lat": 31.25, "lon": 121.41, "street": place_street},
            "events": [], "event_count": 1, "plan": "p", "deadline_ms": 61_000,
            "camera": null, "first_seen_ms": 1_000, "last_seen_ms": 1_000, "repeat": 0
        }))
        .unwrap();
        if escalation {
            order.escalation_of = Some(format!("T{}", k + 1));
        }
        let ack = (status == Status::Acked).then(|| AckRecord {
            outcome: if k.is_multiple_of(3) {
                Outcome::FalseAlarm
            } else {
                Outcome::Confirmed
            },
            note: String::new(),
            by: "district".into(),
            at_ms: 1_000 + k as i64 * 7_000,
        });
        OrderRecord {
            order,
            status,
            street_seq: k,
            district_seq: k,
            ack,
            history: Vec::new(),
            disposal: Default::default(),
        }
    }

    #[test]
    fn the_district_figures_from_the_index_are_those_of_every_order() {
        let map = RegionMap::sample();
        let codes: Vec<String> = map.streets().iter().map(|s| s.code.clone()).collect();
        let orders: Vec<OrderRecord> = (1..200u64)
            .map(|k| {
                let street = (!k.is_multiple_of(7)).then(|| codes[k as usize % 4].as_str());
                let status = Status::ALL[(k % 3) as usize];
                let escalation = k.is_multiple_of(5) && status != Status::Escalated;
                record(k, street, status, escalation)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .commit(&Batch {
                orders: orders.clone(),
                ..Batch::default()
            })
            .unwrap();
        let (streets, escalations_open) = district_figures(&store, &map, 0).unwrap();
        assert_eq!(streets, summary::by_street(&map, &orders));
        let want = orders
            .iter()
            .filter(|r| r.order.escalation_of.is_some() && r.status != Status::Acked)
            .count();
        assert_eq!(escalations_open, want);
        assert!(want > 0 && streets.iter().any(|s| s.escalated > 0 && s.acked > 0));
        // The acknowledgement figures reach back to `since_ms` only.
        let (recent, _) = district_figures(&store, &map, 1_150).unwrap();
        let acked: usize = recent.iter().map(|s| s.acked).sum();
        let want = orders
            .iter()
            .filter(|r| r.status == Status::Acked && r.order.created_ms >= 1_150)
            .filter(|r| r.order.escalation_of.is_none() && r.order.street_code().is_some())
            .count();
        assert_eq!(acked, want);
        assert_eq!(
            recent.iter().map(|s| s.open).collect::<Vec<_>>(),
            streets.iter().map(|s| s.open).collect::<Vec<_>>()
        );
    }
}
