//! Event-time watermark of a shard: the newest event time seen minus the
//! allowed lateness (bounded out-of-orderness). Events older than the
//! watermark are late (see shard.rs for what is still done with
//! them).
//!
//! Taking the newest time rather than the slowest source's means a device
//! that goes quiet never freezes the watermark; and when the whole shard
//! is quiet for the idle timeout, the watermark follows the clock so that
//! windows still close.
//!
//! The hub's own clock bounds it: an event time ahead of the clock counts
//! as the clock, so the watermark never runs ahead of the clock less the
//! allowed lateness. A device whose clock is fast (inside the accepted
//! future skew) cannot push the watermark of its part of the map forward
//! and make the on-time events of every other device there late.

/// While a shard stays quiet its watermark follows the clock in steps of
/// this many ms.
pub(crate) const IDLE_STEP_MS: i64 = 1_000;

/// How far event time has got: nowhere before a shard has seen an event
/// (or stood idle), else a time. Ordered [`Watermark::NotYet`] before every
/// time, so the lowest of several is `NotYet` while any one has nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Watermark {
    /// Nothing seen yet: no event is late, no window can close.
    #[default]
    NotYet,
    /// Events before this time, Unix ms, are late.
    At(i64),
}

impl Watermark {
    /// How far an event at `time_ms` is behind the watermark, ms, if it
    /// is late.
    #[inline]
    pub(crate) fn late_by(self, time_ms: i64) -> Option<i64> {
        match self {
            Watermark::At(w) if time_ms < w => Some(w.saturating_sub(time_ms)),
            _ => None,
        }
    }

    /// The time, if there is one, Unix ms.
    pub fn ms(self) -> Option<i64> {
        match self {
            Watermark::NotYet => None,
            Watermark::At(ms) => Some(ms),
        }
    }
}

/// A shard's watermark as it moves: with its events, or with the clock
/// while it is idle.
#[derive(Debug, Clone, Copy, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct WatermarkTracker {
    /// The newest event time seen, or the clock less the idle timeout
    /// once idle; `None` before either.
    newest_ms: Option<i64>,
    lateness_ms: i64,
    idle_ms: i64,
    /// Processing time of the latest on-time event, if any.
    last_event_now_ms: Option<i64>,
    /// Processing time of the latest tick, if any.
    last_tick_ms: Option<i64>,
}

impl WatermarkTracker {
    /// A watermark that has seen nothing: nothing is late yet.
    pub fn new(lateness_ms: i64, idle_ms: i64) -> Self {
        WatermarkTracker {
            newest_ms: None,
            lateness_ms,
            idle_ms,
            last_event_now_ms: None,
            last_tick_ms: None,
        }
    }

    /// The watermark.
    #[inline]
    pub fn current(&self) -> Watermark {
        match self.newest_ms {
            None => Watermark::NotYet,
            Some(newest) => Watermark::At(newest.saturating_sub(self.lateness_ms)),
        }
    }

    /// Whether an event at `time_ms` is late.
    #[cfg(test)]
    pub fn is_late(&self, time_ms: i64) -> bool {
        self.current().late_by(time_ms).is_some()
    }

    /// Records an on-time event seen at processing time `now_ms`. An event
    /// time ahead of `now_ms` counts as `now_ms`.
    #[inline]
    pub fn observe(&mut self, now_ms: i64, time_ms: i64) {
        self.newest_ms = self.newest_ms.max(Some(time_ms.min(now_ms)));
        self.last_event_now_ms = Some(now_ms);
    }

    /// When [`WatermarkTracker::on_tick`] next has something to do: the
    /// idle timeout after the last event, then every [`IDLE_STEP_MS`] while
    /// no event comes; at once before the first tick. A busy shard is never
    /// woken for it.
    pub fn poll_timeout(&self) -> i64 {
        let idle_at = self
            .last_event_now_ms
            .map_or(i64::MIN, |t| t.saturating_add(self.idle_ms));
        let step_at = self
            .last_tick_ms
            .map_or(i64::MIN, |t| t.saturating_add(IDLE_STEP_MS));
        idle_at.max(step_at)
    }

    /// Advances with the clock if no event came for the idle timeout (or
    /// none ever came).
    pub fn on_tick(&mut self, now_ms: i64) {
        self.last_tick_ms = Some(now_ms);
        let idle = self
            .last_event_now_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= self.idle_ms);
        if idle {
            self.newest_ms = self
                .newest_ms
                .max(Some(now_ms.saturating_sub(self.idle_ms)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_measured_from_the_newest_event() {
        let mut w = WatermarkTracker::new(5_000, 2_000);
        assert!(!w.is_late(0));
        w.observe(100_000, 100_000);
        assert!(!w.is_late(95_000));
        assert!(w.is_late(94_999));
        w.observe(100_001, 90_000);
        assert_eq!(
            w.current(),
            Watermark::At(95_000),
            "an old event never moves it back"
        );
    }

    #[test]
    fn an_event_time_ahead_of_the_clock_counts_as_the_clock() {
        let mut w = WatermarkTracker::new(30_000, 2_000);
        // A device four minutes fast, seen at 100 s.
        w.observe(100_000, 340_000);
        assert_eq!(
            w.current(),
            Watermark::At(70_000),
            "the clock, less the lateness"
        );
        assert!(!w.is_late(99_000), "another device's on-time event");
        w.observe(101_000, 100_500);
        assert_eq!(w.current(), Watermark::At(70_500));
        w.observe(200_000, 340_000);
        assert_eq!(w.current(), Watermark::At(170_000), "it follows the clock");
    }

    #[test]
    fn a_quiet_shard_follows_the_clock() {
        let mut w = WatermarkTracker::new(5_000, 2_000);
        w.observe(100_000, 100_000);
        w.on_tick(101_000);
        assert_eq!(w.current(), Watermark::At(95_000), "not idle yet");
        w.on_tick(160_000);
        assert_eq!(w.current(), Watermark::At(160_000 - 2_000 - 5_000));
    }

    #[test]
    fn a_busy_shard_is_not_woken_and_a_quiet_one_is_woken_each_step() {
        let mut w = WatermarkTracker::new(5_000, 2_000);
        w.observe(100_000, 100_000);
        w.on_tick(100_500);
        assert_eq!(
            w.poll_timeout(),
            102_000,
            "the idle timeout after the last event"
        );
        w.observe(101_000, 101_000);
        assert_eq!(w.poll_timeout(), 103_000, "an event moves it on");
        w.on_tick(103_000);
        assert_eq!(
            w.poll_timeout(),
            103_000 + IDLE_STEP_MS,
            "quiet: one step later"
        );
    }

    #[test]
    fn nothing_is_late_and_nothing_closes_before_the_first_event() {
        let w = WatermarkTracker::new(5_000, 2_000);
        assert_eq!(w.current(), Watermark::NotYet);
        assert!(!w.is_late(i64::MIN));
        assert!(Watermark::NotYet < Watermark::At(i64::MIN + 1));
        assert_eq!(
            [Watermark::At(5), Watermark::NotYet].into_iter().min(),
            Some(Watermark::NotYet),
            "the lowest of several waits for the one that has nothing"
        );
    }
}
