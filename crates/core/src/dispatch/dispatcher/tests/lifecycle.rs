//! The disposal loop through the dispatcher, with a manual clock: every
//! step durable before it is answered, named people in the history, the
//! street seeing what the district did, transfers between streets' logs,
//! and the accept limit.

use super::*;
use crate::dispatch::lifecycle::{Actor, Photo, Role, Stage, Step, StepAnswer};

const PHOTO: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

impl Desk {
    fn officer(&self, name: &str, street: &str) -> Actor {
        Actor {
            person: name.into(),
            role: Role::StreetOfficer,
            scope: self.street(street),
        }
    }

    fn supervisor(&self, name: &str, street: &str) -> Actor {
        Actor {
            role: Role::StreetSupervisor,
            ..self.officer(name, street)
        }
    }

    fn desk_officer(&self, name: &str) -> Actor {
        Actor {
            person: name.into(),
            role: Role::DistrictDesk,
            scope: Scope::District,
        }
    }

    /// Takes `step` on `id` by `actor` at `now`; the answer and what went
    /// out.
    fn take(&mut self, id: &str, step: Step, actor: Actor, now: i64) -> (StepAnswer, Vec<Output>) {
        let reply = self.d.handle_step(id.into(), step, actor);
        let out = self.step(now);
        let answer = out
            .iter()
            .find_map(|o| match o {
                Output::StepAnswered {
                    reply: r, answer, ..
                } if *r == reply => Some(answer.clone()),
                _ => None,
            })
            .expect("the step was answered");
        (answer, out)
    }

    fn stage(&self, id: &str) -> Stage {
        self.record(id).disposal.stage
    }
}

fn note(text: &str) -> String {
    text.into()
}

#[test]
fn one_order_walks_the_whole_loop_and_its_history_names_each_person() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let zhang = desk.supervisor("张三", CAOYANG);
    let li = desk.officer("李四", CAOYANG);
    let wang = desk.desk_officer("王五");
    let steps = [
        (
            Step::Accept {
                note: note("收到")
            },
            zhang.clone(),
            Stage::Accepted,
        ),
        (
            Step::Assign {
                to: "李四".into(),
                note: String::new(),
            },
            zhang.clone(),
            Stage::InProgress,
        ),
        (
            Step::Feedback {
                note: note("现场有烟，住户电话 13912345678"),
                photos: vec![Photo {
                    sha256: PHOTO.into(),
                    bytes: 2_048,
                    content_type: "image/jpeg".into(),
                }],
            },
            li.clone(),
            Stage::Feedback,
        ),
        (
            Step::Resolve {
                outcome: Outcome::Confirmed,
                note: note("已处置"),
            },
            li.clone(),
            Stage::Resolved,
        ),
        (
            Step::SendBack {
                reason: note("照片不清楚"),
            },
            wang.clone(),
            Stage::SentBack,
        ),
        (
            Step::Resolve {
                outcome: Outcome::Confirmed,
                note: note("补充照片"),
            },
            li.clone(),
            Stage::Resolved,
        ),
        (
            Step::Verify {
                note: note("核查通过"),
            },
            wang.clone(),
            Stage::Verified,
        ),
        (
            Step::Close {
                note: String::new(),
            },
            wang.clone(),
            Stage::Closed,
        ),
    ];
    let mut now = T0;
    for (step, actor, stage) in steps {
        now += 10_000;
        let kind = step.kind();
        let (answer, _) = desk.take(&id, step, actor, now);
        assert_eq!(answer, StepAnswer::Applied(stage), "{kind}");
        assert_eq!(desk.stage(&id), stage, "durable after {kind}");
    }
    let r = desk.record(&id);
    assert_eq!(r.status, Status::Acked);
    assert_eq!(
        r.disposal.accepted_by.as_deref(),
        Some("张三（310107005000）")
    );
    assert_eq!(r.disposal.assignee.as_deref(), Some("李四"));
    assert_eq!(r.disposal.feedback[0].photos[0].sha256, PHOTO);
    assert!(
        r.disposal.feedback[0].note.contains("139****5678"),
        "masked: {}",
        r.disposal.feedback[0].note
    );
    let people: Vec<(&str, Option<&str>)> = r
        .history
        .iter()
        .skip(1)
        .map(|h| (h.what.as_str(), h.by.as_deref()))
        .collect();
    assert_eq!(
        people,
        [
            ("accept", Some("张三（310107005000）")),
            ("assign", Some("张三（310107005000）")),
            ("feedback", Some("李四（310107005000）")),
            ("resolve", Some("李四（310107005000）")),
            ("send_back", Some("王五（district）")),
            ("resolve", Some("李四（310107005000）")),
            ("verify", Some("王五（district）")),
            ("close", Some("王五（district）")),
        ]
    );
    assert_eq!(
        desk.d.poll_timeout(),
        None,
        "nothing is watched once closed"
    );
}

