//! The map cells of positions seen recently, one cache per connection:
//! computing a position's H3 cell costs far more than remembering it, and
//! devices report from where they stand.
//!
//! A two-way set-associative cache, one cache line a set: a position's set
//! is a multiplication away, so [`CellCache::prefetch`] can ask the memory
//! for a batch's positions before validation reaches them (a probe of
//! std's map cannot be issued ahead without waiting for it). Bounded by
//! construction: a full set drops its least recently used position, there
//! is no clearing all at once.
//!
//! It starts small and doubles, up to its capacity, each time it has taken
//! in a quarter as many new positions as it holds (so a cache that keeps
//! dropping positions grows too): a device's own connection, which
//! reports from one place, keeps a few hundred bytes; a gateway's reaches
//! the capacity's 2 MB only when its devices stand in that many places.
//!
//! Invariant: a way whose cell is 0 is empty (0 is no valid H3 index), so
//! a position is answered from the cache only where it was put with its
//! cell.

use crate::geo;

/// Positions and their cells in one cache line: way 0 is the most
/// recently used.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set {
    /// (latitude bits, longitude bits) of each way.
    keys: [(u64, u64); 2],
    /// Each way's cell; 0 where the way is empty.
    cells: [u64; 2],
}

const _: () = assert!(std::mem::size_of::<Set>() == 64);

/// Sets of a new cache (at most its capacity's).
const FIRST_SETS: usize = 8;

/// Map cells of positions seen recently, per connection.
pub struct CellCache {
    sets: Vec<Set>,
    /// Sets at most.
    max_sets: usize,
    /// Positions put in since the cache last grew.
    taken: usize,
}

impl CellCache {
    /// A cache of up to about `capacity` positions (two a set), or none at
    /// all when `capacity` is 0.
    pub fn new(capacity: usize) -> CellCache {
        let max_sets = capacity.div_ceil(2);
        CellCache {
            sets: vec![Set::default(); max_sets.min(FIRST_SETS)],
            max_sets,
            taken: 0,
        }
    }

    /// A cache that keeps nothing.
    pub(crate) fn disabled() -> CellCache {
        CellCache::new(0)
    }

    /// The cell of a position, or `None` if it is not a valid one.
    #[inline]
    pub fn cell_of(&mut self, lat: f64, lon: f64) -> Option<u64> {
        if self.sets.is_empty() {
            return geo::cell_of(lat, lon);
        }
        let key = (lat.to_bits(), lon.to_bits());
        let i = self.set_of(key);
        let set = &mut self.sets[i];
        if set.keys[0] == key && set.cells[0] != 0 {
            return Some(set.cells[0]);
        }
        if set.keys[1] == key && set.cells[1] != 0 {
            set.keys.swap(0, 1);
            set.cells.swap(0, 1);
            return Some(set.cells[0]);
        }
        let cell = geo::cell_of(lat, lon)?;
        // The older way goes; the new position is the most recent.
        set.keys = [key, set.keys[0]];
        set.cells = [cell, set.cells[0]];
        self.taken += 1;
        if self.taken * 2 >= self.sets.len() && self.sets.len() < self.max_sets {
            self.grow();
        }
        Some(cell)
    }

    /// Twice the sets (at most `max_sets`), what is held put in again.
    #[cold]
    fn grow(&mut self) {
        let sets = (self.sets.len() * 2).min(self.max_sets);
        let old = std::mem::replace(&mut self.sets, vec![Set::default(); sets]);
        self.taken = 0;
        for set in &old {
            // The older way first, so the newer one ends up in way 0.
            for w in [1, 0] {
                if set.cells[w] != 0 {
                    let i = self.set_of(set.keys[w]);
                    let to = &mut self.sets[i];
                    to.keys = [set.keys[w], to.keys[0]];
                    to.cells = [set.cells[w], to.cells[0]];
                }
            }
        }
    }

