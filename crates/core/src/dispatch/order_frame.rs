//! An ORDER frame as a backlog sends it to a subscriber that asked for the
//! gapless log: the order, then its status and acknowledgement. It lives
//! beside the order it wraps, below the wire's control messages it is
//! read like.

use super::record::{AckRecord, Status};
use super::Order;
use crate::wire::control::Control;
use crate::wire::frame::FrameType;
use serde::{Deserialize, Serialize};

/// An ORDER frame's payload with what a backlog adds for a subscriber that
/// asked for [`crate::wire::control::Feature::GaplessLog`]: the order's `status` and, once it is
/// acknowledged, its `ack`, both after the order's own fields and not
/// written when absent (a live ORDER has neither: it is as the hub made
/// it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderFrame {
    /// The order, its fields at the top level of the JSON.
    #[serde(flatten)]
    pub order: Order,
    /// Where the order stands (`open`, `acked`, `escalated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The acknowledgement that closed it, for an acknowledged order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<AckRecord>,
}

impl Control for OrderFrame {
    const FRAME: FrameType = FrameType::Order;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::{parse_control, Outcome};

    const ORDER_JSON: &str = r#"{"id":"TG1-2","revision":2,"seq":18446744073709551615,
        "created_ms":1779345136871,"severity":"critical","category":"smoke",
        "incident_kind":"fire","multi_source":true,"sources":["sensor","video"],
        "place":{"cell":"893099586d7ffff","lat":31.25631,"lon":121.41218,"street":null},
        "events":[],"event_count":2,"plan":"p","deadline_ms":1779345436871,"camera":null,
        "first_seen_ms":1779345127412,"last_seen_ms":1779345136530,"repeat":0,
        "escalation_of":null}"#;

    #[test]
    fn an_order_frame_is_the_order_then_its_status_and_ack() {
        let order: Order = serde_json::from_str(ORDER_JSON).unwrap();
        let plain = OrderFrame {
            order: order.clone(),
            status: None,
            ack: None,
        };
        // Without a status it is the ORDER as always, byte for byte.
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            serde_json::to_string(&order).unwrap()
        );
        let acked = OrderFrame {
            order: order.clone(),
            status: Some(Status::Acked),
            ack: Some(AckRecord {
                outcome: Outcome::Confirmed,
                note: "n".into(),
                by: "310107005000".into(),
                at_ms: 1_779_345_200_000,
            }),
        };
        let text = serde_json::to_string(&acked).unwrap();
        let order_text = serde_json::to_string(&order).unwrap();
        assert!(
            text.starts_with(&order_text[..order_text.len() - 1]),
            "the order's own fields first: {text}"
        );
        assert!(
            text.ends_with(
                r#","status":"acked","ack":{"outcome":"confirmed","note":"n","by":"310107005000","at_ms":1779345200000}}"#
            ),
            "{text}"
        );
        let back: OrderFrame = parse_control(FrameType::Order, text.as_bytes()).unwrap();
        assert_eq!(back, acked);
        assert_eq!(
            back.order.seq,
            u64::MAX,
            "big integers survive the flattening"
        );
        // A plain ORDER reads as a frame with no status, and an order frame
        // with a status as a plain order (older clients ignore the field).
        let from_plain: OrderFrame = serde_json::from_str(ORDER_JSON).unwrap();
        assert_eq!(from_plain, plain);
        let as_order: Order = serde_json::from_str(&text).unwrap();
        assert_eq!(as_order, order);
    }
}
