//! What the engine's stages hand each other: a [`Detection`] (one device's
//! condition, out of a shard) and a [`Warning`] (an incident, out of the
//! correlator, ready to become a dispatch order).

use crate::model::{CameraRef, Category, Event, Severity, Source};
use std::sync::Arc;

/// A condition a rule found: a threshold crossed and held, a rate, a
/// count in a cell. One per condition until it clears or is re-notified.
///
/// It is its triggering event plus what the rule adds; the event's fields
/// read through (`d.device`, `d.cell`), as a detection is about that event.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    /// The triggering event (its category is the rule's).
    pub event: Event,
    /// When the condition was first seen (start of the hold), Unix ms.
    pub first_seen_ms: i64,
    /// Events that reported it so far (for count rules: in the window).
    pub count: u64,
    /// 0 for a new condition, n for the n-th re-notification.
    pub repeat: u32,
    /// Opaque to the engine: the shell's arrival stamp of the batch that
    /// carried the triggering event, for latency measurement.
    pub arrival: u64,
    /// For a late triggering event (older than its shard's watermark when
    /// it arrived): by how much, ms. `None` for an on-time one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<i64>,
}

impl std::ops::Deref for Detection {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}

impl std::ops::DerefMut for Detection {
    fn deref_mut(&mut self) -> &mut Event {
        &mut self.event
    }
}

/// An incident at one place, from one or more independent sources: what a
/// dispatch order is made of. A later revision of the same incident (a new
/// source joined, severity rose) carries the same `incident` id.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// Incident id, unique within one correlator's life.
    pub incident: u64,
    /// 1 for the first warning, +1 per update.
    pub revision: u32,
    /// Incident kind (the rules' `incident`).
    pub kind: Arc<str>,
    /// Category of the lead rule (the most severe one involved).
    pub category: Category,
    /// Severity after raising for independent sources.
    pub severity: Severity,
    /// The cell of the first detection (the incident's anchor).
    pub cell: u64,
    /// Position of the first detection.
    pub lat: f64,
    /// Position of the first detection.
    pub lon: f64,
    /// Distinct source kinds involved, in wire-code order.
    pub sources: Vec<Source>,
    /// The detections kept (at most the configured number), oldest first.
    pub detections: Vec<Detection>,
    /// All detections that joined, kept or not.
    pub detection_count: u64,
    /// The lead rule's disposal plan.
    pub plan: Arc<str>,
    /// The shortest deadline of the rules involved, ms.
    pub deadline_ms: i64,
    /// The shortest accept limit of the rules involved that set one, ms.
    pub accept_ms: Option<i64>,
    /// Earliest event time involved, Unix ms.
    pub first_ms: i64,
    /// Latest event time involved, Unix ms.
    pub last_ms: i64,
    /// Arrival stamp of the detection that caused this revision.
    pub arrival: u64,
    /// Re-notification number of the condition that opened it (0 = new).
    pub repeat: u32,
}

impl Warning {
    /// Whether more than one kind of source agrees (多源预警).
    pub(crate) fn is_multi_source(&self) -> bool {
        self.sources.len() > 1
    }

    /// The first camera among the detections, for video look-up.
    pub fn camera(&self) -> Option<CameraRef> {
        self.detections
            .iter()
            .map(|d| d.camera)
            .find(CameraRef::is_some)
    }
}
