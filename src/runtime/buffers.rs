//! Event vectors recycled between ingest and the shards. Ingest fills a
//! vector per shard per device batch and hands it over; the shard thread
//! empties it and gives it back. Without this every batch allocated on a
//! runtime thread and freed on a shard thread, which keeps the allocator
//! fetching fresh (zeroed) pages from the kernel on the hot path.

use crate::model::Event;
use crossbeam_channel::{bounded, Receiver, Sender};

/// Largest vector kept (events): an outsized one is freed, so the pool
/// never pins much more memory than its batches need.
const MAX_KEPT_EVENTS: usize = 16_384;

/// A bounded pool of empty event vectors, shared by ingest and shards.
#[derive(Clone)]
pub struct BufferPool {
    tx: Sender<Vec<Event>>,
    rx: Receiver<Vec<Event>>,
}

impl BufferPool {
    /// A pool keeping up to `capacity` vectors.
    pub fn new(capacity: usize) -> BufferPool {
        let (tx, rx) = bounded(capacity.max(1));
        BufferPool { tx, rx }
    }

    /// An empty vector, recycled when one is free.
    pub fn take(&self) -> Vec<Event> {
        self.rx.try_recv().unwrap_or_default()
    }

    /// Gives a vector back (emptied here); dropped when the pool is full.
    pub fn give(&self, mut events: Vec<Event>) {
        if events.capacity() > MAX_KEPT_EVENTS {
            return;
        }
        events.clear();
        let _ = self.tx.try_send(events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_empty_with_their_capacity() {
        let pool = BufferPool::new(2);
        assert_eq!(pool.take().capacity(), 0, "nothing pooled yet");
        let mut v = pool.take();
        v.reserve(100);
        let cap = v.capacity();
        pool.give(v);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), cap);
        pool.give(Vec::with_capacity(MAX_KEPT_EVENTS + 1));
        assert_eq!(pool.take().capacity(), 0, "outsized vectors are not kept");
    }
}
