//! A partition's engine state as it moves between nodes: the part of a
//! shard's state that belongs to the partition (devices with their dedup
//! windows, open conditions, count windows, the watermark; see
//! [`Shard::checkpoint_partition`](crate::engine::shard::Shard::checkpoint_partition))
//! together with the stream sequence it covers, and the decisions about
//! it: where a new owner starts replaying ([`resume_from`]), which
//! messages a state covers ([`Coverage`]) and when the owner saves
//! ([`SaveSchedule`]).
//!
//! Invariant: a saved state covering sequence `s` holds the effect of
//! every message of the partition up to `s` and of none after it, and is
//! saved only once what those messages made is durable. A new owner
//! loads it and replays from `s + 1`; since the engine's time comes from
//! the messages (event time and the arrival time stamped at ingest), the
//! replay makes the detections the old owner made after `s`, with the
//! same deterministic order ids.
//!
//! Encoded as a header (magic, format version, partition, partitions,
//! the sequence covered) then the engine's own checkpoint encoding
//! ([`ShardCheckpoint::encode`], versioned and checked on its own).

use crate::engine::checkpoint::{CheckpointError, ShardCheckpoint};

/// The format version of the header, in it.
pub const VERSION: u32 = 1;

const MAGIC: [u8; 8] = *b"TGPART\0\0";
const HEADER: usize = 28;

/// One partition's engine state and the stream sequence it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    /// Which partition.
    pub partition: u32,
    /// Of how many.
    pub partitions: u32,
    /// The last stream sequence of the partition's messages whose effect
    /// it holds (0: none).
    pub covers_seq: u64,
    /// The engine state.
    pub engine: ShardCheckpoint,
}

/// Why bytes are not a partition's state this node can load.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PartitionStateError {
    /// Not a partition state, or cut short.
    #[error("not a partition's engine state (bad header)")]
    NotAState,
    /// Written by a version with another header.
    #[error("partition state format {found}, this node reads format {VERSION}")]
    Version {
        /// The header's version.
        found: u32,
    },
    /// Another partition's, or of a map split otherwise.
    #[error(
        "the state of partition {found} of {found_of}, expected partition {partition} of \
         {partitions} (cluster.partitions changed?)"
    )]
    Other {
        /// Whose it is.
        found: u32,
        /// Of how many.
        found_of: u32,
        /// Whose was expected.
        partition: u32,
        /// Of how many.
        partitions: u32,
    },
    /// The engine state inside does not load.
    #[error("partition state: {0}")]
    Engine(#[from] CheckpointError),
}

impl PartitionState {
    /// The state as bytes: header, then the engine's checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        let engine = self.engine.encode();
        let mut out = Vec::with_capacity(HEADER + engine.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.partition.to_le_bytes());
        out.extend_from_slice(&self.partitions.to_le_bytes());
        out.extend_from_slice(&self.covers_seq.to_le_bytes());
        out.extend_from_slice(&engine);
        out
    }

    /// Partition `partition` of `partitions`'s state from
    /// [`PartitionState::encode`]'s bytes, checked.
    pub fn decode(
        bytes: &[u8],
        partition: u32,
        partitions: u32,
    ) -> Result<PartitionState, PartitionStateError> {
        if bytes.len() < HEADER || bytes[..8] != MAGIC {
            return Err(PartitionStateError::NotAState);
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        if word(8) != VERSION {
            return Err(PartitionStateError::Version { found: word(8) });
        }
        let (found, found_of) = (word(12), word(16));
        let engine = ShardCheckpoint::decode(&bytes[HEADER..])?;
        if (found, found_of) != (partition, partitions)
            || (engine.shard, engine.shards) != (partition, partitions)
        {
            return Err(PartitionStateError::Other {
                found,
                found_of,
                partition,
                partitions,
            });
        }
        Ok(PartitionState {
            partition,
            partitions,
            covers_seq: u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes")),
            engine,
        })
    }
}

/// The first stream sequence a new owner runs: the one after what the
/// saved state covers, or the stream's first without one.
pub fn resume_from(saved: Option<&PartitionState>) -> u64 {
    saved.map_or(1, |s| s.covers_seq + 1)
}

