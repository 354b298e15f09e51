//! Control messages: the JSON payloads of HELLO, WELCOME, SUBSCRIBE,
//! SUBSCRIBED and ORDER_ACK frames. JSON because they are rare and any
//! language reads it; the hot path (event batches) is rkyv.

use crate::vocabulary::vocabulary;
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
