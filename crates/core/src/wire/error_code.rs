//! QUIC application close codes. The hub closes a connection with one of
//! these and a human-readable reason; clients may close with them too.
//! Codes are part of the protocol: add, never renumber.

use crate::vocabulary::vocabulary;
use std::fmt;

vocabulary! {
    /// Why a connection was closed. The name is the metric label.
    pub enum ErrorCode: u32, own Display {
        /// Normal close: the peer is done.
        NoError = 0x00 => "no_error",
        /// No token, an unknown token, or a token not valid for the role.
        AuthFailed = 0x01 => "auth_failed",
        /// Authenticated, but asked for something the token may not see
        /// (a street token subscribing to another street).
        Forbidden = 0x02 => "forbidden",
        /// A frame the protocol does not allow here: unknown type, wrong order,
        /// malformed JSON, a truncated frame.
        ProtocolViolation = 0x03 => "protocol_violation",
        /// A length prefix over the hub's frame limit; nothing of it was read.
        FrameTooLarge = 0x04 => "frame_too_large",
        /// An event batch whose rkyv archive failed validation, or that holds
        /// more events than allowed.
        InvalidBatch = 0x05 => "invalid_batch",
        /// The hub is shutting down; reconnect later.
        GoingAway = 0x06 => "going_away",
        /// A subscriber read orders too slowly and its queue overflowed;
        /// reconnect and resume.
        SubscriberTooSlow = 0x07 => "subscriber_too_slow",
        /// No HELLO within the handshake timeout.
        HelloTimeout = 0x08 => "hello_timeout",
        /// The hub failed internally; retry later.
        Internal = 0x09 => "internal",
        /// The token already holds its limit of connections
        /// (`limits.max_connections_per_token`); close another first.
        TooManyConnections = 0x0A => "too_many_connections",
    }
}

impl ErrorCode {
    /// Whether this close means the client sent something bad: the closes
    /// counted in `tongguan_frames_rejected_total` (docs/PROTOCOL.md, 5).
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            ErrorCode::AuthFailed
                | ErrorCode::Forbidden
                | ErrorCode::ProtocolViolation
                | ErrorCode::FrameTooLarge
                | ErrorCode::InvalidBatch
                | ErrorCode::HelloTimeout
        )
    }

    /// The closes of [`ErrorCode::is_rejection`], in code order: the
    /// series of `tongguan_frames_rejected_total` that exist from the start.
    pub fn rejections() -> impl Iterator<Item = ErrorCode> {
        ErrorCode::ALL.into_iter().filter(|c| c.is_rejection())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_rejections() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(u64::from(c.code())), Some(c));
        }
        assert_eq!(ErrorCode::from_code(0x0Bu64), None);
        assert_eq!(ErrorCode::from_code(u64::from(u32::MAX) + 1), None);
        assert_eq!(ErrorCode::InvalidBatch.to_string(), "invalid_batch (0x05)");
        let rejections: Vec<&str> = ErrorCode::rejections().map(ErrorCode::name).collect();
        assert_eq!(
            rejections,
            [
                "auth_failed",
                "forbidden",
                "protocol_violation",
                "frame_too_large",
                "invalid_batch",
                "hello_timeout"
            ]
        );
    }
}
