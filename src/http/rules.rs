//! `GET`/`PUT /api/rules` and `GET`/`PUT /api/mode`: the rules in force
//! and the normal/emergency switch (平急转换). Changes need the admin token
//! (see [`crate::http::auth::MayChange`]) and go to the audit trail, with
//! who made them; a bad rules file answers 400 with
//! the reason and the rules in force stay.

use crate::audit::Kind;
use crate::engine::rules::{Mode, Test};
use crate::http::auth::MayChange;
use crate::http::error::error;
use crate::runtime::rules_control;
use crate::runtime::Shared;
use axum::extract::rejection::StringRejection;
use axum::extract::State;
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
    Json(serde_json::json!({ "mode": mode.name(), "rules": views, "source": source }))
        .into_response()
}

/// `PUT /api/rules` with a TOML rules file as the body.
pub async fn put_rules(
    State(shared): State<Arc<Shared>>,
    MayChange(actor): MayChange,
    body: Result<String, StringRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return not_text(e),
    };
    let (answer, outcome, detail) = match rules_control::replace(&shared, body).await {
        Ok(n) => {
            tracing::warn!(rules = n, by = %actor.name, "rules replaced over HTTP");
            let ok = Json(serde_json::json!({ "ok": true, "rules": n })).into_response();
            (ok, "ok", format!("{n} rules"))
        }
        Err(e) => {
            let message = format!("rules refused, the rules in force stay: {e}");
            (
                error(StatusCode::BAD_REQUEST, message.clone()),
                "invalid",
                message,
            )
        }
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
    Json(serde_json::json!({ "mode": mode.name() })).into_response()
}

/// `PUT /api/mode` with `normal` or `emergency` as the body (plain or a
/// JSON string).
pub async fn put_mode(
    State(shared): State<Arc<Shared>>,
    MayChange(actor): MayChange,
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
    rules_control::set_mode(&shared, mode).await;
    let change = actor.record(Kind::ChangeMode, None, "ok", mode.name(), &shared);
    shared.audit.record(change).await;
    Json(serde_json::json!({ "mode": mode.name() })).into_response()
}
