//! The intended send times of breach readings, the only events that can
//! trigger an order, by (device, seq): the listener looks an order's
//! trigger up here to measure latency from when the event was due.
//!
//! Entries leave oldest first (orders come within seconds, so an old
//! trigger will not match), in constant time per entry: a storm of
//! breaches at millions of events per second must not make the generator
//! itself the bottleneck (an earlier version rescanned the whole map on
//! every trigger once it was large, and collapsed).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Triggers older than this are forgotten.
const KEEP: Duration = Duration::from_secs(120);
/// At most this many are kept (oldest dropped first).
const MAX_ENTRIES: usize = 4_000_000;

/// Trigger send times, forgotten in the order they were noted.
#[derive(Default)]
pub struct TriggerLog {
    due: HashMap<(u64, u64), Instant>,
    order: VecDeque<((u64, u64), Instant)>,
}

impl TriggerLog {
    /// Notes that the event (device, seq) was due at `due`.
    pub fn note(&mut self, key: (u64, u64), due: Instant) {
        while let Some(&(old, at)) = self.order.front() {
            if self.order.len() < MAX_ENTRIES && due.saturating_duration_since(at) < KEEP {
                break;
            }
            self.order.pop_front();
            if self.due.get(&old) == Some(&at) {
                self.due.remove(&old);
            }
        }
        self.due.insert(key, due);
        self.order.push_back((key, due));
    }

    /// When the event was due, if this run sent it recently.
    pub fn due(&self, key: &(u64, u64)) -> Option<Instant> {
        self.due.get(key).copied()
    }

    /// Triggers kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.due.len()
    }
}

/// Intended send times of breach readings, shared by senders and listeners.
pub(crate) type Triggers = std::sync::Arc<std::sync::Mutex<TriggerLog>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_triggers_leave_and_recent_ones_stay() {
        let t0 = Instant::now();
        let mut log = TriggerLog::default();
        log.note((1, 1), t0);
        log.note((2, 1), t0 + Duration::from_secs(60));
        assert_eq!(log.due(&(1, 1)), Some(t0));
        log.note((3, 1), t0 + KEEP + Duration::from_secs(1));
        assert_eq!(log.due(&(1, 1)), None, "older than KEEP");
        assert_eq!(log.due(&(2, 1)), Some(t0 + Duration::from_secs(60)));
        assert_eq!(log.len(), 2);
    }
}
