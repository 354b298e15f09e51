//! The rules in force and the mode (平急转换), swapped while the hub runs:
//! a new rules file (PUT /api/rules, SIGHUP) is checked whole, both
//! profiles compiled, before anything changes; then the active profile
//! travels to every shard on its queue (in order with the events, so no
//! batch is half under old and half under new rules) and to the
//! correlator. Ingest never pauses.

use crate::engine::rules::{Mode, Profiles, RulesError};
use crate::engine::RuleSet;
use crate::runtime::threads::ShardMsg;
use crate::runtime::Shared;
use std::sync::{Arc, Mutex};

/// The rules source, both compiled profiles, and the mode.
pub struct RulesControl {
    state: Mutex<State>,
    /// Serializes swaps so they reach the threads in the order decided.
    swap: tokio::sync::Mutex<()>,
}

struct State {
    source: String,
    profiles: Profiles,
    mode: Mode,
}

impl RulesControl {
    /// Rules compiled from `source`, in normal mode.
    pub fn new(source: String, profiles: Profiles) -> RulesControl {
        RulesControl {
            state: Mutex::new(State {
                source,
                profiles,
                mode: Mode::Normal,
            }),
            swap: tokio::sync::Mutex::new(()),
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        self.state.lock().expect("rules lock").mode
    }

    /// The mode, the rules source and the active rules.
    pub fn snapshot(&self) -> (Mode, String, Arc<RuleSet>) {
        let s = self.state.lock().expect("rules lock");
        (s.mode, s.source.clone(), s.profiles.get(s.mode).clone())
    }
}

/// Checks a rules file and, if good, puts it in force. On error nothing
/// changes.
pub async fn replace(shared: &Shared, source: String) -> Result<usize, RulesError> {
    let profiles = Profiles::from_toml(&source)?;
    let _order = shared.rules.swap.lock().await;
    let active = {
        let mut s = shared.rules.state.lock().expect("rules lock");
        s.source = source;
        s.profiles = profiles;
        s.profiles.get(s.mode).clone()
    };
    let n = active.rules().count();
    push(shared, active).await;
    shared.metrics.rules_reloads.inc();
    Ok(n)
}

/// Switches the mode.
pub async fn set_mode(shared: &Shared, mode: Mode) {
    let _order = shared.rules.swap.lock().await;
    let active = {
        let mut s = shared.rules.state.lock().expect("rules lock");
        s.mode = mode;
        s.profiles.get(mode).clone()
    };
    shared
        .metrics
        .emergency_mode
        .set(i64::from(mode == Mode::Emergency));
    push(shared, active).await;
    tracing::warn!(mode = mode.name(), "mode switched");
}

async fn push(shared: &Shared, rules: Arc<RuleSet>) {
    let to_shards = || ShardMsg::Rules(rules.clone());
    if shared.runtime.submit_to_all(to_shards).await.is_err() {
        return;
    }
    let tx = shared.rules_tx.clone();
    let _ = tokio::task::spawn_blocking(move || tx.send(rules)).await;
}
