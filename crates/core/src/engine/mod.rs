//! The engine: dedup, thresholds and correlation as plain, synchronous,
//! deterministic state machines. Events and the current time go in,
//! detections and warnings come out. No tokio, no sockets, no clock here:
//! every time is an argument (Unix milliseconds), so a 60-second window is
//! tested by moving a number.
//!
//! - [`shard::Shard`] owns the per-device and per-cell state of its part of
//!   the map: retransmit dedup ([`dedup`]), thresholds and open conditions
//!   (`condition`), event-time watermark ([`watermark`]). It turns events
//!   into [`Detection`]s.
//! - [`correlate::Correlator`] joins detections of one incident kind in a
//!   cell and its neighbours into [`Warning`]s whose severity rises with
//!   the number of independent source kinds. It runs after the shards, fed
//!   by all of them, so a neighbourhood that straddles two shards is seen
//!   whole (detections are orders of magnitude rarer than events).
//! - [`pipeline::Pipeline`] wires shards and a correlator in one thread for
//!   tests, replays and benches; the hub runs the same parts on threads.

pub mod checkpoint;
pub(crate) mod condition;
pub mod correlate;
pub mod dedup;
pub mod detection;
pub(crate) mod device;
pub(crate) mod device_table;
pub(crate) mod lanes;
pub mod partition;
pub mod pipeline;
pub mod rules;
pub mod settings;
pub mod shard;
pub mod watermark;

pub use detection::{Detection, Warning};
pub use rules::{Rule, RuleSet};
pub use settings::EngineSettings;
