//! The dispatcher's commits as messages of the orders stream, in the
//! cluster mode: a commit ([`Batch`]) becomes one message per order
//! written (on a subject per scope, the order's street or the district,
//! with a message id of the order id, its revision and a digest of what
//! was written, so that a re-publish of the same write is dropped by the
//! stream's dedup window while every change is a new message) and, when
//! the commit also wrote device records or journaled detections, one
//! message of dispatcher state. Every node applies these messages to its
//! own outbox ([`merge`]), so each answers /api/orders and SUBSCRIBE alike
//! and the next dispatch owner resumes from it.
//!
//! JSON: orders are rare beside events, and the outbox keeps the same
//! fields; the format carries a version.

use crate::dispatch::batch::Batch;
use crate::dispatch::quality::DeviceRecord;
use crate::dispatch::record::OrderRecord;
use crate::engine::Detection;
use crate::wire::control::DISTRICT;
use serde::{Deserialize, Serialize};

/// The version of the messages' format.
pub const VERSION: u32 = 1;

/// One message of the orders stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderLogEntry {
    /// An order as written, with the log entries (scope, seq) that point
    /// at it in this commit.
    Order {
        /// The format's version.
        v: u32,
        /// The order.
        record: Box<OrderRecord>,
        /// Its entries in the per-scope logs.
        log: Vec<(String, u64)>,
    },
    /// Device quality records and journaled detections of a commit.
    State {
        /// The format's version.
        v: u32,
        /// Device records.
        devices: Vec<DeviceRecord>,
        /// Detections journaled.
        journal: Vec<Detection>,
        /// Journal entries before this time can go.
        journal_before_ms: Option<i64>,
    },
}

/// A message to publish: where, under which id, what.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The scope the subject names (a street's code or `district`); none
    /// for dispatcher state.
    pub scope: Option<String>,
    /// The stream's dedup id.
    pub id: String,
    /// The encoded entry.
    pub payload: Vec<u8>,
}

/// A commit as the messages that carry it; `commit` numbers the state
/// message (the dispatcher's count of its commits, with its epoch in the
/// shell's headers), since state has no id of its own.
pub fn split(batch: &Batch, commit: &str) -> Vec<Outgoing> {
    let mut out = Vec::with_capacity(batch.orders.len() + 1);
    for record in &batch.orders {
        let id = &record.order.id;
        let log = batch
            .log
            .iter()
            .filter(|(_, _, o)| o == id)
            .map(|(scope, seq, _)| (scope.clone(), *seq))
            .collect();
        let scope = record
            .order
            .street_code()
            .filter(|_| record.order.escalation_of.is_none())
            .unwrap_or(DISTRICT)
            .to_owned();
        let entry = OrderLogEntry::Order {
            v: VERSION,
            record: Box::new(record.clone()),
            log,
        };
        let payload = serde_json::to_vec(&entry).expect("orders serialize");
        out.push(Outgoing {
            scope: Some(scope),
            id: format!("{id}/{}/{:016x}", record.order.revision, digest(&payload)),
            payload,
        });
    }
    if !batch.devices.is_empty() || !batch.journal.is_empty() || batch.journal_before_ms.is_some() {
        let entry = OrderLogEntry::State {
            v: VERSION,
            devices: batch.devices.clone(),
            journal: batch.journal.clone(),
            journal_before_ms: batch.journal_before_ms,
        };
        out.push(Outgoing {
            scope: None,
            id: format!("state/{commit}"),
            payload: serde_json::to_vec(&entry).expect("state serializes"),
        });
    }
    out
}

/// FNV-1a, 64 bits: the same write gives the same id, any change another.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OrderLogError {
    /// Not an entry of this format.
    #[error("not an orders-stream entry: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a newer version.
    #[error("orders-stream entry of version {0}; this node reads version {VERSION}")]
    Version(u32),
}

