//! A step of the disposal loop inside a round: decided by
//! [`crate::dispatch::lifecycle::decide`], then given what only the round
//! has: sequence numbers for the revision a street must see (both streets
//! for a transfer), the deadline watched next, the devices judged, the
//! escalation closed with a resolution.

use super::Round;
use crate::dispatch::dispatcher::{Dispatcher, Output, ReplyId};
use crate::dispatch::lifecycle::decide::{decide, Change};
use crate::dispatch::lifecycle::{Actor, Stage, Step, StepAnswer};
use crate::dispatch::outbox::OrderLookup;
use crate::dispatch::record::OrderRecord;
use crate::dispatch::scope::Scope;
use crate::dispatch::StreetRef;
use crate::wire::control::DISTRICT;

impl Round {
    /// Decides a step and answers it.
    pub(super) fn step(
        &mut self,
        d: &Dispatcher,
        order_id: &str,
        step: &Step,
        actor: &Actor,
        reply: ReplyId,
        outbox: &dyn OrderLookup,
    ) {
        let answer = self.step_answer(d, order_id, step, actor, outbox);
        self.outputs.push(Output::StepAnswered {
            reply,
            order_id: order_id.to_owned(),
            step: step.kind(),
            answer,
        });
    }

    fn step_answer(
        &mut self,
        d: &Dispatcher,
        order_id: &str,
        step: &Step,
        actor: &Actor,
        outbox: &dyn OrderLookup,
    ) -> StepAnswer {
        let Some(record) = self.load(outbox, order_id) else {
            return StepAnswer::UnknownOrder;
        };
        let Change {
            mut record,
            publish,
            left,
            judge,
        } = match decide(&record, step, actor, &d.map, self.now_ms) {
            Ok(change) => change,
            Err(refused) => return refused,
        };
        if let Some(outcome) = judge {
            self.judge(d, &record.order, outcome);
        }
        if record.disposal.stage == Stage::Resolved {
            self.close_escalation(outbox, &record);
        }
        if publish {
            self.republish(d, &mut record, left);
        }
        self.forget.push(order_id.to_owned());
        if let Some(limit) = record.next_limit_ms() {
            self.watch.push((order_id.to_owned(), limit));
        }
        let stage = record.disposal.stage;
        self.put(record);
        StepAnswer::Applied(stage)
    }

    /// Sends the order's new revision to its street and the district, and
    /// for a transfer to the street it left, each as the next entry of
    /// that scope's log.
    fn republish(&mut self, d: &Dispatcher, r: &mut OrderRecord, left: Option<StreetRef>) {
        let id = r.order.id.clone();
        if let Some(old) = left.as_ref().and_then(|s| d.map.street_by_code(&s.code)) {
            let code = d.map.street(old).code.clone();
            let seq = self.take_seq(&code);
            self.log.push((code, seq, id.clone()));
            self.publish(Scope::Street(old), seq, &r.order);
        }
        let street = r.order.street_code().and_then(|c| d.map.street_by_code(c));
        r.street_seq = match street {
            Some(sid) => {
                let code = d.map.street(sid).code.clone();
                let seq = self.take_seq(&code);
                self.log.push((code, seq, id.clone()));
                self.publish(Scope::Street(sid), seq, &r.order);
                seq
            }
            None => 0,
        };
        r.district_seq = self.take_seq(DISTRICT);
        r.order.seq = if r.street_seq > 0 {
            r.street_seq
        } else {
            r.district_seq
        };
        self.log.push((DISTRICT.to_owned(), r.district_seq, id));
        self.publish(Scope::District, r.district_seq, &r.order);
    }
}
