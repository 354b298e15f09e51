//! The dispatcher as a state machine: every decision between a warning
//! and a street platform (order ids, per-scope sequence numbers,
//! escalation at the deadline, what an acknowledgement closes, device
//! judgement, what a failed commit undoes) and nothing else. No thread, no
//! store, no clock: time is an argument, the outbox is read through
//! [`OrderLookup`] and written by whoever drives it.
//!
//! The driver's loop, str0m-style:
//!
//! ```text
//! handle_warning / handle_ack / handle_timeout    inputs, with `now`
//! poll_commit(now, outbox)  -> Option<Batch>       what must be durable first
//! on_committed(now, ok)                            the commit's result
//! poll_output()             -> Option<Output>      then what to send
//! poll_timeout()            -> Option<i64>         when to call again
//! ```
//!
//! A round is built from every queued input but applied only once its
//! batch is durable: a failed commit spends no sequence number, escalates
//! nothing, closes nothing, and its inputs are built again into the next
//! round after a short pause.

mod round;
#[cfg(test)]
mod tests;

use super::escalation::Escalator;
use super::lifecycle::{Actor, Step, StepAnswer, StepKind};
use super::maintenance::{Maintenance, Window};
use super::outbox::OrderLookup;
use super::quality::{DeviceRecord, Quality, QualityPolicy};
use super::registry::Registry;
use super::scope::Scope;
use super::{Batch, Order};
use crate::engine::{Detection, Warning};
use crate::geo::RegionMap;
use crate::model::{Category, Severity};
use crate::wire::control::{AckResult, OrderAck, Outcome, DISTRICT};
use round::Round;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// How long journaled detections are kept by default, ms: a minute of
/// correlation window and five of allowed lateness.
pub const DEFAULT_JOURNAL_KEEP_MS: i64 = 6 * 60_000;

/// How long after a failed commit the next one is tried, ms.
pub const COMMIT_RETRY_MS: i64 = 1_000;

/// Warnings kept for a commit that keeps failing; past this the oldest are
/// dropped and counted ([`Output::WarningsDropped`]).
pub(crate) const MAX_QUEUED_WARNINGS: usize = 65_536;

/// Acknowledgements kept for a commit that keeps failing; past this the
/// newest are answered [`AckAnswer::Busy`].
pub(crate) const MAX_QUEUED_ACKS: usize = 65_536;

/// Names the sender of an acknowledgement, so its answer finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplyId(pub u64);

/// What became of an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AckAnswer {
    /// Recorded durably with this outcome.
    Recorded(Outcome),
    /// No such order.
    UnknownOrder,
    /// The sender's scope may not see the order.
    Forbidden,
    /// The order was acknowledged already.
    Duplicate,
    /// Not taken: too many acknowledgements wait for a failing outbox.
    Busy,
}

impl AckAnswer {
    /// The label of `tongguan_orders_acked_total`: the outcome's name, or
    /// what went wrong.
    pub fn name(self) -> &'static str {
        match self {
            AckAnswer::Recorded(o) => o.name(),
            AckAnswer::UnknownOrder => "unknown_order",
            AckAnswer::Forbidden => "forbidden",
            AckAnswer::Duplicate => "duplicate",
            AckAnswer::Busy => "busy",
        }
    }

    /// The answer as ORDER_ACK_RESULT says it to the subscriber.
    pub fn result(self) -> AckResult {
        match self {
            AckAnswer::Recorded(_) => AckResult::Applied,
            AckAnswer::UnknownOrder => AckResult::Unknown,
            AckAnswer::Forbidden => AckResult::Forbidden,
            AckAnswer::Duplicate => AckResult::Duplicate,
            AckAnswer::Busy => AckResult::Busy,
        }
    }

    /// Every answer, one per label: the series of
    /// `tongguan_orders_acked_total` that exist from the start.
    pub fn all() -> impl Iterator<Item = AckAnswer> {
        Outcome::ALL.into_iter().map(AckAnswer::Recorded).chain([
            AckAnswer::UnknownOrder,
            AckAnswer::Forbidden,
            AckAnswer::Duplicate,
            AckAnswer::Busy,
        ])
    }
}

/// An order (or a new revision of one) made durable: what its metrics
/// count.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatched {
    /// The owning street's code, or `none`.
    pub street: String,
    /// The order's severity.
    pub severity: Severity,
    /// The order's category.
    pub category: Category,
    /// The order's revision.
    pub revision: u32,
    /// The shell's arrival stamp of the batch that caused it.
    pub arrival: u64,
}

