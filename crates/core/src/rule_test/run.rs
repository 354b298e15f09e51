//! Running a case: its events go through a [`Pipeline`] on a manual clock
//! (the clock is each event's time, so nothing is late), then the clock
//! moves past every window so every incident closes; the warnings that
//! came are matched against the expectations.
//!
//! Invariant: the same file and rules give the same results, every time
//! (the engine is deterministic and this reads no clock).

use super::file::{Case, Expectation, RuleTestError, TestFile, EPOCH_MS};
use super::outcome::{Came, CaseResult};
use crate::engine::pipeline::Pipeline;
use crate::engine::rules::{Profiles, DEFAULT_RULES};
use crate::engine::{EngineSettings, RuleSet, Warning};
use crate::geo::RegionMap;
use std::sync::Arc;

/// Shards of the pipeline a case runs on: more than one, as in the hub,
/// so a neighbourhood across a shard border is run as the hub runs it.
const SHARDS: usize = 4;

impl TestFile {
    /// Runs every case against `rules` (the text of the rules file the
    /// test names; `None`: the embedded default rules). Streets of the
    /// warnings are looked up in `map`.
    pub fn run(
        &self,
        rules: Option<&str>,
        map: &RegionMap,
    ) -> Result<Vec<CaseResult>, RuleTestError> {
        let profiles = Profiles::from_toml(rules.unwrap_or(DEFAULT_RULES))?;
        Ok(self
            .cases
            .iter()
            .map(|case| run_case(case, profiles.get(case.mode).clone(), map))
            .collect())
    }
}

/// Runs one case on a fresh engine.
pub fn run_case(case: &Case, rules: Arc<RuleSet>, map: &RegionMap) -> CaseResult {
    let settings = EngineSettings::default();
    let mut pipeline = Pipeline::new(rules, settings, SHARDS);
    let mut came = Vec::new();
    for batch in case.events.chunk_by(|a, b| a.time_ms == b.time_ms) {
        let now = batch[0].time_ms;
        pipeline.handle_timeout(now);
        pipeline.handle_events(now, 0, batch);
        came.extend(pipeline.drain_warnings().iter().map(|w| seen(w, map)));
    }
    if let Some(last) = case.events.last() {
        // Past the watermark's lateness and idle timeout and the
        // correlation window: every incident closes.
        let settle = settings.allowed_lateness_ms
            + settings.idle_timeout_ms
            + settings.correlation_window_ms
            + 1_000;
        pipeline.handle_timeout(last.time_ms.saturating_add(settle));
        came.extend(pipeline.drain_warnings().iter().map(|w| seen(w, map)));
    }
    let matched = assign(&case.expect, &came);
    let unexpected = (0..came.len())
        .filter(|&i| came[i].revision == 1 && !matched.contains(&Some(i)))
        .collect();
    CaseResult {
        name: case.name.clone(),
        line: case.line,
        expected: case.expect.clone(),
        came,
        matched,
        unexpected,
    }
}

/// A warning as the test reports it.
fn seen(w: &Warning, map: &RegionMap) -> Came {
    let at = if w.revision == 1 {
        w.detections.first().map_or(w.last_ms, |d| d.time_ms)
    } else {
        w.last_ms
    };
    Came {
        incident: w.incident,
        revision: w.revision,
        kind: w.kind.to_string(),
        category: w.category,
        severity: w.severity,
        street: map.street_of(w.cell).map(|id| {
            let s = map.street(id);
            (s.code.clone(), s.name.clone())
        }),
        at_ms: at - EPOCH_MS,
        sources: w.sources.clone(),
        deadline_ms: w.deadline_ms,
    }
}

/// Whether a warning is what an expectation asks for.
fn fits(x: &Expectation, c: &Came) -> bool {
    x.revision == c.revision
        && x.category == c.category
        && x.severity == c.severity
        && x.kind.as_ref().is_none_or(|k| *k == c.kind)
        && x.street
            .as_ref()
            .is_none_or(|s| c.street.as_ref().is_some_and(|(code, _)| code == s))
        && x.at.is_none_or(|(from, to)| (from..=to).contains(&c.at_ms))
        && x.sources.as_ref().is_none_or(|s| *s == c.sources)
        && x.multi_source.is_none_or(|m| m == (c.sources.len() > 1))
        && x.deadline_ms.is_none_or(|d| d == c.deadline_ms)
}

/// Gives each expectation a warning of its own where one can be found,
/// as many as possible (augmenting paths: an earlier expectation gives
/// up a warning another needs if it has a second choice).
fn assign(expected: &[Expectation], came: &[Came]) -> Vec<Option<usize>> {
    let fit: Vec<Vec<usize>> = expected
        .iter()
        .map(|x| (0..came.len()).filter(|&i| fits(x, &came[i])).collect())
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; came.len()];
    for x in 0..expected.len() {
        let mut seen = vec![false; came.len()];
        augment(x, &fit, &mut owner, &mut seen);
    }
    let mut matched = vec![None; expected.len()];
    for (i, o) in owner.iter().enumerate() {
        if let Some(x) = *o {
            matched[x] = Some(i);
        }
    }
    matched
}

fn augment(x: usize, fit: &[Vec<usize>], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &i in &fit[x] {
        if seen[i] {
            continue;
        }
        seen[i] = true;
        if owner[i].is_none_or(|other| augment(other, fit, owner, seen)) {
            owner[i] = Some(x);
            return true;
        }
    }
    false
}
