//! The rules in force and the mode (平急转换), swapped while the hub runs:
//! a new rules file (PUT /api/rules, SIGHUP) is checked whole, both
//! profiles compiled, before anything changes; then the active profile
//! travels to every shard on its queue (in order with the events, so no
//! batch is half under old and half under new rules) and to the
//! correlator. Ingest never pauses.
//!
//! In the cluster mode the rules and the mode are the cluster's: a change
//! is written to the cluster first (a compare-and-set, through the seam
//! [`crate::runtime::cluster_shared::SharedRules`]) and put in force here
//! once it is stored; every node also puts in force what it sees in the
//! cluster. Each change put in force carries the cluster's revision, and
//! only a newer one than in force is taken (the core's
//! `cluster::rules::InForce`), so this node's own change seen again, or
//! seen before its write is answered, is put in force once.

use crate::cluster::rules::{expected, mode_value, InForce, RulesKey, WriteError};
use crate::engine::rules::{Mode, Profiles, RulesError};
use crate::engine::RuleSet;
use crate::metrics::Metrics;
use crate::runtime::handle::Handle;
use crate::runtime::threads::ShardMsg;
use crate::runtime::Shared;
use crossbeam_channel::Sender;
use std::sync::{Arc, Mutex};

/// The rules source, both compiled profiles, and the mode; cloned, it is
/// the same (the cluster's follower holds one).
#[derive(Clone)]
pub struct RulesControl {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Serializes swaps so they reach the threads in the order decided.
    swap: tokio::sync::Mutex<()>,
    ends: Ends,
}

/// Where the rules in force go, and what counts them.
pub struct Ends {
    /// The engine's shards.
    pub shards: Handle,
    /// The correlator (the dispatcher's thread).
    pub correlator: Sender<Arc<RuleSet>>,
    /// `tongguan_rules_reloads_total`, `tongguan_emergency_mode` and the
    /// cluster's revision in force.
    pub metrics: Arc<Metrics>,
}

struct State {
    source: String,
    profiles: Profiles,
    mode: Mode,
    /// The cluster's revisions in force (none in the embedded hub).
    in_force: InForce,
}

