//! loadgen: drives a running tongguan hub over QUIC with open-loop load at
//! a set rate, and (with --subscribe) plays the street platforms,
//! acknowledging orders and measuring event-to-order latency from each
//! event's intended send time.

mod ahead;
mod client_options;
mod connection;
mod counters;
mod listeners;
mod places;
mod plot;
mod population;
mod report;
mod run;
mod schedule;
mod sender;
mod template;
mod triggers;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load generator and street-platform simulator for tongguan. With no
/// flags it runs 5 s of 20,000 events/s against a hub started with
/// `cargo run --release` on this machine.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Args {
    /// The hub's QUIC address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub hub: SocketAddr,
    /// Events per second to offer (open loop), or `max` to send as fast as
    /// the window of unacknowledged batches allows (closed loop: latency
    /// is then measured from each batch's actual send). 0 sends nothing
    /// (use with --subscribe to only listen).
    #[arg(long, default_value = "20000", value_parser = parse_rate)]
    pub rate: Rate,
    /// How long to send, e.g. 5s, 1m.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// What the load looks like: steady, storm (waterlogging and crowds,
    /// ten times the incidents), duplicate-storm (retransmits and stuck
    /// sensors), correlated-fire (smoke sensor + camera), hotline-surge.
    #[arg(long, value_enum, default_value_t = population::Scenario::Steady)]
    pub scenario: population::Scenario,
    /// Simulated devices (activity is skewed: a few are busy, most quiet),
    /// standing inside the streets of the embedded region map.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Send every device once, in order, before the skewed mix; with it
    /// every device is heard at least once (each connection covers its own
    /// share of the devices, so at --rate R this takes --devices / R
    /// seconds).
    #[arg(long)]
    pub cover: bool,
    /// QUIC connections (gateways) the devices are spread over, each sent
    /// on by a thread of its own (pinned to a core where the OS allows).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Subscribe as every street of the sample map and acknowledge orders.
    #[arg(long)]
    pub subscribe: bool,
    /// Print one JSON summary line instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Events per batch (most per frame).
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Send a partial batch after this long.
    #[arg(long, default_value = "5ms", value_parser = humantime::parse_duration)]
    pub flush: Duration,
    /// Batches in flight per connection before the sender waits for acks.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Incidents started per second.
    #[arg(long, default_value_t = 20.0)]
    pub incidents: f64,
    /// Share of batches sent twice (retransmits the hub must drop).
    #[arg(long, default_value_t = 0.01)]
    pub retransmit_share: f64,
    /// Share of acknowledgements that say "false alarm".
    #[arg(long, default_value_t = 0.1)]
    pub false_alarm_share: f64,
    /// Device token.
    #[arg(long, default_value = "dev-device-token")]
    pub token: String,
    /// Subscriber token prefix; the street code is appended.
    #[arg(long, default_value = "dev-street-")]
    pub street_token_prefix: String,
    /// PEM file of the hub's certificate (for example data/hub-cert.pem);
    /// without it, any certificate is trusted, and only on loopback.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Seconds to keep listening for orders after sending stops.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    /// Leave the orders of events due in the run's first DURATION out of
    /// the latency figures (they are sent and counted as usual): the
    /// start of a run measures connections' slow start and cold caches,
    /// not the steady state. The summary says how much was left out.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Seed of the event mix (device ids too, so runs do not collide).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the event-to-order latency distribution here, in HdrHistogram's
    /// percentile text format (.hgrm, values in milliseconds).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Draw the event-to-order latency distribution into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No live progress line on stderr (shown by default when stderr is a
    /// terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// An offered rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Events per second, open loop.
    PerSecond(u64),
    /// As fast as acknowledgements allow.
    Max,
}

impl Rate {
    /// Events per second, or `None` for max.
    pub fn per_second(self) -> Option<u64> {
        match self {
            Rate::PerSecond(n) => Some(n),
            Rate::Max => None,
        }
    }
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s == "max" {
        return Ok(Rate::Max);
    }
    s.replace('_', "")
        .parse::<u64>()
        .map(Rate::PerSecond)
        .map_err(|_| format!("--rate takes events per second or `max`, not {s:?}"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if args.batch == 0 || args.connections == 0 || args.devices == 0 || args.window == 0 {
        bail!("--batch, --connections, --devices and --window must be at least 1");
    }
    if args.rate == Rate::PerSecond(0) && !args.subscribe {
        bail!("--rate 0 sends nothing: add --subscribe to listen for orders");
    }
    // The senders and the subscribers have threads and runtimes of their
    // own; this one only sets them up, waits and reports.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let summary = runtime.block_on(run::run(args.clone()))?;
    if args.json {
        println!("{}", serde_json::to_string(&summary.summary)?);
    } else {
        report::print_table(&summary.summary);
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "tongguan event-to-order latency: {:?}, {} events/s offered, {} samples",
            args.scenario,
            args.rate
                .per_second()
                .map_or("max".into(), |r| r.to_string()),
            summary.latency.len()
        );
        plot::latency_svg(&summary.latency, &title, path)
            .with_context(|| format!("drawing {}", path.display()))?;
    }
    if let Some(path) = &args.hgrm {
        std::fs::write(path, report::hgrm(&summary.latency))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
