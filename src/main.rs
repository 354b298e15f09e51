//! The `tongguan` binary: `serve` runs the hub (the default when no
//! subcommand is given: `tongguan --config FILE` takes every serve option),
//! `check` validates a config offline, `outbox` compacts or exports an
//! outbox offline, `rules test` runs rule unit tests.

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tongguan::config::{preflight, Config};
use tongguan::demo::{AckDelay, Bind};
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
    /// Colour in the text logs: auto = only when standard error is a
    /// terminal and NO_COLOR is not set.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    // Last: the heading applies to the options after it.
    /// Without a subcommand the hub serves, with these options (as
    /// `tongguan serve`).
    #[command(flatten, next_help_heading = "Serve options (without a subcommand)")]
    serve: ServeArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    /// When standard error is a terminal (and NO_COLOR is not set).
    Auto,
    /// Always (even into a file or a pipe).
    Always,
    /// Never.
    Never,
}

impl Color {
    fn wanted(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
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
    /// Check a config without serving: the config, every file it names
    /// (region map, rules, TLS certificate, key and client CA) and, in a
    /// production config (auth.development = false), its tokens
    /// (placeholders, short or repeated ones); exits non-zero naming the
    /// file, field or entry of each problem.
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
        /// How long the devices send; 0 = until Ctrl-C. When the time is up
        /// the summary is printed and, if standard input is a terminal, the
        /// hub and its console stay up until Ctrl-C.
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
        /// QUIC listen address [default: 127.0.0.1:4433 when free, else a
        /// port the OS picks].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// HTTP address of the console and metrics [default: 127.0.0.1:9464
        /// when free, else a port the OS picks].
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// How long the simulated desk takes to acknowledge an order,
        /// MIN..MAX (e.g. 20s..3m), most acks nearer MIN; one value for a
        /// fixed delay [default: a sixth of --duration to one and a half
        /// times it, 10s..90s for a minute].
        #[arg(long, value_name = "MIN..MAX")]
        ack_after: Option<AckDelay>,
    },
    /// Print a salted hash of a token for the config's `token_hash`, so
    /// the config file holds no secret. Reads the token from standard
    /// input (one line) so it stays out of shell history.
    HashToken,
    /// Compact or export an outbox, offline.
    ///
    /// Stop the hub first: it holds the file locked while it runs.
    Outbox {
        #[command(subcommand)]
        action: OutboxCommand,
    },
    /// Replay a recording ([record] in the config), or a time range of the
    /// cluster's events stream (--nats), through proposed rules
    /// and compare with the rules in force: orders, multi-source warnings
    /// and delays per rule and street, false alarms avoided and incidents
    /// missed (judged by the outbox's acks), the orders that differ.
    Replay(tongguan::replay::ReplayArgs),
    /// Make entries of the people file (accounts that sign in to the
    /// console): `users hash`, `users add`.
    Users {
        #[command(subcommand)]
        action: tongguan::auth::cli::UsersCommand,
    },
    /// Check the audit trail offline: `audit verify --data-dir DIR`.
    Audit {
        #[command(subcommand)]
        action: tongguan::audit::cli::AuditCommand,
    },
    /// Work on rules offline: `rules test FILE...` runs rule unit tests.
    Rules {
        #[command(subcommand)]
        action: tongguan::rules_test_cli::RulesCommand,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Shrink DATA_DIR/outbox.redb to what it holds.
    ///
    /// A redb file does not shrink when orders are deleted (retention,
    /// [retention] in the config): this gives the free pages back to the
    /// filesystem, and prints the size before and after.
    Compact {
        /// The hub's data directory (hub.data_dir).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Write the outbox's orders to standard output, one JSON a line.
    ///
    /// Each line is an order record as retention's export files under
    /// DATA_DIR/exports/ hold them: `tongguan outbox export --data-dir DIR
    /// --status acked > orders.jsonl`.
    Export {
        /// The hub's data directory (hub.data_dir).
        #[arg(long)]
        data_dir: PathBuf,
        /// Only orders with this status (closed = acked); all without.
        #[arg(long, value_enum)]
        status: Option<OrderStatus>,
    },
}

/// An order status on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum OrderStatus {
    /// Dispatched, not acknowledged.
    Open,
    /// Acknowledged (closed): what retention deletes.
    #[value(alias = "closed")]
    Acked,
    /// Past its deadline, escalated, not acknowledged.
    Escalated,
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
    /// Cluster mode: NATS JetStream servers, comma-separated
    /// (nats://127.0.0.1:4222,nats://...), overriding cluster.servers.
    /// Every node runs the same binary and config on them.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    nats: Option<Vec<String>>,
    /// This node's name in the cluster, overriding cluster.node [default:
    /// the host's name and the QUIC port].
    #[arg(long)]
    node: Option<String>,
}

/// The ids of the serve options [`Cli`] takes without a subcommand.
const SERVE_OPTIONS: [&str; 7] = [
    "config", "listen", "admin", "data_dir", "shards", "nats", "node",
];

/// Parses the command line. The serve options before a subcommand are
/// refused (`tongguan --config F check` would silently ignore F); the
/// global ones (--log-format, --color) go anywhere.
fn parse() -> Cli {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if cli.command.is_some() {
        let given = SERVE_OPTIONS
            .iter()
            .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine));
        if let Some(id) = given {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--{} goes after the subcommand, or give no subcommand \
                         (`tongguan --config FILE` serves)",
                        id.replace('_', "-")
                    ),
                )
                .exit();
        }
    }
    cli
}

