//! One dispatcher round, built but not yet durable: the records it
//! writes, the sequence numbers it takes, the deadlines it starts and
//! stops watching, the device records it changes and the outputs that go
//! out once its batch is committed. Building reads the dispatcher and
//! changes nothing in it; [`Round::apply`] is the only way a round takes
//! effect.

mod steps;

use super::{AckAnswer, Dispatched, Dispatcher, Output, QueuedAck, QueuedWarning};
use crate::dispatch::lifecycle::Stage;
use crate::dispatch::mask;
use crate::dispatch::order_id::{escalation_id, order_id};
use crate::dispatch::outbox::OrderLookup;
use crate::dispatch::quality::DeviceRecord;
use crate::dispatch::record::{AckRecord, HistoryEntry, OrderRecord, Status};
use crate::dispatch::scope::Scope;
use crate::dispatch::{Batch, Order};
use crate::engine::Warning;
use crate::wire::control::OrderAck;
use crate::wire::control::{Outcome, DISTRICT};
use rustc_hash::FxHashMap;

/// The round under construction, then in flight.
pub(super) struct Round {
    now_ms: i64,
    next_seq: FxHashMap<String, u64>,
    /// Records changed this round, and the order they were first touched.
    touched: FxHashMap<String, OrderRecord>,
    touched_order: Vec<String>,
    log: Vec<(String, u64, String)>,
    devices: FxHashMap<u64, DeviceRecord>,
    watch: Vec<(String, i64)>,
    forget: Vec<String>,
    outputs: Vec<Output>,
    journal: Vec<crate::engine::Detection>,
    journal_before_ms: i64,
    journal_taken: usize,
    warnings_taken: usize,
    acks_taken: usize,
    /// Windows that kept a warning back, once per warning.
    suppressed: Vec<String>,
}

impl Round {
    /// Builds the round of every input queued in `d` at `now_ms`.
    pub(super) fn new(d: &Dispatcher, now_ms: i64, outbox: &dyn OrderLookup) -> Round {
        let mut r = Round {
            now_ms,
            next_seq: d.next_seq.clone(),
            touched: FxHashMap::default(),
            touched_order: Vec::new(),
            log: Vec::new(),
            devices: FxHashMap::default(),
            watch: Vec::new(),
            forget: Vec::new(),
            outputs: Vec::new(),
            journal: d.journal.clone(),
            journal_taken: d.journal.len(),
            journal_before_ms: now_ms.saturating_sub(d.journal_keep_ms),
            warnings_taken: d.warnings.len(),
            acks_taken: d.acks.len(),
            suppressed: Vec::new(),
        };
        for w in &d.warnings {
            r.warning(d, w, outbox);
        }
        r.escalations(d, outbox);
        for a in &d.acks {
            match a {
                QueuedAck::Ack { ack, scope, reply } => r.ack(d, ack, *scope, *reply, outbox),
                QueuedAck::Step {
                    order_id,
                    step,
                    actor,
                    reply,
                } => r.step(d, order_id, step, actor, *reply, outbox),
            }
        }
        r
    }

    /// The writes, in the order their records were first touched.
    pub(super) fn take_batch(&mut self) -> Batch {
        let orders = self
            .touched_order
            .iter()
            .filter_map(|id| self.touched.remove(id))
            .collect();
        let mut devices: Vec<DeviceRecord> = self.devices.values().cloned().collect();
        devices.sort_unstable_by_key(|r| r.device);
        Batch {
            orders,
            log: std::mem::take(&mut self.log),
            devices,
            journal: std::mem::take(&mut self.journal),
            journal_before_ms: Some(self.journal_before_ms),
        }
    }

