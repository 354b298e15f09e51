//! How a QUIC session ends badly: a protocol close code and a reason a
//! person can act on. Shared by the session, ingest and subscribe, which
//! each turn their own failures into one.

use crate::runtime::inbox::Stopped;
use crate::wire::control::ControlError;
use crate::wire::frame::FrameError;
use crate::wire::ErrorCode;

/// Why a session ended badly: sent to the client as the close code and
/// reason.
#[derive(Debug)]
pub struct Close {
    /// The close code.
    pub code: ErrorCode,
    /// A reason a person can act on.
    pub reason: String,
}

impl Close {
    /// A close with `code` and `reason`.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Close {
        Close {
            code,
            reason: reason.into(),
        }
    }
}

impl From<FrameError> for Close {
    fn from(e: FrameError) -> Close {
        let code = match e {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::Io(_) => ErrorCode::NoError,
            FrameError::UnknownType(_) | FrameError::Truncated(_) => ErrorCode::ProtocolViolation,
        };
        Close::new(code, e.to_string())
    }
}

impl From<ControlError> for Close {
    fn from(e: ControlError) -> Close {
        Close::new(ErrorCode::ProtocolViolation, e.chain())
    }
}

impl From<Stopped> for Close {
    fn from(_: Stopped) -> Close {
        Close::new(ErrorCode::GoingAway, "the hub is shutting down")
    }
}
