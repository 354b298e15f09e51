//! The shift handover (交接班): for a shift from `from` to `to`, which
//! orders were open when it began, which came during it, which were done
//! (resolved) during it, and which are left for the next shift. A pure
//! classification of records by their times; the shell reads the records
//! through the outbox's indexes.

use super::record::OrderRecord;
use serde::Serialize;

/// One shift's orders, by what happened to them, each newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Handover {
    /// The shift's start, Unix ms.
    pub from_ms: i64,
    /// Its end, Unix ms.
    pub to_ms: i64,
    /// Made before the shift and not resolved when it began.
    pub open_at_start: Vec<String>,
    /// Made during the shift.
    pub came: Vec<String>,
    /// Resolved during the shift.
    pub done: Vec<String>,
    /// Not resolved at the shift's end: for the next shift.
    pub left: Vec<String>,
}

/// When an order was resolved, if it was.
fn resolved_at(r: &OrderRecord) -> Option<i64> {
    r.ack.as_ref().map(|a| a.at_ms)
}

/// Classifies `records` (escalations are the district's own and are left
/// out: their street's order stands for them).
pub fn handover<'a>(
    records: impl IntoIterator<Item = &'a OrderRecord>,
    from_ms: i64,
    to_ms: i64,
) -> Handover {
    let mut h = Handover {
        from_ms,
        to_ms,
        ..Handover::default()
    };
    let mut rs: Vec<&OrderRecord> = records
        .into_iter()
        .filter(|r| r.order.escalation_of.is_none() && r.order.created_ms < to_ms)
        .collect();
    rs.sort_unstable_by(|a, b| {
        (b.order.created_ms, &b.order.id).cmp(&(a.order.created_ms, &a.order.id))
    });
    rs.dedup_by(|a, b| a.order.id == b.order.id);
    for r in rs {
        let made = r.order.created_ms;
        let resolved = resolved_at(r);
        let id = || r.order.id.clone();
        let open_at = |t: i64| made < t && resolved.is_none_or(|at| at >= t);
        if open_at(from_ms) {
            h.open_at_start.push(id());
        }
        if made >= from_ms {
            h.came.push(id());
        }
        if resolved.is_some_and(|at| at >= from_ms && at < to_ms) {
            h.done.push(id());
        }
        if open_at(to_ms) {
            h.left.push(id());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::record::{AckRecord, Status};
    use crate::wire::control::Outcome;

    fn record(id: &str, made: i64, resolved: Option<i64>) -> OrderRecord {
        let order: crate::dispatch::Order = serde_json::from_value(serde_json::json!({
            "id": id, "revision": 1, "seq": 1, "created_ms": made,
            "severity": "major", "category": "smoke", "incident_kind": "fire",
            "multi_source": false, "sources": ["sensor"],
            "place": {"cell": "891f1d4a49bffff", "lat": 31.25, "lon": 121.4, "street": null},
            "events": [], "event_count": 1, "plan": "p", "deadline_ms": made + 60_000,
            "camera": null, "first_seen_ms": made, "last_seen_ms": made, "repeat": 0
        }))
        .unwrap();
        let mut r = OrderRecord::dispatched(order, 0, 1);
        if let Some(at_ms) = resolved {
            r.status = Status::Acked;
            r.ack = Some(AckRecord {
                outcome: Outcome::Resolved,
                note: String::new(),
                by: "x".into(),
                at_ms,
            });
        }
        r
    }

    #[test]
    fn a_shift_hands_over_what_was_open_what_came_what_was_done_and_what_is_left() {
        let (from, to) = (1_000, 2_000);
        let rs = [
            record("old-open", 500, None),
            record("old-done-in-shift", 600, Some(1_500)),
            record("old-done-before", 700, Some(900)),
            record("new-done", 1_200, Some(1_800)),
            record("new-open", 1_300, None),
            record("new-done-after", 1_400, Some(2_500)),
            record("next-shift", 2_100, None),
        ];
        let h = handover(&rs, from, to);
        assert_eq!(h.open_at_start, ["old-done-in-shift", "old-open"]);
        assert_eq!(h.came, ["new-done-after", "new-open", "new-done"]);
        assert_eq!(h.done, ["new-done", "old-done-in-shift"]);
        assert_eq!(h.left, ["new-done-after", "new-open", "old-open"]);
    }
}
