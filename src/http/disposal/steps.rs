//! `POST /api/orders/{id}/steps`: a step of the disposal loop by the
//! person the request comes from (a session, an SSO token, or a platform's
//! token naming its officer in `by`). The dispatcher decides and makes it
//! durable before the answer; the answer's status says what became of it.

use crate::audit::Kind;
use crate::dispatch::lifecycle::{self, Step, StepAnswer};
use crate::http::actor::Actor;
use crate::http::error::error;
use crate::runtime::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// The body: the step (`{"step": "accept", ...}`), and for a platform's
/// token the officer it acts for.
#[derive(Deserialize)]
struct Body {
    #[serde(flatten)]
    step: Step,
    #[serde(default)]
    by: String,
}

/// `POST /api/orders/{id}/steps`
pub async fn post_step(
    State(shared): State<Arc<Shared>>,
    actor: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Body { step, by } = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "步骤格式有误 / the body is not a step ({{\"step\": \"accept\", ...}}): {e}"
                ),
            )
        }
    };
    if let Step::Feedback { photos, .. } = &step {
        for p in photos {
            // In the cluster mode the photo may have been uploaded to
            // another node: looked for in the cluster's store too.
            let kept = shared.photos.has(&p.sha256)
                || (shared.cluster.is_some()
                    && matches!(
                        super::photos::find(&shared, p.sha256.clone()).await,
                        Ok(Some(_))
                    ));
            if !kept {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "照片 {} 未上传 / photo {} was not uploaded (POST /api/photos first)",
                        p.sha256, p.sha256
                    ),
                );
            }
        }
    }
    let kind = step.kind();
    let who = person(&actor, &by);
    let Ok(answer) = shared.runtime.step(id.clone(), step, who).await else {
        return stopping();
    };
    let Ok(answer) = answer.await else {
        return stopping();
    };
    let record = actor.record(
        Kind::OrderStep,
        Some(&id),
        answer.name(),
        kind.name(),
        &shared,
    );
    shared.audit.record(record).await;
    let mut body = serde_json::to_value(answer.body()).expect("serializes");
    body["order_id"] = id.into();
    body["step"] = kind.name().into();
    (status(&answer), Json(body)).into_response()
}

/// The person as the dispatcher records them: a signed-in person by their
/// name; a platform's token by the officer it names (or the token's name).
fn person(actor: &Actor, by: &str) -> lifecycle::Actor {
    let name = if actor.session.is_none() && !by.trim().is_empty() {
        by.trim().to_owned()
    } else if actor.display_name.is_empty() {
        actor.name.clone()
    } else {
        actor.display_name.clone()
    };
    lifecycle::Actor {
        person: name,
        role: actor.role,
        scope: actor.scope,
    }
}

fn status(answer: &StepAnswer) -> StatusCode {
    match answer {
        StepAnswer::Applied(_) => StatusCode::OK,
        StepAnswer::UnknownOrder => StatusCode::NOT_FOUND,
        StepAnswer::Forbidden(_) => StatusCode::FORBIDDEN,
        StepAnswer::WrongStage { .. } => StatusCode::CONFLICT,
        StepAnswer::Invalid(_) => StatusCode::BAD_REQUEST,
        StepAnswer::Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn stopping() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "中心正在停止 / the hub is stopping",
    )
}
