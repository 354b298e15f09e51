//! `tongguan demo`: the hub, simulated devices and the district's duty
//! desk on loopback for a short while, with live figures, so a newcomer
//! sees the whole system work with one command. The devices report steady
//! smoke and gas readings across every street and, now and then, a fire
//! (a smoke sensor and a camera in one cell: one multi-source order) or a
//! gas leak held past its rule's hold; the desk receives every order and
//! acknowledges some of them, so the console shows orders open and closed.
//! Everything runs in this process on ports the OS picks.

use crate::client::{ClientOptions, DeviceClient, SubscriberClient};
use crate::config::Config;
use crate::geo::RegionMap;
use crate::hub::Hub;
use crate::model::{Category, Source};
use crate::wire::control::{Outcome, DISTRICT};
use crate::wire::WireEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Devices per street.
const DEVICES_PER_STREET: u64 = 200;
/// The camera every simulated fire is seen by.
const CAMERA: &[u8; 20] = b"31010700001320000042";

/// How a demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How long devices send.
    pub duration: Duration,
    /// Readings per second, all devices together.
    pub rate: u32,
    /// Seconds between incidents.
    pub incident_every: Duration,
    /// Where the hub keeps its outbox.
    pub data_dir: std::path::PathBuf,
    /// Print a line of figures every second.
    pub live: bool,
}

/// What a demo did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemoSummary {
    /// Readings sent.
    pub sent: u64,
    /// Readings the hub accepted.
    pub accepted: u64,
    /// Incidents staged.
    pub incidents: u64,
    /// Orders (and updates) the district desk received.
    pub orders: u64,
    /// Orders it acknowledged.
    pub acked: u64,
    /// Largest time from an incident's last reading to its order, ms.
    pub max_latency_ms: f64,
}

#[derive(Default)]
struct Figures {
    sent: AtomicU64,
    accepted: AtomicU64,
    incidents: AtomicU64,
    orders: AtomicU64,
    acked: AtomicU64,
    /// When each incident's deciding reading was sent, by (device, seq).
    staged: Mutex<HashMap<(u64, u64), Instant>>,
    max_latency_us: AtomicU64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn reading(device: u64, seq: u64, category: Category, value: f64, at: (f64, f64)) -> WireEvent {
    WireEvent {
        device_id: device,
        seq,
        time_ms: now_ms(),
        value,
        lat: at.0,
        lon: at.1,
        category: category.code(),
        source: Source::Sensor.code(),
        flags: 0,
        camera: [0; 20],
    }
}

/// Runs the demo: starts a hub on `config` (its listen addresses are
/// replaced by loopback ports the OS picks), drives it, stops it, and
/// returns what happened. `on_start` gets the hub's addresses once it
/// serves.
pub async fn run(
    mut config: Config,
    opts: DemoOptions,
    on_start: impl FnOnce(&Hub),
) -> anyhow::Result<DemoSummary> {
    config.hub.listen = "127.0.0.1:0".parse().expect("address");
    config.hub.admin = "127.0.0.1:0".parse().expect("address");
    config.hub.data_dir = opts.data_dir.clone();
    // The demo's readings are stamped now; nothing is late.
    let grace = config.limits.shutdown_grace;
    let hub = Hub::start(config).await?;
    on_start(&hub);
    let figures = Arc::new(Figures::default());
    let device_token = "dev-device-token";
    let desk = SubscriberClient::connect(
        &ClientOptions::dev(hub.quic_addr, "dev-district-token"),
        DISTRICT,
        0,
    )
    .await?;
    let listener = tokio::spawn(listen(desk, figures.clone()));
    let devices = DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, device_token)).await?;
    let ticker = opts.live.then(|| tokio::spawn(show(figures.clone())));
    let sent = send(devices, &opts, figures.clone()).await;
    // Orders of the last incidents arrive after the last reading.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    listener.abort();
    if let Some(t) = ticker {
        t.abort();
    }
    hub.shutdown(grace).await;
    sent?;
    Ok(DemoSummary {
        sent: figures.sent.load(Ordering::Relaxed),
        accepted: figures.accepted.load(Ordering::Relaxed),
        incidents: figures.incidents.load(Ordering::Relaxed),
        orders: figures.orders.load(Ordering::Relaxed),
        acked: figures.acked.load(Ordering::Relaxed),
        max_latency_ms: figures.max_latency_us.load(Ordering::Relaxed) as f64 / 1000.0,
    })
}

