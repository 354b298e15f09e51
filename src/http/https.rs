//! HTTPS on the HTTP port (`[http] tls`): which certificate it shows
//! (`http.cert`/`http.key`, else the hub's own, the configured
//! `hub.cert`/`hub.key` or a development hub's self-signed one) and how long
//! browsers are told to keep to HTTPS; and the plain monitoring port kept
//! beside it (`http.monitoring_listen`). The server's side is
//! [`crate::http::serve`]'s.

use crate::config::http::HttpConfig;
use crate::http::serve::{HttpServer, Https};
use crate::runtime::Shared;
use crate::tls::{self, Identity, TlsError};
use std::net::SocketAddr;
use std::sync::Arc;

/// The HTTPS settings the config asks for, or `None` for plain HTTP.
pub fn settings(config: &HttpConfig, hub: &Identity) -> Result<Option<Https>, TlsError> {
    if !config.tls {
        return Ok(None);
    }
    let own;
    let identity = match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => {
            own = Identity::load(cert, key)?;
            &own
        }
        _ => hub,
    };
    Ok(Some(Https {
        config: tls::https_config(identity)?,
        hsts_max_age: config.hsts_max_age,
    }))
}

/// The plain monitoring port beside HTTPS, if the config asks for one:
/// its address and server; an address that cannot be bound is the error.
pub async fn monitoring(
    shared: &Arc<Shared>,
) -> Result<Option<(SocketAddr, HttpServer)>, (SocketAddr, std::io::Error)> {
    let Some(addr) = shared.config.http.monitoring_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| (addr, e))?;
    let bound = listener.local_addr().map_err(|e| (addr, e))?;
    let server = HttpServer::spawn(
        listener,
        crate::http::router::monitoring_router(shared.clone()),
        shared.metrics.clone(),
        (&shared.config.limits).into(),
        None,
    );
    tracing::info!(%bound, "plain HTTP monitoring port (/metrics, /healthz, /readyz)");
    Ok(Some((bound, server)))
}
