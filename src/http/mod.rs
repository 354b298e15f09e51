//! Whatever touches the HTTP socket (axum): the router, who acts (the
//! [`actor::Actor`] extractor: sessions, JWTs, bearer tokens) and sign-in
//! ([`session`]), the audit trail's search ([`audit`]), the
//! extractors, the JSON API (orders, devices, events, rules and mode) and
//! the street platforms' console, and the server that bounds the port
//! (connections, header and body timeouts). Handlers parse, call the runtime or read
//! the outbox, and answer; they decide nothing.

pub mod actor;
pub mod audit;
pub mod auth;
pub mod backtest;
pub mod console;
pub mod devices;
pub mod disposal;
pub mod efficiency;
pub mod error;
pub mod events;
pub mod https;
pub mod openapi;
pub mod orders;
pub mod outbox_read;
pub mod router;
pub mod rules;
pub mod serve;
pub mod session;
pub mod shift;