/// Why a change of the rules or the mode was not made; the rules and
/// the mode in force stay.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The rules file does not compile.
    #[error(transparent)]
    Invalid(#[from] RulesError),
    /// The cluster refused the change (a conflict) or did not store it.
    #[error(transparent)]
    Cluster(#[from] WriteError),
}

/// A change made: the rules now in force, and the cluster's revision of
/// what was changed (none in the embedded hub).
#[derive(Debug, Clone, Copy)]
pub struct Changed {
    /// How many rules the active profile has.
    pub rules: usize,
    /// The cluster's revision of the key changed.
    pub revision: Option<u64>,
}

impl RulesControl {
    /// Rules compiled from `source`, in normal mode, going to `ends`.
    pub fn new(source: String, profiles: Profiles, ends: Ends) -> RulesControl {
        RulesControl {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    source,
                    profiles,
                    mode: Mode::Normal,
                    in_force: InForce::default(),
                }),
                swap: tokio::sync::Mutex::new(()),
                ends,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("rules lock")
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        self.state().mode
    }

    /// The mode, the rules source and the active rules.
    pub fn snapshot(&self) -> (Mode, String, Arc<RuleSet>) {
        let s = self.state();
        (s.mode, s.source.clone(), s.profiles.get(s.mode).clone())
    }

    /// The cluster's revision of `key` in force (none: the embedded hub,
    /// or nothing of the cluster's yet).
    pub fn revision(&self, key: RulesKey) -> Option<u64> {
        self.state().in_force.revision(key)
    }

    /// Takes the cluster's revision `revision` of `key` as in force
    /// without a change: this node wrote what it has in force there.
    pub fn seeded(&self, key: RulesKey, revision: u64) {
        let mut s = self.state();
        let _ = s.in_force.take(key, revision);
        if key == RulesKey::Rules {
            self.inner
                .ends
                .metrics
                .cluster_rules_revision
                .set(revision as i64);
        }
    }

    /// Puts rules in force, the cluster's revision `revision` of them (none:
    /// a change of this node's own, always taken); answers whether they
    /// were taken (not if that revision or a newer one is in force) and
    /// how many rules the active profile now has.
    pub async fn put_rules(
        &self,
        source: String,
        profiles: Profiles,
        revision: Option<u64>,
    ) -> (bool, usize) {
        let _order = self.inner.swap.lock().await;
        let active = {
            let mut s = self.state();
            if let Some(r) = revision {
                if !s.in_force.take(RulesKey::Rules, r) {
                    return (false, s.profiles.get(s.mode).rules().count());
                }
            }
            s.source = source;
            s.profiles = profiles;
            s.profiles.get(s.mode).clone()
        };
        let n = active.rules().count();
        self.push(active).await;
        self.inner.ends.metrics.rules_reloads.inc();
        if let Some(r) = revision {
            // Once the shards have the rules on their queues.
            self.inner.ends.metrics.cluster_rules_revision.set(r as i64);
        }
        (true, n)
    }

    /// Switches the mode, the cluster's revision `revision` of it (none: a
    /// switch of this node's own, always taken); answers whether it was
    /// taken (not if that revision or a newer one is in force).
    pub async fn put_mode(&self, mode: Mode, revision: Option<u64>) -> bool {
        let _order = self.inner.swap.lock().await;
        let active = {
            let mut s = self.state();
            if let Some(r) = revision {
                if !s.in_force.take(RulesKey::Mode, r) {
                    return false;
                }
                if s.mode == mode {
                    // The cluster's revision of the mode in force already
                    // (a node starting): nothing to switch.
                    return true;
                }
            }
            s.mode = mode;
            s.profiles.get(mode).clone()
        };
        self.inner
            .ends
            .metrics
            .emergency_mode
            .set(i64::from(mode == Mode::Emergency));
        self.push(active).await;
        tracing::warn!(mode = mode.name(), "mode switched");
        true
    }

    async fn push(&self, rules: Arc<RuleSet>) {
        let to_shards = || ShardMsg::Rules(rules.clone());
        if self
            .inner
            .ends
            .shards
            .submit_to_all(to_shards)
            .await
            .is_err()
        {
            return;
        }
        let tx = self.inner.ends.correlator.clone();
        let _ = tokio::task::spawn_blocking(move || tx.send(rules)).await;
    }
}

/// Checks a rules file and, if good, puts it in force (in the cluster
/// mode: written to the cluster against the revision in force first). On
/// error nothing changes.
pub async fn replace(shared: &Shared, source: String) -> Result<usize, ChangeError> {
    change_rules(shared, source, None).await.map(|c| c.rules)
}

/// Checks a rules file and, if good, puts it in force; in the cluster
/// mode it is first written to the cluster against the revision `asked`
/// (the one the desk read), else the one in force here, and a change
/// made meanwhile by another is a [`WriteError::Conflict`]. On error
/// nothing changes.
pub async fn change_rules(
    shared: &Shared,
    source: String,
    asked: Option<u64>,
) -> Result<Changed, ChangeError> {
    let profiles = Profiles::from_toml(&source)?;
    let control = &shared.rules;
    let revision = match &shared.cluster {
        None => None,
        Some(cluster) => {
            let against = expected(asked, control.revision(RulesKey::Rules));
            let r = cluster
                .rules
                .write(RulesKey::Rules, source.clone(), against)
                .await?;
            Some(r)
        }
    };
    let (_, rules) = control.put_rules(source, profiles, revision).await;
    Ok(Changed { rules, revision })
}

/// Switches the mode; in the cluster mode it is first written to the
/// cluster, against the revision `asked` or else the one in force here,
/// as [`change_rules`] does. Answers the cluster's revision of the mode.
pub async fn change_mode(
    shared: &Shared,
    mode: Mode,
    asked: Option<u64>,
) -> Result<Option<u64>, ChangeError> {
    let control = &shared.rules;
    let revision = match &shared.cluster {
        None => None,
        Some(cluster) => {
            let against = expected(asked, control.revision(RulesKey::Mode));
            let value = mode_value(mode).to_owned();
            Some(cluster.rules.write(RulesKey::Mode, value, against).await?)
        }
    };
    control.put_mode(mode, revision).await;
    Ok(revision)
}