#[test]
fn the_street_sees_what_the_district_sends_back_and_closes() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let li = desk.officer("李四", CAOYANG);
    let wang = desk.desk_officer("王五");
    let resolve = || Step::Resolve {
        outcome: Outcome::Resolved,
        note: String::new(),
    };
    desk.take(&id, resolve(), li.clone(), T0 + 1_000);
    let (_, out) = desk.take(
        &id,
        Step::SendBack {
            reason: "未附照片".into(),
        },
        wang.clone(),
        T0 + 2_000,
    );
    let caoyang = desk.street(CAOYANG);
    assert_eq!(
        published(&out),
        [(caoyang, 2, id.clone()), (Scope::District, 2, id.clone())],
        "the street gets the next entry of its log"
    );
    let sent = out
        .iter()
        .find_map(|o| match o {
            Output::Publish { order, .. } => Some(order.clone()),
            _ => None,
        })
        .unwrap();
    let n = sent.disposal.as_ref().expect("the revision says why");
    assert_eq!((n.step, n.stage), (StepKind::SendBack, Stage::SentBack));
    assert_eq!(n.reason, "未附照片");
    assert_eq!(sent.revision, 2);
    let r = desk.record(&id);
    assert_eq!(r.status, Status::Open, "back in the street's backlog");
    assert_eq!(
        desk.d.poll_timeout(),
        Some(T0 + 2_000 + DEADLINE_MS),
        "rework has the rule's whole span again"
    );
    desk.take(&id, resolve(), li, T0 + 3_000);
    let (_, out) = desk.take(
        &id,
        Step::Close {
            note: String::new(),
        },
        wang,
        T0 + 4_000,
    );
    assert_eq!(published(&out)[0], (caoyang, 3, id.clone()));
}

#[test]
fn a_transferred_order_leaves_one_street_for_the_next_sequence_of_another() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    // Changzheng has an order of its own first: its log is at 1.
    let w = smoke(&desk, CHANGZHENG, 8, T0 - 50_000);
    desk.d.handle_warning(w, vec![None]);
    desk.step(T0 + 100);
    let zhang = desk.supervisor("张三", CAOYANG);
    let (answer, out) = desk.take(
        &id,
        Step::Transfer {
            to: CHANGZHENG.into(),
            reason: "地址属长征镇".into(),
        },
        zhang.clone(),
        T0 + 1_000,
    );
    assert_eq!(answer, StepAnswer::Applied(Stage::Dispatched));
    let (caoyang, changzheng) = (desk.street(CAOYANG), desk.street(CHANGZHENG));
    assert_eq!(
        published(&out),
        [
            (caoyang, 2, id.clone()),
            (changzheng, 2, id.clone()),
            (Scope::District, 3, id.clone()),
        ]
    );
    let r = desk.record(&id);
    assert_eq!(r.order.street_code(), Some(CHANGZHENG));
    assert_eq!((r.street_seq, r.district_seq), (2, 3));
    let n = r.order.disposal.as_ref().unwrap();
    assert_eq!(
        (n.from.as_deref(), n.to.as_deref()),
        (Some(CAOYANG), Some(CHANGZHENG))
    );
    // The street it left may no longer act on it; the new one may.
    let again = Step::Accept {
        note: String::new(),
    };
    let (answer, _) = desk.take(&id, again.clone(), zhang, T0 + 2_000);
    assert!(matches!(answer, StepAnswer::Forbidden(_)), "{answer:?}");
    let zhao = desk.officer("赵六", CHANGZHENG);
    let (answer, _) = desk.take(&id, again, zhao, T0 + 3_000);
    assert_eq!(answer, StepAnswer::Applied(Stage::Accepted));
    // An update of the incident follows the order to its new street.
    let update = Warning {
        revision: 2,
        severity: Severity::Critical,
        ..smoke(&desk, CAOYANG, 7, T0 - 60_000)
    };
    desk.d.handle_warning(update, vec![None]);
    let out = desk.step(T0 + 4_000);
    assert_eq!(
        published(&out),
        [(changzheng, 3, id.clone()), (Scope::District, 4, id)]
    );
}

