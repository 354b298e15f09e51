//! 发送循环 / One connection's sending loop: fills the connection's one
//! pre-encoded frame with what its plan says is due, sends it when full
//! (or when a partial batch has waited `--flush`), and notes the trigger
//! events for the latency measurement.
//!
//! Open loop: event i is due at start + i / rate, and a trigger's latency
//! is measured from that intended time, so a hub that stalls the sender
//! shows up as latency, not as a politely slower sender (no coordinated
//! omission). The clock is read once per wake-up (about once a
//! millisecond), not per event; the events of one wake-up share its event
//! time. Nothing is allocated per event or per batch.

use crate::ahead::Ahead;
use crate::counters::Counters;
use crate::population::Population;
use crate::schedule::Plan;
use crate::template::BatchFrame;
use crate::triggers::Triggers;
use anyhow::{Context, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tongguan::client::DeviceClient;

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One connection's sending side.
pub struct Sender {
    pub client: DeviceClient,
    pub population: Population,
    pub rng: fastrand::Rng,
    pub plan: Plan,
    pub start: Instant,
    pub counters: Arc<Counters>,
    pub triggers: Triggers,
    frame: BatchFrame,
    /// When the frame's oldest event was due (ns since start).
    started: Option<u64>,
    /// Triggers of the frame: (device, seq) and when due (ns).
    pending: Vec<((u64, u64), u64)>,
    incident_keys: Vec<(u64, u64)>,
    window: Arc<Semaphore>,
    next_batch: u64,
    next_incident: u64,
    /// The devices of the next events, drawn ahead and prefetched.
    ahead: Ahead,
    /// Events generated so far.
    i: u64,
}

impl Sender {
    /// A sender for a connected client; nothing is sent before [`Sender::run`].
    pub fn new(
        client: DeviceClient,
        mut population: Population,
        mut rng: fastrand::Rng,
        plan: Plan,
        counters: Arc<Counters>,
        triggers: Triggers,
    ) -> Sender {
        if plan.cover {
            population.cover_in_order();
        }
        let ahead = Ahead::new(&mut population, &mut rng);
        Sender {
            frame: BatchFrame::with_capacity(plan.batch + 3),
            started: None,
            pending: Vec::with_capacity(64),
            incident_keys: Vec::with_capacity(4),
            window: Arc::new(Semaphore::new(plan.window)),
            next_batch: 1,
            next_incident: plan.first_incident(),
            ahead,
            i: 0,
            client,
            population,
            rng,
            plan,
            start: Instant::now(),
            counters,
            triggers,
        }
    }

    /// Sends the whole plan from `start`, then waits (bounded) for the
    /// outstanding acks and closes the connection.
    pub async fn run(mut self, start: Instant) -> Result<()> {
        self.start = start;
        let ack_task = self.read_acks();
        let sent = match self.plan.ns_per_event {
            Some(ns) => self.open_loop(ns).await,
            None => self.closed_loop().await,
        };
        let flushed = match sent {
            Ok(()) => self.flush().await,
            Err(e) => Err(e),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.window.acquire_many(self.plan.window as u32),
        )
        .await;
        ack_task.abort();
        self.client.close().await;
        flushed
    }

    /// Counts acks and gives their window slots back, in a task beside.
    fn read_acks(&mut self) -> tokio::task::JoinHandle<()> {
        let mut acks = self.client.take_acks();
        let counters = self.counters.clone();
        let window = self.window.clone();
        tokio::spawn(async move {
            while let Ok(ack) = acks.recv().await {
                let (ok, bad) = (u64::from(ack.accepted), u64::from(ack.rejected));
                counters.acked.fetch_add(ok, Ordering::Relaxed);
                counters.rejected.fetch_add(bad, Ordering::Relaxed);
                window.add_permits(1);
            }
        })
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Events at their scheduled times until the plan's total is sent, or
    /// the run is so far behind that it gives up (the rest is `unsent`).
    async fn open_loop(&mut self, ns: f64) -> Result<()> {
        while self.i < self.plan.total {
            let now = self.now();
            if now >= self.plan.give_up {
                let left = self.plan.total - self.i;
                self.counters.unsent.fetch_add(left, Ordering::Relaxed);
                return Ok(());
            }
            let time_ms = unix_ms();
            // At most one batch per clock reading, so a run far behind
            // still looks at the clock (and its give-up time) often.
            while self.i < self.plan.total && self.frame.len() < self.plan.batch {
                let due = self.plan.due(self.i, ns);
                if due > now {
                    break;
                }
                self.event(due, time_ms);
            }
            if self.frame.len() >= self.plan.batch {
                self.flush().await?;
                continue;
            }
            if self.i >= self.plan.total {
                break;
            }
            let oldest = self.started.map(|s| s + self.plan.flush);
            if oldest.is_some_and(|f| f <= now) {
                self.flush().await?;
                continue;
            }
            // Nothing more is due: sleep until the batch can be filled,
            // or until its oldest event has waited `--flush`: one wake-up
            // per batch, not per event.
            let room = (self.plan.batch - self.frame.len()) as u64;
            let last = (self.i + room - 1).min(self.plan.total - 1);
            let full = self.plan.due(last, ns);
            self.sleep_until(oldest.map_or(full, |f| f.min(full))).await;
        }
        Ok(())
    }

    /// `--rate max`: full batches as fast as the window allows, until the
    /// run's duration is over; events are due when made.
    async fn closed_loop(&mut self) -> Result<()> {
        loop {
            let now = self.now();
            if now >= self.plan.end {
                return Ok(());
            }
            let time_ms = unix_ms();
            while self.frame.len() < self.plan.batch {
                self.event(now, time_ms);
            }
            self.flush().await?;
        }
    }

    async fn sleep_until(&self, at: u64) {
        let at = self.start + Duration::from_nanos(at);
        tokio::time::sleep_until(at.into()).await;
    }

    /// Event `i` (due at `due`): maybe an incident's start, then the
    /// reading of the next device.
    #[inline]
    fn event(&mut self, due: u64, time_ms: i64) {
        if self.i == self.next_incident {
            self.next_incident = self.next_incident.saturating_add(self.plan.incident_every);
            self.population.start_incident(
                self.plan.scenario,
                due,
                time_ms,
                &mut self.frame,
                &mut self.incident_keys,
                &mut self.rng,
            );
            for k in self.incident_keys.drain(..) {
                self.pending.push((k, due));
            }
        }
        let d = self.next_device();
        let trigger = self
            .population
            .reading(d, due, time_ms, &mut self.frame, &mut self.rng);
        if let Some(k) = trigger {
            self.pending.push((k, due));
        }
        self.started.get_or_insert(due);
        self.i += 1;
    }

    /// The device of this event, drawn a few events ago and prefetched
    /// then (ahead.rs).
    #[inline]
    fn next_device(&mut self) -> usize {
        self.ahead.next(&mut self.population, &mut self.rng)
    }

    /// Sends the frame (twice, now and then, as a retransmit), waiting
    /// for room in the window of unacknowledged batches. Its triggers are
    /// noted first, under one lock: an order cannot come before its batch.
    async fn flush(&mut self) -> Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        self.note_triggers();
        let copies = if self.rng.f64() < self.plan.retransmit_share {
            2
        } else {
            1
        };
        for _ in 0..copies {
            self.window
                .acquire()
                .await
                .expect("semaphore open")
                .forget();
            let seq = self.next_batch;
            self.next_batch += 1;
            // A pre-encoded BATCH frame: raw bytes on the stream.
            let bytes = self.frame.finish(seq);
            self.client
                .send_raw(bytes)
                .await
                .context("sending a batch")?;
            let n = self.frame.len() as u64;
            self.counters.sent.fetch_add(n, Ordering::Relaxed);
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
        }
        self.frame.clear();
        self.started = None;
        Ok(())
    }

    fn note_triggers(&mut self) {
        let warmup = self.plan.warmup;
        if self.pending.iter().all(|&(_, due)| due < warmup) {
            self.pending.clear();
            return;
        }
        let mut log = self.triggers.lock().expect("trigger log lock");
        for (key, due) in self.pending.drain(..).filter(|&(_, due)| due >= warmup) {
            log.note(key, self.start + Duration::from_nanos(due));
        }
    }
}
