//! Baseline against candidate: two replays of the same recording (the
//! rules in force, the rules proposed), joined with how street platforms
//! judged the baseline's orders (the outbox's acks, by the same
//! deterministic ids). It says, per rule, incident kind and street, how
//! many orders and multi-source warnings each side makes and how long
//! from the first breaching event to the order; which known false alarms
//! the candidate would not raise; which confirmed or resolved incidents
//! it would miss or raise later, and by how much; which of its orders
//! nobody has judged; and lists every order that differs.
//!
//! An order of one side is the same as one of the other when their ids
//! are equal; failing that, when they are of the same kind, opened by the
//! same device (or else in the same cell), within `match_window_ms` of
//! each other (a higher threshold starts the breach later, and so changes
//! the id; another source may open the incident first).

use super::run::{ReplayRun, ReplayedOrder};
use crate::wire::control::Outcome;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How long a candidate order may come after (or before) a baseline one
/// of the same kind and device and still be the same incident, by default.
pub const DEFAULT_MATCH_WINDOW_MS: i64 = 10 * 60_000;

/// Counts and delays of one side.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Side {
    /// Orders.
    pub orders: usize,
    /// Of them, multi-source warnings (多源预警).
    pub multi_source: usize,
    /// Median time from the first breaching event to the order, ms.
    pub delay_median_ms: Option<i64>,
    /// 90th percentile of the same, ms.
    pub delay_p90_ms: Option<i64>,
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The rule (category), kind or street code (`none`: no street).
    pub key: String,
    /// The rules in force.
    pub baseline: Side,
    /// The rules proposed.
    pub candidate: Side,
}

/// An order named in a list, with how it was judged (baseline orders).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderRef {
    /// Order id.
    pub id: String,
    /// Lead rule's category.
    pub rule: String,
    /// Incident kind.
    pub kind: String,
    /// Severity.
    pub severity: String,
    /// Street code, if any.
    pub street: Option<String>,
    /// When it was (or would be) made, event time, Unix ms.
    pub ordered_ms: i64,
    /// First breaching event to order, ms.
    pub delay_ms: i64,
    /// The street's judgement, if it acknowledged the order.
    pub outcome: Option<Outcome>,
}

impl OrderRef {
    fn of(o: &ReplayedOrder, outcome: Option<Outcome>) -> OrderRef {
        OrderRef {
            id: o.id.clone(),
            rule: o.rule.name().into(),
            kind: o.kind.clone(),
            severity: o.severity.name().into(),
            street: o.street.clone(),
            ordered_ms: o.ordered_ms,
            delay_ms: o.delay_ms(),
            outcome,
        }
    }
}

/// A confirmed or resolved incident the candidate raises later (or earlier).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shifted {
    /// The baseline's order.
    pub baseline: OrderRef,
    /// The candidate's order for the same incident.
    pub candidate_id: String,
    /// How much later the candidate orders it, ms (negative: earlier).
    pub later_by_ms: i64,
}

/// Where an order that differs is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Only {
    /// Raised by the rules in force only.
    Baseline,
    /// Raised by the proposed rules only.
    Candidate,
}

/// An order one side raises and the other does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Differing {
    /// Which side.
    pub only: Only,
    /// The order.
    pub order: OrderRef,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Every order.
    pub total: Row,
    /// Per rule (category).
    pub by_rule: Vec<Row>,
    /// Per incident kind.
    pub by_kind: Vec<Row>,
    /// Per street code.
    pub by_street: Vec<Row>,
    /// Baseline orders judged false alarms that the candidate would not raise.
    pub false_alarms_avoided: Vec<OrderRef>,
    /// Baseline orders judged false alarms that the candidate still raises.
    pub false_alarms_kept: usize,
    /// Confirmed or resolved baseline orders the candidate would not raise
    /// (each with the baseline's delay).
    pub missed: Vec<OrderRef>,
    /// Confirmed or resolved incidents the candidate raises at another time.
    pub shifted: Vec<Shifted>,
    /// Candidate orders with no baseline counterpart: nobody judged them.
    pub new_unjudged: Vec<OrderRef>,
    /// Every order only one side raises.
    pub differing: Vec<Differing>,
    /// Baseline orders with a judgement in the outbox.
    pub baseline_judged: usize,
}

