//! Orders out, durably. Each round of the dispatcher thread turns the
//! correlator's warnings into orders, escalates orders past their deadline,
//! records acknowledgements, and writes all of it to the outbox in one
//! transaction (one fsync). Only after the commit are orders counted as
//! dispatched and queued to the subscribers of their street and of the
//! district: an order reported dispatched survives a crash.

use super::auth::Scope;
use super::clock;
use super::subscribers::Subscribers;
use crate::dispatch::escalation::Escalator;
use crate::dispatch::mask;
use crate::dispatch::quality::{DeviceRecord, Quality, QualityPolicy};
use crate::dispatch::record::{AckRecord, HistoryEntry, OrderRecord, Status};
use crate::dispatch::Order;
use crate::engine::correlate::Correlator;
use crate::engine::Warning;
use crate::geo::RegionMap;
use crate::metrics::Metrics;
use crate::store::{Batch, Store, StoreError};
use crate::wire::control::{OrderAck, Outcome, DISTRICT};
use crate::wire::frame::{encode_frame, FrameType};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Instant;

/// An ORDER_ACK as a session hands it to the dispatcher.
#[derive(Debug, Clone)]
pub struct AckMsg {
    /// What the subscriber sent.
    pub ack: OrderAck,
    /// What the subscriber's token may see.
    pub scope: Scope,
}

/// Counts deferred until the commit succeeds.
struct Dispatched {
    street: String,
    severity: crate::model::Severity,
    category: crate::model::Category,
    revision: u32,
    arrival: u64,
}

/// The dispatcher's state, driven by the dispatcher thread.
pub struct Dispatcher {
    map: Arc<RegionMap>,
    subscribers: Arc<Subscribers>,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    id_prefix: String,
    next_seq: FxHashMap<String, u64>,
    escalator: Escalator,
    quality: Quality,
    details: Arc<super::details::Details>,
    /// Acks of a round whose commit failed, tried again next round.
    retry_acks: Vec<AckMsg>,
    outbox_ok: Arc<std::sync::atomic::AtomicBool>,
}

impl Dispatcher {
    /// Opens the dispatcher on an outbox: sequence counters continue from
    /// the logs, open orders' deadlines and flagged devices are reloaded.
    /// Returns the flagged devices for the correlator.
    pub fn open(
        map: Arc<RegionMap>,
        subscribers: Arc<Subscribers>,
        metrics: Arc<Metrics>,
        store: Arc<Store>,
        details: Arc<super::details::Details>,
        outbox_ok: Arc<std::sync::atomic::AtomicBool>,
        policy: QualityPolicy,
    ) -> Result<(Dispatcher, Vec<u64>), StoreError> {
        let mut next_seq = FxHashMap::default();
        let scopes = map
            .streets()
            .iter()
            .map(|s| s.code.clone())
            .chain([DISTRICT.to_owned()]);
        for scope in scopes {
            let last = store.last_seq(&scope)?;
            next_seq.insert(scope, last + 1);
        }
        let mut escalator = Escalator::new();
        for r in store.all_orders()? {
            if r.status == Status::Open && r.order.escalation_of.is_none() {
                escalator.watch(&r.order.id, r.order.deadline_ms);
            }
        }
        let quality = Quality::new(policy, store.devices()?);
        let flagged: Vec<u64> = quality.flagged().collect();
        metrics.devices_flagged.set(flagged.len() as i64);
        Ok((
            Dispatcher {
                id_prefix: format!("TG{:x}", clock::now_ms()),
                map,
                subscribers,
                metrics,
                store,
                next_seq,
                escalator,
                quality,
                details,
                retry_acks: Vec::new(),
                outbox_ok,
            },
            flagged,
        ))
    }

    fn take_seq(&mut self, scope: &str) -> u64 {
        let next = self.next_seq.entry(scope.to_owned()).or_insert(1);
        let seq = *next;
        *next += 1;
        seq
    }

    /// Judges the devices behind an order by its outcome; devices whose
    /// flag flips are noted for the correlator.
    fn judge(
        &mut self,
        r: &OrderRecord,
        outcome: Outcome,
        flips: &mut Vec<(u64, bool)>,
        devices: &mut FxHashMap<u64, DeviceRecord>,
    ) {
        let ids: Vec<u64> = r.order.events.iter().map(|e| e.device).collect();
        for (d, flipped) in self.quality.on_outcome(&ids, outcome) {
            if flipped {
                flips.push((d.device, d.flagged));
            }
            devices.insert(d.device, d);
        }
    }

