//! The device book (registry and maintenance windows) shared by the
//! nodes through the bucket `{prefix}_book` (keys decided in the core's
//! `cluster::book`: one per registered device, one for the windows).
//!
//! A change taken on any node is written to the bucket first and answered
//! once JetStream acknowledged it (a quorum has it), then applied to that
//! node's own book; every node follows the bucket (a watch from the last
//! value of every key) and applies what it sees to its book, then tells
//! its dispatcher the book changed, the same way a change made on it
//! does. A node starting, or following the bucket again after an error,
//! first makes its book exactly what the bucket holds. So the dispatcher
//! names devices and keeps windows alike wherever it runs. The counts of
//! what a window kept back stay each node's own.

use super::connect::Nats;
use crate::cluster::book::{
    change_windows, device_key, parse_key, shared_windows, BookKey, WindowChange, WindowOutcome,
    WINDOWS_KEY,
};
use crate::dispatch::maintenance::Window;
use crate::dispatch::registry::DeviceInfo;
use crate::metrics::Metrics;
use crate::runtime::cluster_shared::{Answer, SharedBook};
use crate::runtime::handle::Handle;
use crate::store::devices::{BookError, DeviceBook};
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Writes of single devices in flight at once (a registry of 100,000
/// devices is 100,000 acknowledged writes).
const IN_FLIGHT: usize = 256;
/// How long a write is tried again while JetStream does not take it (an
/// election, a reconnect), as ingest does with events.
const RETRY_FOR: Duration = Duration::from_secs(10);
/// Tries of a windows change whose compare-and-set lost to another node's.
const CAS_TRIES: usize = 20;
/// Entries of the watch applied to the book at once at most.
const BATCH: usize = 10_000;
/// How long a run of entries is gathered before it is applied, at most:
/// a registry written as 100,000 keys arrives as a stream of them, and
/// each application saves the whole registry file.
const GATHER_FOR: Duration = Duration::from_millis(250);
/// How long the watch may stay quiet before a run is applied.
const QUIET: Duration = Duration::from_millis(20);
/// How long a node starting waits for the bucket's book before it serves
/// with its own last copy (the watch goes on and catches up).
const FIRST_LOAD_WITHIN: Duration = Duration::from_secs(20);

/// The cluster's book as the HTTP handlers write it.
pub struct NatsBook {
    kv: kv::Store,
    book: Arc<DeviceBook>,
    metrics: Arc<Metrics>,
}

/// Starts following the bucket and waits (bounded) until this node's book
/// is the bucket's, with the registry file of `[devices]` (if any) added
/// to the bucket first.
pub async fn start(
    nats: &Nats,
    book: Arc<DeviceBook>,
    handle: Handle,
    registry_file: Option<PathBuf>,
    metrics: Arc<Metrics>,
) -> (Arc<NatsBook>, tokio::task::JoinHandle<()>) {
    let shared = Arc::new(NatsBook {
        kv: nats.book.clone(),
        book: book.clone(),
        metrics: metrics.clone(),
    });
    let (ready, loaded) = tokio::sync::oneshot::channel();
    let follower = Follower {
        nats: nats.clone(),
        shared: shared.clone(),
        handle,
        registry_file,
        ready: Some(ready),
    };
    let task = tokio::spawn(follower.run());
    if tokio::time::timeout(FIRST_LOAD_WITHIN, loaded)
        .await
        .is_err()
    {
        tracing::warn!(
            "the cluster's device book was not read within {FIRST_LOAD_WITHIN:?}: serving this node's last copy until it is"
        );
    }
    (shared, task)
}

impl SharedBook for NatsBook {
    fn register(
        &self,
        devices: Vec<DeviceInfo>,
        replace: bool,
    ) -> Answer<'_, Result<usize, BookError>> {
        Box::pin(self.register_now(devices, replace))
    }

    fn change_windows(
        &self,
        change: WindowChange,
        now_ms: i64,
    ) -> Answer<'_, Result<WindowOutcome, BookError>> {
        Box::pin(self.change_windows_now(change, now_ms))
    }
}