#[test]
fn a_street_hands_an_order_back_to_the_district_and_the_district_reroutes_it() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let zhang = desk.supervisor("张三", CAOYANG);
    let (answer, out) = desk.take(
        &id,
        Step::Transfer {
            to: DISTRICT.into(),
            reason: "不属本街镇".into(),
        },
        zhang,
        T0 + 1_000,
    );
    assert_eq!(answer, StepAnswer::Applied(Stage::Dispatched));
    let caoyang = desk.street(CAOYANG);
    assert_eq!(
        published(&out),
        [(caoyang, 2, id.clone()), (Scope::District, 2, id.clone())]
    );
    assert_eq!(desk.record(&id).order.street_code(), None);
    assert_eq!(desk.record(&id).street_seq, 0);
    let wang = desk.desk_officer("王五");
    let (answer, out) = desk.take(
        &id,
        Step::Transfer {
            to: CHANGZHENG.into(),
            reason: "改派长征镇".into(),
        },
        wang,
        T0 + 2_000,
    );
    assert_eq!(answer, StepAnswer::Applied(Stage::Dispatched));
    let changzheng = desk.street(CHANGZHENG);
    assert_eq!(
        published(&out),
        [
            (changzheng, 1, id.clone()),
            (Scope::District, 3, id.clone())
        ]
    );
}

#[test]
fn steps_out_of_turn_or_by_the_wrong_person_are_refused_and_change_nothing() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let zhang = desk.supervisor("张三", CAOYANG);
    let stranger = desk.officer("钱七", CHANGZHENG);
    let wang = desk.desk_officer("王五");
    let before = desk.record(&id).clone();
    let cases = [
        (
            Step::Accept {
                note: String::new(),
            },
            stranger,
            "forbidden",
        ),
        (
            Step::Accept {
                note: String::new(),
            },
            wang.clone(),
            "forbidden",
        ),
        (
            Step::Verify {
                note: String::new(),
            },
            zhang.clone(),
            "forbidden",
        ),
        (
            Step::Verify {
                note: String::new(),
            },
            wang.clone(),
            "wrong_stage",
        ),
        (
            Step::Feedback {
                note: "x".into(),
                photos: Vec::new(),
            },
            zhang.clone(),
            "wrong_stage",
        ),
        (
            Step::SendBack { reason: " ".into() },
            wang.clone(),
            "invalid",
        ),
        (
            Step::Transfer {
                to: "310107999000".into(),
                reason: "r".into(),
            },
            zhang.clone(),
            "invalid",
        ),
        (
            Step::Transfer {
                to: CAOYANG.into(),
                reason: "r".into(),
            },
            zhang.clone(),
            "invalid",
        ),
        (
            Step::Feedback {
                note: String::new(),
                photos: vec![Photo {
                    sha256: "not-a-hash".into(),
                    bytes: 1,
                    content_type: "image/png".into(),
                }],
            },
            zhang.clone(),
            "invalid",
        ),
    ];
    for (i, (step, actor, expected)) in cases.into_iter().enumerate() {
        let (answer, out) = desk.take(&id, step, actor, T0 + i as i64);
        assert_eq!(answer.name(), expected, "case {i}: {}", answer.reason());
        assert!(!answer.reason().is_empty());
        assert!(published(&out).is_empty(), "case {i}");
    }
    assert_eq!(desk.record(&id), &before);
    let (answer, _) = desk.take(
        "TG-nope",
        Step::Accept {
            note: String::new(),
        },
        zhang,
        T0,
    );
    assert_eq!(answer, StepAnswer::UnknownOrder);
}