/// Compares two replays of one recording; `outcomes` are the baseline
/// orders' judgements by id.
pub fn compare(
    baseline: &ReplayRun,
    candidate: &ReplayRun,
    outcomes: &HashMap<String, Outcome>,
    match_window_ms: i64,
) -> Comparison {
    let pairs = pair(&baseline.orders, &candidate.orders, match_window_ms);
    let mut taken = vec![false; candidate.orders.len()];
    for c in pairs.iter().flatten() {
        taken[*c] = true;
    }
    let mut cmp = Comparison {
        total: row("all".into(), &baseline.orders, &candidate.orders, |_| true),
        by_rule: breakdown(baseline, candidate, |o| o.rule.name().into()),
        by_kind: breakdown(baseline, candidate, |o| o.kind.clone()),
        by_street: breakdown(baseline, candidate, |o| {
            o.street.clone().unwrap_or_else(|| "none".into())
        }),
        false_alarms_avoided: Vec::new(),
        false_alarms_kept: 0,
        missed: Vec::new(),
        shifted: Vec::new(),
        new_unjudged: Vec::new(),
        differing: Vec::new(),
        baseline_judged: 0,
    };
    for (b, c) in baseline.orders.iter().zip(&pairs) {
        let outcome = outcomes.get(&b.id).copied();
        cmp.baseline_judged += usize::from(outcome.is_some());
        let real = matches!(outcome, Some(Outcome::Confirmed | Outcome::Resolved));
        match c.map(|c| &candidate.orders[c]) {
            None => {
                let r = OrderRef::of(b, outcome);
                if outcome == Some(Outcome::FalseAlarm) {
                    cmp.false_alarms_avoided.push(r.clone());
                } else if real {
                    cmp.missed.push(r.clone());
                }
                cmp.differing.push(Differing {
                    only: Only::Baseline,
                    order: r,
                });
            }
            Some(c) => {
                cmp.false_alarms_kept += usize::from(outcome == Some(Outcome::FalseAlarm));
                if real && c.ordered_ms != b.ordered_ms {
                    cmp.shifted.push(Shifted {
                        baseline: OrderRef::of(b, outcome),
                        candidate_id: c.id.clone(),
                        later_by_ms: c.ordered_ms - b.ordered_ms,
                    });
                }
            }
        }
    }
    for (c, o) in candidate.orders.iter().enumerate() {
        if !taken[c] {
            let r = OrderRef::of(o, None);
            cmp.new_unjudged.push(r.clone());
            cmp.differing.push(Differing {
                only: Only::Candidate,
                order: r,
            });
        }
    }
    cmp.differing
        .sort_by(|a, b| (a.order.ordered_ms, &a.order.id).cmp(&(b.order.ordered_ms, &b.order.id)));
    cmp
}

/// For each baseline order, the candidate order of the same incident: by
/// id first, then by kind and opening device, then by kind and cell,
/// within the window and nearest in time; each candidate order at most
/// once.
fn pair(base: &[ReplayedOrder], cand: &[ReplayedOrder], window_ms: i64) -> Vec<Option<usize>> {
    let by_id: HashMap<&str, usize> = cand
        .iter()
        .enumerate()
        .map(|(i, o)| (o.id.as_str(), i))
        .collect();
    let mut taken = vec![false; cand.len()];
    let mut out: Vec<Option<usize>> = base
        .iter()
        .map(|b| {
            let c = by_id.get(b.id.as_str()).copied()?;
            taken[c] = true;
            Some(c)
        })
        .collect();
    // Then the same device, then the same cell (a camera that now opens
    // the incident a smoke sensor opened before), nearest in time first.
    let keys: [fn(&ReplayedOrder) -> u64; 2] = [|o| o.device, |o| o.cell];
    for key in keys {
        let mut near: HashMap<(u64, &str), Vec<usize>> = HashMap::new();
        for (i, o) in cand.iter().enumerate() {
            if !taken[i] {
                near.entry((key(o), o.kind.as_str())).or_default().push(i);
            }
        }
        for (b, slot) in base.iter().zip(out.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            let Some(near) = near.get(&(key(b), b.kind.as_str())) else {
                continue;
            };
            let best = near
                .iter()
                .copied()
                .filter(|&c| !taken[c] && (cand[c].ordered_ms - b.ordered_ms).abs() <= window_ms)
                .min_by_key(|&c| (cand[c].ordered_ms - b.ordered_ms).abs());
            if let Some(c) = best {
                taken[c] = true;
                *slot = Some(c);
            }
        }
    }
    out
}

fn breakdown(
    baseline: &ReplayRun,
    candidate: &ReplayRun,
    key: impl Fn(&ReplayedOrder) -> String,
) -> Vec<Row> {
    let mut keys: BTreeMap<String, ()> = BTreeMap::new();
    for o in baseline.orders.iter().chain(&candidate.orders) {
        keys.insert(key(o), ());
    }
    keys.into_keys()
        .map(|k| {
            let of = |o: &ReplayedOrder| key(o) == k;
            row(k.clone(), &baseline.orders, &candidate.orders, of)
        })
        .collect()
}

fn row(
    key: String,
    base: &[ReplayedOrder],
    cand: &[ReplayedOrder],
    of: impl Fn(&ReplayedOrder) -> bool,
) -> Row {
    Row {
        key,
        baseline: side(base.iter().filter(|o| of(o))),
        candidate: side(cand.iter().filter(|o| of(o))),
    }
}

fn side<'a>(orders: impl Iterator<Item = &'a ReplayedOrder>) -> Side {
    let mut delays = Vec::new();
    let mut multi = 0;
    for o in orders {
        delays.push(o.delay_ms());
        multi += usize::from(o.multi_source);
    }
    delays.sort_unstable();
    Side {
        orders: delays.len(),
        multi_source: multi,
        delay_median_ms: percentile(&delays, 50),
        delay_p90_ms: percentile(&delays, 90),
    }
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}
