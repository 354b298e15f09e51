//! QUIC application close codes. The hub closes a connection with one of
//! these and a human-readable reason; clients may close with them too.
//! Codes are part of the protocol: add, never renumber.

use std::fmt;

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    /// Normal close: the peer is done.
    NoError = 0x00,
    /// No token, an unknown token, or a token not valid for the role.
    AuthFailed = 0x01,
    /// Authenticated, but asked for something the token may not see
    /// (a street token subscribing to another street).
    Forbidden = 0x02,
    /// A frame the protocol does not allow here: unknown type, wrong order,
    /// malformed JSON, a truncated frame.
    ProtocolViolation = 0x03,
    /// A length prefix over the hub's frame limit; nothing of it was read.
    FrameTooLarge = 0x04,
    /// An event batch whose rkyv archive failed validation, or that holds
    /// more events than allowed.
    InvalidBatch = 0x05,
    /// The hub is shutting down; reconnect later.
    GoingAway = 0x06,
    /// A subscriber read orders too slowly and its queue overflowed;
    /// reconnect and resume.
    SubscriberTooSlow = 0x07,
    /// No HELLO within the handshake timeout.
    HelloTimeout = 0x08,
    /// The hub failed internally; retry later.
    Internal = 0x09,
    /// The token already holds its limit of connections
    /// (`limits.max_connections_per_token`); close another first.
    TooManyConnections = 0x0A,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::NoError,
        ErrorCode::AuthFailed,
        ErrorCode::Forbidden,
        ErrorCode::ProtocolViolation,
        ErrorCode::FrameTooLarge,
        ErrorCode::InvalidBatch,
        ErrorCode::GoingAway,
        ErrorCode::SubscriberTooSlow,
        ErrorCode::HelloTimeout,
        ErrorCode::Internal,
        ErrorCode::TooManyConnections,
    ];

    /// The numeric code sent in CONNECTION_CLOSE.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The code with this number, if any.
    pub fn from_code(code: u64) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| u64::from(c.code()) == code)
    }

    /// A short snake_case name, used as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "no_error",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ProtocolViolation => "protocol_violation",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::InvalidBatch => "invalid_batch",
            ErrorCode::GoingAway => "going_away",
            ErrorCode::SubscriberTooSlow => "subscriber_too_slow",
            ErrorCode::HelloTimeout => "hello_timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::TooManyConnections => "too_many_connections",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02x})", self.name(), self.code())
    }
}
