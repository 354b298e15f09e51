//! Event-time watermark of a shard: the newest event time seen minus the
//! allowed lateness (bounded out-of-orderness). Events older than the
//! watermark are late: counted, not processed.
//!
//! Taking the newest time rather than the slowest source's means a device
//! that goes quiet never freezes the watermark; and when the whole shard
//! is quiet for the idle timeout, the watermark follows the clock so that
//! windows still close.

/// While a shard stays quiet its watermark follows the clock in steps of
/// this many ms.
pub const IDLE_STEP_MS: i64 = 1_000;

/// A shard's watermark.
#[derive(Debug, Clone, Copy)]
pub struct Watermark {
    newest_ms: i64,
    lateness_ms: i64,
    idle_ms: i64,
    last_event_now_ms: i64,
    last_tick_ms: i64,
}

impl Watermark {
    /// A watermark that has seen nothing: nothing is late yet.
    pub fn new(lateness_ms: i64, idle_ms: i64) -> Self {
        Watermark {
            newest_ms: i64::MIN,
            lateness_ms,
            idle_ms,
            last_event_now_ms: i64::MIN,
            last_tick_ms: i64::MIN,
        }
    }

    /// The watermark, Unix ms (`i64::MIN` before any event).
    #[inline]
    pub fn current(&self) -> i64 {
        self.newest_ms.saturating_sub(self.lateness_ms)
    }

    /// Whether an event at `time_ms` is late.
    #[inline]
    pub fn is_late(&self, time_ms: i64) -> bool {
        time_ms < self.current()
    }

    /// Records an on-time event seen at processing time `now_ms`.
    #[inline]
    pub fn observe(&mut self, now_ms: i64, time_ms: i64) {
        self.newest_ms = self.newest_ms.max(time_ms);
        self.last_event_now_ms = now_ms;
    }

    /// When [`Watermark::on_tick`] next has something to do: the idle
    /// timeout after the last event, then every [`IDLE_STEP_MS`] while no
    /// event comes. A busy shard is never woken for it.
    pub fn poll_timeout(&self) -> i64 {
        let idle_at = self.last_event_now_ms.saturating_add(self.idle_ms);
        idle_at.max(self.last_tick_ms.saturating_add(IDLE_STEP_MS))
    }

    /// Advances with the clock if no event came for the idle timeout.
    pub fn on_tick(&mut self, now_ms: i64) {
        self.last_tick_ms = now_ms;
        if now_ms.saturating_sub(self.last_event_now_ms) >= self.idle_ms {
            self.newest_ms = self.newest_ms.max(now_ms.saturating_sub(self.idle_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_measured_from_the_newest_event() {
        let mut w = Watermark::new(5_000, 2_000);
        assert!(!w.is_late(0));
        w.observe(100_000, 100_000);
        assert!(!w.is_late(95_000));
        assert!(w.is_late(94_999));
        w.observe(100_001, 90_000);
        assert_eq!(w.current(), 95_000, "an old event never moves it back");
    }

    #[test]
    fn a_quiet_shard_follows_the_clock() {
        let mut w = Watermark::new(5_000, 2_000);
        w.observe(100_000, 100_000);
        w.on_tick(101_000);
        assert_eq!(w.current(), 95_000, "not idle yet");
        w.on_tick(160_000);
        assert_eq!(w.current(), 160_000 - 2_000 - 5_000);
    }

    #[test]
    fn a_busy_shard_is_not_woken_and_a_quiet_one_is_woken_each_step() {
        let mut w = Watermark::new(5_000, 2_000);
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
}
