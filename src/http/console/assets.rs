//! The console's page and its script and style, built into the binary so
//! the hub needs no web server, CDN or file beside it: the console works
//! on a closed network. The Content-Security-Policy allows nothing from
//! elsewhere, not even inline script.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("assets/index.html");

/// A script module of the console, as a [`FILES`] entry.
macro_rules! script {
    ($name:literal) => {
        (
            $name,
            "text/javascript; charset=utf-8",
            include_str!(concat!("assets/", $name)),
        )
    };
}

/// (name, content type, content) of every asset besides the page.
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    script!("alarms.js"),
    script!("api.js"),
    script!("charts.js"),
    script!("connection.js"),
    script!("detail.js"),
    script!("devices.js"),
    script!("district.js"),
    script!("dom.js"),
    script!("efficiency.js"),
    script!("exportfile.js"),
    script!("format.js"),
    script!("i18n.js"),
    script!("mapview.js"),
    script!("messages.js"),
    script!("shift.js"),
    script!("steps.js"),
    script!("stream.js"),
    script!("triage.js"),
    script!("watermark.js"),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
];

const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                      script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

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

/// `GET /console`: the page.
pub async fn index() -> Response {
    answer("text/html; charset=utf-8", INDEX)
}

/// `GET /console/{file}`: its script and style.
pub async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => answer(content_type, body),
        None => {
            crate::http::error::error(StatusCode::NOT_FOUND, format!("no console file {name:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_built_in_assets() {
        for (name, _, _) in FILES {
            assert!(
                INDEX.contains(&format!("/console/{name}")),
                "{name} is linked"
            );
        }
        for (_, _, body) in FILES.iter().chain([&("index.html", "", INDEX)]) {
            // The SVG and Office Open XML namespaces are names, not
            // something loaded.
            let body = body
                .replace("http://www.w3.org/2000/svg", "")
                .replace("http://schemas.openxmlformats.org/", "");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "nothing external"
            );
        }
    }
}
