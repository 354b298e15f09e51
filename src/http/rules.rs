//! `GET`/`PUT /api/rules` and `GET`/`PUT /api/mode`: the rules in force
//! and the normal/emergency switch (平急转换). Changes need the admin token
//! (see [`crate::http::auth::MayChange`]) and go to the audit trail, with
//! who made them; a bad rules file answers 400 with
//! the reason and the rules in force stay.
//!
//! In the cluster mode the rules and the mode are the cluster's: the GETs
//! also answer the cluster's `revision` of what they show, a PUT is
//! written to the cluster against `?revision=` (what the desk read; else
//! what is in force on this node) and answered once it is stored, 409 if
//! another change came first (read again and change that), 503 if the
//! cluster did not store it (send it again).

use crate::audit::Kind;
use crate::cluster::rules::{RulesKey, WriteError};
use crate::engine::rules::{Mode, Test};
use crate::http::auth::MayChange;
use crate::http::error::error;
use crate::runtime::rules_control::{self, ChangeError};
use crate::runtime::Shared;
use axum::extract::rejection::StringRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;

/// One rule in force, as the API shows it.
#[derive(Debug, Serialize)]
struct RuleView {
    name: String,
    category: String,
    test: String,
    severity: String,
    incident: String,
    deadline_ms: i64,
    plan: String,
}

fn describe(test: &Test) -> String {
    match *test {
        Test::Above { limit, clear, hold_ms } => format!("value >= {limit} for {hold_ms} ms, clears at <= {clear}"),
        Test::Below { limit, clear, hold_ms } => format!("value <= {limit} for {hold_ms} ms, clears at >= {clear}"),
        Test::Rate {
            limit_per_min,
            clear_per_min,
            interval_ms,
        } => format!("rise >= {limit_per_min}/min over >= {interval_ms} ms, clears at <= {clear_per_min}/min"),
        Test::Count { count, window_ms } => format!("{count} events in one cell within {window_ms} ms"),
    }
}

/// `GET /api/rules`: the mode, the active rules, and the rules file.
pub async fn get_rules(State(shared): State<Arc<Shared>>) -> Response {
    let (mode, source, rules) = shared.rules.snapshot();
    let kinds = rules.incident_kinds();
    let views: Vec<RuleView> = rules
        .rules()
        .map(|r| RuleView {
            name: r.name.to_string(),
            category: r.category.name().into(),
            test: describe(&r.test),
            severity: r.severity.name().into(),
            incident: kinds[usize::from(r.incident)].to_string(),
            deadline_ms: r.deadline_ms,
            plan: r.plan.to_string(),
        })
        .collect();
    let mut doc = serde_json::json!({ "mode": mode.name(), "rules": views, "source": source });
    with_revision(&shared, &mut doc, RulesKey::Rules);
    Json(doc).into_response()
}

/// In the cluster mode, the cluster's revision of `key` in force here (as
/// `revision`, null before this node has read the cluster's).
fn with_revision(shared: &Shared, doc: &mut serde_json::Value, key: RulesKey) {
    if shared.cluster.is_some() {
        doc["revision"] = serde_json::json!(shared.rules.revision(key));
    }
}

/// In the cluster mode, the revision a change is made against:
/// `?revision=N` (none given: what is in force here). The embedded hub
/// reads no query, as before.
fn asked_revision(shared: &Shared, query: Option<String>) -> Result<Option<u64>, String> {
    if shared.cluster.is_none() {
        return Ok(None);
    }
    let query = query.unwrap_or_default();
    let Some(value) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("revision="))
    else {
        return Ok(None);
    };
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("revision must be the number GET answered, not {value:?}"))
}

/// A refused change: its answer, its audit outcome and what it says.
fn refused(e: &ChangeError) -> (Response, &'static str, String) {
    let (status, outcome, message) = match e {
        ChangeError::Invalid(e) => (
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("rules refused, the rules in force stay: {e}"),
        ),
        ChangeError::Cluster(w @ WriteError::Conflict { .. }) => {
            (StatusCode::CONFLICT, "conflict", w.to_string())
        }
        ChangeError::Cluster(w @ WriteError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            w.to_string(),
        ),
    };
    (error(status, message.clone()), outcome, message)
}

/// `PUT /api/rules` with a TOML rules file as the body.
pub async fn put_rules(
    State(shared): State<Arc<Shared>>,
    MayChange(actor): MayChange,
    RawQuery(query): RawQuery,
    body: Result<String, StringRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return not_text(e),
    };
    let asked = match asked_revision(&shared, query) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let changed = rules_control::change_rules(&shared, body, asked).await;
    let (answer, outcome, detail) = match changed {
        Ok(c) => {
            let n = c.rules;
            tracing::warn!(rules = n, revision = ?c.revision, by = %actor.name, "rules replaced over HTTP");
            let mut doc = serde_json::json!({ "ok": true, "rules": n });
            if let Some(r) = c.revision {
                doc["revision"] = r.into();
            }
            (Json(doc).into_response(), "ok", format!("{n} rules"))
        }
        Err(e) => refused(&e),
    };
    let change = actor.record(Kind::ChangeRules, None, outcome, detail, &shared);
    shared.audit.record(change).await;
    answer
}

/// A body that is not UTF-8 text (or could not be read), refused in JSON
/// like every other refusal rather than by axum in plain text.
fn not_text(e: StringRejection) -> Response {
    let why = e.body_text();
    error(
        e.status(),
        format!("请求体须为 UTF-8 文本 / the body must be UTF-8 text: {why}"),
    )
}

/// `GET /api/mode`.
pub async fn get_mode(State(shared): State<Arc<Shared>>) -> Response {
    let mode = shared.rules.mode();
    let mut doc = serde_json::json!({ "mode": mode.name() });
    with_revision(&shared, &mut doc, RulesKey::Mode);
    Json(doc).into_response()
}

/// `PUT /api/mode` with `normal` or `emergency` as the body (plain or a
/// JSON string).
pub async fn put_mode(
    State(shared): State<Arc<Shared>>,
    MayChange(actor): MayChange,
    RawQuery(query): RawQuery,
    body: Result<String, StringRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return not_text(e),
    };
    let word = body.trim().trim_matches('"');
    let mode = match word {
        "normal" => Mode::Normal,
        "emergency" => Mode::Emergency,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("mode must be normal or emergency, not {other:?}"),
            )
        }
    };
    let asked = match asked_revision(&shared, query) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let (answer, outcome, detail) = match rules_control::change_mode(&shared, mode, asked).await {
        Ok(revision) => {
            let mut doc = serde_json::json!({ "mode": mode.name() });
            if let Some(r) = revision {
                doc["revision"] = r.into();
            }
            (Json(doc).into_response(), "ok", mode.name().to_owned())
        }
        Err(e) => refused(&e),
    };
    let change = actor.record(Kind::ChangeMode, None, outcome, detail, &shared);
    shared.audit.record(change).await;
    answer
}
