//! The hub's configuration: embedded defaults (src/default_config.toml)
//! with the user's TOML file laid over them, checked strictly (unknown
//! fields are errors) and turned into typed values.

use crate::engine::EngineSettings;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod auth;
pub mod cluster;
pub mod devices;
pub mod http;
pub mod preflight;
pub mod record;
pub mod retention;

/// The embedded default config.
pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (the cause is the error's source, not
    /// repeated here: print the chain with `{:#}`).
    #[error("cannot read config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field unknown or of the wrong type.
    #[error("config {origin}: {message}")]
    Parse {
        /// The file, or "embedded defaults".
        origin: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// Valid TOML whose values do not work together.
    #[error("config: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Addresses, files and threads.
    pub hub: HubConfig,
    /// Sizes and timeouts of the protocol and queues.
    pub limits: Limits,
    /// Engine timing.
    pub engine: EngineConfig,
    /// Device quality.
    pub quality: QualityConfig,
    /// Tokens.
    pub auth: AuthConfig,
    /// How long closed orders are kept (the defaults without the table).
    #[serde(default)]
    pub retention: retention::RetentionConfig,
    /// The cluster mode (off without servers).
    #[serde(default)]
    pub cluster: cluster::ClusterConfig,
    /// The recording of accepted batches for replays (off by default).
    #[serde(default)]
    pub record: record::RecordConfig,
    /// The device registry and photos.
    #[serde(default)]
    pub devices: devices::DevicesConfig,
    /// HTTPS on the HTTP port.
    #[serde(default)]
    pub http: http::HttpConfig,
    /// People who sign in to the console: accounts and sessions.
    #[serde(default)]
    pub people: auth::PeopleConfig,
    /// Single sign-on by the district's identity provider.
    #[serde(default)]
    pub sso: auth::SsoConfig,
    /// The audit trail.
    #[serde(default)]
    pub audit: auth::AuditConfig,
}

/// `[hub]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// QUIC listen address (UDP).
    pub listen: SocketAddr,
    /// HTTP listen address for metrics and health.
    pub admin: SocketAddr,
    /// Where the hub keeps its data.
    pub data_dir: PathBuf,
    /// Engine shard threads; 0 means one per core.
    pub shards: usize,
    /// QUIC endpoints on `listen` (SO_REUSEPORT), each on a thread of its
    /// own; 0 means one per core, at most the shards.
    #[serde(default)]
    pub endpoints: usize,
    /// Region map (GeoJSON); the embedded sample map when absent.
    #[serde(default)]
    pub region_map: Option<PathBuf>,
    /// Rules file (TOML); the embedded rules when absent.
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// TLS certificate chain (PEM); a self-signed one when absent.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// TLS private key (PEM), with `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// CA (PEM) whose certificates clients may present (mutual TLS).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Devices must present a certificate signed by `client_ca`, besides
    /// their token.
    #[serde(default)]
    pub require_device_certificate: bool,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest frame payload read, bytes.
    pub max_frame_bytes: u32,
    /// Most events in one batch.
    pub max_batch_events: u32,
    /// Batches queued per shard before ingest stops reading.
    pub shard_queue_batches: usize,
    /// Orders queued per subscriber; past that it catches up from the
    /// outbox instead of being waited for.
    pub subscriber_queue_orders: usize,
    /// Time a new connection has to send HELLO.
    #[serde(with = "humantime_serde")]
    pub hello_timeout: Duration,
    /// A silent QUIC connection is closed after this.
    #[serde(with = "humantime_serde")]
    pub quic_idle_timeout: Duration,
    /// Events further ahead of the hub's clock are rejected.
    #[serde(with = "humantime_serde")]
    pub max_future: Duration,
    /// Events further behind the hub's clock are rejected.
    #[serde(with = "humantime_serde")]
    pub max_past: Duration,
    /// On SIGTERM, each step of the shutdown (connections closing, the
    /// engine draining) may take this long.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Connections open at once; past it new ones are refused.
    pub max_connections: usize,
    /// Connections open at once with one token.
    pub max_connections_per_token: usize,
    /// Events per second accepted from one device token (all its
    /// connections together); 0 = no limit. Excess events are rejected
    /// with `rate_limited` in the batch ack.
    pub max_events_per_second_per_token: u64,
    /// HTTP connections served at once. Past it a connection is counted
    /// and only `/healthz`, `/readyz` and `/metrics` are answered on it
    /// (a few such connections at a time, one request each).
    pub max_http_connections: usize,
    /// Time an HTTP request head may take to arrive whole; also how long
    /// an idle keep-alive connection stays open.
    #[serde(with = "humantime_serde")]
    pub http_header_timeout: Duration,
    /// Time an HTTP request body may take to arrive whole after its head;
    /// past it the request is answered 408 and the connection closes.
    #[serde(with = "humantime_serde")]
    pub http_body_timeout: Duration,
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// An open condition is re-notified after this.
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Detections this close in event time correlate.
    #[serde(with = "humantime_serde")]
    pub correlation_window: Duration,
    /// Events this far behind the newest are still on time.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// A shard quiet this long lets its watermark follow the clock.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Conditions untouched this long are forgotten.
    #[serde(with = "humantime_serde")]
    pub state_ttl: Duration,
    /// Detections an order lists.
    pub max_incident_detections: usize,
    /// Devices one shard tracks (dedup window, activity); past it the
    /// stalest are forgotten, counted.
    pub max_devices_per_shard: usize,
    /// Open conditions and count windows one shard keeps; past it the
    /// stalest are forgotten, counted.
    pub max_conditions_per_shard: usize,
    /// Open incidents the correlator keeps; past it the oldest close early,
    /// counted.
    pub max_incidents: usize,
    /// A device with no event or heartbeat for this long is offline.
    #[serde(with = "humantime_serde")]
    pub device_offline_after: Duration,
    /// A device whose latest event time is further ahead of the hub's
    /// clock than this is flagged as having a skewed clock.
    #[serde(with = "humantime_serde")]
    pub clock_skew_threshold: Duration,
    /// Each shard saves its state (devices, open conditions, watermark)
    /// to DATA_DIR/engine/ this often when it changed, and at stop; a
    /// restart loads it. "0s": never saved, a restart starts empty.
    #[serde(with = "humantime_serde", default = "default_checkpoint_interval")]
    pub checkpoint_interval: Duration,
}

fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}

/// `[quality]`: when a device's detections need corroboration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// Flag a device whose false-alarm share is above this (0..1).
    pub max_false_alarm_rate: f64,
    /// Only judge devices with at least this many acknowledged orders.
    pub min_judged_orders: u64,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// These are development tokens: refused on non-loopback addresses.
    #[serde(default)]
    pub development: bool,
    /// Token for HTTP requests that change the hub (`Authorization: Bearer
    /// TOKEN`). Without one, only a development hub accepts them.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Device tokens.
    #[serde(default)]
    pub device: Vec<DeviceToken>,
    /// Subscriber tokens.
    #[serde(default)]
    pub subscriber: Vec<SubscriberToken>,
}

/// A device token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceToken {
    /// Who holds it, for logs.
    pub name: String,
    /// The secret in clear (development), or
    #[serde(default)]
    pub token: Option<String>,
    /// the secret as a salted hash, `sha256:SALT:HEX` (`tongguan
    /// hash-token` makes one): the config then holds no secret.
    #[serde(default)]
    pub token_hash: Option<String>,
}

/// A subscriber token, bound to one street.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberToken {
    /// Who holds it, for logs.
    pub name: String,
    /// A 12-digit street code, `"district"` for every street, or `"*"`
    /// (development only): the token is a prefix, and the street code
    /// follows it (`dev-street-310107005000`).
    pub street: String,
    /// The secret in clear (a prefix when `street = "*"`), or
    #[serde(default)]
    pub token: Option<String>,
    /// the secret as a salted hash, `sha256:SALT:HEX`.
    #[serde(default)]
    pub token_hash: Option<String>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl EngineConfig {
    /// The engine's settings in milliseconds.
    pub fn settings(&self) -> EngineSettings {
        EngineSettings {
            repeat_interval_ms: ms(self.repeat_interval).max(1),
            correlation_window_ms: ms(self.correlation_window),
            allowed_lateness_ms: ms(self.allowed_lateness),
            idle_timeout_ms: ms(self.idle_timeout).max(1),
            state_ttl_ms: ms(self.state_ttl).max(1),
            max_incident_detections: self.max_incident_detections.max(1),
            max_devices: self.max_devices_per_shard.max(16),
            max_conditions: self.max_conditions_per_shard.max(16),
            max_incidents: self.max_incidents.max(16),
            offline_after_ms: ms(self.device_offline_after).max(1),
            clock_skew_threshold_ms: ms(self.clock_skew_threshold),
        }
    }
}

