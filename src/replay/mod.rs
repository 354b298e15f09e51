//! `tongguan replay`: runs a recording (`[record]`, docs/RECORDING.md)
//! through the rules in force (the baseline) and the rules proposed (the
//! candidate), and says what would change, joined with how the streets
//! judged the baseline's orders (the outbox). This reads the files, shows
//! the progress and prints; the replay and the comparison are the core's
//! (`tongguan_core::replay`).
//!
//! Both sides run in one pass over the recording, at the hub's recorded
//! clock and shard count, on the engine settings of `--config`, so a
//! baseline of the rules the hub ran gives exactly its orders, ids and all.

mod html;
pub mod outcomes;
pub mod pass;
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
pub struct ReplayArgs {
    /// The recording's directory (DATA_DIR/recordings, or record.dir).
    #[arg(long, value_name = "DIR")]
    pub recording: PathBuf,
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
    /// The rules in force (the baseline) [default: the embedded rules].
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

/// What `--json` prints.
#[derive(Serialize)]
struct JsonReport<'a> {
    recording: &'a Path,
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
    let config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("config {}", p.display()))?,
        None => Config::embedded(),
    };
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
    let (base_name, base_text) = match &args.baseline {
        Some(p) => (p.display().to_string(), read(p)?),
        None => ("embedded rules".to_owned(), DEFAULT_RULES.to_owned()),
    };
    let base_rules = rules(&base_name, &base_text, mode)?;
    let cand_rules = rules(&args.rules.display().to_string(), &read(&args.rules)?, mode)?;
    let recording = Recording::open(&args.recording)
        .with_context(|| format!("recording {}", args.recording.display()))?;
    let bar = progress(pass::range_bytes(&recording, args.from, args.to), args.json);
    let settings = config.engine.settings();
    let pair = pass::replay_pair(
        &recording,
        args.from,
        args.to,
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
        seconds,
    } = pair;
    let judged = match &args.outbox {
        Some(p) => outcomes::read(p)?,
        None => Default::default(),
    };
    let cmp = compare(&base, &cand, &judged, DEFAULT_MATCH_WINDOW_MS);
    let title = format!(
        "{} ({} segments, {} batches, {} events{}{}), baseline {base_name}, candidate {}, mode {}",
        args.recording.display(),
        stats.segments,
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
            recording: &args.recording,
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

fn progress(total: u64, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "回放 replaying {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
