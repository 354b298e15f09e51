//! One pass over a recording for two rule sets: each batch in the range
//! goes through the baseline's engine (on the reading thread) and the
//! candidate's (on a thread of its own, in the same order), at the hub's
//! recorded clock and shard count, then the clock moves past every window
//! so incidents close. Shared by `tongguan replay` and the backtest job
//! (`POST /api/rules/backtest`).

use crate::engine::{EngineSettings, RuleSet};
use crate::geo::RegionMap;
use crate::record::reader::{ReadError, ReadStats, Recording};
use std::sync::Arc;
use tongguan_core::replay::{Replay, ReplayRun};

/// What a pass made.
pub struct Pair {
    /// The rules in force.
    pub baseline: ReplayRun,
    /// The rules proposed.
    pub candidate: ReplayRun,
    /// What was read.
    pub stats: ReadStats,
    /// How long the pass took, seconds.
    pub seconds: f64,
}

/// Why a pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// Nothing recorded in the range.
    #[error("{0}: no recording segment in the range (is [record] mode on, and is this the recording's directory?)")]
    Empty(String),
    /// The recording could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Bytes of the segments a pass over `from..=to` reads (for progress).
pub fn range_bytes(recording: &Recording, from: Option<i64>, to: Option<i64>) -> u64 {
    recording.in_range(from, to).iter().map(|s| s.bytes).sum()
}

/// Runs `from..=to` of `recording` through both rule sets; `progress`
/// hears the bytes read so far now and then.
#[allow(clippy::too_many_arguments)]
pub fn replay_pair(
    recording: &Recording,
    from: Option<i64>,
    to: Option<i64>,
    baseline: Arc<RuleSet>,
    candidate: Arc<RuleSet>,
    settings: EngineSettings,
    map: Arc<RegionMap>,
    mut progress: impl FnMut(u64),
) -> Result<Pair, PassError> {
    let segments = recording.in_range(from, to);
    let Some(first) = segments.first() else {
        return Err(PassError::Empty(recording.dir().display().to_string()));
    };
    let partitions = crate::record::reader::partitions_of(&first.path)?;
    let mut base = Replay::new(baseline, settings, partitions, map.clone());
    let mut cand = Replay::new(candidate, settings, partitions, map);
    let started = std::time::Instant::now();
    let mut last = i64::MIN;
    let mut batches = 0u64;
    // The candidate on a thread of its own, fed the same batches in the
    // same order: two rule sets take the time of one on two cores.
    let (tx, rx) = crossbeam_channel::bounded::<(i64, Vec<crate::model::Event>)>(256);
    let stats = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            for (arrival, events) in rx {
                cand.handle_batch(arrival, &events);
            }
        });
        let stats = recording.read(from, to, |arrival, events, done| {
            // The worker only stops when the channel closes.
            let _ = tx.send((arrival, events.to_vec()));
            base.handle_batch(arrival, events);
            last = last.max(arrival);
            batches += 1;
            if batches.is_multiple_of(256) {
                progress(done);
            }
        });
        drop(tx);
        worker
            .join()
            .expect("the candidate's replay does not panic");
        stats
    })?;
    // Past the lateness, the idle timeout and the window: incidents close.
    let settle =
        settings.allowed_lateness_ms + settings.idle_timeout_ms + settings.correlation_window_ms;
    base.handle_timeout(last.saturating_add(settle));
    cand.handle_timeout(last.saturating_add(settle));
    progress(range_bytes(recording, from, to));
    Ok(Pair {
        baseline: base.finish(),
        candidate: cand.finish(),
        stats,
        seconds: started.elapsed().as_secs_f64(),
    })
}
