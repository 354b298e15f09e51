//! One pass over a recording, or the cluster's events stream, for two
//! rule sets: each batch in the range goes through the baseline's engine
//! (on the reading thread) and the candidate's (on a thread of its own,
//! in the same order), at the recorded clock and the source's shard count
//! ([`super::source`]), then the clock moves past every window so
//! incidents close. Shared by `tongguan replay` and the backtest job
//! (`POST /api/rules/backtest`, on the hub's own recording).

use super::source::{Input, Source, SourceError, StreamStats};
use crate::engine::{EngineSettings, RuleSet};
use crate::geo::RegionMap;
use crate::model::Event;
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
    /// Where the stream's messages came from (a stream read only).
    pub stream: Option<StreamStats>,
    /// How long the pass took, seconds.
    pub seconds: f64,
}

/// Why a pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// Nothing recorded in the range.
    #[error("{0}: no recording segment in the range (is [record] mode on, and is this the recording's directory?)")]
    Empty(String),
    /// The recording or the stream could not be read.
    #[error(transparent)]
    Read(#[from] SourceError),
}

impl From<ReadError> for PassError {
    fn from(e: ReadError) -> PassError {
        PassError::Read(e.into())
    }
}

/// Bytes of the segments a pass over `from..=to` reads (for progress).
pub fn range_bytes(recording: &Recording, from: Option<i64>, to: Option<i64>) -> u64 {
    let source = Source::Recording {
        recording,
        from,
        to,
    };
    source.total().0
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
    progress: impl FnMut(u64),
) -> Result<Pair, PassError> {
    let mut source = Source::Recording {
        recording,
        from,
        to,
    };
    run_pair(&mut source, baseline, candidate, settings, map, progress)
}

/// A batch on its way to the candidate's thread.
enum Owned {
    Batch(i64, Vec<Event>),
    Partition(usize, i64, Vec<Event>),
}

/// Runs what `source` reads through both rule sets; `progress` hears how
/// far the read is (in the source's unit) now and then.
pub fn run_pair(
    source: &mut Source<'_>,
    baseline: Arc<RuleSet>,
    candidate: Arc<RuleSet>,
    settings: EngineSettings,
    map: Arc<RegionMap>,
    mut progress: impl FnMut(u64),
) -> Result<Pair, PassError> {
    let Some(shards) = source.shards()? else {
        let dir = source
            .dir()
            .map_or(String::new(), |d| d.display().to_string());
        return Err(PassError::Empty(dir));
    };
    let mut base = Replay::new(baseline, settings, shards, map.clone());
    let mut cand = Replay::new(candidate, settings, shards, map);
    let started = std::time::Instant::now();
    let mut last = i64::MIN;
    let mut handed = 0u64;
    // The candidate on a thread of its own, fed the same batches in the
    // same order: two rule sets take the time of one on two cores.
    let (tx, rx) = crossbeam_channel::bounded::<Owned>(256);
    let read = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            for b in rx {
                match b {
                    Owned::Batch(arrival, events) => cand.handle_batch(arrival, &events),
                    Owned::Partition(p, arrival, events) => {
                        cand.handle_partition_message(p, arrival, &events)
                    }
                }
            }
        });
        let read = source.read(|input, done| {
            // The worker only stops when the channel closes.
            match input {
                Input::Batch { arrival_ms, events } => {
                    let _ = tx.send(Owned::Batch(arrival_ms, events.to_vec()));
                    base.handle_batch(arrival_ms, events);
                    last = last.max(arrival_ms);
                }
                Input::Partition {
                    partition,
                    arrival_ms,
                    events,
                } => {
                    let _ = tx.send(Owned::Partition(partition, arrival_ms, events.to_vec()));
                    base.handle_partition_message(partition, arrival_ms, events);
                    last = last.max(arrival_ms);
                }
            }
            handed += 1;
            if handed.is_multiple_of(256) {
                progress(done);
            }
        });
        drop(tx);
        worker
            .join()
            .expect("the candidate's replay does not panic");
        read
    })?;
    let (stats, stream) = read;
    // Past the lateness, the idle timeout and the window: incidents close.
    // (Nothing read: no time to settle from.)
    if last != i64::MIN {
        let settle = settings.allowed_lateness_ms
            + settings.idle_timeout_ms
            + settings.correlation_window_ms;
        base.handle_timeout(last.saturating_add(settle));
        cand.handle_timeout(last.saturating_add(settle));
    }
    progress(source.total().0);
    Ok(Pair {
        baseline: base.finish(),
        candidate: cand.finish(),
        stats,
        stream,
        seconds: started.elapsed().as_secs_f64(),
    })
}
