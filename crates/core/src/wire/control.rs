//! Control messages: the JSON payloads of HELLO, WELCOME, SUBSCRIBE,
//! SUBSCRIBED, ORDER_ACK, ORDER_ACK_RESULT and BACKLOG_END frames (ORDER's
//! is an order, or dispatch::order_frame's OrderFrame with its status).
//!
//! New behaviour is negotiated: a client names the [`Feature`]s it wants in
//! HELLO, WELCOME names those the hub granted, and a client that asked for
//! none gets the protocol as it always was, byte for byte.
//! JSON because they are rare and any language reads it; the hot path
//! (event batches) is rkyv.
//!
//! [`parse_control`] is the one way to read one: the frame must be of the
//! message's type and its payload valid JSON of it, or the error says which.

use super::frame::FrameType;
use crate::dispatch::lifecycle::{Stage, StepKind, StepRequest};
use crate::dispatch::Order;
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

vocabulary! {
    /// What a client may ask for in HELLO's `features`, beyond the
    /// protocol every client gets. Each is granted only to the role it is
    /// for; a name the hub does not know is not granted (and no error).
    pub enum Feature {
        /// Devices: every batch is answered with BATCH_ACK_V2 (every
        /// rejected event's index and reason) instead of BATCH_ACK.
        BatchAckV2 => "batch_ack_v2",
        /// Subscribers: every ORDER_ACK is answered with ORDER_ACK_RESULT
        /// once it is recorded (or refused).
        OrderAckResult => "order_ack_result",
        /// Subscribers: a BACKLOG_END frame follows the backlog.
        BacklogEnd => "backlog_end",
        /// Subscribers: SUBSCRIBE `from_seq` > 0 sends every order of the
        /// scope after it, acknowledged ones too, and each ORDER of a
        /// backlog carries its `status` (and `ack`).
        GaplessLog => "gapless_log",
        /// Subscribers: ORDER_STEP frames take the disposal loop's steps
        /// (accept, assign, feedback, resolve, send back, verify, close,
        /// transfer), each answered with ORDER_STEP_RESULT.
        OrderSteps => "order_steps",
    }
}

impl Feature {
    /// The role that may be granted this feature.
    pub fn role(self) -> Role {
        match self {
            Feature::BatchAckV2 => Role::Device,
            Feature::OrderAckResult
            | Feature::BacklogEnd
            | Feature::GaplessLog
            | Feature::OrderSteps => Role::Subscriber,
        }
    }
}

/// A set of [`Feature`]s: what a session was granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features(u8);

impl Features {
    /// No feature: the protocol as every client gets it.
    pub const NONE: Features = Features(0);

    fn bit(f: Feature) -> u8 {
        1 << (f as u8)
    }

    /// Whether `f` is in the set.
    pub fn has(self, f: Feature) -> bool {
        self.0 & Self::bit(f) != 0
    }

    /// The set with `f` added.
    pub fn with(self, f: Feature) -> Features {
        Features(self.0 | Self::bit(f))
    }

    /// What the hub grants a client of `role` that asked for `asked`
    /// (names, as in HELLO): the known features of that role.
    pub fn grant(role: Role, asked: &[String]) -> Features {
        asked
            .iter()
            .filter_map(|name| Feature::from_name(name))
            .filter(|f| f.role() == role)
            .fold(Features::NONE, Features::with)
    }

    /// The set from names (as in WELCOME); unknown names are left out.
    pub fn from_names(names: &[String]) -> Features {
        names
            .iter()
            .filter_map(|name| Feature::from_name(name))
            .fold(Features::NONE, Features::with)
    }

