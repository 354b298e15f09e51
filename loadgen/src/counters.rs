//! What a run counts as it goes, shared by the senders, the listeners
//! and the progress line: atomics, bumped once per batch or order.

use std::sync::atomic::AtomicU64;

/// The run's counts.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) orders: AtomicU64,
    pub(crate) order_acks: AtomicU64,
    pub(crate) unsent: AtomicU64,
}
