//! `POST /api/rules/backtest` and `GET /api/rules/backtest`: a replay of
//! the hub's own recording (`[record]`) through rules proposed in the
//! request, against the rules in force, joined with the outbox's
//! judgements, as a background job (its own thread: the HTTP server and
//! the engine are not held up). One job at a time per hub; a second POST
//! while one runs answers 409. Its progress (bytes of the recording read)
//! and, once done, its report (the core's comparison) are read with GET.
//! The rules are checked as `PUT /api/rules` checks them: a bad file
//! answers 400 and nothing runs. The district's page that drives it is
//! in `page`, at `/console/backtest`.

mod page;

use crate::engine::rules::Profiles;
use crate::http::auth::{MayChange, MayRead};
use crate::http::error::error;
use crate::record::reader::Recording;
use crate::replay::{outcomes, pass};
use crate::runtime::Shared;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use tongguan_core::replay::compare::{compare, Comparison, DEFAULT_MATCH_WINDOW_MS};

/// What a POST asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// The rules proposed: a whole rules file (TOML).
    rules: String,
    /// Only batches that arrived at or after this time, Unix ms.
    #[serde(default)]
    from_ms: Option<i64>,
    /// Only batches that arrived at or before this time, Unix ms.
    #[serde(default)]
    to_ms: Option<i64>,
}

/// Where the hub's job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
enum JobState {
    /// None has run.
    #[default]
    Idle,
    /// One runs.
    Running,
    /// The last one finished: its report is there.
    Done,
    /// The last one failed: its error is there.
    Failed,
}

/// The hub's backtest job, as GET shows it.
#[derive(Debug, Clone, Default, Serialize)]
struct Job {
    /// Jobs started since the hub started; this is the latest.
    job: u64,
    state: JobState,
    /// Bytes of the recording read, and to read.
    done_bytes: u64,
    total_bytes: u64,
    /// Events replayed (once done).
    events: u64,
    /// How long the replay took, seconds (once done).
    seconds: f64,
    /// The mode whose profiles ran.
    mode: String,
    /// The rules proposed, as sent (so an "apply" can be of the same text).
    rules: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The comparison, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Comparison>,
}

type Jobs = Arc<Mutex<Job>>;

/// The routes, each hub with its own job.
pub fn router() -> Router<Arc<Shared>> {
    let jobs: Jobs = Arc::default();
    let read = jobs.clone();
    Router::new().merge(page::router()).route(
        "/api/rules/backtest",
        get(move |_: MayRead| {
            let job = read.lock().expect("job lock").clone();
            async move { Json(job) }
        })
        .post(
            move |state: State<Arc<Shared>>, who: MayChange, body: Bytes| {
                start(state, who, body, jobs.clone())
            },
        ),
    )
}

/// `POST /api/rules/backtest` with `{"rules": TOML, "from_ms"?, "to_ms"?}`.
async fn start(
    State(shared): State<Arc<Shared>>,
    MayChange(actor): MayChange,
    body: Bytes,
    jobs: Jobs,
) -> Response {
    // Bytes, not a String: a body that is not UTF-8 is refused here in
    // JSON like any other bad body, not by axum in plain text.
    let req: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let profiles = match Profiles::from_toml(&req.rules) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("rules refused: {e}")),
    };
    let dir = shared.config.record.dir_in(&shared.config.hub.data_dir);
    let recording = match Recording::open(&dir) {
        Ok(r) if !r.in_range(req.from_ms, req.to_ms).is_empty() => r,
        _ => {
            return error(
                StatusCode::CONFLICT,
                "nothing recorded in that range: turn the recording on ([record] mode = \"sample\" or \"all\")",
            )
        }
    };
    let (mode, _, baseline) = shared.rules.snapshot();
    let candidate = profiles.get(mode).clone();
    let total = pass::range_bytes(&recording, req.from_ms, req.to_ms);
    let id = {
        let mut job = jobs.lock().expect("job lock");
        if job.state == JobState::Running {
            return error(StatusCode::CONFLICT, "a backtest is running: one at a time");
        }
        *job = Job {
            job: job.job + 1,
            state: JobState::Running,
            total_bytes: total,
            mode: mode.name().into(),
            rules: req.rules,
            ..Job::default()
        };
        job.job
    };
    tracing::info!(job = id, by = %actor.name, "backtest started");
    let run = {
        let shared = shared.clone();
        let jobs = jobs.clone();
        move || {
            let progress = |done: u64| jobs.lock().expect("job lock").done_bytes = done;
            let settings = shared.config.engine.settings();
            let result = pass::replay_pair(
                &recording,
                req.from_ms,
                req.to_ms,
                baseline,
                candidate,
                settings,
                shared.map.clone(),
                progress,
            )
            .map_err(|e| e.to_string())
            .and_then(|pair| {
                let orders = shared.store.all_orders().map_err(|e| e.to_string())?;
                let judged = outcomes::judged(orders);
                let cmp = compare(
                    &pair.baseline,
                    &pair.candidate,
                    &judged,
                    DEFAULT_MATCH_WINDOW_MS,
                );
                Ok((pair, cmp))
            });
            let mut job = jobs.lock().expect("job lock");
            match result {
                Ok((pair, cmp)) => {
                    job.state = JobState::Done;
                    job.events = pair.stats.events;
                    job.seconds = pair.seconds;
                    job.report = Some(cmp);
                }
                Err(e) => {
                    job.state = JobState::Failed;
                    job.error = Some(e);
                }
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("backtest".into())
        .spawn(run)
    {
        let mut job = jobs.lock().expect("job lock");
        job.state = JobState::Failed;
        job.error = Some(format!("cannot start the job: {e}"));
    }
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "job": id, "state": "running", "total_bytes": total })),
    )
        .into_response()
}
