//! One run: a sender thread per connection offering events at a fixed
//! rate from a schedule (connection.rs, sender.rs), subscriber tasks (one
//! per street) receiving and acknowledging orders, and the summary of
//! what both counted.

use crate::client_options::options;
use crate::connection::Connection;
use crate::counters::Counters;
use crate::places::Places;
use crate::population::Population;
use crate::report::Summary;
use crate::schedule::Plan;
use crate::sender::Sender;
use crate::triggers::Triggers;
use crate::Args;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

    let senders = if args.rate != crate::Rate::PerSecond(0) {
        connect_all(&args, &counters, &triggers, seed).await?
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let show = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let ticker = show.then(|| progress(counters.clone(), latency.clone(), start));
    if senders.is_empty() {
        tokio::time::sleep(args.duration).await;
    }
    // Every connection starts at once; then each is joined.
    let threads: Vec<_> = senders.into_iter().map(|c| c.go(start)).collect();
    for thread in threads {
        let ended = tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("joining a sender thread")?;
        let outcome = ended.unwrap_or_else(|_| Err(anyhow::anyhow!("sender thread panicked")));
        if let Err(e) = outcome {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %format!("{e:#}"), "sender stopped");
        }
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

/// Starts a sender thread per connection, each with its share of the
/// devices (standing in the streets of the embedded map), and returns once
/// all are connected, or with the first connection's error.
async fn connect_all(
    args: &Args,
    counters: &Arc<Counters>,
    triggers: &Triggers,
    seed: u64,
) -> Result<Vec<Connection>> {
    let places = Places::sample();
    let per_conn = args.devices.div_ceil(args.connections);
    let (ready_tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
    let mut connections = Vec::with_capacity(args.connections);
    for c in 0..args.connections {
        // Device ids: a per-run base so repeated runs against one hub
        // are not taken for retransmits.
        let base = (seed % 1_000_000) * 10_000_000 + (c * per_conn) as u64;
        let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(c as u64));
        let population = Population::new(per_conn, base, &places, &mut rng);
        let (plan, counters, triggers) = (Plan::of(args), counters.clone(), triggers.clone());
        let make =
            Box::new(move |client| Sender::new(client, population, rng, plan, counters, triggers));
        let opts = options(args, args.token.clone())?;
        connections.push(Connection::spawn(c, opts, make, ready_tx.clone())?);
    }
    for _ in 0..args.connections {
        ready
            .recv()
            .await
            .context("a sender thread ended before connecting")??;
    }
    Ok(connections)
}