    /// A record touched earlier this round, or from the outbox.
    fn load(&self, touched: &FxHashMap<String, OrderRecord>, id: &str) -> Option<OrderRecord> {
        if let Some(r) = touched.get(id) {
            return Some(r.clone());
        }
        match self.store.order(id) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, order = id, "cannot read the outbox");
                None
            }
        }
    }

    /// One round: warnings to orders, due escalations, acks; one commit;
    /// then counts and frames out.
    pub fn round(
        &mut self,
        now_ms: i64,
        warnings: Vec<Warning>,
        mut acks: Vec<AckMsg>,
        correlator: &mut Correlator,
    ) {
        if !self.retry_acks.is_empty() {
            let mut retry = std::mem::take(&mut self.retry_acks);
            retry.append(&mut acks);
            acks = retry;
        }
        if warnings.is_empty()
            && acks.is_empty()
            && self.escalator.poll_timeout().is_none_or(|d| d > now_ms)
        {
            return;
        }
        // What to undo if the commit fails: nothing of this round happened.
        let seqs_before = self.next_seq.clone();
        let acks_sent = acks.clone();
        let mut escalations_due: Vec<(String, i64)> = Vec::new();
        let mut touched: FxHashMap<String, OrderRecord> = FxHashMap::default();
        let mut order_ids: Vec<String> = Vec::new();
        let mut batch = Batch::default();
        let mut frames: Vec<(Scope, u64, Order)> = Vec::new();
        let mut dispatched = Vec::new();
        let mut devices: FxHashMap<u64, DeviceRecord> = FxHashMap::default();
        let mut flips = Vec::new();
        let mut escalated = 0;

        for w in &warnings {
            let street = self.map.street_of(w.cell);
            let street_code = street.map(|s| self.map.street(s).code.clone());
            let id = format!("{}-{}", self.id_prefix, w.incident);
            let street_seq = street_code.as_deref().map_or(0, |c| self.take_seq(c));
            let district_seq = self.take_seq(DISTRICT);
            let mut order = Order::from_warning(
                id.clone(),
                if street_seq > 0 {
                    street_seq
                } else {
                    district_seq
                },
                now_ms,
                w,
                street.map(|s| self.map.street(s)),
            );
            for e in &mut order.events {
                e.report = self.details.get(e.device, e.seq);
            }
            let previous = if w.revision > 1 {
                self.load(&touched, &id)
            } else {
                None
            };
            let (status, ack, mut history) = match previous {
                Some(p) => (p.status, p.ack, p.history),
                None => (Status::Open, None, Vec::new()),
            };
            history.push(HistoryEntry {
                at_ms: now_ms,
                what: if w.revision <= 1 {
                    "dispatched"
                } else {
                    "updated"
                }
                .into(),
                detail: format!(
                    "revision {}, severity {}, sources {}",
                    w.revision,
                    w.severity,
                    w.sources.len()
                ),
            });
            if status == Status::Open {
                self.escalator.watch(&id, order.deadline_ms);
            }
            if w.revision <= 1 {
                let ids: Vec<u64> = w.detections.iter().map(|d| d.device).collect();
                for r in self.quality.on_order(&ids) {
                    devices.insert(r.device, r);
                }
            }
            if let Some(code) = &street_code {
                batch.log.push((code.clone(), street_seq, id.clone()));
                frames.push((
                    Scope::Street(street.expect("code has a street")),
                    street_seq,
                    order.clone(),
                ));
            }
            batch
                .log
                .push((DISTRICT.to_owned(), district_seq, id.clone()));
            frames.push((Scope::District, district_seq, order.clone()));
            dispatched.push(Dispatched {
                street: street_code.unwrap_or_else(|| "none".into()),
                severity: w.severity,
                category: w.category,
                revision: w.revision,
                arrival: w.arrival,
            });
            if !touched.contains_key(&id) {
                order_ids.push(id.clone());
            }
            touched.insert(
                id,
                OrderRecord {
                    order,
                    status,
                    street_seq,
                    district_seq,
                    ack,
                    history,
                },
            );
        }

        for id in self.escalator.handle_timeout(now_ms) {
            let Some(mut record) = self.load(&touched, &id) else {
                continue;
            };
            if record.status != Status::Open {
                continue;
            }
            escalations_due.push((id.clone(), record.order.deadline_ms));
            let seq = self.take_seq(DISTRICT);
            let esc = record.order.escalation(seq, now_ms);
            record.status = Status::Escalated;
            record.history.push(HistoryEntry {
                at_ms: now_ms,
                what: "escalated".into(),
                detail: format!(
                    "no acknowledgement by the deadline; escalation order {}",
                    esc.id
                ),
            });
            batch.log.push((DISTRICT.to_owned(), seq, esc.id.clone()));
            frames.push((Scope::District, seq, esc.clone()));
            let esc_record = OrderRecord {
                order: esc.clone(),
                status: Status::Open,
                street_seq: 0,
                district_seq: seq,
                ack: None,
                history: vec![HistoryEntry {
                    at_ms: now_ms,
                    what: "dispatched".into(),
                    detail: format!("escalation of {id} to the district duty desk"),
                }],
            };
            for (k, r) in [(id.clone(), record), (esc.id.clone(), esc_record)] {
                if !touched.contains_key(&k) {
                    order_ids.push(k.clone());
                }
                touched.insert(k, r);
            }
            escalated += 1;
        }

        for AckMsg { ack, scope } in acks {
            let Some(mut record) = self.load(&touched, &ack.order_id) else {
                self.metrics.order_acked("unknown_order");
                continue;
            };
            let by = scope.name(&self.map);
            if !scope.may_see(&self.map, &record.order) {
                self.metrics.order_acked("forbidden");
                continue;
            }
            if record.status == Status::Acked {
                self.metrics.order_acked("duplicate");
                continue;
            }
            let note = mask::mask_text(&ack.note);
            record.history.push(HistoryEntry {
                at_ms: now_ms,
                what: "acked".into(),
                detail: format!("{} by {by}: {note}", ack.outcome.name()),
            });
            record.status = Status::Acked;
            record.ack = Some(AckRecord {
                outcome: ack.outcome,
                note,
                by,
                at_ms: now_ms,
            });
            self.escalator.forget(&ack.order_id);
            // The district closing an escalation closes the order it
            // escalated too (it is no longer waiting for the street), and
            // that order's devices are judged by the district's outcome.
            if let Some(original_id) = record.order.escalation_of.clone() {
                if let Some(mut original) = self.load(&touched, &original_id) {
                    if original.status != Status::Acked {
                        close_with(&mut original, &record, now_ms);
                        self.judge(&original, ack.outcome, &mut flips, &mut devices);
                        if !touched.contains_key(&original_id) {
                            order_ids.push(original_id.clone());
                        }
                        touched.insert(original_id, original);
                    }
                }
            }
            // The devices are judged once, on the order itself.
            if record.order.escalation_of.is_none() {
                self.judge(&record, ack.outcome, &mut flips, &mut devices);
                // Its escalation, if open, is closed with it.
                let esc_id = format!("{}-E", ack.order_id);
                if let Some(mut esc) = self.load(&touched, &esc_id) {
                    if esc.status == Status::Open {
                        close_with(&mut esc, &record, now_ms);
                        if !touched.contains_key(&esc_id) {
                            order_ids.push(esc_id.clone());
                        }
                        touched.insert(esc_id, esc);
                    }
                }
            }
            self.metrics.order_acked(ack.outcome.name());
            if !touched.contains_key(&ack.order_id) {
                order_ids.push(ack.order_id.clone());
            }
            touched.insert(ack.order_id, record);
        }

        batch.orders = order_ids
            .iter()
            .filter_map(|id| touched.remove(id))
            .collect();
        batch.devices = devices.into_values().collect();
        let writes = batch.orders.len();
        let started = Instant::now();
        if let Err(e) = self.store.commit(&batch) {
            self.metrics.outbox_errors.inc();
            self.outbox_ok
                .store(false, std::sync::atomic::Ordering::Release);
            tracing::error!(error = %e, orders = writes, "outbox commit failed: these orders are NOT dispatched");
            // Sequence numbers are not spent; acks and escalations are
            // tried again next round. The warnings' orders are lost:
            // tongguan_outbox_errors_total counts the failed commit.
            self.next_seq = seqs_before;
            self.retry_acks = acks_sent;
            for (id, deadline) in escalations_due {
                self.escalator.watch(&id, deadline);
            }
            return;
        }
        self.outbox_ok
            .store(true, std::sync::atomic::Ordering::Release);
        self.metrics
            .outbox_commit
            .observe(started.elapsed().as_secs_f64());
        self.metrics.outbox_batch.observe(writes as f64);
        self.metrics.orders_escalated.inc_by(escalated);
        for (device, flagged) in flips {
            correlator.set_flagged(device, flagged);
        }
        self.metrics
            .devices_flagged
            .set(self.quality.flagged().count() as i64);

        let now = clock::stamp_ns();
        for d in dispatched {
            self.metrics.warning(d.category, d.severity);
            let latency = now.saturating_sub(d.arrival) as f64 / 1e9;
            self.metrics
                .order(&d.street, d.severity, d.revision, latency);
        }
        self.subscribers.records_committed(&batch.orders);
        for (scope, seq, mut order) in frames {
            order.seq = seq;
            let delivery = self
                .subscribers
                .publish(scope, &(seq, encode_order(&order)));
            for _ in 0..delivery.lagging {
                self.metrics.subscriber_catchups.inc();
            }
        }
    }
}

/// An order as an ORDER frame.
pub fn encode_order(order: &Order) -> Bytes {
    let json = serde_json::to_vec(order).expect("orders serialize");
    Bytes::from(encode_frame(FrameType::Order, &json))
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
    });
}