    /// The round is durable: it takes effect in `d`.
    pub(super) fn apply(self, d: &mut Dispatcher) {
        d.next_seq = self.next_seq;
        for id in &self.forget {
            d.escalator.forget(id);
        }
        for (id, deadline) in &self.watch {
            d.escalator.watch(id, *deadline);
        }
        for r in self.devices.into_values() {
            d.quality.put(r);
        }
        for id in &self.suppressed {
            d.maintenance.count(id);
        }
        d.maintenance.expire(self.now_ms);
        d.warnings.drain(..self.warnings_taken);
        d.journal.drain(..self.journal_taken);
        d.acks.drain(..self.acks_taken);
        d.outputs.extend(self.outputs);
    }

    fn take_seq(&mut self, scope: &str) -> u64 {
        let next = self.next_seq.entry(scope.to_owned()).or_insert(1);
        let seq = *next;
        *next += 1;
        seq
    }

    /// A record touched earlier this round, or from the outbox.
    fn load(&self, outbox: &dyn OrderLookup, id: &str) -> Option<OrderRecord> {
        match self.touched.get(id) {
            Some(r) => Some(r.clone()),
            None => outbox.find_order(id),
        }
    }

    fn put(&mut self, record: OrderRecord) {
        let id = record.order.id.clone();
        if self.touched.insert(id.clone(), record).is_none() {
            self.touched_order.push(id);
        }
    }

    fn history(&self, what: &str, detail: String) -> HistoryEntry {
        HistoryEntry {
            at_ms: self.now_ms,
            what: what.into(),
            detail,
            by: None,
        }
    }

    /// A warning becomes an order, or a new revision of the order its
    /// incident already has (also one made before a restart).
    fn warning(&mut self, d: &Dispatcher, q: &QueuedWarning, outbox: &dyn OrderLookup) {
        let w = &q.warning;
        let id = order_id(w);
        let previous = self.load(outbox, &id);
        if previous.as_ref().is_some_and(|p| !is_news(&p.order, w)) {
            // The same incident seen again as it was (a device's resend
            // after a restart, the journal replayed): nothing to tell.
            return;
        }
        if previous.is_none() {
            let events = w.detections.iter().map(|det| &det.event);
            if let Some(window) = d.maintenance.covering(events, &d.map, self.now_ms) {
                self.suppressed.push(window.id.clone());
                self.outputs.push(Output::Suppressed {
                    window: window.id.clone(),
                });
                return;
            }
        }
        // An update goes to the street that has the order now (it may have
        // been transferred); a new order to the street of its place.
        let street_id = match &previous {
            Some(p) => p.order.street_code().and_then(|c| d.map.street_by_code(c)),
            None => d.map.street_of(w.cell),
        };
        let street = street_id.map(|s| d.map.street(s));
        let street_seq = street.map_or(0, |s| self.take_seq(&s.code));
        let district_seq = self.take_seq(DISTRICT);
        let seq = if street_seq > 0 {
            street_seq
        } else {
            district_seq
        };
        let mut order = Order::from_warning(id.clone(), seq, self.now_ms, w, street);
        for (e, report) in order.events.iter_mut().zip(&q.reports) {
            e.report.clone_from(report);
            if let Some(info) = d.registry.get(e.device) {
                e.device_name = Some(info.name.clone());
                e.address = (!info.address.is_empty()).then(|| info.address.clone());
            }
        }
        if let Some(p) = &previous {
            order.revision = order.revision.max(p.order.revision + 1);
        }
        let (status, ack, mut history, disposal) = match previous {
            Some(p) => (p.status, p.ack, p.history, p.disposal),
            None => {
                self.count_order(d, &order);
                let fresh = OrderRecord::dispatched(order.clone(), 0, 0);
                (Status::Open, None, Vec::new(), fresh.disposal)
            }
        };
        let what = if history.is_empty() {
            "dispatched"
        } else {
            "updated"
        };
        history.push(self.history(
            what,
            format!(
                "revision {}, severity {}, sources {}",
                order.revision,
                order.severity,
                order.sources.len()
            ),
        ));

        // Counted before it is sent: whoever sees the order sees its count.
        self.outputs.push(Output::Dispatched(Dispatched {
            street: street.map_or_else(|| "none".into(), |s| s.code.clone()),
            severity: order.severity,
            category: order.category,
            revision: order.revision,
            arrival: w.arrival,
        }));
        if let (Some(sid), Some(s)) = (street_id, street) {
            self.log.push((s.code.clone(), street_seq, id.clone()));
            self.publish(Scope::Street(sid), street_seq, &order);
        }
        self.log
            .push((DISTRICT.to_owned(), district_seq, id.clone()));
        self.publish(Scope::District, district_seq, &order);

        let record = OrderRecord {
            order,
            status,
            street_seq,
            district_seq,
            ack,
            history,
            disposal,
        };
        if let Some(limit) = record.next_limit_ms() {
            self.watch.push((id, limit));
        }
        self.put(record);
    }

