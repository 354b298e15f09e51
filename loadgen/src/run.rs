//! One run: sender tasks (one per connection) offering events at a fixed
//! rate from a schedule, subscriber tasks (one per street) receiving and
//! acknowledging orders, and the latency bookkeeping between them.
//!
//! Open loop: event i of a connection is due at start + i/rate. Latency is
//! measured from that intended time, so a hub that stalls the sender shows
//! up as latency, not as a politely slower sender.

use crate::client_options::options;
use crate::counters::Counters;
use crate::population::Population;
use crate::report::Summary;
use crate::triggers::Triggers;
use crate::Args;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tongguan::client::DeviceClient;
use tongguan::wire::WireEvent;

/// How long past its duration an open-loop run that fell behind keeps
/// sending before it gives up (what it did not send is reported).
fn overtime(duration: Duration) -> Duration {
    duration.clamp(Duration::from_secs(5), Duration::from_secs(30))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a run returns: the summary and the latency histogram (µs).
pub struct RunOutcome {
    pub summary: Summary,
    pub latency: Histogram<u64>,
}

/// One line of live progress a second on stderr, until aborted.
fn progress(
    counters: Arc<Counters>,
    latency: Arc<Mutex<Histogram<u64>>>,
    start: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let acked = counters.acked.load(Ordering::Relaxed);
            let p99 = {
                let h = latency.lock().expect("latency lock");
                if h.is_empty() {
                    0.0
                } else {
                    h.value_at_quantile(0.99) as f64 / 1000.0
                }
            };
            eprint!(
                "\r{:>6.1}s  {:>10} ev/s  acked {:>11}  orders {:>6}  p99 {:>8.2} ms  errors {}   ",
                start.elapsed().as_secs_f64(),
                acked - last,
                acked,
                counters.orders.load(Ordering::Relaxed),
                p99,
                counters.errors.load(Ordering::Relaxed),
            );
            last = acked;
        }
    })
}

pub async fn run(args: Args) -> Result<RunOutcome> {
    let counters = Arc::new(Counters::default());
    let triggers: Triggers = Arc::default();
    let latency = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
    ));
    let seed = args.seed.unwrap_or_else(|| unix_ms() as u64);

    let listeners = if args.subscribe {
        Some(
            crate::listeners::Listeners::start(
                &args,
                counters.clone(),
                triggers.clone(),
                latency.clone(),
                seed,
            )
            .await?,
        )
    } else {
        None
    };

    let start = Instant::now();
    let show = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let ticker = show.then(|| progress(counters.clone(), latency.clone(), start));
    let mut senders = Vec::new();
    if args.rate != crate::Rate::PerSecond(0) {
        let per_conn = args.devices.div_ceil(args.connections);
        for c in 0..args.connections {
            let opts = options(&args, args.token.clone())?;
            let client = DeviceClient::connect(&opts)
                .await
                .context("connecting a device")?;
            // Device ids: a per-run base so repeated runs against one hub
            // are not taken for retransmits.
            let base = (seed % 1_000_000) * 10_000_000 + (c * per_conn) as u64;
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(c as u64));
            let population = Population::new(per_conn, base, &mut rng);
            senders.push(tokio::spawn(send(
                client,
                population,
                rng,
                args.clone(),
                args.rate
                    .per_second()
                    .map(|r| r as f64 / args.connections as f64),
                start,
                counters.clone(),
                triggers.clone(),
            )));
        }
        for s in senders {
            if let Err(e) = s.await.context("sender task")? {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "sender stopped");
            }
        }
    } else {
        tokio::time::sleep(args.duration).await;
    }
    let sending = start.elapsed();
    tokio::time::sleep(args.drain).await;
    if let Some(l) = listeners {
        tokio::task::spawn_blocking(move || l.stop())
            .await
            .context("stopping the subscribers")?;
    }
    if let Some(t) = ticker {
        t.abort();
        eprintln!();
    }

    let h = latency.lock().expect("latency lock").clone();
    let ms = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let acked = counters.acked.load(Ordering::Relaxed);
    let summary = Summary {
        sent: counters.sent.load(Ordering::Relaxed),
        acked,
        rejected: counters.rejected.load(Ordering::Relaxed),
        events_per_sec: acked as f64 / sending.as_secs_f64().max(1e-9),
        orders_received: counters.orders.load(Ordering::Relaxed),
        latency_samples: h.len(),
        latency_p50_ms: ms(0.5),
        latency_p99_ms: ms(0.99),
        latency_p999_ms: ms(0.999),
        latency_max_ms: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1000.0
        },
        errors: counters.errors.load(Ordering::Relaxed),
        batches: counters.batches.load(Ordering::Relaxed),
        order_acks_sent: counters.order_acks.load(Ordering::Relaxed),
        unsent: counters.unsent.load(Ordering::Relaxed),
        duration_s: sending.as_secs_f64(),
        rate_target: args.rate.per_second(),
        devices: args.devices,
        connections: args.connections,
        scenario: args.scenario,
        cpu_s: None,
        cpu_ns_per_event: None,
        warmup_s: args.warmup.as_secs_f64(),
    };
    let sent = summary.sent;
    let summary = match crate::report::process_cpu_seconds() {
        Some(cpu) => Summary {
            cpu_s: Some(cpu),
            cpu_ns_per_event: (sent > 0).then(|| cpu * 1e9 / sent as f64),
            ..summary
        },
        None => summary,
    };
    Ok(RunOutcome {
        summary,
        latency: h,
    })
}

