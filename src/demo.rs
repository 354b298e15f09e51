//! `tongguan demo`: the hub, simulated devices and the district's duty
//! desk on loopback for a short while, with live figures, so a newcomer
//! sees the whole system work with one command. The devices report steady
//! smoke and gas readings across every street and, now and then, a fire
//! (a smoke sensor and a camera in one cell: one multi-source order) or a
//! gas leak held past its rule's hold; the desk receives every order and
//! acknowledges every other one after a human-like delay, so the console
//! shows orders open and closed and a time-to-ack that is not zero.
//! Everything runs in this process on loopback: the quick start's ports
//! when they are free, or those given, or ports the OS picks.

use crate::client::{ClientOptions, DeviceClient, SubscriberClient};
use crate::config::Config;
use crate::geo::RegionMap;
use crate::hub::{Hub, StartError};
use crate::model::{Category, Source};
use crate::wire::control::{Outcome, DISTRICT};
use crate::wire::WireEvent;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Devices per street.
const DEVICES_PER_STREET: u64 = 200;
/// The camera every simulated fire is seen by.
const CAMERA: &[u8; 20] = b"31010700001320000042";

/// Where the demo's hub listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// This address (port 0: one the OS picks); taken, the demo fails.
    Exactly(SocketAddr),
    /// This address when it is free, otherwise a port the OS picks on the
    /// same IP (and [`Demo::notes`] says so).
    Prefer(SocketAddr),
}

impl Bind {
    /// A port the OS picks on 127.0.0.1.
    pub const EPHEMERAL: Bind = Bind::Exactly(SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        0,
    ));

    fn addr(self) -> SocketAddr {
        match self {
            Bind::Exactly(a) | Bind::Prefer(a) => a,
        }
    }
}

/// How long the desk takes to acknowledge an order after it arrives:
/// between `min` and `max`, most acks nearer `min` with a tail of slow
/// ones, as at a real desk (the square of a uniform draw: the median is a
/// quarter of the way from `min` to `max`). Written `MIN..MAX` in
/// humantime (`20s..3m`), or one duration for a fixed delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckDelay {
    /// The quickest ack.
    pub min: Duration,
    /// The slowest.
    pub max: Duration,
}

impl AckDelay {
    /// The default for a demo whose devices send for `duration` (zero:
    /// until stopped, taken as a minute): from a sixth of it to one and a
    /// half times it, 10 s to 90 s (median 30 s) for the default minute,
    /// so about half of the orders to acknowledge are acknowledged while
    /// the devices send.
    pub fn scaled_to(duration: Duration) -> AckDelay {
        let d = if duration.is_zero() {
            Duration::from_secs(60)
        } else {
            duration
        };
        AckDelay {
            min: d / 6,
            max: d * 3 / 2,
        }
    }

    /// One delay.
    fn pick(&self, rng: &mut fastrand::Rng) -> Duration {
        let u = rng.f64();
        self.min + (self.max - self.min).mul_f64(u * u)
    }
}

impl std::str::FromStr for AckDelay {
    type Err = String;

    fn from_str(s: &str) -> Result<AckDelay, String> {
        let parse = |t: &str| {
            humantime::parse_duration(t.trim()).map_err(|e| format!("{t:?}: {e} (e.g. 20s..3m)"))
        };
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let d = parse(s)?;
                (d, d)
            }
        };
        if min > max {
            return Err(format!("{s:?}: MIN is above MAX"));
        }
        Ok(AckDelay { min, max })
    }
}

impl std::fmt::Display for AckDelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show =
            |d: Duration| humantime::format_duration(Duration::from_millis(d.as_millis() as u64));
        if self.min == self.max {
            write!(f, "{}", show(self.min))
        } else {
            write!(f, "{}..{}", show(self.min), show(self.max))
        }
    }
}

/// How a demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How long devices send; zero: until the stop future of
    /// [`Demo::run_devices`] completes.
    pub duration: Duration,
    /// Readings per second, all devices together.
    pub rate: u32,
    /// Seconds between incidents.
    pub incident_every: Duration,
    /// Where the hub keeps its outbox.
    pub data_dir: std::path::PathBuf,
    /// Print a line of figures every second while the devices send.
    pub live: bool,
    /// The hub's QUIC address.
    pub listen: Bind,
    /// The hub's HTTP address (console, metrics).
    pub admin: Bind,
    /// How long the desk takes to acknowledge.
    pub ack_after: AckDelay,
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
    /// The median time from an order's arrival at the desk to its ack, s
    /// (0 without acks).
    pub median_ack_s: f64,
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
    /// How long each acknowledged order waited at the desk.
    ack_waits: Mutex<Vec<Duration>>,
}