    /// Asks the memory for the set of a position without waiting: a
    /// [`CellCache::cell_of`] of it a little later finds it in the cache.
    #[inline]
    pub fn prefetch(&self, lat: f64, lon: f64) {
        if self.sets.is_empty() {
            return;
        }
        let i = self.set_of((lat.to_bits(), lon.to_bits()));
        crate::prefetch::prefetch(&self.sets[i], 1);
    }

    /// A position's set: its bits mixed, then mapped onto the sets by a
    /// multiply (any number of sets works).
    #[inline]
    fn set_of(&self, (lat, lon): (u64, u64)) -> usize {
        let mut h = (lat ^ lon.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        ((u128::from(h) * self.sets.len() as u128) >> 64) as usize
    }

    /// Positions held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sets
            .iter()
            .map(|s| s.cells.iter().filter(|&&c| c != 0).count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_the_cells_h3_gives_and_stays_bounded() {
        let mut cache = CellCache::new(4);
        for i in 0..200 {
            let (lat, lon) = (31.23 + (i % 37) as f64 * 0.001, 121.4);
            assert_eq!(cache.cell_of(lat, lon), geo::cell_of(lat, lon));
            assert!(cache.len() <= 4);
        }
        assert_eq!(cache.cell_of(f64::NAN, 121.4), None);
        assert_eq!(
            CellCache::disabled().cell_of(31.25, 121.4),
            geo::cell_of(31.25, 121.4)
        );
    }

    #[test]
    fn it_grows_with_the_places_it_hears_up_to_its_capacity() {
        let mut one_place = CellCache::new(65_536);
        for _ in 0..1000 {
            one_place.cell_of(31.25, 121.4);
        }
        assert_eq!(one_place.sets.len(), FIRST_SETS);
        let mut many = CellCache::new(65_536);
        let places: Vec<(f64, f64)> = (0..40_000)
            .map(|i| {
                (
                    31.20 + (i / 200) as f64 * 0.0005,
                    121.35 + (i % 200) as f64 * 0.0005,
                )
            })
            .collect();
        for &(lat, lon) in &places {
            assert_eq!(many.cell_of(lat, lon), geo::cell_of(lat, lon));
        }
        assert_eq!(many.sets.len(), 32_768, "grown to its capacity, no further");
        // The moves kept what they could: 40,000 places over 32,768 sets
        // of two leave some sets with three or more, whose oldest go.
        assert!(many.len() > 25_000, "{}", many.len());
        for &(lat, lon) in places.iter().step_by(97) {
            assert_eq!(many.cell_of(lat, lon), geo::cell_of(lat, lon));
        }
    }

    #[test]
    fn the_two_most_recent_positions_of_a_set_stay() {
        let mut cache = CellCache::new(2);
        let (a, b, c) = ((31.23, 121.4), (31.24, 121.4), (31.25, 121.4));
        cache.cell_of(a.0, a.1);
        cache.cell_of(b.0, b.1);
        // a was used last: c takes b's way.
        cache.cell_of(a.0, a.1);
        cache.cell_of(c.0, c.1);
        let held: Vec<_> = cache.sets[0].keys.to_vec();
        assert_eq!(
            held,
            [
                (c.0.to_bits(), c.1.to_bits()),
                (a.0.to_bits(), a.1.to_bits())
            ]
        );
        assert_eq!(cache.cell_of(a.0, a.1), geo::cell_of(a.0, a.1));
    }

    #[test]
    fn an_empty_way_never_answers_even_for_the_position_of_zero_bits() {
        let mut cache = CellCache::new(8);
        cache.prefetch(0.0, 0.0);
        // (0, 0) is a valid position with a cell of its own, not the
        // empty way's 0.
        assert_eq!(cache.cell_of(0.0, 0.0), geo::cell_of(0.0, 0.0));
        assert_ne!(cache.cell_of(0.0, 0.0), Some(0));
    }
}
