//! `[http]`: HTTPS on the HTTP port. Off by default (plain HTTP for
//! development on loopback); on, the port speaks only TLS, with the hub's
//! own certificate (`hub.cert`/`hub.key`, or the self-signed one of a
//! development hub) or one of its own, and answers carry HSTS while session
//! cookies are marked `Secure`. Beside HTTPS, a plain HTTP port for
//! monitoring only (`/metrics`, `/healthz`, `/readyz`) can be kept, for
//! scrapers that do not speak TLS.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTPS on `hub.admin` instead of HTTP.
    pub tls: bool,
    /// A certificate chain (PEM) for the HTTP port; none: the hub's.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM), with `cert`.
    pub key: Option<PathBuf>,
    /// `Strict-Transport-Security: max-age` on HTTPS answers; zero: no
    /// HSTS header.
    #[serde(with = "humantime_serde")]
    pub hsts_max_age: Duration,
    /// With HTTPS on, a plain HTTP address serving only `/metrics`,
    /// `/healthz` and `/readyz`; none: no such port.
    pub monitoring_listen: Option<SocketAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            tls: false,
            cert: None,
            key: None,
            hsts_max_age: Duration::from_secs(365 * 86_400),
            monitoring_listen: None,
        }
    }
}

impl HttpConfig {
    /// What is wrong with the table, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.cert.is_some() != self.key.is_some() {
            return Err("http.cert and http.key go together".into());
        }
        if !self.tls && self.monitoring_listen.is_some() {
            return Err("http.monitoring_listen needs http.tls = true \
                        (without HTTPS the HTTP port serves /metrics itself)"
                .into());
        }
        if !self.tls && self.cert.is_some() {
            return Err("http.cert is given but http.tls = false: set http.tls = true".into());
        }
        Ok(())
    }
}