/// One connection's sending side: the batch being filled and what it
/// needs to send it.
struct Outbox {
    client: DeviceClient,
    batch: Vec<WireEvent>,
    started: Option<Instant>,
    window: Arc<tokio::sync::Semaphore>,
    counters: Arc<Counters>,
    retransmit_share: f64,
    rng: fastrand::Rng,
}

impl Outbox {
    /// Sends the batch (twice, now and then, as a retransmit), waiting for
    /// room in the window of unacknowledged batches.
    async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let copies = if self.rng.f64() < self.retransmit_share {
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
            self.client
                .send_batch(&self.batch)
                .await
                .context("sending a batch")?;
            self.counters
                .sent
                .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
        }
        self.batch.clear();
        self.started = None;
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn send(
    mut client: DeviceClient,
    mut population: Population,
    mut rng: fastrand::Rng,
    args: Args,
    rate: Option<f64>,
    start: Instant,
    counters: Arc<Counters>,
    triggers: Triggers,
) -> Result<()> {
    let mut acks = client.take_acks();
    let window = Arc::new(tokio::sync::Semaphore::new(args.window));
    let ack_task = {
        let counters = counters.clone();
        let window = window.clone();
        tokio::spawn(async move {
            while let Ok(ack) = acks.recv().await {
                counters
                    .acked
                    .fetch_add(u64::from(ack.accepted), Ordering::Relaxed);
                counters
                    .rejected
                    .fetch_add(u64::from(ack.rejected), Ordering::Relaxed);
                window.add_permits(1);
            }
        })
    };
    // With `--rate max` events are due as soon as they are made, and the
    // run ends by time; incidents are spaced as at 100k events/s.
    let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let total = rate.map_or(u64::MAX, |r| (r * args.duration.as_secs_f64()) as u64);
    let incidents = match args.scenario {
        crate::population::Scenario::Storm => args.incidents * 10.0,
        _ => args.incidents,
    };
    let incident_every = if incidents > 0.0 {
        (rate.unwrap_or(100_000.0) / incidents).max(1.0) as u64
    } else {
        u64::MAX
    };
    let end = start + args.duration;
    let give_up = end + overtime(args.duration);
    let mut out = Outbox {
        client,
        batch: Vec::with_capacity(args.batch),
        started: None,
        window: window.clone(),
        counters,
        retransmit_share: match args.scenario {
            crate::population::Scenario::DuplicateStorm => args.retransmit_share.max(0.3),
            _ => args.retransmit_share,
        },
        rng: fastrand::Rng::with_seed(rng.u64(..)),
    };
    let mut i = 0u64;
    while i < total {
        // Bounded in time too: a generator far behind its schedule stops
        // and says how much it did not send.
        if interval.is_some() && i.is_multiple_of(1024) && Instant::now() >= give_up {
            out.counters.unsent.fetch_add(total - i, Ordering::Relaxed);
            break;
        }
        let due = match interval {
            Some(iv) => start + iv.mul_f64(i as f64),
            None if i.is_multiple_of(args.batch as u64) && Instant::now() >= end => break,
            None => Instant::now(),
        };
        // Send what is due; flush early when the batch is old.
        if due > Instant::now() {
            if let Some(f) = out.started.map(|t| t + args.flush).filter(|f| *f <= due) {
                tokio::time::sleep_until(f.into()).await;
                out.flush().await?;
                continue;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        let time_ms = unix_ms();
        let mut triggering = Vec::new();
        if i % incident_every == incident_every / 2 {
            triggering = population.start_incident(args.scenario, due, time_ms, &mut rng);
        }
        let next = population.next_device(&mut rng);
        let (e, breach) = population.reading(next, due, time_ms, &mut rng);
        if breach {
            triggering.push(e);
        } else {
            out.batch.push(e);
        }
        if !triggering.is_empty() && due >= start + args.warmup {
            let mut t = triggers.lock().expect("lock");
            for e in &triggering {
                t.note((e.device_id, e.seq), due);
            }
            out.batch.extend(triggering);
        }
        out.started.get_or_insert(due);
        i += 1;
        if out.batch.len() >= args.batch {
            out.flush().await?;
        }
    }
    out.flush().await?;
    // Wait for the outstanding acks (bounded).
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        window.acquire_many(args.window as u32),
    )
    .await;
    ack_task.abort();
    out.client.close().await;
    Ok(())
}
