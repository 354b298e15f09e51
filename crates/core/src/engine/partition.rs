//! Which shard (partition) an event belongs to: a hash of its map cell's
//! resolution-7 parent, so every rule about one place runs in one shard.
//! Ingest, the HTTP event intake and the one-thread pipeline all split
//! events with it, so they split them alike.

use crate::geo;

/// The shard an event's cell belongs to, among `shards`.
#[inline]
pub fn shard_of(cell: u64, shards: usize) -> usize {
    let key = geo::shard_key(cell);
    let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) % shards as u64) as usize
}
