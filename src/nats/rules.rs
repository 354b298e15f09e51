//! The rules in force and the mode (平急转换) shared by the nodes through
//! the bucket `{prefix}_rules` (keys decided in the core's
//! `cluster::rules`: the rules file's text as a desk put it, and the
//! mode; a few revisions of each kept).
//!
//! A change taken on any node (PUT /api/rules, PUT /api/mode, SIGHUP) is
//! written by compare-and-set on the revision the desk read, or the one in
//! force on the node, and answered once JetStream acknowledged it; then it
//! is put in force on that node (`runtime::rules_control`). Every node
//! follows the bucket and puts in force what is newer than what it has,
//! exactly as a change made on it: its shards and its dispatcher's
//! correlator get the new active profile. A node starting reads the
//! bucket first: rules there win over its own rules file; an empty bucket
//! is given this node's (a create, so the first node to start decides).

use super::connect::Nats;
use crate::cluster::rules::{after_lost, mode_value, parse_mode, Contest, RulesKey, WriteError};
use crate::engine::rules::Profiles;
use crate::metrics::Metrics;
use crate::runtime::cluster_shared::{Answer, SharedRules};
use crate::runtime::rules_control::RulesControl;
use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// How long a write is tried again while JetStream does not take it (an
/// election, a reconnect), as the device book's are.
const RETRY_FOR: Duration = Duration::from_secs(10);
/// How long a node starting waits for the bucket's rules before it serves
/// with its own (the follower goes on and puts them in force when it can).
const FIRST_LOAD_WITHIN: Duration = Duration::from_secs(20);
/// Reads of a key at start: another node's seed may come between a read
/// that found it empty and this node's create.
const LOAD_TRIES: usize = 3;

/// The cluster's rules and mode as the HTTP handlers write them.
pub struct NatsRules {
    kv: kv::Store,
    metrics: Arc<Metrics>,
}

/// Puts the bucket's rules and mode in force here (or seeds an empty
/// bucket with this node's), waiting for it at most
/// [`FIRST_LOAD_WITHIN`], then follows the bucket in a task.
pub async fn start(
    nats: &Nats,
    control: RulesControl,
    metrics: Arc<Metrics>,
) -> (Arc<NatsRules>, tokio::task::JoinHandle<()>) {
    let shared = Arc::new(NatsRules {
        kv: nats.rules.clone(),
        metrics,
    });
    let (ready, loaded) = tokio::sync::oneshot::channel();
    let follower = Follower {
        shared: shared.clone(),
        control,
        ready: Some(ready),
    };
    let task = tokio::spawn(follower.run());
    if tokio::time::timeout(FIRST_LOAD_WITHIN, loaded)
        .await
        .is_err()
    {
        tracing::warn!(
            "the cluster's rules were not read within {FIRST_LOAD_WITHIN:?}: serving this node's own until they are"
        );
    }
    (shared, task)
}

impl SharedRules for NatsRules {
    fn write(
        &self,
        key: RulesKey,
        value: String,
        expected: Option<u64>,
    ) -> Answer<'_, Result<u64, WriteError>> {
        Box::pin(self.write_now(key, value, expected))
    }
}

