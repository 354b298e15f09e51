//! The shell's clocks, read here and only here: the [`Clock`] seam that
//! hands every state machine its `now` (wall time in Unix ms; the system
//! clock in the embedded hub, and whatever a cluster or a replay needs
//! instead), and the monotonic clock for durations and latency stamps.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the runtime's `now` comes from.
pub trait Clock: Send + Sync + 'static {
    /// The time handed to the state machines, Unix ms.
    fn now_ms(&self) -> i64;

    /// The monotonic instant at which this clock reads `at_ms` (now, if
    /// that is past), for sleeping until a state machine's `poll_timeout`.
    fn instant_of_ms(&self, at_ms: i64) -> Instant {
        let wait = at_ms.saturating_sub(self.now_ms()).max(0) as u64;
        Instant::now() + Duration::from_millis(wait)
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// The monotonic clock, for durations (commit times, rate limits).
pub fn instant() -> Instant {
    Instant::now()
}

/// Monotonic nanoseconds since the first call in this process.
pub fn stamp_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}
