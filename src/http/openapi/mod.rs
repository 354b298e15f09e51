//! 接口说明 `GET /api/openapi.json`: an OpenAPI 3.1 description of the
//! whole HTTP API of the hub, every route of the admin router with its
//! parameters, bodies, answers and their JSON schemas, and how each is
//! authenticated (bearer token; session cookie with `X-CSRF-Token`).
//!
//! Built here with utoipa, apart from the handlers: operations are
//! described on stubs (`api`, `shift`, `console`), shapes on mirrors
//! (`schemas`, `queries`) and vocabularies from the core's own enums
//! (`vocabulary`). Two tests keep it true: `coverage` fails when a route
//! of the router is not described (or a described one is not routed),
//! `shapes` when a real answer has a field the mirror lacks or lacks one
//! it requires; schemathesis fuzzes a live hub from it in the test suite.

mod api;
mod console;
mod efficiency;
mod queries;
mod schemas;
mod shift;
mod vocabulary;

#[cfg(test)]
mod coverage;
#[cfg(test)]
mod shapes;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

/// The description, as utoipa derives it from the stubs.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tongguan hub HTTP API",
        description = "The hub's admin port: orders, devices, events, rules and mode, people and \
                       the audit trail, the disposal loop, the console's API, and monitoring. \
                       Refusals answer {\"error\": \"中文 / English\"} (docs/PROTOCOL.md 15.4). A \
                       development hub without auth.admin_token lets reads and changes of the \
                       hub in without a token."
    ),
    paths(
        console::metrics, console::healthz, console::readyz, console::openapi,
        console::root, console::page, console::page_slash, console::asset,
        console::backtest_page, console::backtest_asset,
        api::list_orders, api::get_order, shift::history, shift::handover, shift::export,
        efficiency::efficiency,
        api::post_step, api::list_devices, api::post_events, api::get_rules, api::put_rules,
        api::get_backtest, api::post_backtest, api::get_mode, api::put_mode,
        api::who, api::sign_in, api::sign_out, api::audit, api::audit_csv,
        api::post_photo, api::get_photo, api::get_registry, api::put_registry,
        api::post_registry, api::list_windows, api::add_window, api::remove_window,
        console::session, console::map, console::orders, console::order, console::ack,
        console::district, console::stream,
    ),
    modifiers(&Security)
)]
struct ApiDoc;

/// Adds the three ways in that the operations name.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The admin token, a district or street subscriber token, or the identity \
                 provider's JWT",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::COOKIE,
                "The console's session cookie (POST /api/session)",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::auth::session::CSRF_HEADER,
                "The session's csrf_token, with every change made with the cookie",
            ))),
        );
    }
}

/// The description.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}

/// `GET /api/openapi.json`: the description, made once.
pub async fn serve() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| document().to_json().expect("the description serializes"));
    ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}
