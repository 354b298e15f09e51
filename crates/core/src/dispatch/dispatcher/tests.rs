//! The dispatcher's decisions with a manual clock: time is a number the
//! test moves, the outbox a map the test commits into (or refuses to).

use super::*;

mod lifecycle;
mod maintenance;
use crate::dispatch::record::{OrderRecord, Status};
use crate::engine::Detection;
use crate::geo::StreetId;
use crate::model::{CameraRef, Event, Source};
use std::collections::HashMap;

const CAOYANG: &str = "310107005000";
const CHANGZHENG: &str = "310107020000";
const DEADLINE_MS: i64 = 300_000;
const T0: i64 = 1_800_000_000_000;

/// A dispatcher, its outbox, and whether the next commit fails.
struct Desk {
    d: Dispatcher,
    outbox: HashMap<String, OrderRecord>,
    logs: Vec<(String, u64, String)>,
    disk_full: bool,
    commits: usize,
}

impl Desk {
    fn new() -> Desk {
        Desk::restarted(HashMap::new(), Vec::new())
    }

    /// A dispatcher started on an outbox, as the hub recovers it.
    fn restarted(outbox: HashMap<String, OrderRecord>, logs: Vec<(String, u64, String)>) -> Desk {
        let mut last: HashMap<String, u64> = HashMap::new();
        for (scope, seq, _) in &logs {
            let l = last.entry(scope.clone()).or_default();
            *l = (*l).max(*seq);
        }
        let recovered = Recovered {
            last_seqs: last.into_iter().collect(),
            open_deadlines: outbox
                .values()
                .filter(|r| r.status == Status::Open && r.order.escalation_of.is_none())
                .map(|r| (r.order.id.clone(), r.order.deadline_ms))
                .collect(),
            devices: Vec::new(),
        };
        let policy = QualityPolicy {
            max_false_alarm_rate: 0.5,
            min_judged_orders: 3,
        };
        Desk {
            d: Dispatcher::new(Arc::new(RegionMap::sample()), policy, recovered),
            outbox,
            logs,
            disk_full: false,
            commits: 0,
        }
    }

    /// Drives one round at `now`: commit if there is something to write,
    /// then everything that goes out.
    fn step(&mut self, now: i64) -> Vec<Output> {
        if let Some(batch) = self.d.poll_commit(now, &self.outbox) {
            assert!(
                self.d.poll_output().is_none(),
                "nothing goes out before its commit"
            );
            if self.disk_full {
                self.d.on_committed(now, false);
            } else {
                self.commits += 1;
                for r in batch.orders {
                    self.outbox.insert(r.order.id.clone(), r);
                }
                self.logs.extend(batch.log);
                self.d.on_committed(now, true);
            }
        }
        std::iter::from_fn(|| self.d.poll_output()).collect()
    }

    fn record(&self, id: &str) -> &OrderRecord {
        &self.outbox[id]
    }

    fn street(&self, code: &str) -> Scope {
        Scope::Street(self.street_id(code))
    }

    fn street_id(&self, code: &str) -> StreetId {
        self.d
            .map
            .street_by_code(code)
            .expect("a street of the sample map")
    }

    fn point_in(&self, code: &str) -> (f64, f64) {
        self.d
            .map
            .interior_point(self.street_id(code))
            .expect("a street has a point inside")
    }

    fn ack(&mut self, id: &str, outcome: Outcome, scope: Scope) -> ReplyId {
        let ack = OrderAck {
            order_id: id.to_owned(),
            outcome,
            note: "现场核实 13912345678".into(),
        };
        self.d.handle_ack(ack, scope)
    }
}

/// A smoke alarm of `device` in `street`, its condition begun at `t`.
fn smoke(desk: &Desk, street: &str, device: u64, t: i64) -> Warning {
    let (lat, lon) = desk.point_in(street);
    let cell = crate::geo::cell_of(lat, lon).expect("a cell");
    let detection = Detection {
        event: Event {
            device,
            seq: 1,
            time_ms: t + 10_000,
            value: 14.0,
            lat,
            lon,
            cell,
            category: Category::Smoke,
            source: Source::Sensor,
            camera: CameraRef::NONE,
        },
        first_seen_ms: t,
        count: 3,
        repeat: 0,
        arrival: 0,
        late_ms: None,
    };
    Warning {
        incident: 1,
        revision: 1,
        kind: "fire".into(),
        category: Category::Smoke,
        severity: Severity::Major,
        cell,
        lat,
        lon,
        sources: vec![Source::Sensor],
        detections: vec![detection],
        detection_count: 1,
        plan: "派员现场核查".into(),
        deadline_ms: DEADLINE_MS,
        accept_ms: None,
        first_ms: t,
        last_ms: t + 10_000,
        arrival: 0,
        repeat: 0,
    }
}

