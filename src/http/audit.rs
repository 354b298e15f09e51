//! 审计查询 `GET /api/audit` and `GET /api/audit.csv`: the audit trail,
//! searched by person, order and time, newest first, for the district
//! desk and administrators (and the admin and district tokens).
//!
//! Query: `person=` (account name), `order=` (order id), `from=` and `to=`
//! (ms since the epoch, or RFC 3339 such as `2026-12-01T08:00:00Z`; `to`
//! exclusive), `limit=` (default 100, at most [`MAX_LIMIT`]). The JSON
//! answer is `{"entries": [...]}`, each entry as the log holds it (`seq`,
//! `time_ms`, `action`, `person`, `display_name`, `role`, `scope`, `via`,
//! `request`, `order`, `outcome`, `detail`); the CSV has those columns.

use crate::audit::file::{self, Filter};
use crate::audit::Entry;
use crate::auth::person::Action;
use crate::http::actor::{refuse, Actor};
use crate::http::error::error;
use crate::runtime::Shared;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// Most entries one answer holds.
pub const MAX_LIMIT: usize = 10_000;

/// The query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    person: Option<String>,
    order: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

fn filter(q: AuditQuery) -> Result<Filter, String> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(format!("limit must be 1..={MAX_LIMIT}"));
    }
    Ok(Filter {
        person: q.person.filter(|p| !p.is_empty()),
        order: q.order.filter(|o| !o.is_empty()),
        from_ms: q
            .from
            .as_deref()
            .map(|t| crate::time_text::parse_time_ms("from", t))
            .transpose()?,
        to_ms: q
            .to
            .as_deref()
            .map(|t| crate::time_text::parse_time_ms("to", t))
            .transpose()?,
        limit,
    })
}

/// The entries asked for, or the refusal.
async fn entries(
    shared: &Arc<Shared>,
    actor: &Actor,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Vec<Entry>, Response> {
    if let Err(r) = actor.may(Action::ReadAudit) {
        return Err(refuse(shared, &actor.request, r, Some(actor)).await);
    }
    let q = q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    let filter = filter(q.0).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    shared.audit.sync().await;
    let dir = shared.audit.data_dir().to_owned();
    match tokio::task::spawn_blocking(move || file::search(&dir, &filter)).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// `GET /api/audit`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    actor: Actor,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    match entries(&shared, &actor, q).await {
        Ok(found) => Json(serde_json::json!({ "entries": found })).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/audit.csv`.
pub async fn csv(
    State(shared): State<Arc<Shared>>,
    actor: Actor,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    match entries(&shared, &actor, q).await {
        Ok(found) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"",
                ),
            ],
            to_csv(&found),
        )
            .into_response(),
        Err(r) => r,
    }
}

/// The columns of the CSV.
const COLUMNS: &str =
    "seq,time,action,person,display_name,role,scope,via,request,order,outcome,detail";

/// Entries as CSV (RFC 4180 quoting; a field that a spreadsheet would take
/// for a formula is prefixed with `'`).
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = format!("\u{feff}{COLUMNS}\r\n");
    for e in entries {
        let r = &e.record;
        let time = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.time_ms.max(0) as u64),
        )
        .to_string();
        let fields = [
            e.seq.to_string(),
            time,
            r.action.name().to_owned(),
            r.person.clone(),
            r.display_name.clone(),
            r.role.clone(),
            r.scope.clone(),
            r.via.clone(),
            r.request.clone(),
            r.order.clone().unwrap_or_default(),
            r.outcome.clone(),
            r.detail.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Kind, Record};

    #[test]
    fn csv_quotes_what_needs_it() {
        let e = Entry {
            seq: 1,
            time_ms: 0,
            record: Record {
                action: Kind::SignInRefused,
                person: "=cmd".into(),
                display_name: "张, 伟".into(),
                role: String::new(),
                scope: String::new(),
                via: String::new(),
                request: "POST /api/session".into(),
                order: None,
                outcome: "wrong_password".into(),
                detail: "say \"no\"".into(),
            },
        };
        let text = to_csv(&[e]);
        assert!(
            text.contains("1,1970-01-01T00:00:00.000Z,sign_in_refused,'=cmd,\"张, 伟\""),
            "{text}"
        );
        assert!(text.contains("\"say \"\"no\"\"\""), "{text}");
    }

    #[test]
    fn times_are_ms_or_rfc3339() {
        assert_eq!(
            crate::time_text::parse_time_ms("from", "1000").unwrap(),
            1000
        );
        assert_eq!(
            crate::time_text::parse_time_ms("from", "1970-01-01T00:00:01Z").unwrap(),
            1000
        );
        assert!(crate::time_text::parse_time_ms("from", "yesterday")
            .unwrap_err()
            .contains("from"));
    }
}