    fn publish(&mut self, scope: Scope, seq: u64, order: &Order) {
        let mut order = Box::new(order.clone());
        order.seq = seq;
        self.outputs.push(Output::Publish { scope, seq, order });
    }

    /// A new order counts once for each of its devices.
    fn count_order(&mut self, d: &Dispatcher, order: &Order) {
        for device in distinct_devices(order) {
            let r = self
                .devices
                .entry(device)
                .or_insert_with(|| d.quality.record(device));
            r.orders += 1;
        }
    }

    /// Judges the devices of `order` by `outcome`.
    fn judge(&mut self, d: &Dispatcher, order: &Order, outcome: Outcome) {
        for device in distinct_devices(order) {
            let r = self
                .devices
                .entry(device)
                .or_insert_with(|| d.quality.record(device));
            if d.quality.judge(r, outcome) {
                self.outputs.push(Output::DeviceFlag {
                    device,
                    flagged: r.flagged,
                });
            }
        }
    }

    /// Open orders past their deadline escalate, once, to the district.
    fn escalations(&mut self, d: &Dispatcher, outbox: &dyn OrderLookup) {
        let due: Vec<String> = d
            .escalator
            .due(self.now_ms)
            .filter(|id| !self.watch.iter().any(|(w, _)| w == id))
            .map(str::to_owned)
            .collect();
        for id in due {
            self.forget.push(id.clone());
            let Some(mut record) = self.load(outbox, &id) else {
                continue;
            };
            // Once per order: work sent back after its escalation is not
            // escalated again under the same id.
            if record.status != Status::Open || self.load(outbox, &escalation_id(&id)).is_some() {
                continue;
            }
            let seq = self.take_seq(DISTRICT);
            let esc = record.order.escalation(seq, self.now_ms);
            record.status = Status::Escalated;
            let missed = if record.disposal.stage == Stage::Dispatched {
                "未在签收时限内签收 / not accepted by its accept limit"
            } else {
                "未在处置时限内办结 / not resolved by its deadline"
            };
            record.history.push(self.history(
                "escalated",
                format!("{missed}; escalation order {}", esc.id),
            ));
            self.log.push((DISTRICT.to_owned(), seq, esc.id.clone()));
            self.publish(Scope::District, seq, &esc);
            self.outputs.push(Output::Escalated {
                order_id: id.clone(),
                escalation_id: esc.id.clone(),
            });
            let dispatched = self.history(
                "dispatched",
                format!("escalation of {id} to the district duty desk"),
            );
            self.put(record);
            let mut esc = OrderRecord::dispatched(esc, 0, seq);
            esc.history.push(dispatched);
            self.put(esc);
        }
    }

    /// An acknowledgement closes its order. A street's closes the order's
    /// escalation (督办) with it; the district's, on an escalation,
    /// supervises: it is recorded on the street's order (urged, by whom,
    /// when, with the note), which stays open until the street acts.
    fn ack(
        &mut self,
        d: &Dispatcher,
        ack: &OrderAck,
        scope: Scope,
        reply: super::ReplyId,
        outbox: &dyn OrderLookup,
    ) {
        let answer = self.ack_answer(d, ack, scope, outbox);
        self.outputs.push(Output::AckAnswered {
            reply,
            order_id: ack.order_id.clone(),
            answer,
        });
    }

