//! A watermark per partition, for a shard that runs several partitions of
//! the cluster's map (`Shard::handle_partition_events` in shard.rs).
//!
//! Why not the shard's one watermark: a partition moves between nodes,
//! and on its new node it shares a shard with other partitions than on
//! its old one. A watermark shared by them would judge an event of the
//! moved partition late or on time by what the others saw, so the new
//! owner could decide otherwise than the old. With one per partition,
//! moved by its own messages only (events, and the ticks its owner writes
//! into the partition's log while it is quiet), the decision depends on
//! the partition's log alone: the same on every node, in every replay.
//!
//! Partitions are few (64 by default), so the lanes are a vector indexed
//! by partition.

use super::watermark::{Watermark, WatermarkTracker};

/// The partitions' watermarks a shard holds.
#[derive(Debug, Default)]
pub(crate) struct PartitionLanes {
    lanes: Vec<Option<WatermarkTracker>>,
}

impl PartitionLanes {
    /// Takes partition `p`'s watermark out (`fresh` when it has none yet),
    /// to run its messages with; [`PartitionLanes::put`] returns it.
    pub fn take(&mut self, p: u32, fresh: WatermarkTracker) -> WatermarkTracker {
        self.lanes
            .get_mut(p as usize)
            .and_then(Option::take)
            .unwrap_or(fresh)
    }

    /// Sets partition `p`'s watermark.
    pub fn put(&mut self, p: u32, w: WatermarkTracker) {
        let i = p as usize;
        if self.lanes.len() <= i {
            self.lanes.resize(i + 1, None);
        }
        self.lanes[i] = Some(w);
    }

    /// Forgets partition `p`'s watermark (it left this shard).
    pub fn drop(&mut self, p: u32) {
        if let Some(lane) = self.lanes.get_mut(p as usize) {
            *lane = None;
        }
    }

    /// Partition `p`'s watermark, if it has one here.
    pub fn get(&self, p: u32) -> Option<&WatermarkTracker> {
        self.lanes.get(p as usize).and_then(Option::as_ref)
    }

    /// Every partition's watermark, by partition.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Watermark)> + '_ {
        self.lanes
            .iter()
            .enumerate()
            .filter_map(|(p, w)| Some((p as u32, w.as_ref()?.current())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_is_taken_put_back_and_dropped_by_partition() {
        let mut lanes = PartitionLanes::default();
        let mut w = lanes.take(5, WatermarkTracker::new(1_000, 2_000));
        w.observe(10_000, 9_000);
        lanes.put(5, w);
        assert_eq!(
            lanes.iter().collect::<Vec<_>>(),
            [(5, Watermark::At(8_000))]
        );
        let again = lanes.take(5, WatermarkTracker::new(1_000, 2_000));
        assert_eq!(again.current(), Watermark::At(8_000), "the one put back");
        assert!(lanes.get(5).is_none(), "out while taken");
        lanes.put(5, again);
        lanes.drop(5);
        assert_eq!(lanes.iter().count(), 0);
    }
}