impl NatsBook {
    /// Writes the devices (and, replacing, deletes the keys of devices
    /// not among them), then applies the same to this node's book.
    async fn register_now(
        &self,
        devices: Vec<DeviceInfo>,
        replace: bool,
    ) -> Result<usize, BookError> {
        if let Some(why) = devices.iter().find_map(DeviceInfo::invalid) {
            return Err(BookError::Invalid(why));
        }
        let stale = if replace {
            let keep: HashSet<u64> = devices.iter().map(|d| d.id).collect();
            self.device_ids()
                .await?
                .into_iter()
                .filter(|id| !keep.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        let writes = devices
            .iter()
            .map(|d| {
                let value = serde_json::to_vec(d).expect("devices serialize");
                (device_key(d.id), Some(Bytes::from(value)))
            })
            .chain(stale.iter().map(|id| (device_key(*id), None)));
        self.write_all(writes).await?;
        let book = self.book.clone();
        blocking(move || book.register(devices, replace)).await
    }

    /// The ids of the devices the bucket holds.
    async fn device_ids(&self) -> Result<Vec<u64>, BookError> {
        let mut keys = self.kv.keys().await.map_err(|e| self.failed(e))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            if let Some(BookKey::Device(id)) = parse_key(&key.map_err(|e| self.failed(e))?) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Puts (a value) or deletes (none) every key, [`IN_FLIGHT`] at a
    /// time; done once every write is acknowledged.
    async fn write_all(
        &self,
        writes: impl Iterator<Item = (String, Option<Bytes>)>,
    ) -> Result<(), BookError> {
        let mut inflight = tokio::task::JoinSet::new();
        for (key, value) in writes {
            if inflight.len() >= IN_FLIGHT {
                self.joined(inflight.join_next().await)?;
            }
            let kv = self.kv.clone();
            inflight.spawn(async move { write(&kv, &key, value).await });
        }
        while let Some(done) = inflight.join_next().await {
            self.joined(Some(done))?;
        }
        Ok(())
    }

    fn joined(
        &self,
        done: Option<Result<Result<(), String>, tokio::task::JoinError>>,
    ) -> Result<(), BookError> {
        match done {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(self.failed(e)),
            Some(Err(e)) => Err(self.failed(e)),
        }
    }

    /// Changes the windows by compare-and-set on their key (another
    /// node's change in between: read again and apply the change to
    /// that), then applies the result to this node's book.
    async fn change_windows_now(
        &self,
        change: WindowChange,
        now_ms: i64,
    ) -> Result<WindowOutcome, BookError> {
        for _ in 0..CAS_TRIES {
            let entry = self
                .kv
                .entry(WINDOWS_KEY)
                .await
                .map_err(|e| self.failed(e))?;
            let (mut windows, revision) = match entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    (decode_windows(&e.value), Some(e.revision))
                }
                Some(e) => (Vec::new(), Some(e.revision)),
                None => (Vec::new(), None),
            };
            let outcome = change_windows(&mut windows, &change, now_ms);
            if !outcome.changed() {
                return Ok(outcome);
            }
            let value = Bytes::from(
                serde_json::to_vec(&shared_windows(&windows)).expect("windows serialize"),
            );
            let written = match revision {
                Some(r) => self.kv.update(WINDOWS_KEY, value, r).await.map_err(|e| {
                    (
                        e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                        e.to_string(),
                    )
                }),
                None => self.kv.create(WINDOWS_KEY, value).await.map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
            };
            match written {
                Ok(_) => {
                    let book = self.book.clone();
                    blocking(move || book.apply_windows(windows)).await?;
                    return Ok(outcome);
                }
                Err((true, _)) => continue,
                Err((false, e)) => return Err(self.failed(e)),
            }
        }
        Err(self.failed(format!(
            "the windows changed under this change {CAS_TRIES} times"
        )))
    }

    /// Counts a failed write or read and says why.
    fn failed(&self, e: impl std::fmt::Display) -> BookError {
        self.metrics
            .cluster_errors
            .with_label_values(&["book"])
            .inc();
        BookError::Cluster(e.to_string())
    }
}

/// One put or delete, tried again for [`RETRY_FOR`] while it fails (a
/// put or delete twice is the same write).
async fn write(kv: &kv::Store, key: &str, value: Option<Bytes>) -> Result<(), String> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let done = match &value {
            Some(v) => kv
                .put(key, v.clone())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            None => kv.delete(key).await.map_err(|e| e.to_string()),
        };
        match done {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() >= RETRY_FOR => return Err(format!("{key}: {e}")),
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Runs a change of this node's book (a file written and synced) off the
/// runtime's threads.
async fn blocking<T: Send + 'static>(
    change: impl FnOnce() -> Result<T, BookError> + Send + 'static,
) -> Result<T, BookError> {
    tokio::task::spawn_blocking(change)
        .await
        .map_err(|e| BookError::Invalid(format!("the device book's writer stopped: {e}")))?
}

fn decode_windows(value: &[u8]) -> Vec<Window> {
    serde_json::from_slice(value).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the cluster's maintenance windows cannot be read: taken as none");
        Vec::new()
    })
}

