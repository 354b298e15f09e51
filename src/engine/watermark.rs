//! Event-time watermark of a shard: the newest event time seen minus the
//! allowed lateness (bounded out-of-orderness). Events older than the
//! watermark are late: counted, not processed.
//!
//! Taking the newest time rather than the slowest source's means a device
//! that goes quiet never freezes the watermark; and when the whole shard
//! is quiet for the idle timeout, the watermark follows the clock so that
//! windows still close.

/// A shard's watermark.
#[derive(Debug, Clone, Copy)]
pub struct Watermark {
    newest_ms: i64,
    lateness_ms: i64,
    idle_ms: i64,
    last_event_now_ms: i64,
}

impl Watermark {
    /// A watermark that has seen nothing: nothing is late yet.
    pub fn new(lateness_ms: i64, idle_ms: i64) -> Self {
        Watermark {
            newest_ms: i64::MIN,
            lateness_ms,
            idle_ms,
            last_event_now_ms: i64::MIN,
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

    /// Advances with the clock if no event came for the idle timeout.
    pub fn on_tick(&mut self, now_ms: i64) {
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
}
