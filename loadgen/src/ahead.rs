//! 预取队列 / The devices of a connection's next events, drawn a few
//! events ahead and prefetched (tongguan's `prefetch`), so the pick of a device
//! among hundreds of thousands does not stall on a cache miss per event.
//! The ring is filled when the sender is made, so the devices come out in
//! the order they were drawn, from the first event on (what `--cover`
//! needs: device 0, 1, 2 ... first).

use crate::population::Population;

/// How many events ahead a device is drawn and its state prefetched:
/// enough to hide a miss to memory behind the events in between.
const AHEAD: usize = 8;

/// A ring of the next [`AHEAD`] devices, in the order drawn.
pub struct Ahead {
    devices: [usize; AHEAD],
    slot: usize,
}

impl Ahead {
    /// The ring, filled with the population's first draws (prefetched).
    pub fn new(population: &mut Population, rng: &mut fastrand::Rng) -> Ahead {
        let mut devices = [0; AHEAD];
        for d in &mut devices {
            *d = population.next_device(rng);
            population.prefetch(*d);
        }
        Ahead { devices, slot: 0 }
    }

    /// The device of this event: drawn `AHEAD` events ago and prefetched
    /// then; the one drawn now takes its place. The draws are the same
    /// picks as without the ring, only made earlier.
    #[inline]
    pub fn next(&mut self, population: &mut Population, rng: &mut fastrand::Rng) -> usize {
        let d = self.devices[self.slot];
        let next = population.next_device(rng);
        population.prefetch(next);
        self.devices[self.slot] = next;
        self.slot = (self.slot + 1) % AHEAD;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::Places;

    fn population(n: usize, seed: u64) -> Population {
        Population::new(
            n,
            1_000,
            &Places::sample(),
            &mut fastrand::Rng::with_seed(seed),
        )
    }

    #[test]
    fn with_cover_the_first_events_of_a_share_are_each_device_once_in_order() {
        for n in [3, 8, 1_000] {
            let mut p = population(n, 3);
            p.cover_in_order();
            let mut rng = fastrand::Rng::with_seed(7);
            let mut ahead = Ahead::new(&mut p, &mut rng);
            let first: Vec<usize> = (0..n).map(|_| ahead.next(&mut p, &mut rng)).collect();
            assert_eq!(first, (0..n).collect::<Vec<_>>(), "{n} devices");
            // Then the skewed mix, within the share.
            assert!((0..10 * n).all(|_| ahead.next(&mut p, &mut rng) < n));
        }
    }

    #[test]
    fn without_cover_the_first_events_are_skewed_draws_not_device_zero() {
        let mut p = population(100_000, 3);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut ahead = Ahead::new(&mut p, &mut rng);
        let first: Vec<usize> = (0..AHEAD).map(|_| ahead.next(&mut p, &mut rng)).collect();
        assert!(first.iter().any(|&d| d != 0), "{first:?}");
        let mut seen = vec![false; 100_000];
        for _ in 0..100_000 {
            seen[ahead.next(&mut p, &mut rng)] = true;
        }
        let heard = seen.iter().filter(|&&s| s).count();
        // u^3 skew: far from every device in as many events as devices.
        assert!(heard < 80_000, "{heard}");
    }
}
