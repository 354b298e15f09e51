//! tongguan-core: every decision of the hub, as plain synchronous state
//! machines and codecs. Nothing here owns a thread, touches a socket or a
//! store, or reads a clock: time is an argument, bytes are pushed in and
//! frames polled out, what must be durable is handed to the caller. The
//! compiler keeps it so: this crate does not depend on tokio, quinn,
//! axum, redb or prometheus (quinn-proto is the model).
//!
//! - [`model`]: the vocabulary (sources, categories, severities, events).
//! - [`wire`]: the protocol's frames, batches and control messages.
//! - [`geo`]: positions to H3 cells to the street that owns them.
//! - [`engine`]: dedup, thresholds, watermarks, correlation.
//! - [`dispatch`]: orders, their ids, and the dispatcher state machine.
//! - [`cluster`]: partition ownership among the nodes of a cluster.
//! - [`people`]: the roles people sign in with and what each may do.
//! - [`replay`]: the recording format, replays and their comparison.
//! - [`prefetch`]: asking for memory ahead of its use (the hot tables').

#![warn(missing_docs)]

pub mod cluster;
pub mod dispatch;
pub mod engine;
pub mod geo;
pub mod model;
pub mod people;
pub mod prefetch;
pub mod replay;
pub mod rule_test;
pub mod wire;

mod vocabulary;