impl Config {
    /// The embedded defaults alone.
    pub fn embedded() -> Config {
        Config::from_layers(None).expect("embedded defaults are valid")
    }

    /// Defaults with the file at `path` laid over them.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_layers(Some((path.display().to_string(), &text)))
    }

    /// Defaults with `text` (named `origin` in errors) laid over them.
    pub fn from_layers(user: Option<(String, &str)>) -> Result<Config, ConfigError> {
        let parse = |origin: &str, text: &str| {
            text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
                origin: origin.to_owned(),
                message: e.to_string(),
            })
        };
        let mut merged = parse("embedded defaults", DEFAULT_CONFIG)?;
        let origin = match &user {
            Some((origin, text)) => {
                let mut layer = parse(origin, text)?;
                if let Some(auth) = layer.remove("auth") {
                    merged.insert("auth".into(), auth);
                }
                overlay(&mut merged, layer);
                origin.clone()
            }
            None => "embedded defaults".to_owned(),
        };
        let config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    let message = e.to_string();
                    // The merged table has no positions: find the key in the user's
                    // file so the error names its line.
                    let line = user.as_ref().and_then(|(_, text)| locate(text, &message));
                    ConfigError::Parse {
                        origin: match line {
                            Some(n) => format!("{origin}:{n}"),
                            None => origin,
                        },
                        message: message.trim().replace('\n', " "),
                    }
                })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.cluster.check().map_err(ConfigError::Invalid)?;
        self.http.check().map_err(ConfigError::Invalid)?;
        self.sso.check().map_err(ConfigError::Invalid)?;
        if self.audit.queue_entries == 0 || self.people.session_ttl.is_zero() {
            return bad("audit.queue_entries and people.session_ttl must be > 0".into());
        }
        let l = &self.limits;
        let month = Duration::from_secs(31 * 86_400);
        if l.max_future > month || l.max_past > month {
            return bad("limits.max_future and limits.max_past are at most 31 days".into());
        }
        if l.max_batch_events == 0 || l.max_frame_bytes < 1024 {
            return bad(
                "limits.max_batch_events must be > 0 and limits.max_frame_bytes >= 1024".into(),
            );
        }
        if l.shard_queue_batches == 0 || l.subscriber_queue_orders == 0 {
            return bad("queue limits must be > 0".into());
        }
        if !(1..=1_000_000).contains(&l.max_http_connections) {
            return bad("limits.max_http_connections must be 1..=1000000".into());
        }
        if l.http_header_timeout.is_zero() || l.http_body_timeout.is_zero() {
            return bad(
                "limits.http_header_timeout and limits.http_body_timeout must be > 0".into(),
            );
        }
        let q = &self.quality;
        if !(0.0..=1.0).contains(&q.max_false_alarm_rate) || q.min_judged_orders == 0 {
            return bad(
                "quality.max_false_alarm_rate must be in 0..1 and quality.min_judged_orders > 0"
                    .into(),
            );
        }
        if self.hub.cert.is_some() != self.hub.key.is_some() {
            return bad("hub.cert and hub.key go together".into());
        }
        for t in &self.auth.subscriber {
            let ok = t.street == crate::wire::control::DISTRICT
                || (t.street == "*" && self.auth.development)
                || (t.street.len() == 12 && t.street.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return bad(format!(
                    "auth.subscriber {:?}: street {:?} is not a 12-digit code or \"district\"",
                    t.name, t.street
                ));
            }
        }
        let secrets = self
            .auth
            .device
            .iter()
            .map(|t| (&t.name, &t.token, &t.token_hash))
            .chain(
                self.auth
                    .subscriber
                    .iter()
                    .map(|t| (&t.name, &t.token, &t.token_hash)),
            );
        for (name, token, hash) in secrets {
            match (token, hash) {
                (Some(t), None) if t.len() >= 8 => {}
                (Some(_), None) => return bad(format!("token of {name:?}: at least 8 characters")),
                (None, Some(h)) if crate::auth::TokenHash::parse(h).is_some() => {}
                (None, Some(_)) => {
                    return bad(format!(
                        "token_hash of {name:?} is not sha256:SALT:HEX (see tongguan hash-token)"
                    ))
                }
                _ => {
                    return bad(format!(
                        "{name:?}: give exactly one of token and token_hash"
                    ))
                }
            }
        }
        if let Some(t) = &self.auth.admin_token {
            if t.len() < 16 {
                return bad("auth.admin_token: at least 16 characters".into());
            }
        }
        Ok(())
    }

    /// Refuses development tokens on an address others can reach.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if !self.auth.development {
            return Ok(());
        }
        for (what, addr) in [("QUIC", self.hub.listen), ("HTTP", self.hub.admin)] {
            if !addr.ip().is_loopback() {
                return Err(ConfigError::Invalid(format!(
                    "the development tokens of the embedded config are refused on the non-loopback \
                     {what} address {addr}: give an [auth] table with your own tokens"
                )));
            }
        }
        Ok(())
    }

    /// The number of engine shards to run.
    pub fn shard_count(&self) -> usize {
        match self.hub.shards {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

/// The line (1-based) of `text` where the key an error message names is
/// set: the unknown field, or the last part of the path it is "in".
fn locate(text: &str, message: &str) -> Option<usize> {
    let quoted = |after: &str| -> Option<String> {
        let rest = &message[message.find(after)? + after.len()..];
        let start = rest.find('`')? + 1;
        let end = start + rest[start..].find('`')?;
        Some(rest[start..end].to_owned())
    };
    let key = quoted("unknown field ").or_else(|| {
        quoted("in ").map(|path| path.rsplit('.').next().unwrap_or(&path).to_owned())
    })?;
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(key.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// Lays `layer` over `base`: tables merge key by key, anything else is
/// replaced.
fn overlay(base: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => overlay(b, l),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_serve_on_loopback() {
        let c = Config::embedded();
        assert_eq!(
            c.hub.listen,
            "127.0.0.1:4433".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(c.hub.admin, "127.0.0.1:9464".parse::<SocketAddr>().unwrap());
        assert!(c.auth.development);
        c.check_exposure().unwrap();
        assert_eq!(c.engine.settings().correlation_window_ms, 60_000);
    }

    #[test]
    fn a_file_overrides_only_what_it_says() {
        let c = Config::from_layers(Some((
            "t.toml".into(),
            "[engine]\nrepeat_interval = \"10s\"\n",
        )))
        .unwrap();
        assert_eq!(c.engine.repeat_interval, Duration::from_secs(10));
        assert_eq!(c.engine.correlation_window, Duration::from_secs(60));
    }

    #[test]
    fn development_tokens_are_refused_off_loopback() {
        let c = Config::from_layers(Some((
            "t.toml".into(),
            "[hub]\nlisten = \"0.0.0.0:4433\"\n",
        )))
        .unwrap();
        let e = c.check_exposure().unwrap_err().to_string();
        assert!(e.contains("0.0.0.0:4433"), "{e}");
        let own = "[hub]\nlisten = \"0.0.0.0:4433\"\n[[auth.device]]\nname=\"gw\"\ntoken=\"0123456789abcdef\"\n";
        let c = Config::from_layers(Some(("t.toml".into(), own))).unwrap();
        c.check_exposure().unwrap();
        assert!(
            c.auth.subscriber.is_empty(),
            "an [auth] table replaces the defaults whole"
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let e = Config::from_layers(Some((
            "t.toml".into(),
            "[hub]\nshards = 1\nlisten_addr = 1\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(e.contains("listen_addr") && e.contains("t.toml:3"), "{e}");
        let e = Config::from_layers(Some((
            "t.toml".into(),
            "[limits]\nhello_timeout = \"soon\"\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(e.contains("hello_timeout") || e.contains("soon"), "{e}");
    }
}