fn published(outputs: &[Output]) -> Vec<(Scope, u64, String)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Publish { scope, seq, order } => Some((*scope, *seq, order.id.clone())),
            _ => None,
        })
        .collect()
}

fn answer(outputs: &[Output], reply: ReplyId) -> AckAnswer {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::AckAnswered {
                reply: r, answer, ..
            } if *r == reply => Some(*answer),
            _ => None,
        })
        .expect("the ack was answered")
}

fn escalations(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Escalated { escalation_id, .. } => Some(escalation_id.clone()),
            _ => None,
        })
        .collect()
}

/// One order dispatched to Caoyang at T0; returns its id.
fn dispatched(desk: &mut Desk) -> String {
    let w = smoke(desk, CAOYANG, 7, T0 - 60_000);
    desk.d.handle_warning(w, vec![None]);
    let out = desk.step(T0);
    published(&out)[0].2.clone()
}

#[test]
fn a_warning_becomes_one_order_for_its_street_and_the_district_once_durable() {
    let mut desk = Desk::new();
    let w = smoke(&desk, CAOYANG, 7, T0 - 60_000);
    desk.d.handle_warning(w, vec![None]);
    let out = desk.step(T0);
    let sent = published(&out);
    assert_eq!(sent.len(), 2, "{out:?}");
    let caoyang = desk.street(CAOYANG);
    assert_eq!((sent[0].0, sent[0].1), (caoyang, 1));
    assert_eq!((sent[1].0, sent[1].1), (Scope::District, 1));
    assert_eq!(sent[0].2, sent[1].2, "one order, two logs");
    let r = desk.record(&sent[0].2);
    assert_eq!(
        (r.status, r.street_seq, r.district_seq),
        (Status::Open, 1, 1)
    );
    assert_eq!(r.order.deadline_ms, T0 + DEADLINE_MS);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Dispatched(d) if d.street == CAOYANG)));
    assert_eq!(
        desk.d.poll_timeout(),
        Some(T0 + DEADLINE_MS),
        "its deadline is watched"
    );
}

#[test]
fn an_unacknowledged_order_escalates_once_at_its_deadline_to_the_district() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    assert!(
        desk.step(T0 + DEADLINE_MS - 1).is_empty(),
        "not a millisecond early"
    );
    let out = desk.step(T0 + DEADLINE_MS);
    let esc = format!("{id}-E");
    assert_eq!(escalations(&out), vec![esc.clone()]);
    assert_eq!(published(&out), vec![(Scope::District, 2, esc.clone())]);
    assert_eq!(desk.record(&id).status, Status::Escalated);
    let e = desk.record(&esc);
    assert_eq!(
        (e.status, e.order.escalation_of.as_deref()),
        (Status::Open, Some(id.as_str()))
    );
    assert!(desk.step(T0 + 10 * DEADLINE_MS).is_empty(), "once");
    assert_eq!(desk.d.poll_timeout(), None);
}

#[test]
fn the_district_acting_on_an_escalation_urges_the_street_and_leaves_its_order_open() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    desk.step(T0 + DEADLINE_MS);
    let esc = format!("{id}-E");
    let street = desk.street(CAOYANG);
    let refused = desk.ack(&esc, Outcome::Confirmed, street);
    let reply = desk.ack(&esc, Outcome::Confirmed, Scope::District);
    let out = desk.step(T0 + DEADLINE_MS + 5_000);
    assert_eq!(
        answer(&out, refused),
        AckAnswer::Forbidden,
        "an escalation is the district's"
    );
    assert_eq!(answer(&out, reply), AckAnswer::Recorded(Outcome::Confirmed));
    let escalation = desk.record(&esc);
    assert_eq!(escalation.status, Status::Acked);
    assert_eq!(escalation.ack.as_ref().unwrap().by, "district");
    assert_eq!(
        escalation.ack.as_ref().unwrap().note,
        "现场核实 139****5678",
        "phone numbers masked before they are kept"
    );
    let order = desk.record(&id);
    assert_eq!(
        order.status,
        Status::Escalated,
        "still open: the street has not acted"
    );
    assert!(order.ack.is_none());
    let urged = order.history.last().unwrap();
    assert_eq!(urged.what, "urged");
    assert!(
        urged
            .detail
            .starts_with("督办 urged by district (confirmed)"),
        "{}",
        urged.detail
    );
    // The street acts: its order closes, and the escalation stays closed.
    let street = desk.street(CAOYANG);
    let closed = desk.ack(&id, Outcome::Resolved, street);
    let out = desk.step(T0 + DEADLINE_MS + 6_000);
    assert_eq!(answer(&out, closed), AckAnswer::Recorded(Outcome::Resolved));
    assert_eq!(desk.record(&id).status, Status::Acked);
    assert_eq!(
        desk.record(&id).ack.as_ref().unwrap().outcome,
        Outcome::Resolved
    );
}