impl NatsRules {
    /// Writes by compare-and-set on `expected` (none: a create), tried
    /// again for [`RETRY_FOR`] while JetStream does not answer; a lost
    /// compare-and-set is decided from what the bucket holds then (the
    /// same value: made, e.g. a write whose answer was lost).
    async fn write_now(
        &self,
        key: RulesKey,
        value: String,
        expected: Option<u64>,
    ) -> Result<u64, WriteError> {
        let bytes = Bytes::from(value.clone().into_bytes());
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let written = match expected {
                Some(r) => self
                    .kv
                    .update(key.name(), bytes.clone(), r)
                    .await
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    }),
                None => self
                    .kv
                    .create(key.name(), bytes.clone())
                    .await
                    .map_err(|e| {
                        (
                            e.kind() == kv::CreateErrorKind::AlreadyExists,
                            e.to_string(),
                        )
                    }),
            };
            match written {
                Ok(revision) => return Ok(revision),
                Err((true, _)) => return self.contest(key, &value, expected).await,
                Err((false, e)) if start.elapsed() >= RETRY_FOR => {
                    return Err(self.failed(format!("{}: {e}", key.name())))
                }
                Err(_) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// A lost compare-and-set: made if the bucket holds the same value,
    /// else a conflict.
    async fn contest(
        &self,
        key: RulesKey,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64, WriteError> {
        let current = self
            .kv
            .entry(key.name())
            .await
            .map_err(|e| self.failed(e))?
            .filter(|e| e.operation == kv::Operation::Put);
        let now = current.as_ref().map(|e| (&e.value[..], e.revision));
        match after_lost(value.as_bytes(), now) {
            Contest::Same(revision) => Ok(revision),
            Contest::Lost { current } => {
                tracing::info!(
                    key = key.name(),
                    ?expected,
                    ?current,
                    "a change of the cluster's rules lost to another's"
                );
                Err(WriteError::Conflict {
                    key: key.name(),
                    expected,
                    current,
                })
            }
        }
    }

    /// Counts a failed write or read and says why.
    fn failed(&self, e: impl std::fmt::Display) -> WriteError {
        self.metrics
            .cluster_errors
            .with_label_values(&["rules"])
            .inc();
        WriteError::Unavailable(e.to_string())
    }
}

/// The task that keeps this node's rules and mode the bucket's.
struct Follower {
    shared: Arc<NatsRules>,
    control: RulesControl,
    /// Told once, after the first load.
    ready: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Follower {
    async fn run(mut self) {
        loop {
            let Err(e) = self.follow().await;
            self.shared.failed(&e);
            tracing::warn!(error = %e, "following the cluster's rules: starting again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Loads (first time) or catches up, then puts in force every newer
    /// entry, until an error.
    async fn follow(&mut self) -> Result<std::convert::Infallible, String> {
        if let Some(ready) = self.ready.take() {
            for key in [RulesKey::Rules, RulesKey::Mode] {
                if let Err(e) = self.load(key).await {
                    // Not ready yet: the next round loads again.
                    self.ready = Some(ready);
                    return Err(e);
                }
            }
            let _ = ready.send(());
        }
        // The last value of each key, then every change: what is in force
        // already is passed over.
        let mut watch = self
            .shared
            .kv
            .watch_with_history(">")
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let entry = match watch.next().await {
                Some(Ok(entry)) => entry,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the watch of the cluster's rules ended".into()),
            };
            self.apply(&entry, false).await;
        }
    }

    /// Puts the bucket's value of `key` in force, or gives an empty key
    /// this node's.
    async fn load(&self, key: RulesKey) -> Result<(), String> {
        for _ in 0..LOAD_TRIES {
            let entry = self
                .shared
                .kv
                .entry(key.name())
                .await
                .map_err(|e| e.to_string())?;
            if let Some(e) = entry.filter(|e| e.operation == kv::Operation::Put) {
                self.apply(&e, true).await;
                return Ok(());
            }
            let own = match key {
                RulesKey::Rules => self.control.snapshot().1,
                RulesKey::Mode => mode_value(self.control.mode()).to_owned(),
            };
            match self.shared.write_now(key, own, None).await {
                Ok(revision) => {
                    self.control.seeded(key, revision);
                    tracing::info!(
                        key = key.name(),
                        revision,
                        "the cluster had no {}: this node's written there",
                        key.name()
                    );
                    return Ok(());
                }
                // Another node's came first: read it.
                Err(WriteError::Conflict { .. }) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!(
            "the cluster's {} changed under {LOAD_TRIES} reads",
            key.name()
        ))
    }

    /// Puts an entry of the bucket in force if it is newer than what is
    /// in force (`at_start`: the node's first read).
    async fn apply(&self, entry: &kv::Entry, at_start: bool) {
        let Some(key) = RulesKey::parse(&entry.key) else {
            return;
        };
        let revision = entry.revision;
        if self.control.revision(key).is_some_and(|r| r >= revision) {
            return;
        }
        if entry.operation != kv::Operation::Put {
            tracing::warn!(
                key = key.name(),
                revision,
                "the cluster's {} was removed: this node keeps what it has in force",
                key.name()
            );
            return;
        }
        let taken = match key {
            RulesKey::Rules => self.apply_rules(&entry.value, revision, at_start).await,
            RulesKey::Mode => self.apply_mode(&entry.value, revision).await,
        };
        if taken {
            self.shared
                .metrics
                .cluster_rules_applied
                .with_label_values(&[key.name()])
                .inc();
        }
    }

    async fn apply_rules(&self, value: &[u8], revision: u64, at_start: bool) -> bool {
        let compiled = std::str::from_utf8(value)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                Profiles::from_toml(t)
                    .map(|p| (t.to_owned(), p))
                    .map_err(|e| e.to_string())
            });
        let (text, profiles) = match compiled {
            Ok(c) => c,
            Err(e) => {
                self.shared
                    .failed(format!("the rules of revision {revision}: {e}"));
                tracing::error!(revision, error = %e, "the cluster's rules do not compile on this node: the rules in force stay");
                return false;
            }
        };
        let own = self.control.snapshot().1;
        let differs = text != own;
        let (taken, rules) = self.control.put_rules(text, profiles, Some(revision)).await;
        if !taken {
            return false;
        }
        if at_start && differs {
            tracing::warn!(
                revision,
                rules,
                "the cluster's rules are in force, not this node's rules file (change them with PUT /api/rules)"
            );
        } else if at_start {
            tracing::info!(
                revision,
                rules,
                "the cluster's rules are in force (the same as this node's rules file)"
            );
        } else {
            tracing::warn!(revision, rules, "rules put in force from the cluster");
        }
        true
    }

    async fn apply_mode(&self, value: &[u8], revision: u64) -> bool {
        let Some(mode) = parse_mode(value) else {
            self.shared.failed(format!(
                "the mode of revision {revision} is neither normal nor emergency"
            ));
            tracing::error!(
                revision,
                "the cluster's mode cannot be read: the mode in force stays"
            );
            return false;
        };
        let taken = self.control.put_mode(mode, Some(revision)).await;
        if taken {
            tracing::warn!(
                revision,
                mode = mode.name(),
                "mode put in force from the cluster"
            );
        }
        taken
    }
}
