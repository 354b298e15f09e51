//! The mirrors of `schemas.rs` hold the real shapes: the core's types,
//! filled in every field, are serialized as the handlers serialize them
//! and checked against the described schema. A field added to a type and
//! not described, or a required one that is not written, fails here
//! first (schemathesis then checks the live answers).

use crate::audit::{Entry, Kind, Record};
use crate::dispatch::lifecycle::{Photo, Stage, StepAnswer, StepKind};
use crate::dispatch::maintenance::{Target, Window};
use crate::dispatch::record::{
    AckRecord, Disposal, FeedbackRecord, HistoryEntry, OrderRecord, Status,
};
use crate::dispatch::registry::DeviceInfo;
use crate::dispatch::summary::StreetSummary;
use crate::dispatch::view::OrderView;
use crate::http::devices::DeviceView;
use crate::model::Category;
use crate::wire::control::Outcome;
use serde::Serialize;
use serde_json::{json, Value};

/// The described schema named `name`, and every component to resolve
/// `$ref`s in.
fn component(name: &str) -> (Value, Value) {
    let doc = serde_json::to_value(super::document()).expect("serializes");
    let components = doc["components"]["schemas"].clone();
    let schema = components[name].clone();
    assert!(!schema.is_null(), "no component {name}");
    (schema, components)
}

/// What is wrong with `value` as an instance of `schema`: keys not
/// described, required ones absent, types that differ. Null is taken
/// wherever it stands (the mirrors' `Option`s say where it may).
fn check(value: &Value, schema: &Value, all: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().expect("a ref");
        return check(value, &all[name], all, at);
    }
    if value.is_null() {
        return Ok(());
    }
    if let Some(alts) = schema["oneOf"].as_array() {
        let errors: Vec<String> = alts
            .iter()
            .filter_map(|s| check(value, s, all, at).err())
            .collect();
        return if errors.len() < alts.len() {
            Ok(())
        } else {
            Err(errors.join(" | "))
        };
    }
    if let Some(parts) = schema["allOf"].as_array() {
        return parts.iter().try_for_each(|s| check(value, s, all, at));
    }
    if let Some(names) = schema["enum"].as_array() {
        if !names.contains(value) {
            return Err(format!("{at}: {value} is not one of {names:?}"));
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        let object = value.as_object().ok_or(format!("{at}: not an object"))?;
        for (key, v) in object {
            let s = props
                .get(key)
                .ok_or(format!("{at}.{key}: written, not described"))?;
            check(v, s, all, &format!("{at}.{key}"))?;
        }
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().expect("a name");
            if !object.contains_key(key) {
                return Err(format!("{at}.{key}: required, not written"));
            }
        }
    }
    if let Some(items) = schema.get("items") {
        let array = value.as_array().ok_or(format!("{at}: not an array"))?;
        for (i, v) in array.iter().enumerate() {
            check(v, items, all, &format!("{at}[{i}]"))?;
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let fits = types.iter().any(|t| match *t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => false,
    });
    fits.then_some(())
        .ok_or(format!("{at}: {value} is not of type {types:?}"))
}

/// `value`, serialized, is an instance of the component `name`.
fn holds(name: &str, value: impl Serialize) {
    let value = serde_json::to_value(value).expect("serializes");
    let (schema, all) = component(name);
    if let Err(e) = check(&value, &schema, &all, name) {
        panic!("{e}\nin {value:#}");
    }
}

/// An order record with every optional field filled.
fn full_record() -> OrderRecord {
    let street =
        json!({"code": "310107005000", "name": "曹杨新村街道", "name_en": "Caoyang Xincun"});
    let order = serde_json::from_value(json!({
        "id": "T1", "revision": 2, "seq": 7, "created_ms": 1_000, "severity": "major",
        "category": "smoke", "incident_kind": "fire", "multi_source": true,
        "sources": ["sensor", "video"],
        "place": {"cell": "891f1d4a49bffff", "lat": 31.25, "lon": 121.41, "street": street},
        "events": [{"device": 9, "seq": 1, "source": "sensor", "category": "smoke", "value": 0.3,
            "time_ms": 900, "first_seen_ms": 900, "count": 2, "lat": 31.25, "lon": 121.41,
            "camera": "31010700001320000042", "device_name": "3号楼烟感", "address": "曹杨路 1 号",
            "report": "来电人 张**", "late_ms": 5}],
        "event_count": 1, "plan": "p", "deadline_ms": 61_000, "accept_by_ms": 31_000,
        "camera": "31010700001320000042", "first_seen_ms": 900, "last_seen_ms": 900,
        "repeat": 0, "escalation_of": "T0", "late_ms": 5,
        "disposal": {"step": "transfer", "stage": "dispatched", "by": "张三", "reason": "r",
            "at_ms": 2_000, "from": "310107005000", "to": "district"}
    }))
    .expect("an order");
    let photo = Photo {
        sha256: "0".repeat(64),
        bytes: 10,
        content_type: "image/png".into(),
    };
    OrderRecord {
        order,
        status: Status::Acked,
        street_seq: 1,
        district_seq: 1,
        ack: Some(AckRecord {
            outcome: Outcome::Confirmed,
            note: "n".into(),
            by: "310107005000".into(),
            at_ms: 3_000,
        }),
        history: vec![HistoryEntry {
            at_ms: 1_000,
            what: "accept".into(),
            detail: "d".into(),
            by: Some("张三".into()),
        }],
        disposal: Disposal {
            stage: Stage::Resolved,
            resolve_by_ms: Some(9_000),
            accepted_by: Some("张三".into()),
            assignee: Some("李四".into()),
            feedback: vec![FeedbackRecord {
                at_ms: 2_500,
                by: "李四".into(),
                note: "到场".into(),
                photos: vec![photo],
            }],
        },
    }
}

