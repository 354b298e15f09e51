//! `GET /console/backtest`: the district's page to try rules on the
//! hub's own recording (科学阈值), and its script and style under
//! `/console/backtest/`. Built into the binary like the console (no file
//! beside the hub, nothing from elsewhere: the same Content-Security-
//! Policy); it calls the API the console's sign-in opens
//! (`/api/console/session`, `/api/rules`, `/api/rules/backtest`) and
//! borrows only the console's watermark module.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use crate::runtime::Shared;

const INDEX: &str = include_str!("page/index.html");

/// (name, content type, content) of the page's script and style.
const FILES: &[(&str, &str, &str)] = &[
    ("page.js", JS, include_str!("page/page.js")),
    ("words.js", JS, include_str!("page/words.js")),
    ("report.js", JS, include_str!("page/report.js")),
    ("plots.js", JS, include_str!("page/plots.js")),
    (
        "page.css",
        "text/css; charset=utf-8",
        include_str!("page/page.css"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                      script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// The page's routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/console/backtest",
            get(|| async { answer("text/html; charset=utf-8", INDEX) }),
        )
        .route("/console/backtest/{file}", get(file))
}

fn answer(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /console/backtest/{file}`.
async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => answer(content_type, body),
        None => crate::http::error::error(
            StatusCode::NOT_FOUND,
            format!("no backtest page file {name:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_built_in_files() {
        assert!(INDEX.contains("/console/backtest/page.js"));
        assert!(INDEX.contains("/console/backtest/page.css"));
        for (_, _, body) in FILES.iter().chain([&("index.html", "", INDEX)]) {
            let body = body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "nothing external"
            );
        }
        let scripts: String = FILES.iter().map(|(_, _, b)| *b).collect();
        for (name, _, _) in FILES
            .iter()
            .filter(|(n, _, _)| *n != "page.js" && *n != "page.css")
        {
            assert!(
                scripts.contains(&format!("/console/backtest/{name}")),
                "{name} is imported"
            );
        }
    }
}