#[test]
fn a_street_acknowledging_in_time_closes_its_order_and_nothing_escalates() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let street = desk.street(CAOYANG);
    let reply = desk.ack(&id, Outcome::Resolved, street);
    let out = desk.step(T0 + 1_000);
    assert_eq!(answer(&out, reply), AckAnswer::Recorded(Outcome::Resolved));
    assert_eq!(desk.record(&id).status, Status::Acked);
    assert_eq!(desk.d.poll_timeout(), None, "no deadline left");
    assert!(desk.step(T0 + DEADLINE_MS).is_empty());
}

#[test]
fn the_street_acknowledging_late_closes_the_escalation_with_its_order() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    desk.step(T0 + DEADLINE_MS);
    let street = desk.street(CAOYANG);
    let reply = desk.ack(&id, Outcome::Confirmed, street);
    let out = desk.step(T0 + DEADLINE_MS + 1);
    assert_eq!(answer(&out, reply), AckAnswer::Recorded(Outcome::Confirmed));
    let esc = desk.record(&format!("{id}-E"));
    assert_eq!(esc.status, Status::Acked);
    assert_eq!(
        esc.history.last().unwrap().detail,
        format!("closed with {id}")
    );
}

#[test]
fn duplicate_forbidden_and_unknown_acks_are_answered_and_change_nothing() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let caoyang = desk.street(CAOYANG);
    let changzheng = desk.street(CHANGZHENG);
    let first = desk.ack(&id, Outcome::Confirmed, caoyang);
    let again = desk.ack(&id, Outcome::FalseAlarm, caoyang);
    let other_street = desk.ack(&id, Outcome::FalseAlarm, changzheng);
    let unknown = desk.ack("TG0-0000000000000000", Outcome::Resolved, caoyang);
    let out = desk.step(T0 + 1_000);
    assert_eq!(answer(&out, first), AckAnswer::Recorded(Outcome::Confirmed));
    assert_eq!(answer(&out, again), AckAnswer::Duplicate);
    assert_eq!(answer(&out, other_street), AckAnswer::Forbidden);
    assert_eq!(answer(&out, unknown), AckAnswer::UnknownOrder);
    let r = desk.record(&id);
    assert_eq!(r.ack.as_ref().unwrap().outcome, Outcome::Confirmed);
    assert_eq!(r.history.iter().filter(|h| h.what == "acked").count(), 1);

    // Refused acks alone write nothing: no commit for them.
    let commits = desk.commits;
    let late = desk.ack(&id, Outcome::Resolved, caoyang);
    let out = desk.step(T0 + 2_000);
    assert_eq!(answer(&out, late), AckAnswer::Duplicate);
    assert_eq!(desk.commits, commits);
}

#[test]
fn a_failed_commit_spends_no_sequence_number_and_is_tried_again() {
    let mut desk = Desk::new();
    desk.disk_full = true;
    let w = smoke(&desk, CAOYANG, 7, T0 - 60_000);
    desk.d.handle_warning(w, vec![None]);
    assert!(
        desk.step(T0).is_empty(),
        "nothing is sent that is not durable"
    );
    assert!(desk.outbox.is_empty());
    assert_eq!(desk.d.poll_timeout(), Some(T0 + COMMIT_RETRY_MS));
    assert!(
        desk.step(T0 + COMMIT_RETRY_MS - 1).is_empty(),
        "not before the retry"
    );

    desk.disk_full = false;
    let out = desk.step(T0 + COMMIT_RETRY_MS);
    let sent = published(&out);
    assert_eq!(sent.len(), 2, "the warning was kept, not lost");
    assert_eq!((sent[0].1, sent[1].1), (1, 1), "sequence 1 was not spent");
    assert_eq!(desk.record(&sent[0].2).history.len(), 1);
}

