//! Retransmit dedup: a sliding window over each device's sequence numbers,
//! the anti-replay bitmap of IPsec. 16 bytes a device.

/// How many sequence numbers below the highest one seen are remembered.
pub(crate) const WINDOW: u64 = 64;

/// What the window says about a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Not seen before: process it.
    New,
    /// Seen before: a retransmit.
    Retransmit,
    /// Older than the window: cannot tell, treated as a duplicate.
    TooOld,
}

/// The window of one device.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct SeqWindow {
    /// Highest sequence number seen, plus one (0 = nothing seen yet).
    top: u64,
    /// Bit i set = `top - 1 - i` was seen.
    seen: u64,
}

impl SeqWindow {
    /// A window that has seen nothing.
    pub(crate) const fn new() -> SeqWindow {
        SeqWindow { top: 0, seen: 0 }
    }

    /// Records `seq` and says whether it is new.
    #[inline]
    pub fn check(&mut self, seq: u64) -> SeqVerdict {
        let next = seq.saturating_add(1);
        if next > self.top {
            let shift = next - self.top;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.top = next;
            return SeqVerdict::New;
        }
        let back = self.top - next;
        if back >= WINDOW {
            return SeqVerdict::TooOld;
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            SeqVerdict::Retransmit
        } else {
            self.seen |= bit;
            SeqVerdict::New
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeqVerdict::*;

    #[test]
    fn retransmits_are_caught_and_gaps_filled() {
        let mut w = SeqWindow::default();
        assert_eq!(w.check(0), New);
        assert_eq!(w.check(0), Retransmit);
        assert_eq!(w.check(5), New);
        assert_eq!(w.check(3), New, "a late arrival inside the window is new");
        assert_eq!(w.check(3), Retransmit);
        assert_eq!(w.check(5), Retransmit);
        assert_eq!(w.check(1000), New);
        assert_eq!(w.check(1000 - WINDOW + 1), New);
        assert_eq!(w.check(1000 - WINDOW), TooOld);
        assert_eq!(w.check(u64::MAX), New);
        assert_eq!(w.check(u64::MAX), Retransmit);
    }
}
