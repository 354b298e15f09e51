//! The dispatcher thread's loop: it waits for shard outputs, requests
//! about orders, new rules or the dispatcher's next deadline, and runs one
//! round of correlation and dispatch for whatever came (one commit for
//! all of it).
//!
//! In the cluster mode the same loop runs on every node, but dispatches
//! only on the one holding the dispatch lease: its input is then the
//! detections stream (a slot per partition for the watermarks), and on
//! activation it starts again from the node's copy of the outbox, with the
//! journaled detections replayed into a fresh correlator, exactly as after
//! a restart. On the other nodes it is passive: requests about orders are
//! forwarded to the owner.

use crate::dispatch::dispatcher::AckAnswer;
use crate::dispatch::lifecycle::StepAnswer;
use crate::engine::correlate::Correlator;
use crate::engine::{EngineSettings, RuleSet};
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::cluster_ends::{DispatchInput, Forward, ShardOutput};
use crate::runtime::dispatch_thread::{Dispatcher, OrderMsg};
use crate::runtime::inbox::Outlet;
use crossbeam_channel::{select, Receiver};
use std::sync::Arc;

/// What a fresh correlator is made of (the cluster's dispatch owner
/// builds one on activation).
pub struct CorrelatorPlan {
    /// The rules in force (kept up to date by the loop).
    pub rules: Arc<RuleSet>,
    /// Windows and limits.
    pub settings: EngineSettings,
    /// Watermark slots: shards, or partitions in the cluster.
    pub slots: usize,
    /// How far back journaled detections are replayed, ms.
    pub keep_ms: i64,
}

/// Whether this node's dispatcher runs.
enum Mode {
    /// The embedded hub: always.
    Embedded,
    /// The cluster's dispatch owner.
    Active,
    /// Another node dispatches; requests go there.
    Passive,
}

/// The loop's parts.
pub struct DispatchLoop {
    /// The correlator.
    pub correlator: Correlator,
    /// The dispatcher.
    pub dispatcher: Dispatcher,
    /// The shards' outputs (never, in the cluster mode).
    pub outputs: Receiver<ShardOutput>,
    /// The cluster side's input (never, in the embedded hub).
    pub inputs: Option<Receiver<DispatchInput>>,
    /// Requests about orders from the sessions.
    pub acks: Outlet<OrderMsg>,
    /// New rules.
    pub rules: Receiver<Arc<RuleSet>>,
    /// How to build a fresh correlator.
    pub plan: CorrelatorPlan,
    /// Counts.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl DispatchLoop {
    /// Runs until the shards (embedded) or the cluster side are done.
    pub fn run(self) {
        let DispatchLoop {
            correlator,
            dispatcher,
            outputs: mut rx,
            inputs,
            acks: acks_in,
            rules: mut rules_rx,
            plan,
            metrics,
            clock,
        } = self;
        let mode = if inputs.is_some() {
            Mode::Passive
        } else {
            Mode::Embedded
        };
        let mut state = State {
            correlator,
            dispatcher,
            mode,
            forward: None,
            plan,
            metrics,
            clock,
        };
        let mut inputs_rx = inputs.unwrap_or_else(crossbeam_channel::never);
        let mut acks_rx = acks_in.rx.clone();
        if matches!(state.mode, Mode::Embedded) {
            // The replayed journal's warnings, before any input.
            state.first_round();
        }
        loop {
            let mut acks = Vec::new();
            let mut outputs = Vec::new();
            let mut controls = Vec::new();
            let mut done = false;
            let wake = match state.wake_at() {
                Some(at) => crossbeam_channel::at(state.clock.instant_of_ms(at)),
                None => crossbeam_channel::never(),
            };
            select! {
                recv(rx) -> m => match m {
                    Ok(o) => outputs.push(o),
                    Err(_) => {
                        done = true;
                        rx = crossbeam_channel::never();
                    }
                },
                recv(inputs_rx) -> m => match m {
                    Ok(DispatchInput::Output(o)) => outputs.push(o),
                    Ok(control) => controls.push(control),
                    Err(_) => {
                        done = true;
                        inputs_rx = crossbeam_channel::never();
                    }
                },
                recv(acks_rx) -> m => match m {
                    Ok(a) => acks.push(a),
                    Err(_) => acks_rx = crossbeam_channel::never(),
                },
                recv(rules_rx) -> m => match m {
                    Ok(rules) => state.set_rules(rules),
                    Err(_) => rules_rx = crossbeam_channel::never(),
                },
                recv(wake) -> _ => {}
            }
            // Take whatever else is waiting: one commit for all of it.
            // A role change ends the collecting: the outputs before it
            // are handled before it, those after it after.
            outputs.extend(rx.try_iter().take(1024));
            while controls.is_empty() && outputs.len() < 1024 {
                match inputs_rx.try_recv() {
                    Ok(DispatchInput::Output(o)) => outputs.push(o),
                    Ok(control) => controls.push(control),
                    Err(_) => break,
                }
            }
            acks.extend(acks_rx.try_iter().take(4096));
            acks_in.took(acks.len());
            if controls.is_empty() || !outputs.is_empty() || !acks.is_empty() {
                state.round(outputs, acks);
            }
            for c in controls {
                state.control(c);
            }
            if done {
                // The shards are drained and so is the engine: done. Acks
                // still in flight come from sessions that are closing too.
                acks_in.close();
                break;
            }
        }
    }
}