/// One key's entry as the book takes it.
enum Change {
    Device(u64, Option<DeviceInfo>),
    Windows(Vec<Window>),
}

fn decode(entry: &kv::Entry) -> Option<Change> {
    let put = entry.operation == kv::Operation::Put;
    match parse_key(&entry.key)? {
        BookKey::Windows => Some(Change::Windows(if put {
            decode_windows(&entry.value)
        } else {
            Vec::new()
        })),
        BookKey::Device(id) if !put => Some(Change::Device(id, None)),
        BookKey::Device(id) => match serde_json::from_slice::<DeviceInfo>(&entry.value) {
            Ok(d) if d.id == id => Some(Change::Device(id, Some(d))),
            Ok(d) => {
                tracing::warn!(key = %entry.key, id = d.id, "a device under another's key in the cluster's book: passed over");
                None
            }
            Err(e) => {
                tracing::warn!(key = %entry.key, error = %e, "a device in the cluster's book cannot be read: passed over");
                None
            }
        },
    }
}

/// The task that keeps this node's book the bucket's.
struct Follower {
    nats: Nats,
    shared: Arc<NatsBook>,
    handle: Handle,
    registry_file: Option<PathBuf>,
    /// Told once, after the first load.
    ready: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Follower {
    async fn run(mut self) {
        loop {
            let Err(e) = self.follow().await;
            self.shared.failed(&e);
            tracing::warn!(error = %e, "following the cluster's device book: starting again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Loads the whole book, then applies every change, until an error.
    async fn follow(&mut self) -> Result<std::convert::Infallible, String> {
        // Whether the bucket holds anything: a watch of an empty bucket
        // delivers nothing to tell that it has caught up.
        let stream = format!("KV_{}", self.nats.names.book_bucket());
        let stored = self
            .nats
            .js
            .get_stream(&stream)
            .await
            .map_err(|e| e.to_string())?
            .cached_info()
            .state
            .messages;
        let mut watch = self
            .shared
            .kv
            .watch_with_history(">")
            .await
            .map_err(|e| e.to_string())?;
        let (devices, windows) = snapshot(&mut watch, stored).await?;
        let count = devices.len();
        let loaded: Vec<DeviceInfo> = devices.into_values().collect();
        let book = self.shared.book.clone();
        let file_devices = self.ready.is_some().then(|| self.file_devices()).flatten();
        let changed = blocking(move || book.replace_from_cluster(loaded, windows))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(devices = count, "the cluster's device book loaded");
        if let Some(d) = file_devices {
            self.seed(d).await;
        }
        if changed {
            let _ = self.handle.devices_changed().await;
        }
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(());
        }
        loop {
            let batch = gather(&mut watch).await?;
            self.apply(batch).await.map_err(|e| e.to_string())?;
        }
    }

    /// Applies a run of entries to the book; tells the dispatcher if it
    /// changed.
    async fn apply(&self, batch: Vec<kv::Entry>) -> Result<(), BookError> {
        let mut devices = Vec::new();
        let mut windows = None;
        for entry in &batch {
            match decode(entry) {
                Some(Change::Device(id, d)) => devices.push((id, d)),
                Some(Change::Windows(w)) => windows = Some(w),
                None => {}
            }
        }
        let book = self.shared.book.clone();
        let changed = blocking(move || {
            let devices_changed = !devices.is_empty() && book.apply_devices(devices)?;
            let windows_changed = match windows {
                Some(w) => book.apply_windows(w)?,
                None => false,
            };
            Ok(devices_changed || windows_changed)
        })
        .await?;
        if changed {
            let _ = self.handle.devices_changed().await;
        }
        Ok(())
    }

    /// The devices of the registry file, if the config names one.
    fn file_devices(&self) -> Option<Vec<DeviceInfo>> {
        let path = self.registry_file.as_ref()?;
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| crate::store::devices::parse_csv(&t).map_err(|e| e.to_string()));
        match read {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "the registry file is not added to the cluster's book");
                None
            }
        }
    }

