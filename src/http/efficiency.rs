//! `GET /api/orders/efficiency?hours=`: the district's efficiency (一网评效)
//! over the last day (or the last `hours`), for the console's plots: per
//! street, orders per hour, the time to accept (签收) and to resolve (办结)
//! as histograms with their median and p90, acknowledgements and false
//! alarms, and overdue counts (open past their limit, resolved late,
//! escalated); for the district, the same distributions and the
//! false-alarm share hour by hour. The records are those of the orders
//! made in the window, read through the outbox's time index (never a
//! scan); [`figures`] is pure: records and a time in, figures out.

use crate::dispatch::lifecycle::limits::next_limit;
use crate::dispatch::outbox::OrderQuery;
use crate::dispatch::record::{OrderRecord, Status};
use crate::geo::RegionMap;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::http::outbox_read::{read, MAX_LIMIT};
use crate::runtime::Shared;
use crate::store::history::TimeRange;
use crate::wire::control::Outcome;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An hour, the width of every time bucket.
pub const HOUR_MS: i64 = 3_600_000;
/// The window when `hours` is not given: a day.
const DEFAULT_HOURS: u32 = 24;
/// The longest window: a week.
const MAX_HOURS: u32 = 168;
/// Upper edges of the bins of a time distribution, seconds (under 30 s,
/// 30 s to 1 min, ... , 30 min to 1 h); the last bin holds the rest.
pub const BIN_EDGES_S: [u64; 7] = [30, 60, 120, 300, 600, 1800, 3600];

/// The parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyParams {
    hours: Option<u32>,
}

/// A distribution of durations: how many fall in each bin of
/// [`BIN_EDGES_S`] (one more bin than edges), with the median and p90.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// The bins' upper edges, seconds.
    pub edges_s: Vec<u64>,
    /// Durations per bin.
    pub counts: Vec<u64>,
    /// Durations in all.
    pub n: u64,
    /// Nearest-rank median, seconds.
    pub p50_s: Option<f64>,
    /// Nearest-rank 90th percentile, seconds.
    pub p90_s: Option<f64>,
}

impl Histogram {
    fn of(mut seconds: Vec<f64>) -> Histogram {
        seconds.sort_by(f64::total_cmp);
        let mut counts = vec![0; BIN_EDGES_S.len() + 1];
        for s in &seconds {
            let bin = BIN_EDGES_S.iter().take_while(|&&e| *s >= e as f64).count();
            counts[bin] += 1;
        }
        let rank = |q: f64| {
            let n = seconds.len();
            (n > 0).then(|| seconds[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        Histogram {
            edges_s: BIN_EDGES_S.to_vec(),
            counts,
            n: seconds.len() as u64,
            p50_s: rank(0.5),
            p90_s: rank(0.9),
        }
    }
}

/// One street's figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreetEfficiency {
    /// 12-digit division code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Orders made in the window.
    pub orders: u64,
    /// Of those, made in each hour of [`Efficiency::hours`].
    pub per_hour: Vec<u64>,
    /// From dispatch to the accept step (签收).
    pub accept: Histogram,
    /// From dispatch to the acknowledgement that resolved it (办结).
    pub resolve: Histogram,
    /// Acknowledged.
    pub acked: u64,
    /// Acknowledged as false alarms.
    pub false_alarms: u64,
    /// Not resolved and past their next limit now.
    pub overdue_open: u64,
    /// Resolved after their deadline.
    pub resolved_late: u64,
    /// Escalated to the district and not resolved.
    pub escalated: u64,
}

/// Acknowledgements and false alarms per hour (by the hour of the ack).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalseAlarmsByHour {
    /// Acknowledged in each hour.
    pub acked: Vec<u64>,
    /// Of those, false alarms.
    pub false_alarms: Vec<u64>,
}

/// The district's efficiency over a window of whole hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Efficiency {
    /// The window's start (an hour's start), Unix ms.
    pub from_ms: i64,
    /// Its end (now), Unix ms.
    pub to_ms: i64,
    /// Each hour's start, oldest first; the last hour is the current one.
    pub hours: Vec<i64>,
    /// Orders made in the window, street orders and the district's own.
    pub orders: u64,
    /// Every street of the map, in map order.
    pub streets: Vec<StreetEfficiency>,
    /// Time to accept, every street together.
    pub accept: Histogram,
    /// Time to resolve, every street together.
    pub resolve: Histogram,
    /// The false-alarm share hour by hour, every street together.
    pub false_alarms: FalseAlarmsByHour,
    /// More orders were made than one read holds: the figures are of the
    /// newest of them.
    pub truncated: bool,
}

/// When the order was first dispatched: its history's first line, or its
/// revision's time for a record without one.
fn dispatched_ms(r: &OrderRecord) -> i64 {
    r.history.first().map_or(r.order.created_ms, |h| h.at_ms)
}

/// Seconds from dispatch to the accept step, once accepted.
fn accept_s(r: &OrderRecord) -> Option<f64> {
    let at = r.history.iter().find(|h| h.what == "accept")?.at_ms;
    Some((at - dispatched_ms(r)).max(0) as f64 / 1000.0)
}