/// What the driver does once a round is durable.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Output {
    /// Send this order to the subscribers of `scope` as entry `seq` of its
    /// log.
    Publish {
        /// Whose log.
        scope: Scope,
        /// The entry's sequence number in that log.
        seq: u64,
        /// The order, its `seq` set to `seq`.
        order: Box<Order>,
    },
    /// Answer the acknowledgement sent by `reply`.
    AckAnswered {
        /// Who asked.
        reply: ReplyId,
        /// The order acknowledged.
        order_id: String,
        /// What became of it.
        answer: AckAnswer,
    },
    /// Answer the step sent by `reply`.
    StepAnswered {
        /// Who asked.
        reply: ReplyId,
        /// The order.
        order_id: String,
        /// The step asked for.
        step: StepKind,
        /// What became of it.
        answer: StepAnswer,
    },
    /// A device's detections now need (or no longer need) corroboration.
    DeviceFlag {
        /// The device.
        device: u64,
        /// Whether it is flagged.
        flagged: bool,
    },
    /// An order or an update of one is durable (for its metrics).
    Dispatched(Dispatched),
    /// An order missed its deadline and went to the district duty desk.
    Escalated {
        /// The order that was not acknowledged.
        order_id: String,
        /// Its escalation order.
        escalation_id: String,
    },
    /// Warnings dropped, oldest first, while the outbox could not be
    /// written and the queue was full.
    WarningsDropped(u64),
    /// A new incident's warning was not dispatched: every event of it came
    /// from inside this maintenance window.
    Suppressed {
        /// The window.
        window: String,
    },
}

/// A warning waiting for its round, with the hotline reports of its
/// events (looked up by the shell when it arrived).
#[derive(Debug, Clone)]
struct QueuedWarning {
    warning: Warning,
    reports: Vec<Option<String>>,
}

/// An acknowledgement or a step waiting for its round, in the order they
/// came: a step and an ack on one order are decided one after the other.
#[derive(Debug, Clone)]
enum QueuedAck {
    /// An ORDER_ACK from a subscriber of `scope`.
    Ack {
        ack: OrderAck,
        scope: Scope,
        reply: ReplyId,
    },
    /// A step of the disposal loop.
    Step {
        order_id: String,
        step: Step,
        actor: Actor,
        reply: ReplyId,
    },
}

/// Where the dispatcher starts from: what the outbox holds.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The last sequence number of each scope's log.
    pub last_seqs: Vec<(String, u64)>,
    /// Open orders (not escalations) and their deadlines.
    pub open_deadlines: Vec<(String, i64)>,
    /// Device quality records.
    pub devices: Vec<DeviceRecord>,
}

/// The dispatcher.
pub struct Dispatcher {
    map: Arc<RegionMap>,
    next_seq: FxHashMap<String, u64>,
    escalator: Escalator,
    quality: Quality,
    warnings: VecDeque<QueuedWarning>,
    acks: VecDeque<QueuedAck>,
    next_reply: u64,
    journal: Vec<Detection>,
    journal_keep_ms: i64,
    in_flight: Option<Round>,
    outputs: VecDeque<Output>,
    retry_at: Option<i64>,
    maintenance: Maintenance,
    registry: Arc<Registry>,
}

impl Dispatcher {
    /// A dispatcher continuing from what the outbox holds: sequence
    /// numbers go on from each log's last, open orders' deadlines are
    /// watched, device records are judged as they stand.
    pub fn new(map: Arc<RegionMap>, policy: QualityPolicy, recovered: Recovered) -> Dispatcher {
        let mut next_seq: FxHashMap<String, u64> = map
            .streets()
            .iter()
            .map(|s| (s.code.clone(), 1))
            .chain([(DISTRICT.to_owned(), 1)])
            .collect();
        for (scope, last) in recovered.last_seqs {
            next_seq.insert(scope, last + 1);
        }
        let mut escalator = Escalator::new();
        for (id, deadline) in &recovered.open_deadlines {
            escalator.watch(id, *deadline);
        }
        Dispatcher {
            map,
            next_seq,
            escalator,
            quality: Quality::new(policy, recovered.devices),
            warnings: VecDeque::new(),
            acks: VecDeque::new(),
            next_reply: 0,
            journal: Vec::new(),
            journal_keep_ms: DEFAULT_JOURNAL_KEEP_MS,
            in_flight: None,
            outputs: VecDeque::new(),
            retry_at: None,
            maintenance: Maintenance::default(),
            registry: Arc::default(),
        }
    }

    /// The device registry orders name their devices from, from now on.
    pub fn set_registry(&mut self, registry: Arc<Registry>) {
        self.registry = registry;
    }

    /// The maintenance windows in force from now on (replacing those set
    /// before, with their counts as the caller kept them).
    pub fn set_maintenance(&mut self, windows: Vec<Window>) {
        self.maintenance = Maintenance::new(windows);
    }

    /// The maintenance windows, with what each kept back so far.
    pub fn maintenance(&self) -> &[Window] {
        self.maintenance.windows()
    }

