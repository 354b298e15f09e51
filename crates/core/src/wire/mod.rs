//! The wire protocol between the hub, devices and street platforms, as
//! docs/PROTOCOL.md describes it byte by byte: frames ([`frame`]), the rkyv
//! event batch ([`batch`]), the JSON control messages ([`control`]) and the
//! QUIC close codes ([`error_code`]).
//!
//! Nothing here owns a socket: encoding and decoding are plain functions,
//! and [`frame::FrameDecoder`] is handed bytes and polled for frames.

pub mod batch;
pub mod cell_cache;
pub mod control;
pub mod detection_log;
pub mod error_code;
pub mod event_log;
pub mod frame;
pub mod order_log;

pub use batch::{
    BatchAck, BatchAckV2, BatchEncoder, EventReject, RejectReason, WireBatch, WireEvent,
};
pub use error_code::ErrorCode;
pub use frame::{FrameError, FrameType};

/// The ALPN protocol id every connection must offer.
pub const ALPN: &[u8] = b"tongguan/1";