#[test]
fn a_rule_with_an_accept_limit_escalates_an_order_nobody_accepted() {
    let mut desk = Desk::new();
    let w = Warning {
        accept_ms: Some(60_000),
        ..smoke(&desk, CAOYANG, 7, T0 - 60_000)
    };
    desk.d.handle_warning(w, vec![None]);
    let id = published(&desk.step(T0))[0].2.clone();
    assert_eq!(desk.record(&id).order.accept_by_ms, Some(T0 + 60_000));
    assert_eq!(desk.d.poll_timeout(), Some(T0 + 60_000));
    let out = desk.step(T0 + 60_000);
    assert_eq!(escalations(&out), vec![format!("{id}-E")]);
    assert!(desk.record(&id).history[1]
        .detail
        .starts_with("未在签收时限内签收"));
}

#[test]
fn accepting_in_time_moves_the_watch_to_the_deadline() {
    let mut desk = Desk::new();
    let w = Warning {
        accept_ms: Some(60_000),
        ..smoke(&desk, CAOYANG, 7, T0 - 60_000)
    };
    desk.d.handle_warning(w, vec![None]);
    let id = published(&desk.step(T0))[0].2.clone();
    let zhang = desk.supervisor("张三", CAOYANG);
    desk.take(
        &id,
        Step::Accept {
            note: String::new(),
        },
        zhang,
        T0 + 30_000,
    );
    assert_eq!(desk.d.poll_timeout(), Some(T0 + DEADLINE_MS));
    assert!(escalations(&desk.step(T0 + 60_000)).is_empty());
    let out = desk.step(T0 + DEADLINE_MS);
    assert_eq!(escalations(&out), vec![format!("{id}-E")]);
    assert!(desk
        .record(&id)
        .history
        .last()
        .unwrap()
        .detail
        .starts_with("未在处置时限内办结"));
}

#[test]
fn work_sent_back_after_an_escalation_is_not_escalated_twice() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    assert_eq!(escalations(&desk.step(T0 + DEADLINE_MS)).len(), 1);
    let li = desk.officer("李四", CAOYANG);
    desk.take(
        &id,
        Step::Resolve {
            outcome: Outcome::Confirmed,
            note: String::new(),
        },
        li,
        T0 + DEADLINE_MS + 1_000,
    );
    let wang = desk.desk_officer("王五");
    desk.take(
        &id,
        Step::SendBack { reason: "r".into() },
        wang,
        T0 + DEADLINE_MS + 2_000,
    );
    let out = desk.step(T0 + 3 * DEADLINE_MS);
    assert!(escalations(&out).is_empty(), "{out:?}");
    assert_eq!(desk.record(&format!("{id}-E")).status, Status::Acked);
}

#[test]
fn an_order_ack_resolves_work_sent_back_and_judges_the_devices_only_once() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    let caoyang = desk.street(CAOYANG);
    desk.ack(&id, Outcome::FalseAlarm, caoyang);
    desk.step(T0 + 1_000);
    let wang = desk.desk_officer("王五");
    desk.take(&id, Step::SendBack { reason: "r".into() }, wang, T0 + 2_000);
    let reply = desk.ack(&id, Outcome::FalseAlarm, caoyang);
    let out = desk.step(T0 + 3_000);
    assert_eq!(
        answer(&out, reply),
        AckAnswer::Recorded(Outcome::FalseAlarm)
    );
    assert_eq!(desk.stage(&id), Stage::Resolved);
    assert_eq!(desk.d.quality.record(7).false_alarms, 1, "judged once");
}

#[test]
fn a_step_waits_for_a_failing_outbox_and_is_answered_once_durable() {
    let mut desk = Desk::new();
    let id = dispatched(&mut desk);
    desk.disk_full = true;
    let zhang = desk.supervisor("张三", CAOYANG);
    let reply = desk.d.handle_step(
        id.clone(),
        Step::Accept {
            note: String::new(),
        },
        zhang,
    );
    assert!(
        desk.step(T0 + 1_000).is_empty(),
        "nothing answered before it is durable"
    );
    desk.disk_full = false;
    let out = desk.step(T0 + 1_000 + COMMIT_RETRY_MS);
    assert!(out.iter().any(|o| matches!(o,
        Output::StepAnswered { reply: r, answer: StepAnswer::Applied(Stage::Accepted), .. } if *r == reply)));
    assert_eq!(desk.stage(&id), Stage::Accepted);
}
