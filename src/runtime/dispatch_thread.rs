//! The dispatcher thread's driver of [`crate::dispatch::dispatcher`]: it
//! hands the machine warnings and acks with the time, commits what the
//! machine says must be durable to the outbox (one transaction, one
//! fsync), tells it the result, then does what it says: orders to the
//! subscribers of their street and of the district, answers to whoever
//! acknowledged, flags to the correlator, counts to Prometheus. Every
//! decision is the machine's; this file owns the store, the subscriber
//! registry, the metrics and the reply channels.

use crate::auth::tokens::Scope;
use crate::dispatch::dispatcher::{self as machine, AckAnswer, Output, Recovered, ReplyId};
use crate::dispatch::lifecycle::{Actor, Step, StepAnswer};
use crate::dispatch::quality::QualityPolicy;
use crate::dispatch::record::Status;
use crate::dispatch::Order;
use crate::engine::correlate::Correlator;
use crate::engine::Warning;
use crate::geo::RegionMap;
use crate::metrics::Metrics;
use crate::runtime::clock;
use crate::runtime::shard_msg::Receipt;
use crate::runtime::subscribers::Subscribers;
use crate::store::devices::DeviceBook;
use crate::store::{Store, StoreError};
use crate::wire::control::OrderAck;
use crate::wire::frame::{encode_frame, FrameType};
use bytes::Bytes;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A request about an order as a session hands it to the dispatcher: an
/// ORDER_ACK, or a step of the disposal loop, in the order they came.
#[derive(Debug)]
pub enum OrderMsg {
    /// An ORDER_ACK.
    Ack {
        /// What the subscriber sent.
        ack: OrderAck,
        /// What the subscriber's token may see.
        scope: Scope,
        /// Where the answer goes once it is durable (or refused), if the
        /// sender waits for it.
        reply: Option<oneshot::Sender<AckAnswer>>,
    },
    /// The device registry or the maintenance windows changed: the
    /// dispatcher takes them anew from the device book.
    Devices,
    /// A step (accept, assign, ..., transfer) by a named person.
    Step {
        /// The order.
        order_id: String,
        /// The step.
        step: Step,
        /// Who takes it.
        actor: Actor,
        /// Where the answer goes once it is durable (or refused).
        reply: oneshot::Sender<StepAnswer>,
    },
}

/// The dispatcher machine and what it drives.
pub struct Dispatcher {
    machine: machine::Dispatcher,
    subscribers: Arc<Subscribers>,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    details: Arc<crate::runtime::details::Details>,
    book: Arc<DeviceBook>,
    outbox_ok: Arc<AtomicBool>,
    replies: FxHashMap<ReplyId, oneshot::Sender<AckAnswer>>,
    step_replies: FxHashMap<ReplyId, oneshot::Sender<StepAnswer>>,
    /// Batches waiting for their detections to be durable.
    receipts: Vec<Receipt>,
    /// What opening it again takes (a node that becomes the cluster's
    /// dispatch owner resumes from its copy of the outbox).
    reopen: Reopen,
    /// In the cluster mode, while this node dispatches: where every
    /// commit goes before anything is sent.
    replicate: Option<Arc<dyn Replicate>>,
    /// When the current round started (clock::stamp_ns), for the split
    /// of each order's latency.
    round_started_ns: u64,
}

/// What [`Dispatcher::reopen`] starts from besides the outbox.
struct Reopen {
    map: Arc<RegionMap>,
    policy: QualityPolicy,
    journal_keep_ms: Option<i64>,
}

/// The cluster's orders stream, as the dispatcher sees it: a commit is
/// done once it is there too (on a quorum), before any order of it is
/// sent. Implemented by the NATS side.
pub trait Replicate: Send + Sync {
    /// Publishes a committed batch; an error means it is not replicated
    /// (the dispatcher tries the commit again later).
    fn replicate(&self, batch: &crate::store::Batch) -> Result<(), String>;
}

/// What the dispatcher thread shares with the sessions and the API.
pub struct Wiring {
    /// Where orders go.
    pub subscribers: Arc<Subscribers>,
    /// Counts.
    pub metrics: Arc<Metrics>,
    /// The outbox.
    pub store: Arc<Store>,
    /// Masked details of hotline and patrol reports.
    pub details: Arc<crate::runtime::details::Details>,
    /// The device registry and maintenance windows.
    pub book: Arc<DeviceBook>,
    /// Whether the last commit worked (for /readyz).
    pub outbox_ok: Arc<AtomicBool>,
}

