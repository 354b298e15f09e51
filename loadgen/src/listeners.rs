//! The street platforms' side of a run, on a thread and a runtime of their
//! own. Order latency is measured where an order arrives; sharing the
//! senders' runtime, a subscriber waited behind busy sender tasks at
//! millions of events per second and the generator's own queueing showed
//! up as the hub's latency. Real street platforms are other machines.

use crate::client_options::options;
use crate::counters::Counters;
use crate::triggers::Triggers;
use crate::Args;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tongguan::client::SubscriberClient;
use tongguan::geo::RegionMap;
use tongguan::wire::control::Outcome;

/// Subscribers to every street, listening on their own thread.
pub struct Listeners {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Listeners {
    /// Connects a subscriber per street of the sample map and starts
    /// listening; returns once all are connected (or the first error).
    pub async fn start(
        args: &Args,
        counters: Arc<Counters>,
        triggers: Triggers,
        latency: Arc<Mutex<Histogram<u64>>>,
        seed: u64,
    ) -> Result<Listeners> {
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<()>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let args = args.clone();
        let thread = std::thread::Builder::new()
            .name("subscribers".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut tasks = Vec::new();
                    for street in RegionMap::sample().streets() {
                        let connected = async {
                            let opts = options(
                                &args,
                                format!("{}{}", args.street_token_prefix, street.code),
                            )?;
                            SubscriberClient::connect(&opts, &street.code, 0)
                                .await
                                .with_context(|| format!("subscribing to street {}", street.code))
                        };
                        match connected.await {
                            Ok(sub) => tasks.push(tokio::spawn(listen(
                                sub,
                                counters.clone(),
                                triggers.clone(),
                                latency.clone(),
                                args.false_alarm_share,
                                seed ^ street.code.parse::<u64>().unwrap_or(0),
                            ))),
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let _ = ready_tx.send(Ok(()));
                    let _ = stopped.await;
                    for t in tasks {
                        t.abort();
                    }
                });
            })
            .context("starting the subscribers' thread")?;
        ready
            .await
            .context("the subscribers' thread ended early")??;
        Ok(Listeners { stop, thread })
    }

    /// Stops listening and waits for the thread.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// One subscriber: measures each order against its trigger's intended
/// send time and acknowledges it (a share of them as false alarms).
pub(crate) async fn listen(
    mut sub: SubscriberClient,
    counters: Arc<Counters>,
    triggers: Triggers,
    latency: Arc<Mutex<Histogram<u64>>>,
    false_alarm_share: f64,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut acked = std::collections::HashSet::new();
    loop {
        let order = match sub.next_order().await {
            Ok(o) => o,
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "subscriber stopped");
                return;
            }
        };
        let received = Instant::now();
        counters.orders.fetch_add(1, Ordering::Relaxed);
        // The event that made this revision: the first for a new order,
        // the newest for an update.
        let trigger = if order.revision <= 1 {
            order.events.first()
        } else {
            order.events.last()
        };
        if let Some(t) = trigger {
            if let Some(due) = triggers.lock().expect("lock").due(&(t.device, t.seq)) {
                let us = received.saturating_duration_since(due).as_micros() as u64;
                latency.lock().expect("lock").saturating_record(us.max(1));
            } else {
                tracing::debug!(device = t.device, seq = t.seq, category = %t.category, "order trigger not sent by this run");
            }
        }
        // Each order once, whatever revision arrives first (a resumed
        // subscription gets the latest revision of what was not acked).
        if acked.insert(order.id.clone()) {
            let outcome = if rng.f64() < false_alarm_share {
                Outcome::FalseAlarm
            } else {
                Outcome::Confirmed
            };
            if sub.ack(&order.id, outcome, "loadgen").await.is_ok() {
                counters.order_acks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