/// mimalloc's `purge_delay` option (its number in mimalloc.h, v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed goes back to the OS at once instead of after mimalloc's
/// delay: the shards' checkpoint snapshots (a copy of each shard's state
/// every second, freed on the writer's thread) otherwise stay resident:
/// 374 instead of 134 bytes per device with all of a million devices
/// heard (docs/PERFORMANCE.md). MIMALLOC_PURGE_DELAY in the environment wins.
fn return_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an option's value, which
        // mimalloc reads on later frees; any thread may call it.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
    }
}

fn main() -> ExitCode {
    return_freed_memory();
    let cli = parse();
    init_logs(cli.log_format, cli.color.wanted());
    if let Some(Command::Rules { action }) = &cli.command {
        // Its own exit status: 1 a case failed, 2 a file is invalid.
        return tongguan::rules_test_cli::run(action);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once, on one line: "what failed: why: why".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(args, false),
        Command::Sink(args) => serve(args, true),
        Command::Check { config } => check(&config),
        Command::Demo {
            duration,
            rate,
            incident_every,
            data_dir,
            listen,
            admin,
            ack_after,
        } => demo(DemoArgs {
            duration,
            rate,
            incident_every,
            data_dir,
            listen,
            admin,
            ack_after,
        }),
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token")?;
            let token = token.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(token.len() >= 8, "a token has at least 8 characters");
            println!("{}", tongguan::auth::TokenHash::make(token));
            Ok(())
        }
        Command::Outbox { action } => outbox(action),
        Command::Users { action } => tongguan::auth::cli::run(action),
        Command::Audit { action } => tongguan::audit::cli::run(action),
        Command::Replay(args) => tongguan::replay::run(&args),
        Command::Rules { .. } => unreachable!("main runs it"),
    }
}

/// `tongguan outbox compact|export`.
fn outbox(action: OutboxCommand) -> Result<()> {
    use tongguan::dispatch::record::Status;
    let open = |dir: &Path| -> Result<tongguan::store::Store> {
        let file = dir.join("outbox.redb");
        anyhow::ensure!(
            file.exists(),
            "no outbox in {} ({} is missing)",
            dir.display(),
            file.display()
        );
        tongguan::store::Store::open(dir).with_context(|| {
            format!(
                "opening {} (is the hub running on it? stop it first)",
                file.display()
            )
        })
    };
    match action {
        OutboxCommand::Compact { data_dir } => {
            let store = open(&data_dir)?;
            let c = store.compact().context("compacting the outbox")?;
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            println!(
                "{}: {:.1} MiB -> {:.1} MiB in {:.1} s",
                store.path().display(),
                mib(c.before_bytes),
                mib(c.after_bytes),
                c.elapsed.as_secs_f64()
            );
            Ok(())
        }
        OutboxCommand::Export { data_dir, status } => {
            let store = open(&data_dir)?;
            let status = status.map(|s| match s {
                OrderStatus::Open => Status::Open,
                OrderStatus::Acked => Status::Acked,
                OrderStatus::Escalated => Status::Escalated,
            });
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let n = store.export_orders(status, &mut out)?;
            std::io::Write::flush(&mut out).context("writing the exported orders")?;
            eprintln!("{n} orders exported from {}", store.path().display());
            Ok(())
        }
    }
}

fn init_logs(format: LogFormat, colour: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
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

/// Everything `serve` would load, without serving: the config, every file
/// it names, the addresses against the tokens and, in a production config,
/// the tokens themselves. Every problem is printed, one a line.
fn check(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let problems = preflight::problems(&config);
    if problems.is_empty() {
        println!("{}: ok", path.display());
        return Ok(());
    }
    for p in &problems {
        eprintln!("{}: {p}", path.display());
    }
    anyhow::bail!(
        "{}: {} problem{} (above): not ready to serve",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )
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
    if let Some(servers) = args.nats {
        config.cluster.servers = servers;
    }
    if let Some(node) = args.node {
        config.cluster.node = node;
    }
    config
        .cluster
        .check()
        .map_err(|e| anyhow::anyhow!("config: {e}"))?;
    for problem in preflight::token_problems(&config) {
        tracing::warn!("{problem} (tongguan check refuses this config)");
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
        let mut signals = StopSignals::install()?;
        let cert = data_dir.join("hub-cert.pem");
        std::fs::write(&cert, &hub.cert_pem)
            .with_context(|| format!("writing {}", cert.display()))?;
        // Tests and scripts read this line: QUIC first, then the metrics URL.
        let scheme = if hub.https { "https" } else { "http" };
        let console = if sink {
            String::new()
        } else {
            format!(", console {scheme}://{}/console", hub.admin_addr)
        };
        println!(
            "tongguan {}: QUIC {} (certificate in {}), HTTP {scheme}://{}/metrics{console}",
            if sink { "sink serving" } else { "serving" },
            hub.quic_addr,
            cert.display(),
            hub.admin_addr
        );
        let grace = hub.shared().config.limits.shutdown_grace;
        signals.wait_for_stop(&hub).await;
        tracing::info!(?grace, "shutting down");
        hub.shutdown(grace).await;
        Ok(())
    })
}

