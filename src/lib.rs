//! tongguan: a real-time alert hub for a city district's unified operations
//! platform (一网统管).
//!
//! Devices stream event batches over QUIC ([`wire`], [`hub`]); the
//! [`engine`] deduplicates, applies thresholds and correlates sources into
//! warnings; [`dispatch`] turns warnings into orders for the street
//! platforms that own the place ([`geo`]); [`metrics`] exports it all.
//! [`client`] is the one Rust client of the protocol, used by gateways,
//! `loadgen` and the tests.

#![warn(missing_docs)]

pub use tongguan_core::{cluster, dispatch, engine, geo, model, prefetch, wire};

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod demo;
pub mod frame_io;
pub(crate) mod http;
pub mod hub;
pub mod metrics;
pub(crate) mod nats;
pub(crate) mod quic;
pub mod record;
pub mod replay;
pub mod rules_test_cli;
pub(crate) mod runtime;
pub mod store;
pub mod time_text;
pub mod tls;
