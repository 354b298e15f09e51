//! Detections as messages of the detections stream, in the cluster mode:
//! what one partition's owner found since its last message, with the
//! partition's watermark and the epoch of the lease it held. The dispatch
//! owner's correlator reads them (a watermark slot per partition), fenced
//! by the epoch.
//!
//! The message id is a digest of the detections' identity (device,
//! sequence, event time, the condition's start and re-notification), not
//! of the shell's arrival stamps, so a partition replayed by its next
//! owner publishes the same ids and the stream drops the repeats. A
//! message of only a watermark has no id: it is harmless twice.
//!
//! JSON: detections are rare beside events; the format carries a version.

use crate::engine::Detection;
use serde::{Deserialize, Serialize};

/// The version of the messages' format.
pub const VERSION: u32 = 1;

/// One message of the detections stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionMessage {
    /// The format's version.
    pub v: u32,
    /// The partition.
    pub partition: u32,
    /// The epoch of the writer's lease on it.
    pub epoch: u64,
    /// How far the partition's event time has got, Unix ms (none yet).
    pub watermark_ms: Option<i64>,
    /// What it found.
    pub detections: Vec<Detection>,
}

impl DetectionMessage {
    /// The stream's dedup id: none for a watermark alone.
    pub fn id(&self) -> Option<String> {
        if self.detections.is_empty() {
            return None;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        for d in &self.detections {
            eat(d.device);
            eat(d.seq);
            eat(d.time_ms as u64);
            eat(d.first_seen_ms as u64);
            eat(u64::from(d.repeat));
            eat(d.category as u64);
        }
        Some(format!("d{}-{h:016x}", self.partition))
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("detections serialize")
    }

    /// Decodes a message, refusing another version by name.
    pub fn decode(payload: &[u8]) -> Result<DetectionMessage, String> {
        let m: DetectionMessage = serde_json::from_slice(payload)
            .map_err(|e| format!("not a detections-stream message: {e}"))?;
        if m.v != VERSION {
            return Err(format!(
                "detections-stream message of version {}; this node reads version {VERSION}",
                m.v
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CameraRef, Category, Event, Source};

    fn detection(device: u64, arrival: u64) -> Detection {
        Detection {
            event: Event {
                device,
                seq: 3,
                time_ms: 1_000,
                value: 1.0,
                lat: 31.25,
                lon: 121.4,
                cell: 0,
                category: Category::Smoke,
                source: Source::Sensor,
                camera: CameraRef::default(),
            },
            first_seen_ms: 1_000,
            count: 1,
            repeat: 0,
            arrival,
            late_ms: None,
        }
    }

    #[test]
    fn a_replay_of_the_same_detections_has_the_same_id_whatever_its_arrival() {
        let m = |arrival| DetectionMessage {
            v: VERSION,
            partition: 5,
            epoch: 9,
            watermark_ms: Some(900),
            detections: vec![detection(7, arrival)],
        };
        assert_eq!(m(1).id(), m(2).id());
        let other = DetectionMessage {
            detections: vec![detection(8, 1)],
            ..m(1)
        };
        assert_ne!(m(1).id(), other.id());
        let back = DetectionMessage::decode(&m(1).encode()).unwrap();
        assert_eq!(back, m(1));
    }

    #[test]
    fn a_watermark_alone_has_no_id_and_another_version_is_refused() {
        let m = DetectionMessage {
            v: VERSION,
            partition: 1,
            epoch: 1,
            watermark_ms: None,
            detections: Vec::new(),
        };
        assert_eq!(m.id(), None);
        let mut text = String::from_utf8(m.encode()).unwrap();
        text = text.replace("\"v\":1", "\"v\":7");
        let e = DetectionMessage::decode(text.as_bytes()).unwrap_err();
        assert!(e.contains("version 7"), "{e}");
    }
}