#[test]
fn a_failed_commit_escalates_nothing_until_a_commit_succeeds() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    desk.disk_full = true;
    assert!(desk.step(T0 + DEADLINE_MS).is_empty());
    assert_eq!(desk.record(&id).status, Status::Open);
    desk.disk_full = false;
    let out = desk.step(T0 + DEADLINE_MS + COMMIT_RETRY_MS);
    assert_eq!(escalations(&out), vec![format!("{id}-E")]);
    assert_eq!(published(&out)[0].1, 2, "the district's next number, once");
}

#[test]
fn an_ack_waiting_for_a_failing_outbox_is_answered_once_it_is_durable() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    desk.disk_full = true;
    let street = desk.street(CAOYANG);
    let reply = desk.ack(&id, Outcome::Confirmed, street);
    assert!(
        desk.step(T0 + 1_000).is_empty(),
        "no answer before it is durable"
    );
    desk.disk_full = false;
    let out = desk.step(T0 + 1_000 + COMMIT_RETRY_MS);
    assert_eq!(answer(&out, reply), AckAnswer::Recorded(Outcome::Confirmed));
}

#[test]
fn a_device_is_flagged_after_enough_false_alarms_and_unflagged_by_confirmations() {
    let mut desk = Desk::new();
    let street = desk.street(CAOYANG);
    let mut flags = Vec::new();
    for (i, outcome) in [Outcome::FalseAlarm, Outcome::FalseAlarm, Outcome::Confirmed]
        .into_iter()
        .enumerate()
    {
        let t = T0 + i as i64 * 3_600_000;
        let w = smoke(&desk, CAOYANG, 42, t);
        desk.d.handle_warning(w, vec![None]);
        let id = published(&desk.step(t + 1))[0].2.clone();
        desk.ack(&id, outcome, street);
        flags.extend(desk.step(t + 2).into_iter().filter_map(|o| match o {
            Output::DeviceFlag { device, flagged } => Some((device, flagged)),
            _ => None,
        }));
    }
    assert_eq!(
        flags,
        vec![(42, true)],
        "2 of 3 false: over 0.5 with 3 judged"
    );
    assert_eq!(desk.d.flagged().collect::<Vec<_>>(), vec![42]);
    let w = smoke(&desk, CAOYANG, 42, T0 + 10 * 3_600_000);
    desk.d.handle_warning(w, vec![None]);
    let id = published(&desk.step(T0 + 10 * 3_600_000 + 1))[0].2.clone();
    desk.ack(&id, Outcome::Confirmed, street);
    let out = desk.step(T0 + 10 * 3_600_000 + 2);
    assert!(out.contains(&Output::DeviceFlag {
        device: 42,
        flagged: false
    }));
    assert_eq!(desk.d.flagged_count(), 0);
}

#[test]
fn an_update_of_an_acknowledged_order_keeps_its_ack_and_does_not_escalate() {
    let mut desk = Desk::new();
    let w = smoke(&desk, CAOYANG, 7, T0 - 60_000);
    desk.d.handle_warning(w.clone(), vec![None]);
    let id = published(&desk.step(T0))[0].2.clone();
    let street = desk.street(CAOYANG);
    desk.ack(&id, Outcome::Confirmed, street);
    desk.step(T0 + 1_000);

    let mut update = w;
    update.revision = 2;
    update.severity = Severity::Critical;
    update.sources.push(Source::Video);
    desk.d.handle_warning(update, vec![None]);
    let out = desk.step(T0 + 2_000);
    let sent = published(&out);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].2, id, "same incident, same id");
    assert_eq!(
        (sent[0].1, sent[1].1),
        (2, 2),
        "a new log entry for the new revision"
    );
    let r = desk.record(&id);
    assert_eq!((r.status, r.order.revision), (Status::Acked, 2));
    assert_eq!(r.history.last().unwrap().what, "updated");
    assert_eq!(
        desk.d.poll_timeout(),
        None,
        "an acknowledged order is not watched again"
    );
}

/// Three incidents through a new dispatcher at wall time `now`: the ids
/// of their orders.
fn three_incidents(now: i64) -> Vec<String> {
    let mut desk = Desk::new();
    let warnings = [
        smoke(&desk, CAOYANG, 7, T0 - 60_000),
        smoke(&desk, CHANGZHENG, 8, T0 - 30_000),
        smoke(&desk, CAOYANG, 9, T0 - 60_000),
    ];
    for w in warnings {
        desk.d.handle_warning(w, vec![None]);
    }
    published(&desk.step(now))
        .into_iter()
        .filter(|(s, _, _)| *s == Scope::District)
        .map(|(_, _, id)| id)
        .collect()
}

