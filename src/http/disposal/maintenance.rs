//! `GET /api/maintenance` (the windows open or to come, with what each
//! kept back), `POST` (a new window: a device, a category in a street, or
//! an area, for a time, with a reason; set by the person the request comes
//! from) and `DELETE /api/maintenance/{id}` (ended early). In the
//! cluster mode a change is made on the cluster's book (by
//! compare-and-set, so ids are the district's, not a node's) and answered
//! once it is there; what each window kept back is counted by the node
//! that dispatched, and listed there.

use crate::cluster::book::{change_windows, WindowChange, WindowOutcome};
use crate::dispatch::maintenance::{Target, Window};
use crate::http::actor::Actor;
use crate::http::auth::MayRead;
use crate::http::error::error;
use crate::runtime::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// Longest window, ms: a month; longer ones are set again.
const MAX_WINDOW_MS: i64 = 31 * 86_400_000;

/// A new window as asked for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWindow {
    target: Target,
    /// From, Unix ms; now when absent.
    #[serde(default)]
    from_ms: Option<i64>,
    /// Until, Unix ms.
    until_ms: i64,
    reason: String,
}

/// `GET /api/maintenance`
pub async fn list(State(shared): State<Arc<Shared>>, _may: MayRead) -> Response {
    let now = shared.clock.now_ms();
    let windows: Vec<Window> = shared
        .devices
        .windows()
        .into_iter()
        .filter(|w| w.until_ms > now)
        .collect();
    Json(serde_json::json!({ "windows": windows })).into_response()
}

/// `POST /api/maintenance`
pub async fn add(State(shared): State<Arc<Shared>>, actor: Actor, body: Bytes) -> Response {
    if let Some(refused) = not_desk(&actor) {
        return refused;
    }
    let asked: NewWindow = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("维护期格式有误 / not a maintenance window: {e}"),
            )
        }
    };
    let now = shared.clock.now_ms();
    let from_ms = asked.from_ms.unwrap_or(now);
    let window = Window {
        id: String::new(),
        target: asked.target,
        from_ms,
        until_ms: asked.until_ms,
        reason: crate::dispatch::mask::mask_text(&asked.reason),
        by: actor.display_name.clone(),
        suppressed: 0,
    };
    if let Some(why) = window.invalid(&shared.map) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    if window.until_ms <= now || window.until_ms - from_ms > MAX_WINDOW_MS {
        return error(
            StatusCode::BAD_REQUEST,
            "维护期须在将来结束且不超过 31 天 / a window must end in the future and last at most 31 days",
        );
    }
    match change(&shared, WindowChange::Add(window), now).await {
        Ok(WindowOutcome::Added(w)) => changed(&shared, w, StatusCode::CREATED).await,
        Ok(other) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("a window added came out as {other:?}"),
        ),
        Err(refused) => refused,
    }
}

/// `DELETE /api/maintenance/{id}`
pub async fn remove(
    State(shared): State<Arc<Shared>>,
    actor: Actor,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = not_desk(&actor) {
        return refused;
    }
    let now = shared.clock.now_ms();
    match change(&shared, WindowChange::Remove(id.clone()), now).await {
        Ok(WindowOutcome::Removed(false)) => error(
            StatusCode::NOT_FOUND,
            format!("没有维护期 {id:?} / no window {id:?}"),
        ),
        Ok(_) => {
            changed(
                &shared,
                serde_json::json!({ "removed": id }),
                StatusCode::OK,
            )
            .await
        }
        Err(refused) => refused,
    }
}

/// Makes the change on the cluster's book, or this hub's.
async fn change(
    shared: &Arc<Shared>,
    change: WindowChange,
    now: i64,
) -> Result<WindowOutcome, Response> {
    let done = match &shared.cluster {
        Some(cluster) => cluster.book.change_windows(change, now).await,
        None => shared
            .devices
            .change_windows(|all| change_windows(all, &change, now)),
    };
    done.map_err(super::registry::book_error)
}

/// Only the district sets and ends windows: a street may not silence its
/// own devices.
fn not_desk(actor: &Actor) -> Option<Response> {
    (!actor.role.is_district()).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "维护期由区总值班设置 / only the district desk sets maintenance windows",
        )
    })
}

/// The dispatcher takes the windows anew, then the answer goes.
async fn changed<T: serde::Serialize>(shared: &Arc<Shared>, body: T, ok: StatusCode) -> Response {
    let _ = shared.runtime.devices_changed().await;
    (ok, Json(body)).into_response()
}