impl Figures {
    fn summary(&self) -> DemoSummary {
        let median_ack_s = {
            let mut waits = self.ack_waits.lock().expect("ack waits lock").clone();
            waits.sort();
            waits
                .get(waits.len() / 2)
                .map_or(0.0, Duration::as_secs_f64)
        };
        DemoSummary {
            sent: self.sent.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            incidents: self.incidents.load(Ordering::Relaxed),
            orders: self.orders.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            median_ack_s,
            max_latency_ms: self.max_latency_us.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
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

/// A running demo: the hub, the district desk and the devices, which
/// send once [`Demo::run_devices`] is called.
pub struct Demo {
    hub: Hub,
    opts: DemoOptions,
    grace: Duration,
    figures: Arc<Figures>,
    notes: Vec<String>,
    devices: Option<DeviceClient>,
    desk_stop: watch::Sender<bool>,
    desk: tokio::task::JoinHandle<SubscriberClient>,
}

impl Demo {
    /// Starts a hub on `config` (its addresses and data directory replaced
    /// by the options'), connects the desk and the devices.
    pub async fn start(mut config: Config, opts: DemoOptions) -> anyhow::Result<Demo> {
        config.hub.data_dir = opts.data_dir.clone();
        let grace = config.limits.shutdown_grace;
        let (hub, notes) = start_hub(config, opts.listen, opts.admin).await?;
        let clients = async {
            let desk = SubscriberClient::connect(
                &ClientOptions::dev(hub.quic_addr, "dev-district-token"),
                DISTRICT,
                0,
            )
            .await?;
            let devices =
                DeviceClient::connect(&ClientOptions::dev(hub.quic_addr, "dev-device-token"))
                    .await?;
            Ok::<_, crate::client::ClientError>((desk, devices))
        };
        let (desk, devices) = match clients.await {
            Ok(c) => c,
            Err(e) => {
                hub.shutdown(grace).await;
                return Err(e.into());
            }
        };
        let figures = Arc::new(Figures::default());
        let (desk_stop, stopped) = watch::channel(false);
        let desk = tokio::spawn(listen(desk, figures.clone(), opts.ack_after, stopped));
        Ok(Demo {
            hub,
            opts,
            grace,
            figures,
            notes,
            devices: Some(devices),
            desk_stop,
            desk,
        })
    }

    /// The hub (its addresses).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// What differs from the options: a preferred address that was taken.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The devices send for the duration (without end when it is zero)
    /// or until `stop` completes; then, unless stopped, the last orders
    /// are waited for. Returns whether `stop` ended it. The hub and the
    /// desk keep running until [`Demo::shutdown`].
    pub async fn run_devices(&mut self, stop: impl Future<Output = ()>) -> anyhow::Result<bool> {
        let devices = self
            .devices
            .take()
            .ok_or_else(|| anyhow::anyhow!("the demo's devices have already run"))?;
        let ticker = self
            .opts
            .live
            .then(|| tokio::spawn(show(self.figures.clone())));
        let mut stop = std::pin::pin!(stop);
        let sent = send(devices, &self.opts, self.figures.clone(), stop.as_mut()).await;
        let mut interrupted = matches!(sent, Ok(true));
        if matches!(sent, Ok(false)) {
            // Orders of the last incidents arrive after the last reading.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(1500)) => {}
                _ = stop => interrupted = true,
            }
        }
        if let Some(t) = ticker {
            t.abort();
        }
        sent.map(|_| interrupted)
    }

    /// What happened so far.
    pub fn summary(&self) -> DemoSummary {
        self.figures.summary()
    }

    /// Stops the desk (an ack under way is finished and delivered), then
    /// the hub; returns what happened.
    pub async fn shutdown(self) -> DemoSummary {
        let _ = self.desk_stop.send(true);
        if let Ok(desk) = self.desk.await {
            desk.close().await;
        }
        self.hub.shutdown(self.grace).await;
        self.figures.summary()
    }
}

/// Starts the hub, moving a preferred address that is taken to a port the
/// OS picks; the notes say which.
async fn start_hub(
    mut config: Config,
    listen: Bind,
    admin: Bind,
) -> anyhow::Result<(Hub, Vec<String>)> {
    config.hub.listen = listen.addr();
    config.hub.admin = admin.addr();
    let mut notes = Vec::new();
    loop {
        match Hub::start(config.clone()).await {
            Ok(hub) => return Ok((hub, notes)),
            Err(StartError::Bind { what, addr, source }) => {
                let (bind, slot) = if what == "QUIC" {
                    (listen, &mut config.hub.listen)
                } else {
                    (admin, &mut config.hub.admin)
                };
                if !matches!(bind, Bind::Prefer(_)) || slot.port() == 0 {
                    return Err(StartError::Bind { what, addr, source }.into());
                }
                notes.push(format!(
                    "{addr} is taken ({source}): the demo's {what} uses a port the OS picks instead"
                ));
                slot.set_port(0);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs a whole demo: starts it, calls `on_start` with the hub once it
/// serves, lets the devices send for the duration, stops everything and
/// returns what happened.
pub async fn run(
    config: Config,
    opts: DemoOptions,
    on_start: impl FnOnce(&Hub),
) -> anyhow::Result<DemoSummary> {
    let mut demo = Demo::start(config, opts).await?;
    on_start(demo.hub());
    let ran = demo.run_devices(std::future::pending()).await;
    let summary = demo.shutdown().await;
    ran?;
    Ok(summary)
}

/// `place` moved by (`dlat`, `dlon`) degrees when that stays in the same
/// street of `map`, else `place` itself: a simulated device belongs to
/// the street whose inner point it was placed around.
fn within_street(map: &RegionMap, place: (f64, f64), dlat: f64, dlon: f64) -> (f64, f64) {
    let street =
        |(lat, lon): (f64, f64)| crate::geo::cell_of(lat, lon).and_then(|c| map.street_of(c));
    let moved = (place.0 + dlat, place.1 + dlon);
    if street(moved).is_some() && street(moved) == street(place) {
        moved
    } else {
        place
    }
}

/// Steady readings at `rate`, in batches every 50 ms, and an incident
/// every `incident_every`, for `duration` (zero: without end) or until
/// `stop` completes. Returns whether `stop` ended it.
async fn send(
    mut devices: DeviceClient,
    opts: &DemoOptions,
    figures: Arc<Figures>,
    mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<bool> {
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
    while opts.duration.is_zero() || start.elapsed() < opts.duration {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.as_mut() => {
                devices.close().await;
                return Ok(true);
            }
        }
        let mut batch = Vec::with_capacity(per_tick + 2);
        for _ in 0..per_tick {
            let i = rng.u64(..count);
            let place = places[(i / DEVICES_PER_STREET) as usize];
            // Sensors spread ~300 m around the street's inner point, kept
            // inside that street (the real outlines are narrow in places).
            let at = within_street(
                &map,
                place,
                (rng.f64() - 0.5) * 0.006,
                (rng.f64() - 0.5) * 0.006,
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
    Ok(false)
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
/// reading, and acknowledges every other new order as resolved once its
/// delay has passed, until told to stop. Hands the connection back.
async fn listen(
    mut desk: SubscriberClient,
    figures: Arc<Figures>,
    delay: AckDelay,
    mut stop: watch::Receiver<bool>,
) -> SubscriberClient {
    let mut rng = fastrand::Rng::new();
    // (when due, order id, when it arrived), soonest first.
    let mut due: BinaryHeap<Reverse<(Instant, String, Instant)>> = BinaryHeap::new();
    let mut n = 0u64;
    loop {
        let next = due.peek().map(|Reverse((at, _, _))| *at);
        let wake = tokio::time::Instant::from_std(next.unwrap_or_else(Instant::now));
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep_until(wake), if next.is_some() => {
                let Some(Reverse((_, id, arrived))) = due.pop() else { continue };
                if desk.ack(&id, Outcome::Resolved, "演示：已处置").await.is_err() {
                    break;
                }
                figures.acked.fetch_add(1, Ordering::Relaxed);
                figures.ack_waits.lock().expect("ack waits lock").push(arrived.elapsed());
            }
            order = desk.next_order() => {
                let Ok(order) = order else { break };
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
                    if n.is_multiple_of(2) {
                        due.push(Reverse((arrived + delay.pick(&mut rng), order.id, arrived)));
                    }
                }
            }
        }
    }
    desk
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