/// Which of the messages handed to the engine have had what they made
/// made durable: handed in stream order, told durable in any order; the
/// state covers the longest run of them from the start that is durable.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Every message up to this one is durable (or was before: covered).
    covered: u64,
    /// Handed and not yet all durable before them: (sequence, durable).
    open: std::collections::VecDeque<(u64, bool)>,
}

impl Coverage {
    /// Coverage that starts at `covered` (what the loaded state covers).
    pub fn new(covered: u64) -> Coverage {
        Coverage {
            covered,
            open: Default::default(),
        }
    }

    /// Message `seq` went to the engine (after every one handed before).
    pub fn handed(&mut self, seq: u64) {
        debug_assert!(self.open.back().map_or(self.covered, |b| b.0) < seq);
        self.open.push_back((seq, false));
    }

    /// Message `seq` needs nothing (not one this node can run): covered
    /// once the messages before it are.
    pub fn skipped(&mut self, seq: u64) {
        self.open.push_back((seq, true));
        self.advance();
    }

    /// What message `seq` made is durable.
    pub fn durable(&mut self, seq: u64) {
        if let Ok(i) = self.open.binary_search_by_key(&seq, |e| e.0) {
            self.open[i].1 = true;
        }
        self.advance();
    }

    fn advance(&mut self) {
        while let Some(&(seq, true)) = self.open.front() {
            self.covered = seq;
            self.open.pop_front();
        }
    }

    /// Every message up to this sequence is durable.
    pub fn covered(&self) -> u64 {
        self.covered
    }
}

/// When an owner saves its partition's state: once an interval, if it has
/// run messages since the last save, one save at a time. A save takes the
/// engine's state after the last message handed to it, and is written
/// once [`Coverage`] reaches that message. Times are the owning node's
/// clock, Unix ms: when to save decides nothing the engine does.
#[derive(Debug, Clone)]
pub struct SaveSchedule {
    interval_ms: i64,
    next_ms: i64,
    saved_seq: u64,
    in_flight: Option<u64>,
}

impl SaveSchedule {
    /// A schedule saving every `interval_ms` (0: never), the first an
    /// interval after `now_ms`, for a partition whose saved state covers
    /// `saved_seq`.
    pub fn new(interval_ms: i64, now_ms: i64, saved_seq: u64) -> SaveSchedule {
        SaveSchedule {
            interval_ms,
            next_ms: now_ms.saturating_add(interval_ms),
            saved_seq,
            in_flight: None,
        }
    }

    /// When the next save may start, having run up to `run_seq`; `None`
    /// while there is nothing new to save or a save is in flight.
    pub fn poll_timeout(&self, run_seq: u64) -> Option<i64> {
        let something = self.interval_ms > 0 && run_seq > self.saved_seq;
        (something && self.in_flight.is_none()).then_some(self.next_ms)
    }

    /// Whether a save of what was run up to `run_seq` starts at `now_ms`.
    pub fn due(&self, now_ms: i64, run_seq: u64) -> bool {
        self.poll_timeout(run_seq).is_some_and(|at| now_ms >= at)
    }

    /// A save of the state after `seq` started at `now_ms`.
    pub fn started(&mut self, now_ms: i64, seq: u64) {
        debug_assert!(self.in_flight.is_none() && seq > self.saved_seq);
        self.in_flight = Some(seq);
        self.next_ms = now_ms.saturating_add(self.interval_ms);
    }

    /// The save in flight, if it may be written now that `covered` is.
    pub fn writable(&self, covered: u64) -> Option<u64> {
        self.in_flight.filter(|&seq| covered >= seq)
    }

    /// The save in flight is stored.
    pub fn saved(&mut self) {
        if let Some(seq) = self.in_flight.take() {
            self.saved_seq = seq;
        }
    }

    /// The save in flight failed: the next one, an interval after it was
    /// started, covers what it would have and more.
    pub fn failed(&mut self) {
        self.in_flight = None;
    }