    /// Keeps journaled detections this long after their event time (the
    /// correlation window and the allowed lateness: after that their
    /// incidents are closed).
    pub fn with_journal_keep_ms(mut self, keep_ms: i64) -> Dispatcher {
        self.journal_keep_ms = keep_ms;
        self
    }

    /// Journals detections with the next commit: once it is durable, the
    /// batches that carried them may be acknowledged.
    pub fn handle_detections(&mut self, detections: &[Detection]) {
        self.journal.extend_from_slice(detections);
    }

    /// Detections handed in and not yet durable. Zero means every batch
    /// whose detections came in so far may be acknowledged.
    pub fn journal_pending(&self) -> usize {
        self.journal.len()
    }

    /// Flagged devices, for a correlator starting up.
    pub fn flagged(&self) -> impl Iterator<Item = u64> + '_ {
        self.quality.flagged()
    }

    /// How many devices are flagged.
    pub fn flagged_count(&self) -> usize {
        self.quality.flagged().count()
    }

    /// Queues a warning for the next round; `reports` are the hotline
    /// reports of its detections, in order (`None` for the others).
    pub fn handle_warning(&mut self, warning: Warning, reports: Vec<Option<String>>) {
        if self.warnings.len() >= MAX_QUEUED_WARNINGS {
            self.warnings.pop_front();
            self.outputs.push_back(Output::WarningsDropped(1));
        }
        self.warnings.push_back(QueuedWarning { warning, reports });
    }

    /// Queues an acknowledgement for the next round; its answer comes out
    /// as [`Output::AckAnswered`] with the returned id.
    pub fn handle_ack(&mut self, ack: OrderAck, scope: Scope) -> ReplyId {
        let reply = ReplyId(self.next_reply);
        self.next_reply += 1;
        if self.acks.len() >= MAX_QUEUED_ACKS {
            self.outputs.push_back(Output::AckAnswered {
                reply,
                order_id: ack.order_id,
                answer: AckAnswer::Busy,
            });
        } else {
            self.acks.push_back(QueuedAck::Ack { ack, scope, reply });
        }
        reply
    }

    /// Queues a step of the disposal loop on order `order_id` by `actor`
    /// for the next round; its answer comes out as
    /// [`Output::StepAnswered`] with the returned id.
    pub fn handle_step(&mut self, order_id: String, step: Step, actor: Actor) -> ReplyId {
        let reply = ReplyId(self.next_reply);
        self.next_reply += 1;
        if self.acks.len() >= MAX_QUEUED_ACKS {
            self.outputs.push_back(Output::StepAnswered {
                reply,
                order_id,
                step: step.kind(),
                answer: StepAnswer::Busy,
            });
        } else {
            self.acks.push_back(QueuedAck::Step {
                order_id,
                step,
                actor,
                reply,
            });
        }
        reply
    }

    /// When the dispatcher next needs [`Dispatcher::poll_commit`] even with
    /// no new input: the earliest deadline, or the retry of a failed
    /// commit.
    pub fn poll_timeout(&self) -> Option<i64> {
        if self.in_flight.is_some() {
            return None;
        }
        if let Some(at) = self.retry_at {
            return Some(at);
        }
        if !self.warnings.is_empty() || !self.acks.is_empty() || !self.journal.is_empty() {
            return Some(i64::MIN);
        }
        self.escalator.poll_timeout()
    }

    /// The writes of the next round, if there is work to do at `now`: new
    /// orders and updates, escalations due, acknowledgements. Nothing of it
    /// counts until [`Dispatcher::on_committed`]. A round with nothing to
    /// write (only refused acks, say) is applied at once and returns `None`.
    #[must_use]
    pub fn poll_commit(&mut self, now_ms: i64, outbox: &dyn OrderLookup) -> Option<Batch> {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| now_ms < at) {
            return None;
        }
        let due = self.escalator.poll_timeout().is_some_and(|d| d <= now_ms);
        if self.warnings.is_empty() && self.acks.is_empty() && self.journal.is_empty() && !due {
            return None;
        }
        let mut round = Round::new(self, now_ms, outbox);
        let batch = round.take_batch();
        self.in_flight = Some(round);
        if batch.is_empty() {
            self.on_committed(now_ms, true);
            return None;
        }
        Some(batch)
    }

    /// The result of committing the batch [`Dispatcher::poll_commit`] gave.
    /// On success the round takes effect and its outputs are ready; on
    /// failure nothing of it happened and it is built again from the same
    /// inputs after [`COMMIT_RETRY_MS`].
    pub fn on_committed(&mut self, now_ms: i64, ok: bool) {
        let Some(round) = self.in_flight.take() else {
            debug_assert!(false, "on_committed without a batch in flight");
            return;
        };
        if !ok {
            self.retry_at = Some(now_ms.saturating_add(COMMIT_RETRY_MS));
            return;
        }
        self.retry_at = None;
        round.apply(self);
    }

    /// The next thing to do now that a round is durable.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
}