    /// Adds the registry file's devices the bucket does not hold as they
    /// are (every node starts with the same file: the first adds them, the
    /// others find them there).
    async fn seed(&self, devices: Vec<DeviceInfo>) {
        let registry = self.shared.book.registry();
        let new: Vec<DeviceInfo> = devices
            .into_iter()
            .filter(|d| registry.get(d.id) != Some(d))
            .collect();
        if new.is_empty() {
            return;
        }
        let n = new.len();
        match self.shared.register_now(new, false).await {
            Ok(_) => tracing::info!(devices = n, "the registry file added to the cluster's book"),
            Err(e) => {
                tracing::warn!(error = %e, "the registry file is not added to the cluster's book")
            }
        }
    }
}

/// The last value of every key, from a watch of the last values
/// (`stored`: whether the bucket holds anything, so that an empty one is
/// not waited on): the devices by id, and the windows.
async fn snapshot(
    watch: &mut kv::Watch,
    stored: u64,
) -> Result<(HashMap<u64, DeviceInfo>, Vec<Window>), String> {
    let mut devices = HashMap::new();
    let mut windows = Vec::new();
    let mut pending = stored;
    while pending > 0 {
        let entry = next(watch).await?;
        pending = entry.delta;
        match decode(&entry) {
            Some(Change::Device(id, Some(d))) => {
                devices.insert(id, d);
            }
            Some(Change::Device(id, None)) => {
                devices.remove(&id);
            }
            Some(Change::Windows(w)) => windows = w,
            None => {}
        }
    }
    Ok((devices, windows))
}

/// The next run of entries: what is pending at once, and what follows
/// within [`QUIET`] of the last, for [`GATHER_FOR`] and [`BATCH`] at most.
async fn gather(watch: &mut kv::Watch) -> Result<Vec<kv::Entry>, String> {
    let first = next(watch).await?;
    let until = tokio::time::Instant::now() + GATHER_FOR;
    let mut batch = vec![first];
    while batch.len() < BATCH {
        let pending = batch.last().is_some_and(|e| e.delta > 0);
        let wait = if pending { GATHER_FOR } else { QUIET };
        let by = until.min(tokio::time::Instant::now() + wait);
        match tokio::time::timeout_at(by, next(watch)).await {
            Ok(entry) => batch.push(entry?),
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// The watch's next entry; its end is an error (the task starts again).
async fn next(watch: &mut kv::Watch) -> Result<kv::Entry, String> {
    match watch.next().await {
        Some(Ok(entry)) => Ok(entry),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the watch of the cluster's device book ended".into()),
    }
}