/// The loop's state between inputs.
struct State {
    correlator: Correlator,
    dispatcher: Dispatcher,
    mode: Mode,
    /// Where requests go while another node dispatches (once known).
    forward: Option<Arc<dyn Forward>>,
    plan: CorrelatorPlan,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl State {
    /// When the dispatcher next needs a round with no input, if it runs.
    fn wake_at(&self) -> Option<i64> {
        match self.mode {
            Mode::Embedded | Mode::Active => self.dispatcher.poll_timeout(),
            Mode::Passive => None,
        }
    }

    fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.plan.rules = rules.clone();
        self.correlator.set_rules(rules);
    }

    /// The replayed journal's warnings.
    fn first_round(&mut self) {
        let warnings: Vec<_> = std::iter::from_fn(|| self.correlator.poll_warning()).collect();
        let now = self.clock.now_ms();
        self.dispatcher
            .round(now, warnings, Vec::new(), Vec::new(), &mut self.correlator);
    }

    /// One round, where this node dispatches; elsewhere the requests go
    /// to the owner and the outputs' receipts go unanswered, so the
    /// stream delivers them to the owner.
    fn round(&mut self, outputs: Vec<ShardOutput>, acks: Vec<OrderMsg>) {
        if let Mode::Passive = self.mode {
            drop(outputs);
            for a in acks {
                pass_on(self.forward.as_deref(), a);
            }
            return;
        }
        let mut receipts = Vec::new();
        for o in outputs {
            self.dispatcher.handle_detections(&o.detections);
            for d in o.detections {
                self.correlator.handle_detection(d);
            }
            self.correlator.flush();
            self.correlator.handle_watermark(o.shard, o.watermark);
            receipts.extend(o.receipts);
        }
        let warnings: Vec<_> = std::iter::from_fn(|| self.correlator.poll_warning()).collect();
        let now = self.clock.now_ms();
        self.dispatcher
            .round(now, warnings, acks, receipts, &mut self.correlator);
        self.metrics.record_correlator(
            &self.correlator.take_stats(),
            self.correlator.open_incidents(),
        );
    }

    /// A role change from the cluster side.
    fn control(&mut self, control: DispatchInput) {
        match control {
            DispatchInput::Output(o) => self.round(vec![o], Vec::new()),
            DispatchInput::Activate { replicate, ready } => {
                let started = activate(&mut self.dispatcher, &self.plan, self.clock.as_ref());
                let answer = started.map(|c| {
                    self.correlator = c;
                    self.dispatcher.set_replicate(Some(replicate));
                    self.mode = Mode::Active;
                    self.metrics.cluster_dispatch_owner.set(1);
                    self.first_round();
                });
                let _ = ready.send(answer);
            }
            DispatchInput::Deactivate => {
                self.dispatcher.set_replicate(None);
                self.metrics.cluster_dispatch_owner.set(0);
                self.mode = Mode::Passive;
            }
            DispatchInput::Forwarder(f) => self.forward = Some(f),
        }
    }
}

/// Starts the dispatcher again from the outbox and a correlator from the
/// journal, as a restart would.
fn activate(
    dispatcher: &mut Dispatcher,
    plan: &CorrelatorPlan,
    clock: &dyn Clock,
) -> Result<Correlator, String> {
    let flagged = dispatcher.reopen().map_err(|e| e.chain())?;
    let replay = dispatcher
        .journal_since(clock.now_ms() - plan.keep_ms)
        .map_err(|e| e.chain())?;
    let mut correlator = Correlator::new(plan.rules.clone(), plan.settings, plan.slots);
    for d in flagged {
        correlator.set_flagged(d, true);
    }
    for d in replay {
        correlator.handle_detection(d);
    }
    correlator.flush();
    Ok(correlator)
}

/// A request while another node dispatches: to it, or, before the way
/// there is known, answered busy (the sender may ask again).
fn pass_on(forward: Option<&dyn Forward>, msg: OrderMsg) {
    match forward {
        Some(f) => f.forward(msg),
        None => match msg {
            OrderMsg::Ack { reply, .. } => {
                if let Some(tx) = reply {
                    let _ = tx.send(AckAnswer::Busy);
                }
            }
            OrderMsg::Step { reply, .. } => {
                let _ = reply.send(StepAnswer::Busy);
            }
            OrderMsg::Devices => {}
        },
    }
}
