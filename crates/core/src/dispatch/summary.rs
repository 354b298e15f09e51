//! The district duty desk's view of how each street handles its orders:
//! open orders, time to acknowledge (median and p90) and the share of
//! false alarms, computed from the outbox's records. Pure: records in,
//! figures out.

use super::record::{OrderRecord, Status};
use crate::geo::RegionMap;
use crate::wire::control::Outcome;
use serde::{Deserialize, Serialize};

/// One street's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreetSummary {
    /// 12-digit division code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Orders not acknowledged yet (open or escalated).
    pub open: usize,
    /// Of those, past their deadline and escalated to the district.
    pub escalated: usize,
    /// Orders acknowledged.
    pub acked: usize,
    /// Median time from dispatch to acknowledgement, seconds.
    pub ack_p50_s: Option<f64>,
    /// 90th percentile of the same, seconds.
    pub ack_p90_s: Option<f64>,
    /// Acknowledged as false alarms / acknowledged.
    pub false_alarm_share: Option<f64>,
}

/// Every street's figures, in map order, for the street orders among
/// `records` (escalations, which are the district's, are left out).
pub fn by_street(map: &RegionMap, records: &[OrderRecord]) -> Vec<StreetSummary> {
    map.streets()
        .iter()
        .map(|street| {
            let mine = records.iter().filter(|r| {
                r.order.escalation_of.is_none()
                    && r.order.street_code() == Some(street.code.as_str())
            });
            let mut open = 0;
            let mut escalated = 0;
            let mut false_alarms = 0;
            let mut waits = Vec::new();
            for r in mine {
                match (&r.status, &r.ack) {
                    (Status::Acked, Some(ack)) => {
                        waits.push((ack.at_ms - dispatched_ms(r)).max(0) as f64 / 1000.0);
                        if ack.outcome == Outcome::FalseAlarm {
                            false_alarms += 1;
                        }
                    }
                    (Status::Escalated, _) => {
                        open += 1;
                        escalated += 1;
                    }
                    _ => open += 1,
                }
            }
            waits.sort_by(f64::total_cmp);
            let acked = waits.len();
            StreetSummary {
                code: street.code.clone(),
                name: street.name.clone(),
                name_en: street.name_en.clone(),
                open,
                escalated,
                acked,
                ack_p50_s: nearest_rank(&waits, 0.5),
                ack_p90_s: nearest_rank(&waits, 0.9),
                false_alarm_share: (acked > 0).then(|| false_alarms as f64 / acked as f64),
            }
        })
        .collect()
}

/// When the order was first dispatched: the first line of its history,
/// or its revision's time for a record without one.
fn dispatched_ms(r: &OrderRecord) -> i64 {
    r.history.first().map_or(r.order.created_ms, |h| h.at_ms)
}

/// The nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::record::{AckRecord, HistoryEntry};
    use crate::dispatch::Order;

    fn record(street: &str, dispatched: i64, ack: Option<(Outcome, i64)>) -> OrderRecord {
        let map = RegionMap::sample();
        let id = map.street_by_code(street).unwrap();
        let (lat, lon) = map.interior_point(id).unwrap();
        let mut order: Order = serde_json::from_value(serde_json::json!({
            "id": format!("T{dispatched}"), "revision": 1, "seq": 1, "created_ms": dispatched,
            "severity": "major", "category": "smoke", "incident_kind": "fire",
            "multi_source": false, "sources": ["sensor"],
            "place": {"cell": "891f1d4a49bffff", "lat": lat, "lon": lon,
                      "street": {"code": street, "name": "x", "name_en": "x"}},
            "events": [], "event_count": 1, "plan": "p", "deadline_ms": dispatched + 60_000,
            "camera": null, "first_seen_ms": dispatched, "last_seen_ms": dispatched, "repeat": 0
        }))
        .unwrap();
        order.seq = 1;
        OrderRecord {
            order,
            status: if ack.is_some() {
                Status::Acked
            } else {
                Status::Open
            },
            street_seq: 1,
            district_seq: 1,
            ack: ack.map(|(outcome, at_ms)| AckRecord {
                outcome,
                note: String::new(),
                by: street.into(),
                at_ms,
            }),
            history: vec![HistoryEntry {
                at_ms: dispatched,
                what: "dispatched".into(),
                detail: String::new(),
                by: None,
            }],
            disposal: Default::default(),
        }
    }

    #[test]
    fn figures_per_street_from_records() {
        let caoyang = "310107005000";
        let records: Vec<OrderRecord> = (1..=10)
            .map(|i| {
                let outcome = if i <= 3 {
                    Outcome::FalseAlarm
                } else {
                    Outcome::Confirmed
                };
                record(caoyang, 1_000, Some((outcome, 1_000 + i * 1_000)))
            })
            .chain([record(caoyang, 5_000, None)])
            .collect();
        let all = by_street(&RegionMap::sample(), &records);
        assert_eq!(
            all.len(),
            10,
            "every street of the map, with or without orders"
        );
        let s = all.iter().find(|s| s.code == caoyang).unwrap();
        assert_eq!((s.open, s.acked, s.escalated), (1, 10, 0));
        assert_eq!(s.ack_p50_s, Some(5.0));
        assert_eq!(s.ack_p90_s, Some(9.0));
        assert_eq!(s.false_alarm_share, Some(0.3));
        let quiet = all.iter().find(|s| s.code != caoyang).unwrap();
        assert_eq!((quiet.open, quiet.acked), (0, 0));
        assert_eq!(quiet.ack_p50_s, None);
        assert_eq!(quiet.false_alarm_share, None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 0.5), None);
        assert_eq!(nearest_rank(&[7.0], 0.9), Some(7.0));
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 0.9), Some(4.0));
    }
}