    /// The sequence the stored state covers.
    pub fn saved_seq(&self) -> u64 {
        self.saved_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::partition::shard_of;
    use crate::engine::shard::Shard;
    use crate::engine::watermark::Watermark;
    use crate::engine::{Detection, EngineSettings, RuleSet};
    use crate::model::{CameraRef, Category, Event, Source};
    use std::sync::Arc;

    const T0: i64 = 1_780_000_000_000;
    const S: i64 = 1_000;
    const PARTITIONS: u32 = 64;

    fn reading(device: u64, seq: u64, t: i64, value: f64, at: (f64, f64)) -> Event {
        Event {
            device,
            seq,
            time_ms: t,
            lat: at.0,
            lon: at.1,
            cell: crate::geo::cell_of(at.0, at.1).expect("a valid position"),
            value,
            category: Category::WaterLevel,
            source: Source::Sensor,
            camera: CameraRef::NONE,
        }
    }

    /// Two places of Putuo in different partitions, and their partitions.
    fn two_places() -> ((f64, f64), u32, (f64, f64), u32) {
        let here = (31.2575, 121.4125);
        let p = |at: (f64, f64)| {
            shard_of(
                crate::geo::cell_of(at.0, at.1).unwrap(),
                PARTITIONS as usize,
            ) as u32
        };
        let there = (0..200)
            .map(|k| (31.23 + k as f64 * 0.0031, 121.37 + k as f64 * 0.0017))
            .find(|&at| p(at) != p(here))
            .expect("another partition nearby");
        (here, p(here), there, p(there))
    }

    fn shard() -> Shard {
        Shard::new(Arc::new(RuleSet::defaults()), EngineSettings::default())
    }

    fn detections(s: &mut Shard) -> Vec<Detection> {
        std::iter::from_fn(|| s.poll_detection()).collect()
    }

    fn partition_of(e: &Event) -> u32 {
        shard_of(e.cell, PARTITIONS as usize) as u32
    }

    /// Runs `events`, each as a batch of its partition arriving 500 ms
    /// after its event time.
    fn run(s: &mut Shard, events: &[Event]) -> Vec<Detection> {
        for e in events {
            s.handle_partition_events(partition_of(e), e.time_ms + 500, 0, std::slice::from_ref(e));
        }
        detections(s)
    }

    /// Whether `e`, run now on `s` (arriving 500 ms after its time), is
    /// judged late.
    fn judged_late(s: &mut Shard, e: Event) -> bool {
        s.take_stats();
        run(s, &[e]);
        s.take_stats().late == 1
    }

    #[test]
    fn a_partition_is_judged_by_its_own_watermark_whatever_shares_its_shard() {
        let (here, p, there, q) = two_places();
        // On node A, p's gauge reports at T0 while q, on the same shard,
        // has got an hour further.
        let mut a = shard();
        run(&mut a, &[reading(2, 1, T0 + 3_600 * S, 30.0, there)]);
        run(&mut a, &[reading(1, 1, T0, 30.0, here)]);
        assert!(
            !judged_late(&mut a, reading(1, 2, T0 + 10 * S, 30.0, here)),
            "an hour of q is nothing to p"
        );
        let watermarks: Vec<_> = a.partition_watermarks().collect();
        assert!(watermarks.contains(&(p, Watermark::At(T0 + 10 * S - 30 * S))));
        assert!(watermarks.contains(&(q, Watermark::At(T0 + 3_600 * S - 30 * S))));
        // p moves to node B, whose shard runs nothing of q: an event of
        // another device of p 31 s behind p's newest is late there as it
        // would have been on A, and 29 s behind is not.
        let mut b = shard();
        b.load_partition(
            p,
            PARTITIONS,
            Some(a.checkpoint_partition(p, PARTITIONS, T0)),
        );
        assert!(judged_late(
            &mut b,
            reading(3, 1, T0 + 10 * S - 31 * S, 30.0, here)
        ));
        assert!(!judged_late(
            &mut b,
            reading(4, 1, T0 + 10 * S - 29 * S, 30.0, here)
        ));
        assert!(judged_late(
            &mut a,
            reading(3, 1, T0 + 10 * S - 31 * S, 30.0, here)
        ));
        assert!(!judged_late(
            &mut a,
            reading(4, 1, T0 + 10 * S - 29 * S, 30.0, here)
        ));
    }

    #[test]
    fn a_quiet_partition_follows_the_ticks_in_its_log_not_the_node_clock() {
        let (here, p, there, q) = two_places();
        let mut s = shard();
        run(&mut s, &[reading(1, 1, T0, 30.0, here)]);
        run(&mut s, &[reading(2, 1, T0, 30.0, there)]);
        // The node's clock runs on an hour: no partition moves by it.
        s.handle_timeout(T0 + 3_600 * S);
        let at = |s: &Shard, p| s.partition_watermarks().find(|w| w.0 == p).map(|w| w.1);
        assert_eq!(at(&s, p), Some(Watermark::At(T0 - 30 * S)));
        // A tick in p's log 10 s after its last event, past the idle
        // timeout (2 s): p follows the tick's time less the idle timeout
        // (and, as after any event, less the allowed lateness of 30 s).
        s.handle_partition_tick(p, T0 + 500 + 10 * S);
        assert_eq!(at(&s, p), Some(Watermark::At(T0 + 500 + 8 * S - 30 * S)));
        assert_eq!(
            at(&s, q),
            Some(Watermark::At(T0 - 30 * S)),
            "q is untouched"
        );
        // An event moves it; a tick within the idle timeout of that event
        // does not.
        run(&mut s, &[reading(1, 2, T0 + 20 * S, 30.0, here)]);
        s.handle_partition_tick(p, T0 + 500 + 21 * S);
        assert_eq!(at(&s, p), Some(Watermark::At(T0 + 20 * S - 30 * S)));
    }

    #[test]
    fn a_water_level_hold_begun_on_one_node_fires_once_on_the_next_with_the_same_opening() {
        let (here, p, there, _) = two_places();
        let series: Vec<Event> = (0..6)
            .map(|k| reading(1, k + 1, T0 + k as i64 * 20 * S, 18.0, here))
            .collect();
        // The oracle: one engine runs the whole series.
        let oracle = run(&mut shard(), &series);
        assert_eq!(oracle.len(), 1, "held 60 s: one detection");

        // Node A runs the first three readings (40 s of the hold) beside a
        // gauge of another partition, and saves partition p.
        let mut a = shard();
        assert!(run(&mut a, &[reading(2, 1, T0, 30.0, there)]).is_empty());
        assert!(
            run(&mut a, &series[..3]).is_empty(),
            "the hold is under way"
        );
        let saved = PartitionState {
            partition: p,
            partitions: PARTITIONS,
            covers_seq: 3,
            engine: a.checkpoint_partition(p, PARTITIONS, T0 + 41 * S),
        };
        let saved = PartitionState::decode(&saved.encode(), p, PARTITIONS).unwrap();
        assert_eq!(saved.engine.devices.len(), 1, "only partition p's gauge");
        assert_eq!(resume_from(Some(&saved)), 4);

        // Node B held stale state of p from an earlier time, and runs q.
        let mut b = shard();
        run(&mut b, &[reading(1, 1, T0 - 3_600 * S, 30.0, here)]);
        run(&mut b, &[reading(3, 1, T0, 1.0, there)]);
        let restored = b.load_partition(p, PARTITIONS, Some(saved.engine));
        assert_eq!((restored.devices, restored.conditions), (1, 1));
        // The rest of the series, and a retransmit of the third reading.
        let mut rest = vec![series[2]];
        rest.extend_from_slice(&series[3..]);
        let d = run(&mut b, &rest);
        assert_eq!(d.len(), 1, "one detection, none twice");
        assert_eq!(
            (d[0].first_seen_ms, d[0].event, d[0].count, d[0].repeat),
            (
                oracle[0].first_seen_ms,
                oracle[0].event,
                oracle[0].count,
                oracle[0].repeat
            ),
            "what names the order is what the one engine had"
        );
        assert_eq!(b.take_stats().retransmits, 1);
    }

    #[test]
    fn loading_a_partition_replaces_what_the_shard_held_of_it_and_keeps_the_rest() {
        let (here, p, there, _) = two_places();
        let mut s = shard();
        run(&mut s, &[reading(1, 1, T0, 30.0, here)]);
        run(&mut s, &[reading(2, 1, T0, 30.0, there)]);
        assert_eq!(s.devices(), 2);
        let restored = s.load_partition(p, PARTITIONS, None);
        assert_eq!(restored, Default::default());
        assert_eq!(s.devices(), 1, "p's gauge went, the other stayed");
        assert!(s.device(2).is_some());
        assert_eq!(s.drop_partition(p, PARTITIONS), 0);
    }

    #[test]
    fn a_state_of_another_partition_or_format_is_refused_with_why() {
        let engine = shard().checkpoint_partition(3, PARTITIONS, T0);
        let state = PartitionState {
            partition: 3,
            partitions: PARTITIONS,
            covers_seq: 9,
            engine,
        };
        let bytes = state.encode();
        assert_eq!(PartitionState::decode(&bytes, 3, PARTITIONS), Ok(state));
        assert_eq!(
            PartitionState::decode(&bytes, 4, PARTITIONS),
            Err(PartitionStateError::Other {
                found: 3,
                found_of: 64,
                partition: 4,
                partitions: 64
            })
        );
        assert_eq!(
            PartitionState::decode(&bytes[..10], 3, PARTITIONS),
            Err(PartitionStateError::NotAState)
        );
        let mut other = bytes.clone();
        other[8] = 7;
        assert_eq!(
            PartitionState::decode(&other, 3, PARTITIONS),
            Err(PartitionStateError::Version { found: 7 })
        );
        let mut old_engine = bytes;
        old_engine[HEADER + 8] = 1;
        assert_eq!(
            PartitionState::decode(&old_engine, 3, PARTITIONS),
            Err(PartitionStateError::Engine(CheckpointError::Version {
                found: 1
            }))
        );
        assert_eq!(resume_from(None), 1, "no state: the stream from its start");
    }

    #[test]
    fn an_owner_saves_once_an_interval_what_it_ran_one_save_at_a_time() {
        let mut s = SaveSchedule::new(2 * S, T0, 10);
        assert_eq!(s.poll_timeout(10), None, "nothing new: never woken");
        assert_eq!(s.poll_timeout(12), Some(T0 + 2 * S));
        assert!(!s.due(T0 + S, 12), "not before the interval");
        assert!(!s.due(T0 + 2 * S, 10), "nothing run since the last save");
        assert!(s.due(T0 + 2 * S, 12));
        s.started(T0 + 2 * S, 12);
        assert_eq!(
            s.writable(11),
            None,
            "message 12's order is not durable yet"
        );
        assert_eq!(s.writable(12), Some(12));
        assert!(!s.due(T0 + 5 * S, 20), "one at a time");
        s.saved();
        assert_eq!(s.saved_seq(), 12);
        assert!(s.due(T0 + 5 * S, 20), "late: at once");
        s.started(T0 + 5 * S, 20);
        s.failed();
        assert_eq!(s.saved_seq(), 12, "still what is stored");
        assert!(!s.due(T0 + 6 * S, 20), "a failed save waits an interval");
        assert!(s.due(T0 + 7 * S, 20));
        let never = SaveSchedule::new(0, T0, 0);
        assert_eq!(never.poll_timeout(5), None, "an interval of 0: never saved");
    }

    #[test]
    fn a_state_covers_the_messages_whose_orders_are_all_durable_from_the_start() {
        let mut c = Coverage::new(10);
        for seq in [11, 14, 15] {
            c.handed(seq);
        }
        c.durable(14);
        assert_eq!(c.covered(), 10, "11's order is not durable yet");
        c.durable(11);
        assert_eq!(c.covered(), 14);
        c.skipped(16);
        assert_eq!(c.covered(), 14, "15 still open");
        c.durable(15);
        assert_eq!(c.covered(), 16);
        c.durable(3);
        assert_eq!(c.covered(), 16, "an old one changes nothing");
    }
}