#[test]
fn the_same_events_give_the_same_order_ids_in_two_dispatchers() {
    // Different wall clocks: ids come from the events, not from `now`.
    let first = three_incidents(T0);
    let second = three_incidents(T0 + 123_456);
    assert_eq!(first, second);
    let distinct: std::collections::HashSet<_> = first.iter().collect();
    assert_eq!(distinct.len(), 3, "three incidents, three ids");
}

#[test]
fn a_restarted_dispatcher_seeing_an_incident_again_gives_it_no_second_id() {
    let mut before = Desk::new();
    let id = dispatched(&mut before);
    let mut after = Desk::restarted(before.outbox.clone(), before.logs.clone());
    let w = smoke(&after, CAOYANG, 7, T0 - 60_000);
    assert_eq!(w.revision, 1, "a new correlator numbers revisions from 1");
    after.d.handle_warning(w.clone(), vec![None]);
    let out = after.step(T0 + 30_000);
    assert!(
        published(&out).is_empty(),
        "the same incident as it was is no news: {out:?}"
    );
    assert_eq!(after.outbox.len(), 1);
    assert_eq!(after.record(&id).order.revision, 1);

    // Seen again with more to say, it is an update of the same order.
    let mut more = w;
    more.sources.push(Source::Video);
    more.severity = Severity::Critical;
    after.d.handle_warning(more, vec![None]);
    let sent = published(&after.step(T0 + 31_000));
    assert!(sent.iter().all(|(_, _, i)| *i == id), "{sent:?}");
    assert_eq!(
        (sent[0].1, sent[1].1),
        (2, 2),
        "sequences go on from the logs"
    );
    assert_eq!(after.record(&id).order.revision, 2);
    assert_eq!(after.outbox.len(), 1);
}

#[test]
fn detections_are_journaled_with_the_next_commit_and_kept_while_it_fails() {
    let mut desk = Desk::new();
    let w = smoke(&desk, CAOYANG, 7, T0 - 60_000);
    let detection = w.detections[0];
    desk.disk_full = true;
    desk.d.handle_detections(&[detection]);
    assert_eq!(desk.d.journal_pending(), 1);
    let batch = desk
        .d
        .poll_commit(T0, &desk.outbox)
        .expect("a commit for the journal");
    assert_eq!(batch.journal, vec![detection]);
    assert_eq!(batch.journal_before_ms, Some(T0 - DEFAULT_JOURNAL_KEEP_MS));
    desk.d.on_committed(T0, false);
    assert_eq!(desk.d.journal_pending(), 1, "kept for the retry");
    let batch = desk
        .d
        .poll_commit(T0 + COMMIT_RETRY_MS, &desk.outbox)
        .expect("tried again");
    assert_eq!(batch.journal, vec![detection]);
    desk.d.on_committed(T0 + COMMIT_RETRY_MS, true);
    assert_eq!(
        desk.d.journal_pending(),
        0,
        "durable: its batch may be acknowledged"
    );
    assert!(desk
        .d
        .poll_commit(T0 + 2 * COMMIT_RETRY_MS, &desk.outbox)
        .is_none());
}

#[test]
fn an_order_outside_every_street_goes_to_the_district_alone() {
    let mut desk = Desk::new();
    let mut w = smoke(&desk, CAOYANG, 7, T0);
    let (lat, lon) = (31.0, 121.0); // far south of Putuo
    w.cell = crate::geo::cell_of(lat, lon).unwrap();
    w.detections[0].cell = w.cell;
    desk.d.handle_warning(w, vec![None]);
    let out = desk.step(T0);
    let sent = published(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, sent[0].1), (Scope::District, 1));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Dispatched(d) if d.street == "none")));
}

#[test]
fn hotline_reports_reach_the_order_events() {
    let mut desk = Desk::new();
    let w = smoke(&desk, CAOYANG, 7, T0);
    desk.d
        .handle_warning(w, vec![Some("王** 139****5678：楼道冒烟".into())]);
    let out = desk.step(T0);
    let order = out
        .iter()
        .find_map(|o| match o {
            Output::Publish { order, .. } => Some(order),
            _ => None,
        })
        .expect("the order is sent");
    assert_eq!(
        order.events[0].report.as_deref(),
        Some("王** 139****5678：楼道冒烟")
    );
}

#[test]
fn every_ack_answer_has_its_own_label() {
    let labels: Vec<&str> = AckAnswer::all().map(AckAnswer::name).collect();
    assert_eq!(
        labels,
        [
            "confirmed",
            "false_alarm",
            "resolved",
            "unknown_order",
            "forbidden",
            "duplicate",
            "busy"
        ]
    );
}
