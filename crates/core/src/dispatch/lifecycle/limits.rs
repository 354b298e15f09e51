//! The time limit of each stage, from the rule (both scaled by the
//! emergency profile): `accept` to accept (签收) the order, when the rule
//! sets one, and `deadline` to resolve it; work sent back gets the rule's
//! whole span again from the moment it returns. A missed limit escalates
//! the order to the district, once.

use super::Stage;

/// When work sent back at `now_ms` must be resolved again by: the span
/// the rule gave the order (`created_ms` to `deadline_ms`) from now.
pub fn rework_by(created_ms: i64, deadline_ms: i64, now_ms: i64) -> i64 {
    now_ms.saturating_add(deadline_ms.saturating_sub(created_ms).max(0))
}

/// The next limit an open order at `stage` can miss: to accept while
/// dispatched (when the rule set an accept limit), to resolve while the
/// street handles it; none once resolved.
pub fn next_limit(stage: Stage, accept_by_ms: Option<i64>, resolve_by_ms: i64) -> Option<i64> {
    match stage {
        Stage::Dispatched => Some(accept_by_ms.map_or(resolve_by_ms, |a| a.min(resolve_by_ms))),
        s if s.is_with_street() => Some(resolve_by_ms),
        _ => None,
    }
}
