//! The shell's clocks: wall time in Unix ms for the engine's `now`, and a
//! monotonic nanosecond stamp for latency, both read here and only here.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The monotonic instant at which the wall clock reads `at_ms` (now, if
/// that is past), for sleeping until a state machine's `poll_timeout`.
pub fn instant_of_ms(at_ms: i64) -> Instant {
    let wait = at_ms.saturating_sub(now_ms()).max(0) as u64;
    Instant::now() + std::time::Duration::from_millis(wait)
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
