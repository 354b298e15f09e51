//! Replays (回放) for scientific thresholds (科学阈值): recorded streams
//! through rules, to see what a rule change would have done before it is
//! applied. Pure, as the rest of this crate: the caller reads the
//! recording and the outbox and hands in bytes, events and judgements.
//!
//! - [`format`](mod@format): the recording's segment and index format, versioned
//!   (docs/RECORDING.md), encoded and decoded here, written by the hub.
//! - [`run`]: a [`Replay`] drives shards and a correlator as the hub's
//!   threads do, at each batch's recorded arrival time, and names each
//!   warning by the dispatcher's deterministic order id: the same
//!   recording and rules give exactly the hub's orders.
//! - [`compare`](mod@compare): baseline against candidate, joined with how the
//!   baseline's orders were judged (false alarms avoided, incidents
//!   missed or raised later, new orders nobody judged).

pub mod compare;
pub mod format;
pub mod run;

#[cfg(test)]
mod tests;

pub use compare::{compare, Comparison, DEFAULT_MATCH_WINDOW_MS};
pub use run::{Replay, ReplayRun, ReplayedOrder};
