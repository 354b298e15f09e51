//! The dispatch order: what a street platform receives (the JSON payload
//! of an ORDER frame), built from a [`Warning`] and the street that owns
//! its place.

use super::lifecycle::{Stage, StepKind};
use crate::engine::{Detection, Warning};
use crate::geo::{self, Street};
use crate::model::{Category, Severity, Source};
use serde::{Deserialize, Serialize};

/// A dispatch order (派单). An update of an incident keeps the order `id`
/// and raises `revision`: the id is the idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Unique id, stable across revisions.
    pub id: String,
    /// 1 for a new order, +1 for each update.
    pub revision: u32,
    /// Sequence number of this ORDER frame in the log of the scope it is
    /// sent in: the street's for a street subscriber, the district's for a
    /// district subscriber.
    pub seq: u64,
    /// When the hub made this revision, Unix ms.
    pub created_ms: i64,
    /// Severity after multi-source raising.
    pub severity: Severity,
    /// Category of the lead rule.
    pub category: Category,
    /// Incident kind (fire, flood, gas, ...).
    pub incident_kind: String,
    /// More than one kind of source agrees (多源预警).
    pub multi_source: bool,
    /// Source kinds involved.
    pub sources: Vec<Source>,
    /// Where.
    pub place: Place,
    /// The triggering events of the detections, oldest first (at most the
    /// engine's `max_incident_detections`).
    pub events: Vec<OrderEvent>,
    /// All detections that joined, including those not listed.
    pub event_count: u64,
    /// The disposal plan (处置方案).
    pub plan: String,
    /// Acknowledge by this time, Unix ms.
    pub deadline_ms: i64,
    /// Accept (签收) by this time, Unix ms, when the rule sets an accept
    /// limit; absent (not written) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_by_ms: Option<i64>,
    /// Camera for video look-up (视频调阅), when video took part.
    pub camera: Option<String>,
    /// Earliest event time involved, Unix ms.
    pub first_seen_ms: i64,
    /// Latest event time involved, Unix ms.
    pub last_seen_ms: i64,
    /// 0 for a new condition; n for the n-th re-notification.
    pub repeat: u32,
    /// For an escalation (督办) to the district duty desk: the id of the
    /// order that was not acknowledged by its deadline.
    #[serde(default)]
    pub escalation_of: Option<String>,
    /// When an event listed came late (older than its shard's watermark:
    /// the hub had moved on past its time), the most any of them was
    /// behind, ms; absent (not written) when every event was on time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<i64>,
    /// The last step that moved the order or ended the street's part (转派,
    /// 退单, 退回返工, 结案), on a revision sent so that both streets, or
    /// the street, see it and why; absent (not written) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposal: Option<DisposalNote>,
}

/// What a step did to an order that its street must see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisposalNote {
    /// The step (transfer, send_back, close).
    pub step: StepKind,
    /// The stage it left the order at.
    pub stage: Stage,
    /// Who took it.
    pub by: String,
    /// Why, or the note that came with it.
    #[serde(default)]
    pub reason: String,
    /// When, Unix ms.
    pub at_ms: i64,
    /// For a transfer: the street it left ("district" when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// For a transfer: the street it went to ("district" when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Where an order happened and who owns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// H3 cell (resolution 9), as 15 hex digits.
    pub cell: String,
    /// Latitude of the first detection, degrees.
    pub lat: f64,
    /// Longitude of the first detection, degrees.
    pub lon: f64,
    /// The owning street, or none outside the region map (district only).
    pub street: Option<StreetRef>,
}

/// A street as named in an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreetRef {
    /// 12-digit division code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
}

/// One event behind an order. Its own fields rather than a flattened
/// [`crate::model::Event`]: their names, order and the camera as text are
/// the protocol's (docs/PROTOCOL.md), the event's are the engine's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Reporting device.
    pub device: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Source kind.
    pub source: Source,
    /// Category.
    pub category: Category,
    /// Value reported.
    pub value: f64,
    /// Event time, Unix ms.
    pub time_ms: i64,
    /// When the condition began, Unix ms.
    pub first_seen_ms: i64,
    /// Reports of the condition so far.
    pub count: u64,
    /// Position.
    pub lat: f64,
    /// Position.
    pub lon: f64,
    /// Camera code, for video events.
    pub camera: Option<String>,
    /// The device's name, when it is registered (设备台账).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Where the device is, as people say it, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What a hotline caller or patrol reported, personal data masked
    /// (来电人 张**（138****5678）：...), when the report came with details.
    #[serde(default)]
    pub report: Option<String>,
    /// For a late event: how far it was behind its shard's watermark when
    /// it arrived, ms. Absent (not written) for an on-time one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms: Option<i64>,
}

impl OrderEvent {
    /// The triggering event of a detection, as an order lists it (the
    /// report is added by the dispatcher when there is one).
    pub(crate) fn of(d: &Detection) -> OrderEvent {
        let e = &d.event;
        OrderEvent {
            device: e.device,
            seq: e.seq,
            source: e.source,
            category: e.category,
            value: e.value,
            time_ms: e.time_ms,
            first_seen_ms: d.first_seen_ms,
            count: d.count,
            lat: e.lat,
            lon: e.lon,
            camera: e.camera.as_str().map(str::to_owned),
            device_name: None,
            address: None,
            report: None,
            late_ms: d.late_ms,
        }
    }
}