    fn ack_answer(
        &mut self,
        d: &Dispatcher,
        ack: &OrderAck,
        scope: Scope,
        outbox: &dyn OrderLookup,
    ) -> AckAnswer {
        let Some(mut record) = self.load(outbox, &ack.order_id) else {
            return AckAnswer::UnknownOrder;
        };
        if !scope.may_see(&d.map, &record.order) {
            return AckAnswer::Forbidden;
        }
        if record.status == Status::Acked {
            return AckAnswer::Duplicate;
        }
        let outcome = ack.outcome;
        let note = mask::mask_text(&ack.note);
        let by = scope.name(&d.map);
        // Devices are judged on an order's first resolution, not again on
        // work sent back and resolved anew.
        let first_resolution = record.ack.is_none();
        record
            .history
            .push(self.history("acked", format!("{} by {by}: {note}", outcome.name())));
        record.status = Status::Acked;
        if record.order.escalation_of.is_none() {
            record.disposal.stage = Stage::Resolved;
        }
        record.ack = Some(AckRecord {
            outcome,
            note,
            by,
            at_ms: self.now_ms,
        });
        self.forget.push(ack.order_id.clone());
        match record.order.escalation_of.clone() {
            Some(original) => self.urge(outbox, &original, &record),
            None => {
                self.close_escalation(outbox, &record);
                // The devices are judged once, on the street's outcome.
                if first_resolution {
                    self.judge(d, &record.order, outcome);
                }
            }
        }
        self.put(record);
        AckAnswer::Recorded(outcome)
    }

    /// A resolved order closes its escalation (督办), if it has an open one.
    fn close_escalation(&mut self, outbox: &dyn OrderLookup, record: &OrderRecord) {
        let escalation = escalation_id(&record.order.id);
        if let Some(mut esc) = self.load(outbox, &escalation) {
            if esc.status == Status::Open {
                close_with(&mut esc, record, self.now_ms);
                self.put(esc);
            }
        }
    }

    /// The district acted on the escalation `esc` of order `original`: the
    /// street's order records it (督办) and stays as it is.
    fn urge(&mut self, outbox: &dyn OrderLookup, original: &str, esc: &OrderRecord) {
        let Some(mut order) = self.load(outbox, original) else {
            return;
        };
        let ack = esc
            .ack
            .as_ref()
            .expect("the escalation was just acknowledged");
        order.history.push(self.history(
            "urged",
            format!(
                "督办 urged by {} ({}): {}",
                ack.by,
                ack.outcome.name(),
                ack.note
            ),
        ));
        self.put(order);
    }
}

/// Whether warning `w` says more than the order its incident has: a
/// higher severity, another source, more detections, or another plan.
fn is_news(old: &Order, w: &Warning) -> bool {
    w.severity > old.severity
        || w.sources.iter().any(|s| !old.sources.contains(s))
        || w.detection_count > old.event_count
        || *w.plan != *old.plan
}

/// The devices behind an order, each once.
fn distinct_devices(order: &Order) -> Vec<u64> {
    let mut ids: Vec<u64> = order.events.iter().map(|e| e.device).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Closes an order linked to `acked` (its escalation, or the order an
/// escalation was for) with the same acknowledgement.
fn close_with(linked: &mut OrderRecord, acked: &OrderRecord, now_ms: i64) {
    linked.status = Status::Acked;
    linked.ack = acked.ack.clone();
    linked.history.push(HistoryEntry {
        at_ms: now_ms,
        what: "acked".into(),
        detail: format!("closed with {}", acked.order.id),
        by: None,
    });
}