impl Dispatcher {
    /// Opens the dispatcher on an outbox: sequence counters continue from
    /// the logs, open orders' deadlines and device records are reloaded.
    /// Returns the flagged devices for the correlator.
    pub fn open(
        map: Arc<RegionMap>,
        wiring: Wiring,
        policy: QualityPolicy,
    ) -> Result<(Dispatcher, Vec<u64>), StoreError> {
        let Wiring {
            subscribers,
            metrics,
            store,
            details,
            book,
            outbox_ok,
        } = wiring;
        let reopen = Reopen {
            map,
            policy,
            journal_keep_ms: None,
        };
        let machine = open_machine(&store, &book, &reopen)?;
        let flagged: Vec<u64> = machine.flagged().collect();
        metrics.devices_flagged.set(flagged.len() as i64);
        let dispatcher = Dispatcher {
            machine,
            subscribers,
            metrics,
            store,
            details,
            book,
            outbox_ok,
            replies: FxHashMap::default(),
            step_replies: FxHashMap::default(),
            receipts: Vec::new(),
            reopen,
            replicate: None,
            round_started_ns: 0,
        };
        Ok((dispatcher, flagged))
    }

    /// Starts again from the outbox as it is now (in the cluster mode, a
    /// node's copy of the orders stream, caught up): what the machine had
    /// in memory goes, requests waiting for an answer are dropped (their
    /// senders see the dispatcher gone and may ask again). Returns the
    /// flagged devices for the correlator.
    pub fn reopen(&mut self) -> Result<Vec<u64>, StoreError> {
        self.machine = open_machine(&self.store, &self.book, &self.reopen)?;
        self.replies.clear();
        self.step_replies.clear();
        self.receipts.clear();
        let flagged: Vec<u64> = self.machine.flagged().collect();
        self.metrics.devices_flagged.set(flagged.len() as i64);
        Ok(flagged)
    }

    /// Where commits are replicated from now on (none: nowhere, the
    /// embedded hub or a node that stopped dispatching).
    pub fn set_replicate(&mut self, replicate: Option<Arc<dyn Replicate>>) {
        self.replicate = replicate;
    }

    /// The detections journaled in the outbox since `since_ms`.
    pub fn journal_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crate::engine::Detection>, StoreError> {
        self.store.journal_since(since_ms)
    }

    /// Hands the machine new warnings and acks, then drives it at `now_ms`.
    pub fn round(
        &mut self,
        now_ms: i64,
        warnings: Vec<Warning>,
        acks: Vec<OrderMsg>,
        receipts: Vec<Receipt>,
        correlator: &mut Correlator,
    ) {
        self.round_started_ns = clock::stamp_ns();
        self.receipts.extend(receipts);
        for w in warnings {
            let reports = w
                .detections
                .iter()
                .map(|d| self.details.get(d.device, d.seq))
                .collect();
            self.machine.handle_warning(w, reports);
        }
        for a in acks {
            match a {
                OrderMsg::Ack { ack, scope, reply } => {
                    let id = self.machine.handle_ack(ack, scope);
                    if let Some(tx) = reply {
                        self.replies.insert(id, tx);
                    }
                }
                OrderMsg::Step {
                    order_id,
                    step,
                    actor,
                    reply,
                } => {
                    let id = self.machine.handle_step(order_id, step, actor);
                    self.step_replies.insert(id, reply);
                }
                OrderMsg::Devices => {
                    self.machine.set_registry(self.book.registry());
                    self.machine.set_maintenance(self.book.windows());
                }
            }
        }
        self.commit(now_ms);
        if self.machine.journal_pending() == 0 {
            // Every detection handed in is durable: their batches are done.
            for r in self.receipts.drain(..) {
                let _ = r.send(());
            }
        }
        while let Some(out) = self.machine.poll_output() {
            self.act(out, correlator);
        }
        self.metrics
            .devices_flagged
            .set(self.machine.flagged_count() as i64);
    }

    /// Keeps journaled detections this long after their event time.
    pub fn with_journal_keep_ms(mut self, keep_ms: i64) -> Dispatcher {
        self.machine = self.machine.with_journal_keep_ms(keep_ms);
        self.reopen.journal_keep_ms = Some(keep_ms);
        self
    }

    /// Journals these detections with the next commit.
    pub fn handle_detections(&mut self, detections: &[crate::engine::Detection]) {
        self.machine.handle_detections(detections);
    }

