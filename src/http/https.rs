//! HTTPS on the HTTP port (`[http] tls`): which certificate it shows
//! (`http.cert`/`http.key`, else the hub's own, the configured
//! `hub.cert`/`hub.key` or a development hub's self-signed one) and how long
//! browsers are told to keep to HTTPS. The server's side is
//! [`crate::http::serve`]'s.

use crate::config::http::HttpConfig;
use crate::http::serve::Https;
use crate::tls::{self, Identity, TlsError};

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