impl Order {
    /// Builds revision `w.revision` of the order for `w`.
    pub(crate) fn from_warning(
        id: String,
        seq: u64,
        created_ms: i64,
        w: &Warning,
        street: Option<&Street>,
    ) -> Order {
        Order {
            id,
            revision: w.revision,
            seq,
            created_ms,
            severity: w.severity,
            category: w.category,
            incident_kind: w.kind.to_string(),
            multi_source: w.is_multi_source(),
            sources: w.sources.clone(),
            place: Place {
                cell: geo::cell_name(w.cell),
                lat: w.lat,
                lon: w.lon,
                street: street.map(|s| StreetRef {
                    code: s.code.clone(),
                    name: s.name.clone(),
                    name_en: s.name_en.clone(),
                }),
            },
            events: w.detections.iter().map(OrderEvent::of).collect(),
            event_count: w.detection_count,
            plan: w.plan.to_string(),
            deadline_ms: created_ms.saturating_add(w.deadline_ms),
            accept_by_ms: w.accept_ms.map(|a| created_ms.saturating_add(a)),
            camera: w.camera().and_then(|c| c.as_str().map(str::to_owned)),
            first_seen_ms: w.first_ms,
            last_seen_ms: w.last_ms,
            repeat: w.repeat,
            escalation_of: None,
            late_ms: w.detections.iter().filter_map(|d| d.late_ms).max(),
            disposal: None,
        }
    }

    /// The escalation of this order to the district duty desk, made at
    /// `now_ms`: a new order with its own id, the same place, sources and
    /// events, and a plan that says what was missed.
    pub(crate) fn escalation(&self, seq: u64, now_ms: i64) -> Order {
        let street = self
            .place
            .street
            .as_ref()
            .map_or("（区域外）".to_owned(), |s| {
                format!("{}（{}）", s.name, s.code)
            });
        Order {
            id: super::order_id::escalation_id(&self.id),
            revision: 1,
            seq,
            created_ms: now_ms,
            deadline_ms: now_ms.saturating_add(self.deadline_ms - self.created_ms),
            plan: format!(
                "督办：{street}未在处置时限内签收工单 {}，请总值班室督促街镇立即处置。原处置方案：{}",
                self.id, self.plan
            ),
            escalation_of: Some(self.id.clone()),
            accept_by_ms: None,
            disposal: None,
            ..self.clone()
        }
    }

    /// The street code, if the order has an owning street.
    pub fn street_code(&self) -> Option<&str> {
        self.place.street.as_ref().map(|s| s.code.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pipeline::Pipeline;
    use crate::engine::{EngineSettings, RuleSet};
    use crate::model::{CameraRef, Event};
    use std::sync::Arc;

    const T0: i64 = 1_780_000_000_000;

    fn event(device: u64, t: i64, category: Category, value: f64, at: (f64, f64)) -> Event {
        let source = if category == Category::Fire {
            Source::Video
        } else {
            Source::Sensor
        };
        Event {
            device,
            seq: 1,
            time_ms: t,
            value,
            lat: at.0,
            lon: at.1,
            cell: geo::cell_of(at.0, at.1).unwrap(),
            category,
            source,
            camera: if source == Source::Video {
                CameraRef::parse("31010700001320000007").unwrap()
            } else {
                CameraRef::NONE
            },
        }
    }

    #[test]
    fn a_late_camera_fire_makes_an_order_marked_late_and_an_on_time_one_says_nothing() {
        let mut p = Pipeline::new(Arc::new(RuleSet::defaults()), EngineSettings::default(), 1);
        let here = (31.2575, 121.4125);
        p.handle_events(T0, 0, &[event(1, T0, Category::Smoke, 8.0, here)]);
        // Five minutes after it happened, somewhere else in the shard.
        let there = (31.2275, 121.3825);
        p.handle_events(
            T0 + 1_000,
            0,
            &[event(2, T0 - 300_000, Category::Fire, 0.93, there)],
        );
        let w = p.drain_warnings();
        assert_eq!(w.len(), 2, "{w:#?}");
        let on_time = Order::from_warning("TG-1".into(), 1, T0, &w[0], None);
        let late = Order::from_warning("TG-2".into(), 2, T0 + 1_000, &w[1], None);
        assert_eq!((on_time.late_ms, on_time.events[0].late_ms), (None, None));
        assert_eq!(late.late_ms, Some(270_000), "behind the watermark by");
        assert_eq!(late.events[0].late_ms, Some(270_000));
        assert_eq!(late.camera.as_deref(), Some("31010700001320000007"));

        let json = serde_json::to_value(&late).unwrap();
        assert_eq!(json["late_ms"], 270_000);
        assert_eq!(json["events"][0]["late_ms"], 270_000);
        // On time, the JSON is what it always was: no `late_ms` anywhere.
        let text = serde_json::to_string(&on_time).unwrap();
        assert!(!text.contains("late_ms"), "{text}");
        assert!(text.ends_with(r#""escalation_of":null}"#), "{text}");
        // An order written without it reads back as on time.
        let back: Order = serde_json::from_str(&text).unwrap();
        assert_eq!(back, on_time);
        // An escalation keeps the mark.
        assert_eq!(late.escalation(3, T0 + 600_000).late_ms, Some(270_000));
    }
}