    /// The names, in [`Feature::ALL`] order (as WELCOME lists them).
    pub fn names(self) -> Vec<String> {
        Feature::ALL
            .into_iter()
            .filter(|f| self.has(*f))
            .map(|f| f.name().to_owned())
            .collect()
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(iter: I) -> Features {
        iter.into_iter().fold(Features::NONE, Features::with)
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
    /// Features the client asks for ([`Feature`] names); not written when
    /// empty, so a client that asks for none sends the HELLO it always
    /// did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
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
    /// The features granted, of those HELLO asked for; not written when
    /// none was (absent: the protocol as it always was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
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

vocabulary! {
    /// What became of an ORDER_ACK, as ORDER_ACK_RESULT says it.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AckResult {
        /// Recorded durably: the order is acknowledged with this ack's
        /// outcome.
        Applied => "applied",
        /// The order was acknowledged already; this ack changed nothing.
        Duplicate => "duplicate",
        /// The token may not acknowledge this order (another street's).
        Forbidden => "forbidden",
        /// No order has this id.
        Unknown => "unknown",
        /// Not taken: the outbox cannot be written and too many
        /// acknowledgements wait for it. Send the ack again later.
        Busy => "busy",
    }
}

/// ORDER_ACK_RESULT (hub → subscriber that asked for
/// [`Feature::OrderAckResult`]): the answer to one ORDER_ACK, in the order
/// the acks were sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderAckResult {
    /// The `order_id` of the ORDER_ACK answered.
    pub order_id: String,
    /// What became of it.
    pub result: AckResult,
}

/// ORDER_STEP_RESULT (hub → subscriber granted [`Feature::OrderSteps`]):
/// the answer to one ORDER_STEP, in the order the steps (and acks) came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderStepResult {
    /// The `order_id` of the ORDER_STEP answered.
    pub order_id: String,
    /// The step asked for.
    pub step: StepKind,
    /// applied, unknown, forbidden, wrong_stage, invalid or busy.
    pub result: String,
    /// The order's stage after the step, when applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Why not, Chinese then English; absent when applied.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// BACKLOG_END (hub → subscriber that asked for [`Feature::BacklogEnd`]):
/// every order of the backlog is sent; live orders follow, each with a
/// `seq` above `last_seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacklogEnd {
    /// The `seq` of the backlog's last ORDER; when the backlog was empty,
    /// the position it started from (`from_seq`, or 0 when `from_seq` was
    /// past the scope's log).
    pub last_seq: u64,
    /// How many ORDER frames the backlog held.
    pub orders: u64,
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
    Order => Order,
    OrderAckResult => OrderAckResult,
    BacklogEnd => BacklogEnd,
    StepRequest => OrderStep,
    OrderStepResult => OrderStepResult,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::dispatcher::AckAnswer;

    #[test]
    fn features_are_granted_by_role_and_named_in_welcome() {
        let asked: Vec<String> = ["backlog_end", "batch_ack_v2", "teleport", "gapless_log"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sub = Features::grant(Role::Subscriber, &asked);
        assert_eq!(sub.names(), ["backlog_end", "gapless_log"]);
        assert!(!sub.has(Feature::OrderAckResult));
        let dev = Features::grant(Role::Device, &asked);
        assert_eq!(dev.names(), ["batch_ack_v2"]);
        assert_eq!(Features::from_names(&dev.names()), dev);
        assert_eq!(Features::grant(Role::Device, &[]), Features::NONE);
        assert!(Features::NONE.names().is_empty());
    }

    #[test]
    fn hello_and_welcome_without_features_are_what_they_always_were() {
        let hello = Hello {
            role: Role::Device,
            token: "t".into(),
            client: "c".into(),
            features: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"role":"device","token":"t","client":"c"}"#
        );
        let welcome = Welcome {
            hub: "tongguan/0.1.0".into(),
            max_frame_bytes: 1_048_576,
            max_batch_events: 8192,
            streets: Vec::new(),
            features: Vec::new(),
        };
        assert_eq!(
            serde_json::to_string(&welcome).unwrap(),
            r#"{"hub":"tongguan/0.1.0","max_frame_bytes":1048576,"max_batch_events":8192,"streets":[]}"#
        );
        let asked: Hello = parse_control(
            FrameType::Hello,
            br#"{"role":"subscriber","token":"t","features":["order_ack_result","later"]}"#,
        )
        .unwrap();
        assert_eq!(asked.features, ["order_ack_result", "later"]);
        // A WELCOME from a hub that knows no features reads as none granted.
        let old: Welcome = parse_control(
            FrameType::Welcome,
            br#"{"hub":"h","max_frame_bytes":1,"max_batch_events":1,"streets":[]}"#,
        )
        .unwrap();
        assert!(old.features.is_empty());
    }

    #[test]
    fn ack_results_and_backlog_end_are_their_json() {
        let results: Vec<&str> = AckAnswer::all().map(|a| a.result().name()).collect();
        assert_eq!(
            results,
            [
                "applied",
                "applied",
                "applied",
                "unknown",
                "forbidden",
                "duplicate",
                "busy"
            ]
        );
        let r = OrderAckResult {
            order_id: "TG1-2".into(),
            result: AckResult::Duplicate,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"order_id":"TG1-2","result":"duplicate"}"#);
        assert_eq!(
            parse_control::<OrderAckResult>(FrameType::OrderAckResult, json.as_bytes()).unwrap(),
            r
        );
        let end = BacklogEnd {
            last_seq: 41,
            orders: 3,
        };
        let json = serde_json::to_string(&end).unwrap();
        assert_eq!(json, r#"{"last_seq":41,"orders":3}"#);
        assert_eq!(
            parse_control::<BacklogEnd>(FrameType::BacklogEnd, json.as_bytes()).unwrap(),
            end
        );
    }

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
