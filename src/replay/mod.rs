//! `tongguan replay`: runs a recording (`[record]`, docs/RECORDING.md),
//! or a time range of the cluster's events stream (`--nats`,
//! docs/CLUSTER.md), through the rules in force (the baseline) and the
//! rules proposed (the candidate), and says what would change, joined
//! with how the streets judged the baseline's orders (the outbox). This
//! reads the files, shows the progress and prints; the replay and the
//! comparison are the core's (`tongguan_core::replay`).
//!
//! Both sides run in one pass over the source ([`source`]), at the
//! recorded clock and the hub's shard count (the stream: the cluster's
//! partitions, each on its own), on the engine settings of `--config`, so
//! a baseline of the rules the hub or cluster ran gives exactly its
//! orders, ids and all.

mod html;
pub mod outcomes;
pub mod pass;
pub mod source;
mod table;

use crate::config::Config;
use crate::engine::rules::{Mode, Profiles, DEFAULT_RULES};
use crate::geo::RegionMap;
use crate::record::reader::Recording;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tongguan_core::replay::compare::{compare, Comparison, DEFAULT_MATCH_WINDOW_MS};
use tongguan_core::replay::ReplayRun;

/// Arguments of `tongguan replay`.
#[derive(Args, Debug)]
#[command(
    after_help = "来源 Source: exactly one of --recording DIR (a hub's recording, [record]) \
and the cluster's events stream (--nats URLS, or cluster.servers in --config; its token, \
credentials, TLS, prefix and partitions from the config's [cluster]). The stream is read, \
never changed: --from/--to on the arrival time ingest stamped, up to its last message as of \
the start; it holds what cluster.events_retention keeps."
)]
pub struct ReplayArgs {
    /// The recording's directory (DATA_DIR/recordings, or record.dir).
    #[arg(long, value_name = "DIR")]
    pub recording: Option<PathBuf>,
    /// Replay the cluster's events stream instead: NATS servers,
    /// comma-separated (nats://127.0.0.1:4222,nats://...), overriding
    /// cluster.servers of --config.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub nats: Option<Vec<String>>,
    /// Only batches that arrived at or after this time: RFC 3339
    /// (2026-06-01T08:00:00Z) or Unix ms.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from: Option<i64>,
    /// Only batches that arrived at or before this time.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub to: Option<i64>,
    /// The rules proposed (the candidate), a rules file (TOML).
    #[arg(long, value_name = "NEW.toml")]
    pub rules: PathBuf,
    /// The rules in force (the baseline) [default: with --nats, the
    /// cluster's rules in force now; else the embedded rules].
    #[arg(long, value_name = "CURRENT.toml")]
    pub baseline: Option<PathBuf>,
    /// Which profile of both rules files runs.
    #[arg(long, value_enum, default_value = "normal")]
    pub mode: ModeArg,
    /// The hub's outbox (DATA_DIR/outbox.redb), for how its orders were
    /// judged. Stop the hub first, or give a copy.
    #[arg(long, value_name = "FILE")]
    pub outbox: Option<PathBuf>,
    /// The hub's config, for its engine settings and region map
    /// [default: the embedded defaults].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report with plots.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// A rules profile on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    /// Everyday rules.
    Normal,
    /// The `[emergency]` profile (平急转换).
    Emergency,
}

fn parse_time(s: &str) -> Result<i64, String> {
    crate::time_text::parse_time_ms("time", s)
}

/// Where a replay read from, in `--json`.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ReadFrom<'a> {
    /// A recording directory.
    Recording { dir: &'a Path },
    /// The cluster's events stream.
    Stream(&'a source::StreamStats),
}

/// What `--json` prints.
#[derive(Serialize)]
struct JsonReport<'a> {
    /// The recording's directory; none for the stream.
    recording: Option<&'a Path>,
    source: ReadFrom<'a>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    mode: &'static str,
    baseline_rules: String,
    candidate_rules: String,
    partitions: u16,
    segments: usize,
    torn_segments: usize,
    batches: u64,
    events: u64,
    seconds: f64,
    events_per_second: f64,
    comparison: &'a Comparison,
    baseline: &'a ReplayRun,
    candidate: &'a ReplayRun,
}

