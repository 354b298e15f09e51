//! Control messages: the JSON payloads of HELLO, WELCOME, SUBSCRIBE,
//! SUBSCRIBED and ORDER_ACK frames (ORDER's is [`crate::dispatch::Order`]).
//! JSON because they are rare and any language reads it; the hot path
//! (event batches) is rkyv.
//!
//! [`parse_control`] is the one way to read one: the frame must be of the
//! message's type and its payload valid JSON of it, or the error says which.

use super::frame::FrameType;
use crate::vocabulary::vocabulary;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// What a client is.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Role {
        /// Sends event batches.
        Device => "device",
        /// Receives dispatch orders: a street platform or the district.
        Subscriber => "subscriber",
    }
}

/// HELLO (client → hub), the first frame on a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The client's role.
    pub role: Role,
    /// The token from the hub's config.
    pub token: String,
    /// Free text naming the client software, for logs.
    #[serde(default)]
    pub client: String,
}

/// WELCOME (hub → client): the hello was accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// Hub software and version.
    pub hub: String,
    /// Largest frame payload the hub reads, bytes.
    pub max_frame_bytes: u32,
    /// Most events the hub accepts in one batch.
    pub max_batch_events: u32,
    /// For subscribers: the street codes the token may subscribe to, or
    /// `["district"]` for a district token. Empty for devices.
    #[serde(default)]
    pub streets: Vec<String>,
}

/// The street value that means "every street" (district duty desk).
pub const DISTRICT: &str = "district";

/// SUBSCRIBE (subscriber → hub).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// A 12-digit street code, or `"district"` for all streets.
    pub street: String,
    /// Resume after this order sequence number (0 = from live orders).
    #[serde(default)]
    pub from_seq: u64,
}

/// SUBSCRIBED (hub → subscriber): orders follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// What was subscribed to.
    pub street: String,
    /// Orders will follow from after this sequence number.
    pub from_seq: u64,
}

vocabulary! {
    /// How a street platform closed an order.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Outcome {
        /// Seen and confirmed; being handled.
        Confirmed => "confirmed",
        /// Nothing there: the sources were wrong.
        FalseAlarm => "false_alarm",
        /// Handled and closed.
        Resolved => "resolved",
    }
}

/// ORDER_ACK (subscriber → hub).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderAck {
    /// The order's id.
    pub order_id: String,
    /// What the street found.
    pub outcome: Outcome,
    /// Free text from the duty officer.
    #[serde(default)]
    pub note: String,
}

/// A message that travels as the JSON payload of frames of one type.
pub trait Control: DeserializeOwned {
    /// The frame type that carries it.
    const FRAME: FrameType;
}

/// Why a frame did not hold the control message expected.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A frame of another type came.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// The type the message travels in.
        expected: FrameType,
        /// The type that came.
        got: FrameType,
    },
    /// The payload is not the message's JSON.
    #[error("{frame} is not valid JSON")]
    Json {
        /// The frame's type.
        frame: FrameType,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
}

impl ControlError {
    /// The message and its cause on one line, as in "SUBSCRIBE is not
    /// valid JSON: missing field ..." (the form `{:#}` of anyhow prints):
    /// for a close reason or a client's error, which carry one string.
    pub fn chain(&self) -> String {
        match self {
            ControlError::Json { source, .. } => format!("{self}: {source}"),
            ControlError::Unexpected { .. } => self.to_string(),
        }
    }
}

/// Reads the control message `T` from a frame of type `ty` with `payload`:
/// `T`'s frame type is expected, and its JSON.
pub fn parse_control<T: Control>(ty: FrameType, payload: &[u8]) -> Result<T, ControlError> {
    if ty != T::FRAME {
        return Err(ControlError::Unexpected {
            expected: T::FRAME,
            got: ty,
        });
    }
    serde_json::from_slice(payload).map_err(|source| ControlError::Json { frame: ty, source })
}

/// The frame type of each control message.
macro_rules! control_frames {
    ($($message:ty => $frame:ident),* $(,)?) => {$(
        impl Control for $message {
            const FRAME: FrameType = FrameType::$frame;
        }
    )*};
}

control_frames! {
    Hello => Hello,
    Welcome => Welcome,
    Subscribe => Subscribe,
    Subscribed => Subscribed,
    OrderAck => OrderAck,
    crate::dispatch::Order => Order,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_frame_is_its_type_and_its_json_or_the_error_says_which() {
        let hello: Hello = parse_control(
            FrameType::Hello,
            br#"{"role":"device","token":"t","client":"c"}"#,
        )
        .unwrap();
        assert_eq!((hello.role, hello.token.as_str()), (Role::Device, "t"));

        let e = parse_control::<Hello>(FrameType::Subscribe, b"{}").unwrap_err();
        assert_eq!(e.to_string(), "expected HELLO, got SUBSCRIBE");
        assert_eq!(e.chain(), "expected HELLO, got SUBSCRIBE");

        let e = parse_control::<Subscribe>(FrameType::Subscribe, br#"{"from_seq":1}"#).unwrap_err();
        assert_eq!(e.to_string(), "SUBSCRIBE is not valid JSON");
        assert!(
            e.chain()
                .starts_with("SUBSCRIBE is not valid JSON: missing field `street`"),
            "{}",
            e.chain()
        );
        assert!(std::error::Error::source(&e).is_some());

        let e = parse_control::<OrderAck>(FrameType::OrderAck, b"not json").unwrap_err();
        assert!(
            e.chain().starts_with("ORDER_ACK is not valid JSON: "),
            "{}",
            e.chain()
        );
        assert!(matches!(
            parse_control::<crate::dispatch::Order>(FrameType::Order, b"{}"),
            Err(ControlError::Json {
                frame: FrameType::Order,
                ..
            })
        ));
    }
}