#[test]
fn an_order_whole_and_in_a_list_is_as_described() {
    holds("OrderView", OrderView::whole(full_record()));
    holds("OrderView", OrderView::summary(full_record()));
    let list = crate::dispatch::view::OrderList {
        count: 1,
        orders: vec![OrderView::summary(full_record())],
    };
    holds("OrderList", list);
}

#[test]
fn devices_windows_and_the_registry_are_as_described() {
    let info = DeviceInfo {
        id: 9,
        kind: "烟感".into(),
        name: "3号楼烟感".into(),
        address: "曹杨路".into(),
        street: "310107005000".into(),
        owner: "物业".into(),
    };
    let device = DeviceView {
        device: 9,
        orders: 3,
        confirmed: 1,
        false_alarms: 1,
        resolved: 1,
        false_alarm_rate: 0.5,
        flagged: false,
        events: Some(10),
        last_seen_ms: Some(1_000),
        online: true,
        clock_offset_ms: Some(-3),
        clock_skewed: false,
        offline_for_ms: Some(60_000),
        registered: Some(info.clone()),
    };
    holds("DeviceView", &device);
    let targets = [
        Target::Device { device: 9 },
        Target::Category {
            category: Category::ALL[0],
            street: "310107005000".into(),
        },
        Target::Area {
            lat: 31.2,
            lon: 121.4,
            radius_m: 100.0,
        },
    ];
    for target in targets {
        let window = Window {
            id: "MW-1".into(),
            target,
            from_ms: 1,
            until_ms: 2,
            reason: "检修".into(),
            by: "赵".into(),
            suppressed: 4,
        };
        holds("Window", window);
    }
    holds("DeviceInfo", &info);
    let street = StreetSummary {
        code: "310107005000".into(),
        name: "曹杨新村街道".into(),
        name_en: "Caoyang Xincun".into(),
        open: 1,
        escalated: 0,
        acked: 2,
        ack_p50_s: Some(3.0),
        ack_p90_s: None,
        false_alarm_share: Some(0.5),
    };
    holds("StreetSummary", street);
}

#[test]
fn the_efficiency_figures_are_as_described() {
    let mut record = full_record();
    // A street's own order (an escalation is left out of the figures).
    record.order.escalation_of = None;
    let now = record.order.created_ms + 60_000;
    let map = crate::geo::RegionMap::sample();
    holds(
        "Efficiency",
        crate::http::efficiency::figures(&map, &[record], now, 24),
    );
}

#[test]
fn step_answers_and_audit_entries_are_as_described() {
    for answer in [
        StepAnswer::Applied(Stage::Accepted),
        StepAnswer::WrongStage {
            step: StepKind::Close,
            stage: Stage::Dispatched,
        },
        StepAnswer::UnknownOrder,
    ] {
        // As the steps handler writes it.
        let mut body = serde_json::to_value(answer.body()).expect("serializes");
        body["order_id"] = "T1".into();
        body["step"] = "accept".into();
        holds("StepResult", body);
    }
    let entry = Entry {
        seq: 1,
        time_ms: 1_000,
        record: Record {
            action: Kind::OrderStep,
            person: "li.ming".into(),
            display_name: "李明".into(),
            role: "street_officer".into(),
            scope: "310107005000".into(),
            via: "password".into(),
            request: "POST /api/orders/T1/steps".into(),
            order: Some("T1".into()),
            outcome: "applied".into(),
            detail: "accept".into(),
        },
    };
    holds("AuditEntry", entry);
}

#[test]
fn the_check_finds_a_field_that_is_not_described() {
    let (schema, all) = component("Photo");
    let extra = json!({"sha256": "x", "bytes": 1, "content_type": "image/png", "size": 2});
    assert!(check(&extra, &schema, &all, "Photo").is_err());
    let short = json!({"sha256": "x", "bytes": 1});
    assert!(check(&short, &schema, &all, "Photo").is_err());
}
