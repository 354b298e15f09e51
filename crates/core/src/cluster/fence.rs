//! Fencing of a stale writer: what a node writes for a partition (its
//! detections) or for the district's dispatch (its orders) carries the
//! epoch of the lease it held, the lease key's revision, which only grows.
//! A reader keeps the highest epoch it has seen per key and refuses what
//! comes with a lower one: a node that was stopped past its lease and
//! wakes after another took the key over cannot make its late writes
//! count, once the new holder has written anything.
//!
//! Pure: keys are small integers (a partition, or the dispatch role); the
//! shell reads the epochs from message headers.

use rustc_hash::FxHashMap;

/// The highest epoch seen per key.
#[derive(Debug, Default, Clone)]
pub struct Fence {
    highest: FxHashMap<u32, u64>,
    refused: u64,
}

/// What the fence says about one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the current holder (or a newer one): counts.
    Admit,
    /// From a holder the key has moved on from: does not count.
    Stale {
        /// The epoch it came with.
        epoch: u64,
        /// The highest epoch seen for its key.
        current: u64,
    },
}

impl Fence {
    /// An empty fence: every first write is admitted.
    pub fn new() -> Fence {
        Fence::default()
    }

    /// Judges a write for `key` made under `epoch`, and remembers it.
    pub fn judge(&mut self, key: u32, epoch: u64) -> Verdict {
        let current = self.highest.entry(key).or_insert(epoch);
        if epoch < *current {
            self.refused += 1;
            return Verdict::Stale {
                epoch,
                current: *current,
            };
        }
        *current = epoch;
        Verdict::Admit
    }

    /// The highest epoch seen for `key`, if any.
    pub fn current(&self, key: u32) -> Option<u64> {
        self.highest.get(&key).copied()
    }

    /// Writes refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_write_of_an_older_holder_is_refused_once_the_new_one_wrote() {
        let mut f = Fence::new();
        assert_eq!(f.judge(3, 10), Verdict::Admit);
        assert_eq!(f.judge(3, 10), Verdict::Admit, "the same holder again");
        assert_eq!(f.judge(3, 14), Verdict::Admit, "the key moved on");
        assert_eq!(
            f.judge(3, 10),
            Verdict::Stale {
                epoch: 10,
                current: 14
            }
        );
        assert_eq!(f.refused(), 1);
        assert_eq!(f.current(3), Some(14));
    }

    #[test]
    fn keys_are_fenced_apart() {
        let mut f = Fence::new();
        assert_eq!(f.judge(1, 50), Verdict::Admit);
        assert_eq!(f.judge(2, 7), Verdict::Admit, "another key's epochs");
        assert_eq!(f.current(9), None);
    }
}
