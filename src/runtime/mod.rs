//! Whatever owns a thread or a channel: the shard threads and the
//! dispatcher thread that drive the core's state machines, the subscriber
//! registry, the recycled event buffers, the shell's clock, the rules in
//! force, and what every session shares.

pub mod buffers;
pub mod checkpoints;
pub mod clock;
pub mod cluster_ends;
pub mod cluster_shared;
pub mod details;
pub mod dispatch_loop;
pub mod dispatch_thread;
pub mod handle;
pub mod inbox;
pub mod retention;
pub mod rules_control;
pub mod shard_msg;
mod shared;
pub mod subscribers;
pub mod threads;
pub mod transport;

pub use shared::Shared;
