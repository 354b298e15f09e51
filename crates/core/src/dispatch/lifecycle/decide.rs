//! What a step does to an order, decided from the record as it stands:
//! whether this person may take it now, and the record after it. No
//! sequence numbers here: the round gives a [`Change`] that must be seen
//! by a street its log entries, and commits it with everything else.

use super::actor::Actor;
use super::limits;
use super::stage::Stage;
use super::step::{Step, StepKind};
use super::StepAnswer;
use crate::dispatch::mask;
use crate::dispatch::order::{DisposalNote, StreetRef};
use crate::dispatch::record::{AckRecord, FeedbackRecord, HistoryEntry, OrderRecord, Status};
use crate::geo::RegionMap;
use crate::people::Action;
use crate::wire::control::{Outcome, DISTRICT};

/// A step's effect, once it is decided it may be taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The record after the step.
    pub record: OrderRecord,
    /// Whether the street (and for a transfer, both streets) must receive
    /// a new revision of the order: the street cannot see it otherwise.
    pub publish: bool,
    /// For a transfer: the street the order left (none: it came from the
    /// district).
    pub left: Option<StreetRef>,
    /// The outcome the order's devices are judged by, on the order's first
    /// resolution.
    pub judge: Option<Outcome>,
}

/// Decides `step` by `actor` on the order `record` at `now_ms`.
pub fn decide(
    record: &OrderRecord,
    step: &Step,
    actor: &Actor,
    map: &RegionMap,
    now_ms: i64,
) -> Result<Change, StepAnswer> {
    if let Some(why) = step.invalid() {
        return Err(StepAnswer::Invalid(why));
    }
    check_actor(record, step.kind(), actor, map)?;
    let stage = record.disposal.stage;
    if !allowed_from(step.kind(), stage) {
        return Err(StepAnswer::WrongStage {
            step: step.kind(),
            stage,
        });
    }
    let by = actor.label(map);
    let mut r = record.clone();
    let (mut publish, mut left, mut judge) = (false, None, None);
    let detail = match step {
        Step::Accept { note } => {
            r.disposal.accepted_by = Some(by.clone());
            r.disposal.stage = Stage::Accepted;
            mask::mask_text(note)
        }
        Step::Assign { to, note } => {
            let to = mask::mask_text(to);
            r.disposal.assignee = Some(to.clone());
            r.disposal.stage = Stage::InProgress;
            join(&format!("派遣到 {to}"), &mask::mask_text(note))
        }
        Step::Feedback { note, photos } => {
            let note = mask::mask_text(note);
            r.disposal.feedback.push(FeedbackRecord {
                at_ms: now_ms,
                by: by.clone(),
                note: note.clone(),
                photos: photos.clone(),
            });
            r.disposal.stage = Stage::Feedback;
            join(&format!("照片 {} 张", photos.len()), &note)
        }
        Step::Resolve { outcome, note } => {
            let note = mask::mask_text(note);
            if r.ack.is_none() {
                judge = Some(*outcome);
            }
            r.status = Status::Acked;
            r.disposal.stage = Stage::Resolved;
            r.ack = Some(AckRecord {
                outcome: *outcome,
                note: note.clone(),
                by: by.clone(),
                at_ms: now_ms,
            });
            join(outcome.name(), &note)
        }
        Step::SendBack { reason } => {
            let reason = mask::mask_text(reason);
            r.status = Status::Open;
            r.disposal.stage = Stage::SentBack;
            r.disposal.resolve_by_ms = Some(limits::rework_by(
                record.order.created_ms,
                record.order.deadline_ms,
                now_ms,
            ));
            publish = true;
            note_on(&mut r, StepKind::SendBack, &by, &reason, now_ms);
            reason
        }
        Step::Verify { note } => {
            r.disposal.stage = Stage::Verified;
            mask::mask_text(note)
        }
        Step::Close { note } => {
            let note = mask::mask_text(note);
            r.disposal.stage = Stage::Closed;
            publish = true;
            note_on(&mut r, StepKind::Close, &by, &note, now_ms);
            note
        }
        Step::Transfer { to, reason } => {
            let reason = mask::mask_text(reason);
            let target = transfer_target(record, to, map)?;
            left = r.order.place.street.take();
            r.order.place.street = target;
            r.disposal.stage = Stage::Dispatched;
            r.disposal.accepted_by = None;
            r.disposal.assignee = None;
            // The new street gets the rule's limits afresh.
            let span = (record.order.deadline_ms - record.order.created_ms).max(0);
            r.order.accept_by_ms = record
                .order
                .accept_by_ms
                .map(|a| now_ms.saturating_add(a - record.order.created_ms));
            r.disposal.resolve_by_ms = Some(now_ms.saturating_add(span));
            publish = true;
            let from = street_name(left.as_ref());
            let to_name = street_name(r.order.place.street.as_ref());
            note_on(&mut r, StepKind::Transfer, &by, &reason, now_ms);
            if let Some(n) = r.order.disposal.as_mut() {
                n.from = Some(code(left.as_ref()));
                n.to = Some(code(r.order.place.street.as_ref()));
            }
            join(&format!("{from} → {to_name}"), &reason)
        }
    };
    r.history.push(HistoryEntry {
        at_ms: now_ms,
        what: step.kind().name().into(),
        detail,
        by: Some(by),
    });
    Ok(Change {
        record: r,
        publish,
        left,
        judge,
    })
}

