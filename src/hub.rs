//! The hub's wiring and shutdown, nothing else: load what the config
//! names, open the outbox, start the engine threads (`runtime/`), the
//! QUIC endpoint (`quic/`), the HTTP server (`http/`) and, in the cluster
//! mode, the node's NATS side (`nats/`), and stop them in order. Every decision is made in
//! the core crate (`tongguan-core`); the runtime only drives it.

use crate::auth::admission;
use crate::auth::tokens::Auth;
use crate::config::{Config, ConfigError};
use crate::engine::rules::Profiles;
use crate::geo::RegionMap;
use crate::http::router;
use crate::metrics::Metrics;
use crate::runtime::clock::{Clock, SystemClock};
use crate::runtime::details;
use crate::runtime::dispatch_thread;
use crate::runtime::rules_control;
use crate::runtime::subscribers::Subscribers;
use crate::runtime::threads::{EnginePlan, EngineThreads};
use crate::runtime::Shared;
use crate::store::checkpoint::CheckpointDir;
use crate::tls::{self, Identity};
use crate::wire::ErrorCode;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file the config names could not be used.
    #[error("{path}: {what}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        what: String,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The outbox could not be opened or read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The cluster the config names could not be joined.
    #[error(transparent)]
    Cluster(#[from] crate::nats::connect::ClusterError),
    /// An address could not be bound (the cause is the error's source).
    #[error("cannot listen on {what} {addr}")]
    Bind {
        /// QUIC or HTTP.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running hub.
pub struct Hub {
    /// The QUIC address actually bound.
    pub quic_addr: SocketAddr,
    /// The HTTP address actually bound.
    pub admin_addr: SocketAddr,
    /// The certificate clients should trust (PEM).
    pub cert_pem: String,
    /// Whether the HTTP port speaks HTTPS (`[http] tls`).
    pub https: bool,
    endpoints: crate::quic::endpoints::Endpoints,
    shared: Arc<Shared>,
    engine: EngineThreads,
    http: crate::http::serve::HttpServer,
    /// The plain monitoring port beside HTTPS (`http.monitoring_listen`).
    monitoring: Option<crate::http::serve::HttpServer>,
    /// Its address.
    pub monitoring_addr: Option<SocketAddr>,
    /// Retention of closed orders, on its own thread until the hub goes.
    _retention: crate::runtime::retention::RetentionTask,
    /// The cluster node, in the cluster mode.
    cluster: Option<crate::nats::ClusterNode>,
}

fn read_file(path: &std::path::Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|e| StartError::File {
        path: path.display().to_string(),
        what: e.to_string(),
    })
}

/// Where the shards save their state, and what they saved before.
type EngineState = (
    Option<(CheckpointDir, Duration)>,
    Vec<Option<crate::engine::checkpoint::ShardCheckpoint>>,
);

/// Opens DATA_DIR/engine/ and loads the shards' checkpoints; a file that
/// cannot be used is named in a warning and its shard starts empty.
/// The device registry and maintenance windows in DATA_DIR/devices/, with
/// the registry file of `[devices]` added at start.
fn open_device_book(config: &Config) -> Result<crate::store::devices::DeviceBook, StartError> {
    let file_error = |path: &std::path::Path, what: String| StartError::File {
        path: path.display().to_string(),
        what,
    };
    let dir = config.hub.data_dir.join("devices");
    let book = crate::store::devices::DeviceBook::open(&config.hub.data_dir)
        .map_err(|e| file_error(&dir, e.to_string()))?;
    if let Some(path) = config.devices.registry_file() {
        let devices = crate::store::devices::parse_csv(&read_file(path)?)
            .and_then(|d| book.register(d, false))
            .map_err(|e| file_error(path, e.to_string()))?;
        tracing::info!(file = %path.display(), devices, "device registry read");
    }
    Ok(book)
}

fn engine_state(config: &Config, shards: usize) -> Result<EngineState, StartError> {
    let dir = CheckpointDir::open(&config.hub.data_dir).map_err(|e| StartError::File {
        path: config.hub.data_dir.join("engine").display().to_string(),
        what: e.to_string(),
    })?;
    let loaded = dir.load(shards);
    for (path, why) in &loaded.refused {
        tracing::warn!(file = %path.display(), "engine state not loaded: {why}");
    }
    let every = config.engine.checkpoint_interval;
    Ok(((!every.is_zero()).then_some((dir, every)), loaded.shards))
}

impl Hub {
    /// Loads what the config names, binds, and starts serving. Must run
    /// inside a tokio runtime.
    pub async fn start(config: Config) -> Result<Hub, StartError> {
        Hub::start_as(config, false).await
    }

    /// Starts a sink: the same QUIC endpoint, authentication, decoding,
    /// validation and acknowledgements as the hub, and nothing after them.
    /// What `serve` achieves beyond this is what the pipeline costs.
    pub async fn start_sink(config: Config) -> Result<Hub, StartError> {
        Hub::start_as(config, true).await
    }

    async fn start_as(config: Config, sink: bool) -> Result<Hub, StartError> {
        config.check_exposure()?;
        let map = match &config.hub.region_map {
            Some(p) => RegionMap::from_geojson(&read_file(p)?).map_err(|e| StartError::File {
                path: p.display().to_string(),
                what: e.to_string(),
            })?,
            None => RegionMap::sample(),
        };
        if map.is_approximate() {
            tracing::warn!("the region map has APPROXIMATE boundaries: load a surveyed map with hub.region_map");
        }
        let rules_source = match &config.hub.rules {
            Some(p) => read_file(p)?,
            None => crate::engine::rules::DEFAULT_RULES.to_owned(),
        };
        let profiles = Profiles::from_toml(&rules_source).map_err(|e| StartError::File {
            path: config
                .hub
                .rules
                .as_ref()
                .map_or("embedded rules".into(), |p| p.display().to_string()),
            what: e.to_string(),
        })?;
        let map = Arc::new(map);
        let auth = Auth::new(&config.auth, &map).map_err(ConfigError::Invalid)?;
        let identity =
            match (&config.hub.cert, &config.hub.key) {
                (Some(c), Some(k)) => Identity::load(c, k)?,
                _ if !config.auth.development => return Err(ConfigError::Invalid(
                    "a production config (auth.development = false) needs hub.cert and hub.key: \
                     the hub generates a self-signed certificate only for development"
                        .into(),
                )
                .into()),
                _ => Identity::self_signed()?,
            };
        let client_ca = config
            .hub
            .client_ca
            .as_deref()
            .map(tls::load_certificates)
            .transpose()?;
        if config.hub.require_device_certificate && client_ca.is_none() {
            return Err(ConfigError::Invalid(
                "hub.require_device_certificate needs hub.client_ca (the CA that signs device certificates)".into(),
            )
            .into());
        }
        let server = tls::server_config(
            &identity,
            config.limits.quic_idle_timeout,
            client_ca.as_deref(),
        )?;
        let endpoint_count = match config.hub.endpoints {
            0 => crate::quic::endpoints::default_count(config.shard_count()),
            n => n,
        };
        let mut endpoints =
            crate::quic::endpoints::Endpoints::bind(server, config.hub.listen, endpoint_count)
                .map_err(|source| StartError::Bind {
                    what: "QUIC",
                    addr: config.hub.listen,
                    source,
                })?;
        let quic_addr = endpoints.local_addr();
        let listener = tokio::net::TcpListener::bind(config.hub.admin)
            .await
            .map_err(|source| StartError::Bind {
                what: "HTTP",
                addr: config.hub.admin,
                source,
            })?;
        let admin_addr = listener.local_addr().map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: config.hub.admin,
            source,
        })?;

        let metrics = Arc::new(Metrics::new());
        metrics.init_streets(map.streets().iter().map(|s| s.code.as_str()));
        let subscribers = Arc::new(Subscribers::default());
        let opened = crate::runtime::clock::instant();
        let store = Arc::new(crate::store::Store::open(&config.hub.data_dir)?);
        let policy = crate::dispatch::quality::QualityPolicy {
            max_false_alarm_rate: config.quality.max_false_alarm_rate,
            min_judged_orders: config.quality.min_judged_orders,
        };
        let details = Arc::new(details::Details::new(100_000));
        let devices = Arc::new(open_device_book(&config)?);
        let photos = crate::store::photos::Photos::open(&config.hub.data_dir).map_err(|e| {
            StartError::File {
                path: config.hub.data_dir.join("photos").display().to_string(),
                what: e.to_string(),
            }
        })?;
        let outbox_ok = Arc::new(AtomicBool::new(true));
        let wiring = dispatch_thread::Wiring {
            subscribers: subscribers.clone(),
            metrics: metrics.clone(),
            store: store.clone(),
            details: details.clone(),
            book: devices.clone(),
            outbox_ok: outbox_ok.clone(),
        };
        let (dispatcher, flagged) = dispatch_thread::Dispatcher::open(map.clone(), wiring, policy)?;
        let settings = config.engine.settings();
        let keep_ms = settings.correlation_window_ms + settings.allowed_lateness_ms;
        let dispatcher = dispatcher.with_journal_keep_ms(keep_ms);
        let replay = store.journal_since(SystemClock.now_ms() - keep_ms)?;
        tracing::info!(
            outbox = %store.path().display(),
            flagged = flagged.len(),
            elapsed_ms = opened.elapsed().as_millis() as u64,
            "outbox opened"
        );
        let shards = config.shard_count();
        let (checkpoints, restored) = engine_state(&config, shards)?;
        let plan = EnginePlan {
            rules: profiles.normal.clone(),
            settings,
            shards,
            queue: config.limits.shard_queue_batches,
            replay,
            checkpoints,
            restored,
            cluster_partitions: config
                .cluster
                .enabled()
                .then_some(config.cluster.partitions),
            journal_keep_ms: keep_ms,
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut engine =
            EngineThreads::spawn(plan, metrics.clone(), clock.clone(), dispatcher, flagged)
                .map_err(|e| StartError::File {
                    path: "engine threads".into(),
                    what: e.to_string(),
                })?;
        let admission = admission::Admission::new(
            config.limits.max_connections,
            config.limits.max_connections_per_token,
            config.limits.max_events_per_second_per_token,
        );
        let cluster_ok = Arc::new(AtomicBool::new(true));
        // Before the cluster is joined: a node puts the cluster's rules in
        // force through it before it runs any partition.
        let rules = rules_control::RulesControl::new(
            rules_source,
            profiles,
            rules_control::Ends {
                shards: engine.handle.clone(),
                correlator: engine.rules_tx.clone(),
                metrics: metrics.clone(),
            },
        );
        let parts = engine.cluster.take().map(|ends| crate::nats::NodeParts {
            ends,
            store: store.clone(),
            subscribers: subscribers.clone(),
            map: map.clone(),
            book: devices.clone(),
            rules: rules.clone(),
        });
        let cluster = crate::nats::join(
            &config,
            quic_addr,
            engine.handle.clone(),
            parts,
            metrics.clone(),
            clock.clone(),
            cluster_ok.clone(),
        )
        .await?;
        let recorder = crate::record::Recorder::spawn(
            &config.record,
            &config.hub.data_dir,
            shards,
            metrics.record.clone(),
        )
        .map_err(|e| StartError::File {
            path: config
                .record
                .dir_in(&config.hub.data_dir)
                .display()
                .to_string(),
            what: format!("cannot start the recording: {e}"),
        })?;
        // Reads the people file and may fetch the identity provider's JWKS
        // (blocking, bounded): off the runtime's threads.
        let (gate_config, gate_map) = (config.clone(), map.clone());
        let gate = tokio::task::spawn_blocking(move || {
            crate::auth::gate::Gate::open(&gate_config, &gate_map)
        })
        .await
        .map_err(|e| ConfigError::Invalid(format!("opening the people file and the JWKS: {e}")))?
        .map_err(ConfigError::Invalid)?;
        let audit = crate::audit::Audit::open(
            &config.hub.data_dir,
            config.audit.queue_entries,
            clock.clone(),
            crate::audit::AuditCounters {
                written: metrics.audit_entries.clone(),
                errors: metrics.audit_errors.clone(),
            },
        )
        .map_err(|e| StartError::File {
            path: crate::audit::file::dir(&config.hub.data_dir)
                .display()
                .to_string(),
            what: format!("cannot open the audit trail: {e}"),
        })?;
        let shared = Arc::new(Shared {
            config,
            auth,
            gate: Arc::new(gate),
            audit: Arc::new(audit),
            map,
            metrics,
            runtime: engine.handle.clone(),
            clock,
            buffers: engine.buffers.clone(),
            store,
            details,
            devices,
            photos,
            admission,
            rules,
            rules_tx: engine.rules_tx.clone(),
            subscribers,
            sink,
            ready: AtomicBool::new(false),
            outbox_ok,
            cluster_ok,
            ingress: cluster.as_ref().map(|c| {
                let i: Arc<dyn crate::runtime::transport::LogIngress> = c.ingress.clone();
                i
            }),
            recorder,
            cluster: cluster.as_ref().map(|c| c.shared.clone()),
        });
        let (monitoring_addr, monitoring) = crate::http::https::monitoring(&shared)
            .await
            .map_err(|(addr, source)| StartError::Bind {
                what: "HTTP (monitoring)",
                addr,
                source,
            })?
            .unzip();
        let https = crate::http::https::settings(&shared.config.http, &identity)?;
        let http = crate::http::serve::HttpServer::spawn(
            listener,
            router::router(shared.clone()),
            shared.metrics.clone(),
            (&shared.config.limits).into(),
            https,
        );
        endpoints.serve(&shared);
        let retention = crate::runtime::retention::RetentionTask::spawn(
            &shared.store,
            &shared.config.retention,
            &shared.metrics,
        );
        shared.ready.store(true, Ordering::Release);
        tracing::info!(%quic_addr, %admin_addr, shards, "tongguan serving");
        Ok(Hub {
            quic_addr,
            admin_addr,
            https: shared.config.http.tls,
            cert_pem: identity.pem,
            endpoints,
            shared,
            engine,
            http,
            monitoring,
            monitoring_addr,
            _retention: retention,
            cluster,
        })
    }

    /// Re-reads the rules file named by the config (SIGHUP) and puts it in
    /// force if it is good; on error the rules in force stay.
    pub async fn reload_rules(&self) -> Result<usize, String> {
        let Some(path) = self.shared.config.hub.rules.clone() else {
            return Err("the hub runs on the embedded rules: there is no file to reload".into());
        };
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        rules_control::replace(&self.shared, text)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// How many QUIC endpoints share the listen port (`hub.endpoints`).
    pub fn quic_endpoints(&self) -> usize {
        self.endpoints.count()
    }

    /// What the sessions share (metrics, subscribers, ...).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops gracefully: answers not ready, refuses new connections,
    /// closes the open ones with GOING_AWAY (clients reconnect later), runs
    /// every queued batch through the engine and commits its orders to the
    /// outbox, then stops the HTTP server (requests in flight finish), then
    /// returns. Each wait is bounded by `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.shared.ready.store(false, Ordering::Release);
        self.endpoints
            .close(
                ErrorCode::GoingAway.code(),
                b"the hub is shutting down; reconnect later",
                grace,
            )
            .await;
        if let Some(node) = &self.cluster {
            // Its leases lapse and the other nodes take the partitions;
            // what is in flight here is delivered again to them.
            node.ownership.stop();
            node.consumers.abort();
            node.dispatch_lease.stop();
            for t in node.dispatch_tasks.iter().chain(&node.shared_tasks) {
                t.abort();
            }
        }
        let engine = self.engine;
        let drained =
            tokio::time::timeout(grace, tokio::task::spawn_blocking(move || engine.drain())).await;
        if drained.is_err() {
            tracing::error!(?grace, "the engine did not drain within the grace period");
        }
        // Every batch accepted is in the recording's segments.
        if let Some(r) = &self.shared.recorder {
            if !r.flush(grace) {
                tracing::error!(
                    ?grace,
                    "the recording did not write out within the grace period"
                );
            }
        }
        // Last, so /readyz says "not ready" until the end: requests in
        // flight finish, event streams end, idle connections close.
        self.http.stop(grace).await;
        if let Some(monitoring) = self.monitoring {
            monitoring.stop(grace).await;
        }
        // Every audit entry of those requests is on disk.
        let _ = tokio::time::timeout(grace, self.shared.audit.sync()).await;
        tracing::info!("stopped");
    }
}