/// Runs `tongguan replay`.
pub fn run(args: &ReplayArgs) -> Result<()> {
    if let (Some(f), Some(t)) = (args.from, args.to) {
        if f > t {
            bail!("--from ({f}) is after --to ({t})");
        }
    }
    let mut config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("config {}", p.display()))?,
        None => Config::embedded(),
    };
    if let Some(servers) = &args.nats {
        config.cluster.servers = servers.clone();
    }
    let map = Arc::new(match &config.hub.region_map {
        Some(p) => RegionMap::from_geojson(
            &std::fs::read_to_string(p).with_context(|| format!("region map {}", p.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("region map {}: {e}", p.display()))?,
        None => RegionMap::sample(),
    });
    let mode = match args.mode {
        ModeArg::Normal => Mode::Normal,
        ModeArg::Emergency => Mode::Emergency,
    };
    let cand_rules = rules(&args.rules.display().to_string(), &read(&args.rules)?, mode)?;
    let recording = match (&args.recording, config.cluster.enabled()) {
        (Some(_), true) => bail!(
            "--recording and the cluster's events stream ({}) both given: replay one of them \
             (drop --recording to read the stream, or --nats and cluster.servers to read the \
             recording)",
            servers_of(args)
        ),
        (None, false) => bail!(
            "nothing to replay: give --recording DIR (a hub's recording) or --nats URLS (the \
             cluster's events stream; or cluster.servers in --config)"
        ),
        (Some(dir), false) => {
            Some(Recording::open(dir).with_context(|| format!("recording {}", dir.display()))?)
        }
        (None, true) => None,
    };
    let mut source = match &recording {
        Some(recording) => source::Source::Recording {
            recording,
            from: args.from,
            to: args.to,
        },
        None => {
            config
                .cluster
                .check()
                .map_err(|e| anyhow::anyhow!("config: {e}"))?;
            let range = crate::nats::stream_source::Range {
                from: args.from,
                to: args.to,
            };
            source::Source::Stream(crate::nats::stream_source::StreamReader::open(
                &config.cluster,
                range,
            )?)
        }
    };
    // The baseline: the file given, else the rules the cluster runs now
    // (a stream read), else the embedded ones.
    let in_force = match &source {
        source::Source::Stream(reader) => reader.opened().rules.clone(),
        source::Source::Recording { .. } => None,
    };
    let (base_name, base_text) = match (&args.baseline, in_force) {
        (Some(p), _) => (p.display().to_string(), read(p)?),
        (None, Some(r)) => (
            format!(
                "the cluster's rules in force ({} revision {})",
                r.bucket, r.revision
            ),
            r.text,
        ),
        (None, None) => ("embedded rules".to_owned(), DEFAULT_RULES.to_owned()),
    };
    let base_rules = rules(&base_name, &base_text, mode)?;
    let (total, unit) = source.total();
    let bar = progress(total, unit, args.json);
    let settings = config.engine.settings();
    let pair = pass::run_pair(
        &mut source,
        base_rules,
        cand_rules,
        settings,
        map.clone(),
        |done| bar.set_position(done),
    )?;
    bar.finish_and_clear();
    let pass::Pair {
        baseline: base,
        candidate: cand,
        stats,
        stream,
        seconds,
    } = pair;
    let judged = match &args.outbox {
        Some(p) => outcomes::read(p)?,
        None => Default::default(),
    };
    let cmp = compare(&base, &cand, &judged, DEFAULT_MATCH_WINDOW_MS);
    let read = match &stream {
        None => format!("{} segments", stats.segments),
        Some(s) => format!(
            "messages {}..={}, {} read, {} ticks",
            s.first_seq, s.last_seq, s.messages, s.ticks
        ),
    };
    let title = format!(
        "{} ({read}, {} batches, {} events{}{}), baseline {base_name}, candidate {}, mode {}",
        source.describe(),
        stats.batches,
        stats.events,
        args.from.map_or(String::new(), |f| format!(", from {f}")),
        args.to.map_or(String::new(), |t| format!(", to {t}")),
        args.rules.display(),
        mode.name()
    );
    if let Some(path) = &args.report {
        let page = html::render(
            &cmp,
            &html::Context {
                title: &title,
                baseline: &base.orders,
                candidate: &cand.orders,
            },
        )?;
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    let rate = stats.events as f64 / seconds.max(1e-9);
    if args.json {
        let report = JsonReport {
            recording: source.dir(),
            source: match (&stream, source.dir()) {
                (Some(s), _) => ReadFrom::Stream(s),
                (None, dir) => ReadFrom::Recording {
                    dir: dir.unwrap_or(Path::new("")),
                },
            },
            from_ms: args.from,
            to_ms: args.to,
            mode: mode.name(),
            baseline_rules: base_name,
            candidate_rules: args.rules.display().to_string(),
            partitions: stats.partitions,
            segments: stats.segments,
            torn_segments: stats.torn,
            batches: stats.batches,
            events: stats.events,
            seconds,
            events_per_second: rate,
            comparison: &cmp,
            baseline: &base,
            candidate: &cand,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("回放 replayed {title}");
        println!(
            "{} events in {seconds:.2} s ({:.0} events/s, both sides){}",
            stats.events,
            rate,
            if stats.torn > 0 {
                format!("; {} segment(s) ended in a torn record", stats.torn)
            } else {
                String::new()
            }
        );
        if let Some(s) = stream.as_ref().filter(|s| s.unreadable > 0) {
            println!(
                "跳过 passed over {} message(s) this binary cannot read (as the cluster does), the first: {}",
                s.unreadable,
                s.first_unreadable.as_deref().unwrap_or("")
            );
        }
        let street = |code: &str| {
            map.streets()
                .iter()
                .find(|s| s.code == code)
                .map_or(code.to_owned(), |s| format!("{code} {}", s.name))
        };
        print!("{}", table::render(&cmp, &street));
        if let Some(p) = &args.report {
            println!("report: {}", p.display());
        }
    }
    Ok(())
}

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

fn rules(name: &str, text: &str, mode: Mode) -> Result<Arc<crate::engine::RuleSet>> {
    let profiles = Profiles::from_toml(text).map_err(|e| anyhow::anyhow!("rules {name}: {e}"))?;
    Ok(profiles.get(mode).clone())
}

/// The servers of the cluster's events stream the command names.
fn servers_of(args: &ReplayArgs) -> String {
    match &args.nats {
        Some(s) => format!("--nats {}", s.join(",")),
        None => "cluster.servers in --config".into(),
    }
}

fn progress(total: u64, unit: source::Unit, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = match unit {
        source::Unit::Bytes => {
            "回放 replaying {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        }
        source::Unit::Messages => {
            "回放 replaying {bar:40} {pos}/{len} messages {per_sec} eta {eta}"
        }
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