/// `tongguan demo`'s options.
struct DemoArgs {
    duration: std::time::Duration,
    rate: u32,
    incident_every: std::time::Duration,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    ack_after: Option<AckDelay>,
}

fn demo(args: DemoArgs) -> Result<()> {
    if args.rate == 0 || args.incident_every.is_zero() {
        anyhow::bail!("--rate and --incident-every must be above zero");
    }
    let temporary = args.data_dir.is_none();
    let data_dir = args.data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tongguan-demo-{}", std::process::id()))
    });
    let quick_start = Config::embedded();
    let opts = tongguan::demo::DemoOptions {
        duration: args.duration,
        rate: args.rate,
        incident_every: args.incident_every,
        data_dir: data_dir.clone(),
        live: true,
        listen: args
            .listen
            .map_or(Bind::Prefer(quick_start.hub.listen), Bind::Exactly),
        admin: args
            .admin
            .map_or(Bind::Prefer(quick_start.hub.admin), Bind::Exactly),
        ack_after: args
            .ack_after
            .unwrap_or_else(|| AckDelay::scaled_to(args.duration)),
    };
    let linger = !args.duration.is_zero() && std::io::stdin().is_terminal();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tongguan-io")
        .build()
        .context("starting the tokio runtime")?;
    let shown_dir = data_dir.clone();
    let result = runtime.block_on(async move {
        // From here on Ctrl-C and SIGTERM stop the demo rather than the
        // process, so the summary is printed and the directory removed.
        let mut stop = StopSignals::install()?;
        let ack_after = opts.ack_after;
        let mut demo = tongguan::demo::Demo::start(Config::embedded(), opts).await?;
        for note in demo.notes() {
            println!("{note}");
        }
        let hub = demo.hub();
        println!(
            "tongguan demo {}: hub on QUIC {}; console http://{}/console \
             (sign in with dev-district-token, or dev-street-310107005000 for Caoyang Xincun); \
             metrics http://{}/metrics; the desk acknowledges every other order after {}; \
             outbox in {}{}",
            if args.duration.is_zero() {
                "until Ctrl-C".to_owned()
            } else {
                format!("for {}", humantime::format_duration(args.duration))
            },
            hub.quic_addr,
            hub.admin_addr,
            hub.admin_addr,
            ack_after,
            shown_dir.display(),
            if temporary {
                " (removed at the end)"
            } else {
                ""
            },
        );
        let console = hub.admin_addr;
        let interrupted = match demo.run_devices(stop.recv()).await {
            Ok(interrupted) => interrupted,
            Err(e) => {
                demo.shutdown().await;
                return Err(e);
            }
        };
        let summary = demo.summary();
        print_summary(&summary);
        if linger && !interrupted {
            println!(
                "the devices stopped; the hub, the desk and the console \
                 http://{console}/console stay up until Ctrl-C"
            );
            stop.recv().await;
        }
        let last = demo.shutdown().await;
        if last.acked != summary.acked {
            println!(
                "stopped: the desk acknowledged {} orders in all",
                last.acked
            );
        }
        Ok(())
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

fn print_summary(s: &tongguan::demo::DemoSummary) {
    let median = if s.acked == 0 {
        String::new()
    } else {
        format!(" (median {:.1} s after the order arrived)", s.median_ack_s)
    };
    println!(
        "done: {} readings sent, {} accepted; {} incidents made {} orders and updates; \
         the desk acknowledged {}{median}; slowest order {:.1} ms after its deciding reading",
        s.sent, s.accepted, s.incidents, s.orders, s.acked, s.max_latency_ms
    );
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP, installed at once (before serve's
/// banner is printed) so that none kills the process while it runs, even
/// one sent as soon as the banner was read.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// The next Ctrl-C, SIGTERM or SIGHUP (the demo's terminal closed).
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Serves SIGHUP (reload the rules file) until SIGTERM or Ctrl-C.
    async fn wait_for_stop(&mut self, hub: &Hub) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.int.recv() => return,
                _ = self.term.recv() => return,
                _ = self.hup.recv() => match hub.reload_rules().await {
                    Ok(n) => tracing::warn!(rules = n, "rules reloaded on SIGHUP"),
                    Err(e) => tracing::error!(error = %e, "rules NOT reloaded; the rules in force stay"),
                },
            }
        }
        #[cfg(not(unix))]
        {
            let _ = hub;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
