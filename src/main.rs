//! The `tongguan` binary: `serve` runs the hub (the default when no
//! subcommand is given), `check` validates a config offline.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use tongguan::config::Config;
use tongguan::hub::Hub;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// tongguan: real-time alert hub for a district's unified operations
/// platform (一网统管). Devices stream events over QUIC; the hub dedups,
/// thresholds and correlates them and dispatches orders to the street
/// platforms that own the place.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub (the default). Without --config it serves on embedded
    /// development defaults: QUIC on 127.0.0.1:4433, HTTP on 127.0.0.1:9464,
    /// a self-signed certificate, the sample map of Putuo, default rules,
    /// development tokens (refused on non-loopback addresses).
    Serve(ServeArgs),
    /// Check a config, its rules and region map without serving; exits
    /// non-zero with the file and field at fault.
    Check {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a sink: the hub's QUIC endpoint, authentication, decoding,
    /// validation and acknowledgements, and nothing after them. The
    /// baseline the load tester compares `serve` against. Same options as
    /// serve.
    Sink(ServeArgs),
    /// Run the hub, simulated devices and the district duty desk on
    /// loopback for a while, with a line of live figures a second: the
    /// whole system in one command. Open the console address it prints to
    /// watch the orders on the map (sign in with dev-district-token or
    /// dev-street-310107005000).
    Demo {
        /// How long the devices send.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Steady readings per second, all devices together.
        #[arg(long, default_value_t = 2000)]
        rate: u32,
        /// Time between incidents (fires and gas leaks, in turn).
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        incident_every: std::time::Duration,
        /// Keep the outbox here (default: a temporary directory removed
        /// at the end).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print a salted hash of a token for the config's `token_hash`, so
    /// the config file holds no secret. Reads the token from standard
    /// input (one line) so it stays out of shell history.
    HashToken,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Config file (TOML) laid over the embedded defaults.
    #[arg(long, env = "TONGGUAN_CONFIG")]
    config: Option<PathBuf>,
    /// QUIC listen address (UDP), overriding hub.listen.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HTTP listen address for /metrics and health, overriding hub.admin.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Data directory (created if missing), overriding hub.data_dir. The
    /// hub writes its certificate there as hub-cert.pem for clients.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Engine shard threads (0 = one per core), overriding hub.shards.
    #[arg(long)]
    shards: Option<usize>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args, false),
        Command::Sink(args) => serve(args, true),
        Command::Check { config } => check(&config),
        Command::Demo {
            duration,
            rate,
            incident_every,
            data_dir,
        } => demo(duration, rate, incident_every, data_dir),
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token")?;
            let token = token.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(token.len() >= 8, "a token has at least 8 characters");
            println!("{}", tongguan::hub::auth::TokenHash::make(token));
            Ok(())
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(path: Option<&PathBuf>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::embedded(),
    })
}

fn check(path: &PathBuf) -> Result<()> {
    let config = load(Some(path))?;
    if let Some(rules) = &config.hub.rules {
        let text = std::fs::read_to_string(rules)
            .with_context(|| format!("reading {}", rules.display()))?;
        tongguan::engine::rules::Profiles::from_toml(&text)
            .with_context(|| format!("rules {}", rules.display()))?;
    }
    if let Some(map) = &config.hub.region_map {
        let text =
            std::fs::read_to_string(map).with_context(|| format!("reading {}", map.display()))?;
        tongguan::geo::RegionMap::from_geojson(&text)
            .with_context(|| format!("region map {}", map.display()))?;
    }
    config.check_exposure()?;
    println!("{}: ok", path.display());
    Ok(())
}

fn serve(args: ServeArgs, sink: bool) -> Result<()> {
    let mut config = load(args.config.as_ref())?;
    if let Some(a) = args.listen {
        config.hub.listen = a;
    }
    if let Some(a) = args.admin {
        config.hub.admin = a;
    }
    if let Some(d) = args.data_dir {
        config.hub.data_dir = d;
    }
    if let Some(n) = args.shards {
        config.hub.shards = n;
    }
    let data_dir = config.hub.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tongguan-io")
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let hub = if sink {
            Hub::start_sink(config).await?
        } else {
            Hub::start(config).await?
        };
        let cert = data_dir.join("hub-cert.pem");
        std::fs::write(&cert, &hub.cert_pem)
            .with_context(|| format!("writing {}", cert.display()))?;
        println!(
            "tongguan {}: QUIC {} (certificate in {}), HTTP http://{}/metrics",
            if sink { "sink serving" } else { "serving" },
            hub.quic_addr,
            cert.display(),
            hub.admin_addr
        );
        let grace = hub.shared().config.limits.shutdown_grace;
        wait_for_stop(&hub).await;
        tracing::info!(?grace, "shutting down");
        hub.shutdown(grace).await;
        Ok(())
    })
}

fn demo(
    duration: std::time::Duration,
    rate: u32,
    incident_every: std::time::Duration,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    if rate == 0 || incident_every.is_zero() {
        anyhow::bail!("--rate and --incident-every must be above zero");
    }
    let temporary = data_dir.is_none();
    let data_dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tongguan-demo-{}", std::process::id()))
    });
    let opts = tongguan::demo::DemoOptions {
        duration,
        rate,
        incident_every,
        data_dir: data_dir.clone(),
        live: true,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tongguan-io")
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(tongguan::demo::run(Config::embedded(), opts, |hub| {
        println!(
            "tongguan demo for {}: hub on QUIC {}; console http://{}/console \
             (sign in with dev-district-token, or dev-street-310107005000 for Caoyang Xincun); \
             metrics http://{}/metrics",
            humantime::format_duration(duration),
            hub.quic_addr,
            hub.admin_addr,
            hub.admin_addr
        );
    }));
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let s = result?;
    println!(
        "done: {} readings sent, {} accepted; {} incidents made {} orders and updates; \
         the desk acknowledged {}; slowest order {:.1} ms after its deciding reading",
        s.sent, s.accepted, s.incidents, s.orders, s.acked, s.max_latency_ms
    );
    Ok(())
}

/// Serves SIGHUP (reload the rules file) until SIGTERM or Ctrl-C.
async fn wait_for_stop(hub: &Hub) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        let mut hup = signal(SignalKind::hangup()).expect("installing the SIGHUP handler");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = term.recv() => return,
                _ = hup.recv() => match hub.reload_rules().await {
                    Ok(n) => tracing::warn!(rules = n, "rules reloaded on SIGHUP"),
                    Err(e) => tracing::error!(error = %e, "rules NOT reloaded; the rules in force stay"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