/// Whether `actor` may take a step of `kind` on the order: the street's
/// own people do the street's steps (assigning and transferring need a
/// supervisor); the district verifies, sends back, closes, re-routes, and
/// may resolve as it always could acknowledge.
fn check_actor(
    record: &OrderRecord,
    kind: StepKind,
    actor: &Actor,
    map: &RegionMap,
) -> Result<(), StepAnswer> {
    if record.order.escalation_of.is_some() {
        return Err(StepAnswer::Invalid(
            "督办工单只需确认（ORDER_ACK），处置在原工单上进行 / a 督办 order is acknowledged; the work is done on the street's order".into(),
        ));
    }
    let district_step = matches!(
        kind,
        StepKind::SendBack | StepKind::Verify | StepKind::Close
    );
    let supervises = district_step || (actor.is_district() && kind == StepKind::Transfer);
    let action = if supervises {
        Action::SuperviseOrder
    } else if matches!(kind, StepKind::Assign | StepKind::Transfer) {
        Action::AssignOrder
    } else {
        Action::HandleOrder
    };
    let in_scope = if actor.is_district() {
        !matches!(
            kind,
            StepKind::Accept | StepKind::Assign | StepKind::Feedback
        )
    } else {
        !supervises && actor.scope.may_see(map, &record.order)
    };
    if in_scope && actor.role.may(action) {
        return Ok(());
    }
    Err(StepAnswer::Forbidden(if district_step {
        format!(
            "{}由区总值班进行 / only the district desk may `{kind}`",
            kind.label_zh()
        )
    } else if in_scope {
        format!(
            "{}不能{}（须{}）/ a {} may not `{kind}`: {}",
            actor.role.name_zh(),
            kind.label_zh(),
            "街镇负责人",
            actor.role.name(),
            action.describe()
        )
    } else {
        format!(
            "{}不能对本工单{} / {} may not `{kind}` this order",
            actor.label(map),
            kind.label_zh(),
            actor.person
        )
    }))
}

/// The stages a step can be taken from.
fn allowed_from(kind: StepKind, stage: Stage) -> bool {
    match kind {
        StepKind::Accept => stage == Stage::Dispatched,
        StepKind::Assign | StepKind::Feedback => {
            stage.is_with_street() && stage != Stage::Dispatched
        }
        StepKind::Resolve | StepKind::Transfer => stage.is_with_street(),
        StepKind::SendBack | StepKind::Verify => stage == Stage::Resolved,
        StepKind::Close => matches!(stage, Stage::Resolved | Stage::Verified),
    }
}

/// The street an order is transferred to, or none for the district.
fn transfer_target(
    record: &OrderRecord,
    to: &str,
    map: &RegionMap,
) -> Result<Option<StreetRef>, StepAnswer> {
    let target = if to == DISTRICT {
        None
    } else {
        let id = map.street_by_code(to).ok_or_else(|| {
            StepAnswer::Invalid(format!(
                "没有街镇代码 {to:?} / no street has the code {to:?} (12 digits, or \"district\")"
            ))
        })?;
        let s = map.street(id);
        Some(StreetRef {
            code: s.code.clone(),
            name: s.name.clone(),
            name_en: s.name_en.clone(),
        })
    };
    if target == record.order.place.street {
        return Err(StepAnswer::Invalid(format!(
            "工单已属于{} / the order is {}'s already",
            street_name(target.as_ref()),
            code(target.as_ref())
        )));
    }
    Ok(target)
}

/// Marks the order itself with the step, for the revision sent.
fn note_on(r: &mut OrderRecord, step: StepKind, by: &str, reason: &str, now_ms: i64) {
    r.order.revision += 1;
    r.order.disposal = Some(DisposalNote {
        step,
        stage: r.disposal.stage,
        by: by.to_owned(),
        reason: reason.to_owned(),
        at_ms: now_ms,
        from: None,
        to: None,
    });
}

fn join(head: &str, note: &str) -> String {
    if note.is_empty() {
        head.to_owned()
    } else {
        format!("{head}：{note}")
    }
}

fn street_name(s: Option<&StreetRef>) -> String {
    s.map_or_else(|| "区总值班".to_owned(), |s| s.name.clone())
}

fn code(s: Option<&StreetRef>) -> String {
    s.map_or_else(|| DISTRICT.to_owned(), |s| s.code.clone())
}