/// Steady readings at `rate`, in batches every 50 ms, and an incident
/// every `incident_every`, for `duration`.
async fn send(
    mut devices: DeviceClient,
    opts: &DemoOptions,
    figures: Arc<Figures>,
) -> anyhow::Result<()> {
    let map = RegionMap::sample();
    let places: Vec<(f64, f64)> = (0..map.streets().len() as u16)
        .filter_map(|s| map.interior_point(s))
        .collect();
    let count = places.len() as u64 * DEVICES_PER_STREET;
    let mut seqs = vec![0u64; count as usize];
    let mut rng = fastrand::Rng::with_seed(now_ms() as u64);
    let base = (now_ms() as u64 % 1_000_000) * 100_000;
    let tick = Duration::from_millis(50);
    let per_tick = (opts.rate as usize / 20).max(1);
    let start = Instant::now();
    let mut next_incident = start + opts.incident_every / 2;
    let mut incident = 0u64;
    let mut ticks = tokio::time::interval(tick);
    while start.elapsed() < opts.duration {
        ticks.tick().await;
        let mut batch = Vec::with_capacity(per_tick + 2);
        for _ in 0..per_tick {
            let i = rng.u64(..count);
            let place = places[(i / DEVICES_PER_STREET) as usize];
            // Sensors spread ~300 m around the street's inner point.
            let at = (
                place.0 + (rng.f64() - 0.5) * 0.006,
                place.1 + (rng.f64() - 0.5) * 0.006,
            );
            seqs[i as usize] += 1;
            let (category, value) = if i.is_multiple_of(2) {
                (Category::Smoke, 0.1 + rng.f64() * 0.4)
            } else {
                (Category::Gas, 2.0 + rng.f64() * 3.0)
            };
            batch.push(reading(base + i, seqs[i as usize], category, value, at));
        }
        if Instant::now() >= next_incident {
            next_incident += opts.incident_every;
            incident += 1;
            let place = places[rng.usize(..places.len())];
            let device = base + count + incident * 2;
            let staged = stage(device, incident, place);
            let decisive = staged.last().expect("incidents have readings");
            figures
                .staged
                .lock()
                .expect("staged lock")
                .insert((decisive.device_id, decisive.seq), Instant::now());
            figures.incidents.fetch_add(1, Ordering::Relaxed);
            batch.extend(staged);
        }
        let ack = devices.send_and_wait(&batch).await?;
        figures
            .sent
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        figures
            .accepted
            .fetch_add(u64::from(ack.accepted), Ordering::Relaxed);
    }
    devices.close().await;
    Ok(())
}

/// An incident's readings: odd ones a fire seen by a smoke sensor and a
/// camera, even ones a gas leak held past the rule's 5 s hold.
fn stage(device: u64, incident: u64, at: (f64, f64)) -> Vec<WireEvent> {
    let t = now_ms();
    if incident % 2 == 1 {
        let smoke = WireEvent {
            time_ms: t - 2_000,
            ..reading(device, 1, Category::Smoke, 6.5, at)
        };
        let fire = WireEvent {
            source: Source::Video.code(),
            camera: *CAMERA,
            ..reading(device + 1, 1, Category::Fire, 0.93, at)
        };
        vec![smoke, fire]
    } else {
        let first = WireEvent {
            time_ms: t - 6_000,
            ..reading(device, 1, Category::Gas, 45.0, at)
        };
        vec![first, reading(device, 2, Category::Gas, 47.0, at)]
    }
}

/// The district desk: counts orders, measures them from the deciding
/// reading, acknowledges every other new order as resolved.
async fn listen(mut desk: SubscriberClient, figures: Arc<Figures>) {
    let mut n = 0u64;
    while let Ok(order) = desk.next_order().await {
        let arrived = Instant::now();
        figures.orders.fetch_add(1, Ordering::Relaxed);
        let sent = {
            let staged = figures.staged.lock().expect("staged lock");
            order
                .events
                .iter()
                .filter_map(|e| staged.get(&(e.device, e.seq)))
                .max()
                .copied()
        };
        if let Some(sent) = sent {
            let us = arrived.saturating_duration_since(sent).as_micros() as u64;
            figures.max_latency_us.fetch_max(us, Ordering::Relaxed);
        }
        if order.revision == 1 {
            n += 1;
            if n.is_multiple_of(2)
                && desk
                    .ack(&order.id, Outcome::Resolved, "演示：已处置")
                    .await
                    .is_ok()
            {
                figures.acked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A line of figures every second.
async fn show(figures: Arc<Figures>) {
    let start = Instant::now();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.tick().await;
    loop {
        every.tick().await;
        println!(
            "{:>3} s  readings sent {:>8}  accepted {:>8}  incidents {:>3}  orders {:>3}  acknowledged {:>3}  slowest order {:.1} ms",
            start.elapsed().as_secs(),
            figures.sent.load(Ordering::Relaxed),
            figures.accepted.load(Ordering::Relaxed),
            figures.incidents.load(Ordering::Relaxed),
            figures.orders.load(Ordering::Relaxed),
            figures.acked.load(Ordering::Relaxed),
            figures.max_latency_us.load(Ordering::Relaxed) as f64 / 1000.0,
        );
    }
}