    /// When the machine next needs a round with no new input (a deadline,
    /// the retry of a failed commit), Unix ms.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.machine.poll_timeout()
    }

    /// Commits what the machine says must be durable, and tells it.
    fn commit(&mut self, now_ms: i64) {
        let Some(batch) = self.machine.poll_commit(now_ms, &*self.store) else {
            return;
        };
        let started = clock::instant();
        let committed = self
            .store
            .commit(&batch)
            .map_err(|e| e.chain())
            .and_then(|()| {
                // In the cluster: on the orders stream too before anything
                // of it is sent (a follower's copy is what the next owner
                // resumes from).
                match &self.replicate {
                    Some(r) => r.replicate(&batch),
                    None => Ok(()),
                }
            });
        match committed {
            Ok(()) => {
                self.outbox_ok.store(true, Ordering::Release);
                self.metrics
                    .outbox_commit
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.outbox_batch.observe(batch.orders.len() as f64);
                self.machine.on_committed(now_ms, true);
                self.subscribers.records_committed(&batch.orders);
            }
            Err(e) => {
                self.metrics.outbox_errors.inc();
                self.outbox_ok.store(false, Ordering::Release);
                tracing::error!(
                    error = %e,
                    orders = batch.orders.len(),
                    retry_ms = machine::COMMIT_RETRY_MS,
                    "outbox commit failed: these orders are NOT dispatched yet; kept to try again"
                );
                self.machine.on_committed(now_ms, false);
            }
        }
    }

    /// Does one thing the machine decided.
    fn act(&mut self, out: Output, correlator: &mut Correlator) {
        match out {
            Output::Publish { scope, seq, order } => {
                let delivery = self
                    .subscribers
                    .publish(scope, &(seq, encode_order(&order)));
                self.metrics
                    .subscriber_catchups
                    .inc_by(delivery.lagging as u64);
            }
            Output::AckAnswered { reply, answer, .. } => {
                self.metrics.order_acked(answer.name());
                if let Some(tx) = self.replies.remove(&reply) {
                    let _ = tx.send(answer);
                }
            }
            Output::StepAnswered {
                reply,
                step,
                answer,
                ..
            } => {
                self.metrics.order_step(step.name(), answer.name());
                if let Some(tx) = self.step_replies.remove(&reply) {
                    let _ = tx.send(answer);
                }
            }
            Output::DeviceFlag { device, flagged } => correlator.set_flagged(device, flagged),
            Output::Dispatched(d) => {
                self.metrics.warning(d.category, d.severity);
                let now = clock::stamp_ns();
                let latency = now.saturating_sub(d.arrival) as f64 / 1e9;
                self.metrics
                    .order(&d.street, d.severity, d.revision, latency);
                let started = self.round_started_ns.max(d.arrival);
                self.metrics.order_stages(
                    started.saturating_sub(d.arrival) as f64 / 1e9,
                    now.saturating_sub(started) as f64 / 1e9,
                );
            }
            Output::Escalated { .. } => self.metrics.orders_escalated.inc(),
            Output::Suppressed { .. } => {
                self.metrics.warnings_suppressed.inc();
                self.book.windows_seen(self.machine.maintenance());
            }
            Output::WarningsDropped(n) => {
                tracing::error!(
                    warnings = n,
                    "warnings dropped while the outbox could not be written"
                );
                self.metrics.warnings_dropped.inc_by(n);
            }
        }
    }
}

/// The machine on what the outbox holds, with the device book's registry
/// and maintenance windows.
fn open_machine(
    store: &Store,
    book: &DeviceBook,
    plan: &Reopen,
) -> Result<machine::Dispatcher, StoreError> {
    let recovered = recover(store, &plan.map)?;
    let mut machine = machine::Dispatcher::new(plan.map.clone(), plan.policy, recovered);
    if let Some(keep) = plan.journal_keep_ms {
        machine = machine.with_journal_keep_ms(keep);
    }
    machine.set_registry(book.registry());
    machine.set_maintenance(book.windows());
    Ok(machine)
}

/// What the machine starts from: the logs' last sequence numbers, open
/// orders' deadlines, device records.
fn recover(store: &Store, map: &RegionMap) -> Result<Recovered, StoreError> {
    let mut last_seqs = Vec::new();
    let scopes = map
        .streets()
        .iter()
        .map(|s| s.code.clone())
        .chain([crate::wire::control::DISTRICT.to_owned()]);
    for scope in scopes {
        let last = store.last_seq(&scope)?;
        last_seqs.push((scope, last));
    }
    // Open orders through the index, each at the next limit it can miss
    // (accept, then resolve); escalations have none of their own.
    let open = crate::store::OrderQuery {
        status: Some(Status::Open),
        escalations: false,
        ..crate::store::OrderQuery::all(usize::MAX)
    };
    let open_deadlines = store
        .list_orders(&open)?
        .orders
        .into_iter()
        .filter_map(|r| r.next_limit_ms().map(|limit| (r.order.id, limit)))
        .collect();
    Ok(Recovered {
        last_seqs,
        open_deadlines,
        devices: store.devices()?,
    })
}

/// An order as an ORDER frame.
pub fn encode_order(order: &Order) -> Bytes {
    let json = serde_json::to_vec(order).expect("orders serialize");
    Bytes::from(encode_frame(FrameType::Order, &json))
}
