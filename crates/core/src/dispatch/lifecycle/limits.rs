//! The time limit of each stage, from the rule (both scaled by the
//! emergency profile): `accept` to accept (签收) the order, when the rule
//! sets one, and `deadline` to resolve it; work sent back gets the rule's
//! whole span again from the moment it returns. A missed limit escalates
//! the order to the district, once.

use crate::dispatch::record::{OrderRecord, Status};

/// When work sent back at `now_ms` must be resolved again by.
pub fn rework_by(r: &OrderRecord, now_ms: i64) -> i64 {
    let span = r
        .order
        .deadline_ms
        .saturating_sub(r.order.created_ms)
        .max(0);
    now_ms.saturating_add(span)
}

/// The next limit the order can miss, if one is still watched: to accept
/// while dispatched, to resolve while the street handles it. None once it
/// escalated, is resolved, or is itself an escalation.
pub fn next_limit(r: &OrderRecord) -> Option<i64> {
    if r.status != Status::Open || r.order.escalation_of.is_some() {
        return None;
    }
    let resolve_by = r.disposal.resolve_by_ms.unwrap_or(r.order.deadline_ms);
    match r.disposal.stage {
        super::Stage::Dispatched => Some(
            r.order
                .accept_by_ms
                .map_or(resolve_by, |a| a.min(resolve_by)),
        ),
        s if s.is_with_street() => Some(resolve_by),
        _ => None,
    }
}