/// Seconds from dispatch to the acknowledgement, once acknowledged.
fn resolve_s(r: &OrderRecord) -> Option<f64> {
    let at = r.ack.as_ref()?.at_ms;
    Some((at - dispatched_ms(r)).max(0) as f64 / 1000.0)
}

fn resolve_by(r: &OrderRecord) -> i64 {
    r.disposal.resolve_by_ms.unwrap_or(r.order.deadline_ms)
}

/// Whether `r` is not resolved and past its next limit at `now_ms`.
fn overdue(r: &OrderRecord, now_ms: i64) -> bool {
    r.status != Status::Acked
        && next_limit(r.disposal.stage, r.order.accept_by_ms, resolve_by(r))
            .is_some_and(|limit| limit < now_ms)
}

/// The hour bucket of `ms` in a window of `hours` hours from `from_ms`.
fn bucket(from_ms: i64, hours: usize, ms: i64) -> Option<usize> {
    let b = (ms - from_ms).div_euclid(HOUR_MS);
    (0..hours as i64).contains(&b).then_some(b as usize)
}

/// The figures of `records` (orders made in the window; escalations,
/// the district's copies of street orders, are left out) over the `hours`
/// whole hours that end with the one holding `now_ms`.
pub fn figures(map: &RegionMap, records: &[OrderRecord], now_ms: i64, hours: u32) -> Efficiency {
    let n = hours.max(1) as usize;
    let from_ms = now_ms.div_euclid(HOUR_MS) * HOUR_MS - (n as i64 - 1) * HOUR_MS;
    let mine: Vec<&OrderRecord> = records
        .iter()
        .filter(|r| r.order.escalation_of.is_none())
        .filter(|r| (from_ms..=now_ms).contains(&r.order.created_ms))
        .collect();
    let streets = map
        .streets()
        .iter()
        .map(|s| {
            let of: Vec<&OrderRecord> = mine
                .iter()
                .copied()
                .filter(|r| r.order.street_code() == Some(s.code.as_str()))
                .collect();
            street_figures(s, &of, from_ms, n, now_ms)
        })
        .collect();
    let mut acked = vec![0; n];
    let mut false_alarms = vec![0; n];
    for ack in mine.iter().filter_map(|r| r.ack.as_ref()) {
        if let Some(b) = bucket(from_ms, n, ack.at_ms) {
            acked[b] += 1;
            false_alarms[b] += u64::from(ack.outcome == Outcome::FalseAlarm);
        }
    }
    Efficiency {
        from_ms,
        to_ms: now_ms,
        hours: (0..n as i64).map(|h| from_ms + h * HOUR_MS).collect(),
        orders: mine.len() as u64,
        streets,
        accept: Histogram::of(mine.iter().filter_map(|r| accept_s(r)).collect()),
        resolve: Histogram::of(mine.iter().filter_map(|r| resolve_s(r)).collect()),
        false_alarms: FalseAlarmsByHour {
            acked,
            false_alarms,
        },
        truncated: false,
    }
}

fn street_figures(
    s: &crate::geo::Street,
    of: &[&OrderRecord],
    from_ms: i64,
    n: usize,
    now_ms: i64,
) -> StreetEfficiency {
    let mut per_hour = vec![0; n];
    for r in of {
        if let Some(b) = bucket(from_ms, n, r.order.created_ms) {
            per_hour[b] += 1;
        }
    }
    let acks = || of.iter().filter_map(|r| r.ack.as_ref());
    StreetEfficiency {
        code: s.code.clone(),
        name: s.name.clone(),
        name_en: s.name_en.clone(),
        orders: of.len() as u64,
        per_hour,
        accept: Histogram::of(of.iter().filter_map(|r| accept_s(r)).collect()),
        resolve: Histogram::of(of.iter().filter_map(|r| resolve_s(r)).collect()),
        acked: acks().count() as u64,
        false_alarms: acks().filter(|a| a.outcome == Outcome::FalseAlarm).count() as u64,
        overdue_open: of.iter().filter(|r| overdue(r, now_ms)).count() as u64,
        resolved_late: of
            .iter()
            .filter(|r| r.ack.as_ref().is_some_and(|a| a.at_ms > resolve_by(r)))
            .count() as u64,
        escalated: of.iter().filter(|r| r.status == Status::Escalated).count() as u64,
    }
}