/// Decodes one message.
pub fn decode(payload: &[u8]) -> Result<OrderLogEntry, OrderLogError> {
    let entry: OrderLogEntry = serde_json::from_slice(payload)?;
    let v = match &entry {
        OrderLogEntry::Order { v, .. } | OrderLogEntry::State { v, .. } => *v,
    };
    if v != VERSION {
        return Err(OrderLogError::Version(v));
    }
    Ok(entry)
}

/// Adds an entry to the batch a follower will commit: applied in stream
/// order, a later write of an order replaces an earlier one.
pub fn merge(batch: &mut Batch, entry: OrderLogEntry) {
    match entry {
        OrderLogEntry::Order { record, log, .. } => {
            let id = record.order.id.clone();
            batch
                .log
                .extend(log.into_iter().map(|(scope, seq)| (scope, seq, id.clone())));
            match batch.orders.iter_mut().find(|r| r.order.id == id) {
                Some(slot) => *slot = *record,
                None => batch.orders.push(*record),
            }
        }
        OrderLogEntry::State {
            devices,
            journal,
            journal_before_ms,
            ..
        } => {
            for d in devices {
                match batch.devices.iter_mut().find(|r| r.device == d.device) {
                    Some(slot) => *slot = d,
                    None => batch.devices.push(d),
                }
            }
            batch.journal.extend(journal);
            batch.journal_before_ms = batch.journal_before_ms.max(journal_before_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, revision: u32) -> OrderRecord {
        let order: crate::dispatch::Order = serde_json::from_value(serde_json::json!({
            "id": id, "revision": revision, "seq": 1, "created_ms": 1_000,
            "severity": "major", "category": "smoke", "incident_kind": "fire",
            "multi_source": false, "sources": ["sensor"],
            "place": {"cell": "891f1d4a49bffff", "lat": 31.25, "lon": 121.4, "street": null},
            "events": [], "event_count": 1, "plan": "p", "deadline_ms": 61_000,
            "camera": null, "first_seen_ms": 1_000, "last_seen_ms": 1_000, "repeat": 0
        }))
        .unwrap();
        OrderRecord::dispatched(order, 0, 1)
    }

    #[test]
    fn a_commit_goes_out_as_one_message_per_order_and_comes_back_whole() {
        let batch = Batch {
            orders: vec![record("TG1-a", 1), record("TG2-b", 2)],
            log: vec![
                ("district".into(), 7, "TG1-a".into()),
                ("district".into(), 8, "TG2-b".into()),
            ],
            devices: vec![DeviceRecord {
                device: 42,
                ..Default::default()
            }],
            journal: Vec::new(),
            journal_before_ms: Some(500),
        };
        let out = split(&batch, "9-1");
        assert_eq!(out.len(), 3, "two orders and the state");
        assert_eq!(out[0].scope.as_deref(), Some("district"));
        assert!(out[0].id.starts_with("TG1-a/1/"), "{}", out[0].id);
        assert!(out[1].id.starts_with("TG2-b/2/"), "{}", out[1].id);
        assert_eq!(
            split(&batch, "9-1")[0].id,
            out[0].id,
            "the same write, the same id"
        );
        assert_eq!(out[2].scope, None);
        let mut back = Batch::default();
        for o in &out {
            merge(&mut back, decode(&o.payload).unwrap());
        }
        assert_eq!(back, batch);
    }

    #[test]
    fn a_later_write_of_an_order_replaces_the_earlier_in_one_apply() {
        let mut back = Batch::default();
        for r in [record("TG1-a", 1), record("TG1-a", 2)] {
            let b = Batch {
                orders: vec![r],
                ..Default::default()
            };
            merge(&mut back, decode(&split(&b, "x")[0].payload).unwrap());
        }
        assert_eq!(back.orders.len(), 1);
        assert_eq!(back.orders[0].order.revision, 2);
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let text = br#"{"kind":"state","v":2,"devices":[],"journal":[],"journal_before_ms":null}"#;
        let e = decode(text).unwrap_err().to_string();
        assert!(e.contains("version 2"), "{e}");
        assert!(decode(b"{}").is_err());
    }
}