/// `GET /api/orders/efficiency`
pub async fn get_efficiency(
    State(shared): State<Arc<Shared>>,
    _may: MayRead,
    params: Result<Query<EfficiencyParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let hours = match params {
        Ok(Query(p)) => p.hours.unwrap_or(DEFAULT_HOURS),
        Err(_) => 0,
    };
    if !(1..=MAX_HOURS).contains(&hours) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("参数 hours 须为 1..={MAX_HOURS} / the one query parameter is hours, 1..={MAX_HOURS}"),
        );
    }
    let now_ms = shared.clock.now_ms();
    let from_ms = now_ms.div_euclid(HOUR_MS) * HOUR_MS - (hours as i64 - 1) * HOUR_MS;
    let range = TimeRange {
        from_ms,
        to_ms: now_ms + 1,
        before: None,
    };
    let q = OrderQuery {
        escalations: false,
        ..OrderQuery::all(MAX_LIMIT)
    };
    match read(&shared, move |s| s.history(&q, &range)).await {
        Ok(page) => {
            let mut answer = figures(&shared.map, &page.orders, now_ms, hours);
            answer.truncated = page.count > page.orders.len();
            Json(answer).into_response()
        }
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::record::{AckRecord, HistoryEntry};

    const NOW: i64 = 1_800_000_000_000 + 30 * 60_000;

    /// An order of `street` made `ago_min` minutes before NOW, accepted
    /// after `accept_s` and acknowledged after `ack_s` with `outcome`.
    fn record(
        street: &str,
        ago_min: i64,
        accept_s: Option<i64>,
        ack: Option<(i64, Outcome)>,
    ) -> OrderRecord {
        let made = NOW - ago_min * 60_000;
        let order: crate::dispatch::Order = serde_json::from_value(serde_json::json!({
            "id": format!("T{street}{ago_min}"), "revision": 1, "seq": 1, "created_ms": made,
            "severity": "major", "category": "smoke", "incident_kind": "fire",
            "multi_source": false, "sources": ["sensor"],
            "place": {"cell": "891f1d4a49bffff", "lat": 31.25, "lon": 121.41,
                      "street": {"code": street, "name": "x", "name_en": "x"}},
            "events": [], "event_count": 1, "plan": "p", "deadline_ms": made + 600_000,
            "camera": null, "first_seen_ms": made, "last_seen_ms": made, "repeat": 0
        }))
        .unwrap();
        let line = |at_ms, what: &str| HistoryEntry {
            at_ms,
            what: what.into(),
            detail: String::new(),
            by: None,
        };
        let mut history = vec![line(made, "dispatched")];
        history.extend(accept_s.map(|s| line(made + s * 1000, "accept")));
        OrderRecord {
            order,
            status: if ack.is_some() {
                Status::Acked
            } else {
                Status::Open
            },
            street_seq: 1,
            district_seq: 1,
            ack: ack.map(|(s, outcome)| AckRecord {
                outcome,
                note: String::new(),
                by: street.into(),
                at_ms: made + s * 1000,
            }),
            history,
            disposal: Default::default(),
        }
    }

    #[test]
    fn a_streets_orders_fall_in_their_hours_and_its_waits_in_their_bins() {
        let map = RegionMap::sample();
        let caoyang = "310107005000";
        let records = vec![
            // The current hour (NOW is half past).
            record(caoyang, 10, Some(20), Some((90, Outcome::Confirmed))),
            record(caoyang, 20, Some(45), Some((400, Outcome::FalseAlarm))),
            // Two hours back, still open and long past its 10 min deadline.
            record(caoyang, 150, None, None),
            // Before the window: left out.
            record(caoyang, 25 * 60, None, None),
        ];
        let e = figures(&map, &records, NOW, 24);
        assert_eq!(e.hours.len(), 24);
        assert_eq!(e.from_ms % HOUR_MS, 0);
        assert_eq!(*e.hours.last().unwrap(), NOW - 30 * 60_000);
        let s = e.streets.iter().find(|s| s.code == caoyang).unwrap();
        assert_eq!(s.orders, 3);
        assert_eq!(s.per_hour[23], 2);
        assert_eq!(s.per_hour[21], 1);
        assert_eq!(s.per_hour.iter().sum::<u64>(), 3);
        // Accepted after 20 s and 45 s: bins "under 30 s" and "30 s to 1 min".
        assert_eq!(&s.accept.counts[..2], &[1, 1]);
        assert_eq!(s.accept.p50_s, Some(20.0));
        // Resolved after 90 s and 400 s: "1 to 2 min" and "5 to 10 min".
        assert_eq!((s.resolve.counts[2], s.resolve.counts[4]), (1, 1));
        assert_eq!(s.resolve.p90_s, Some(400.0));
        assert_eq!((s.acked, s.false_alarms), (2, 1));
        assert_eq!((s.overdue_open, s.resolved_late), (1, 0));
        // Both acks came in the current hour: one of two a false alarm.
        assert_eq!(e.false_alarms.acked[23], 2);
        assert_eq!(e.false_alarms.false_alarms[23], 1);
        assert_eq!(e.orders, 3);
        let others: u64 = e.streets.iter().map(|s| s.orders).sum();
        assert_eq!(others, 3, "no other street has orders");
    }

    #[test]
    fn an_order_resolved_after_its_deadline_is_late() {
        let map = RegionMap::sample();
        let late = record("310107005000", 40, None, Some((900, Outcome::Resolved)));
        let e = figures(&map, &[late], NOW, 2);
        let s = e.streets.iter().find(|s| s.code == "310107005000").unwrap();
        assert_eq!((s.resolved_late, s.overdue_open, s.accept.n), (1, 0, 0));
        assert_eq!(e.resolve.counts[5], 1, "15 min: the 10 to 30 min bin");
    }
}
