//! A rule test file as written (TOML) and as it is run: [`TestFile::parse`]
//! reads the text, checks every case against the vocabulary and the region
//! map, and builds each case's events and expectations.
//!
//! Invariant: a [`TestFile`] that parsed can be run; every mistake in it is
//! reported at parse time with its line and column.

use super::series;
use crate::engine::rules::Mode;
use crate::geo::{self, RegionMap};
use crate::model::{CameraRef, Category, Event, Severity, Source};
use humantime_serde::Serde;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// The test epoch: offsets in a test file (`start`, `at`, points) count
/// from 2026-06-01T00:00:00Z, Unix ms.
pub const EPOCH_MS: i64 = 1_780_272_000_000;

/// Most events one case may hold, all series together.
pub const MAX_EVENTS: usize = 1_000_000;

/// Why a test file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RuleTestError {
    /// The test file is not valid TOML, has an unknown, missing or
    /// mistyped field, or a value that makes no sense (an unknown street,
    /// a bad series): fix the file at that line.
    #[error("line {line}, column {column}: {what}")]
    Invalid {
        /// 1-based line in the test file.
        line: usize,
        /// 1-based column (characters) in that line.
        column: usize,
        /// What is wrong.
        what: String,
    },
    /// The rules under test were refused (the rules file's own error).
    #[error("the rules under test are invalid: {0}")]
    Rules(#[from] crate::engine::rules::RulesError),
}

/// A parsed test file, ready to run.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The rules file to test, as written (relative to the test file);
    /// `None`: the embedded default rules.
    pub rules: Option<String>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One `[[test]]` case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// Line of its `[[test]]` table.
    pub line: usize,
    /// Which profile of the rules it runs.
    pub mode: Mode,
    /// Its events, in time order (ties in series order), each device's
    /// numbered from 0.
    pub events: Vec<Event>,
    /// What must come; empty for `expect_none`.
    pub expect: Vec<Expectation>,
}

/// One `[[test.expect]]`: a warning that must come.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The lead rule's category.
    pub category: Category,
    /// The severity after raising for independent sources.
    pub severity: Severity,
    /// The incident kind, if named.
    pub kind: Option<String>,
    /// The owning street's code, if named.
    pub street: Option<String>,
    /// When (offset ms from the epoch, inclusive range), if named.
    pub at: Option<(i64, i64)>,
    /// Exactly these source kinds (in wire-code order), if named.
    pub sources: Option<Vec<Source>>,
    /// More than one source kind, or exactly one, if named.
    pub multi_source: Option<bool>,
    /// The acknowledgement deadline, ms, if named.
    pub deadline_ms: Option<i64>,
    /// 1: a new order; n: the incident's n-th revision (an update).
    pub revision: u32,
    /// Line of its table in the test file.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(rename = "test", default)]
    tests: Vec<Spanned<CaseSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: Spanned<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    series: Vec<Spanned<SeriesSpec>>,
    #[serde(default)]
    expect: Vec<Spanned<ExpectSpec>>,
    #[serde(default)]
    expect_none: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesSpec {
    device: u64,
    source: Source,
    category: Category,
    #[serde(default)]
    street: Option<Spanned<String>>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    camera: Option<Spanned<String>>,
    #[serde(default)]
    values: Option<Spanned<String>>,
    #[serde(default)]
    start: Option<Serde<Duration>>,
    #[serde(default)]
    every: Option<Spanned<Serde<Duration>>>,
    #[serde(default)]
    points: Option<Vec<(PointTime, f64)>>,
}

/// A point's time: ms as a number, or a duration as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum PointTime {
    Ms(u64),
    Text(Serde<Duration>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSpec {
    category: Category,
    severity: Severity,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    street: Option<Spanned<String>>,
    #[serde(default)]
    at: Option<Serde<Duration>>,
    #[serde(default)]
    within: Option<Spanned<Vec<Serde<Duration>>>>,
    #[serde(default)]
    sources: Option<Vec<Source>>,
    #[serde(default)]
    multi_source: Option<bool>,
    #[serde(default)]
    deadline: Option<Serde<Duration>>,
    #[serde(default)]
    revision: Option<Spanned<u32>>,
}

/// Turns byte offsets into line and column of one text.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> (usize, usize) {
        let before = &self.0[..offset.min(self.0.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn line(&self, offset: usize) -> usize {
        self.at(offset).0
    }

    fn error(&self, offset: usize, what: impl Into<String>) -> RuleTestError {
        let (line, column) = self.at(offset);
        RuleTestError::Invalid {
            line,
            column,
            what: what.into(),
        }
    }
}

impl TestFile {
    /// Parses and checks a test file; streets are looked up in `map`.
    pub fn parse(text: &str, map: &RegionMap) -> Result<TestFile, RuleTestError> {
        let lines = Lines(text);
        let spec: FileSpec = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            lines.error(offset, e.message().trim_end().to_owned())
        })?;
        if spec.tests.is_empty() {
            return Err(lines.error(0, "no [[test]] case in the file"));
        }
        let file_mode = spec.mode.unwrap_or(Mode::Normal);
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut cases = Vec::with_capacity(spec.tests.len());
        for case in &spec.tests {
            let line = lines.line(case.span().start);
            let name = case.get_ref().name.get_ref();
            if let Some(first) = names.insert(name.clone(), line) {
                return Err(lines.error(
                    case.get_ref().name.span().start,
                    format!("a second case named {name:?} (the first is on line {first})"),
                ));
            }
            cases.push(build_case(&lines, case, line, file_mode, map)?);
        }
        Ok(TestFile {
            rules: spec.rules,
            cases,
        })
    }
}

fn build_case(
    lines: &Lines<'_>,
    spec: &Spanned<CaseSpec>,
    line: usize,
    file_mode: Mode,
    map: &RegionMap,
) -> Result<Case, RuleTestError> {
    let start = spec.span().start;
    let case = spec.get_ref();
    let name = case.name.get_ref().clone();
    if case.series.is_empty() {
        return Err(lines.error(start, format!("case {name:?} has no [[test.series]]")));
    }
    match (case.expect.is_empty(), case.expect_none) {
        (true, false) => {
            return Err(lines.error(
                start,
                format!(
                    "case {name:?} expects nothing: add [[test.expect]] tables, \
                     or `expect_none = true` for a case where no order may come"
                ),
            ))
        }
        (false, true) => {
            return Err(lines.error(
                start,
                format!("case {name:?} has both `expect_none = true` and [[test.expect]]"),
            ))
        }
        _ => {}
    }
    let mut timed: Vec<(i64, Event)> = Vec::new();
    for s in &case.series {
        readings(lines, s, map, &mut timed)?;
        if timed.len() > MAX_EVENTS {
            return Err(lines.error(
                s.span().start,
                format!("case {name:?} has more than {MAX_EVENTS} events"),
            ));
        }
    }
    // Stable: events at one time keep series order.
    timed.sort_by_key(|(t, _)| *t);
    let mut next_seq: BTreeMap<u64, u64> = BTreeMap::new();
    let events = timed
        .into_iter()
        .map(|(_, mut e)| {
            let seq = next_seq.entry(e.device).or_insert(0);
            e.seq = *seq;
            *seq += 1;
            e
        })
        .collect();
    let expect = case
        .expect
        .iter()
        .map(|x| expectation(lines, x, map))
        .collect::<Result<_, _>>()?;
    Ok(Case {
        name,
        line,
        mode: case.mode.unwrap_or(file_mode),
        events,
        expect,
    })
}

fn offset_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Looks a street code up, or says which codes there are.
fn street_point(
    lines: &Lines<'_>,
    code: &Spanned<String>,
    map: &RegionMap,
) -> Result<(f64, f64), RuleTestError> {
    map.street_by_code(code.get_ref())
        .and_then(|id| map.interior_point(id))
        .ok_or_else(|| {
            let known: Vec<String> = map
                .streets()
                .iter()
                .map(|s| format!("{} {}", s.code, s.name))
                .collect();
            lines.error(
                code.span().start,
                format!(
                    "street {:?} is not in the region map; its streets are: {}",
                    code.get_ref(),
                    known.join(", ")
                ),
            )
        })
}

/// Adds one series' events, with their offsets, to `out`.
fn readings(
    lines: &Lines<'_>,
    spec: &Spanned<SeriesSpec>,
    map: &RegionMap,
    out: &mut Vec<(i64, Event)>,
) -> Result<(), RuleTestError> {
    let at = spec.span().start;
    let s = spec.get_ref();
    let (lat, lon) = match (&s.street, s.lat, s.lon) {
        (Some(code), None, None) => street_point(lines, code, map)?,
        (None, Some(lat), Some(lon)) => (lat, lon),
        _ => {
            return Err(lines.error(
                at,
                "a series needs a place: `street = \"CODE\"`, or both `lat` and `lon`",
            ))
        }
    };
    let cell = geo::cell_of(lat, lon)
        .ok_or_else(|| lines.error(at, format!("({lat}, {lon}) is not a position")))?;
    let camera = match &s.camera {
        None => CameraRef::NONE,
        Some(code) => CameraRef::parse(code.get_ref()).ok_or_else(|| {
            lines.error(code.span().start, "a camera code is 20 digits (GB/T 28181)")
        })?,
    };
    let points: Vec<(i64, f64)> = match (&s.values, &s.points) {
        (Some(values), None) => {
            let steps = series::expand(values.get_ref())
                .map_err(|what| lines.error(values.span().start, what))?;
            let start = s.start.as_ref().map_or(0, |d| offset_ms(**d));
            let every = match &s.every {
                None => 1_000,
                Some(e) => {
                    let ms = offset_ms(**e.get_ref());
                    if ms <= 0 {
                        return Err(lines.error(e.span().start, "`every` must be longer than 0"));
                    }
                    ms
                }
            };
            steps
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    Some((start.saturating_add(every.saturating_mul(i as i64)), v?))
                })
                .collect()
        }
        (None, Some(points)) => {
            if s.start.is_some() || s.every.is_some() {
                return Err(lines.error(
                    at,
                    "`start` and `every` go with `values`; `points` give their own times",
                ));
            }
            points
                .iter()
                .map(|(t, v)| {
                    let t = match t {
                        PointTime::Ms(ms) => i64::try_from(*ms).unwrap_or(i64::MAX),
                        PointTime::Text(d) => offset_ms(**d),
                    };
                    if v.is_finite() {
                        Ok((t, *v))
                    } else {
                        Err(lines.error(at, "values must be finite"))
                    }
                })
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(lines.error(
                at,
                "a series needs exactly one of `values = \"1 2 3\"` and `points = [[0, 1.0]]`",
            ))
        }
    };
    if points.len() > MAX_EVENTS {
        return Err(lines.error(at, format!("more than {MAX_EVENTS} points")));
    }
    out.extend(points.into_iter().map(|(t, value)| {
        let time_ms = EPOCH_MS.saturating_add(t);
        (
            t,
            Event {
                device: s.device,
                seq: 0,
                time_ms,
                value,
                lat,
                lon,
                cell,
                category: s.category,
                source: s.source,
                camera,
            },
        )
    }));
    Ok(())
}

fn expectation(
    lines: &Lines<'_>,
    spec: &Spanned<ExpectSpec>,
    map: &RegionMap,
) -> Result<Expectation, RuleTestError> {
    let start = spec.span().start;
    let x = spec.get_ref();
    if let Some(code) = &x.street {
        street_point(lines, code, map)?;
    }
    let at = match (&x.at, &x.within) {
        (Some(_), Some(w)) => {
            return Err(lines.error(w.span().start, "give `at` or `within`, not both"))
        }
        (Some(at), None) => {
            let t = offset_ms(**at);
            Some((t, t))
        }
        (None, Some(w)) => match w.get_ref().as_slice() {
            [from, to] if **from <= **to => Some((offset_ms(**from), offset_ms(**to))),
            _ => {
                return Err(lines.error(
                    w.span().start,
                    "`within` is two times, the earlier first: within = [\"4s\", \"6s\"]",
                ))
            }
        },
        (None, None) => None,
    };
    let revision = match &x.revision {
        None => 1,
        Some(r) if *r.get_ref() >= 1 => *r.get_ref(),
        Some(r) => {
            return Err(lines.error(
                r.span().start,
                "`revision` counts from 1 (the new order); 2 is its first update",
            ))
        }
    };
    let sources = x.sources.clone().map(|mut s| {
        s.sort_unstable();
        s.dedup();
        s
    });
    if let (Some(s), Some(multi)) = (&sources, x.multi_source) {
        if (s.len() > 1) != multi {
            return Err(lines.error(start, "`sources` and `multi_source` disagree"));
        }
    }
    Ok(Expectation {
        category: x.category,
        severity: x.severity,
        kind: x.kind.clone(),
        street: x.street.as_ref().map(|s| s.get_ref().clone()),
        at,
        sources,
        multi_source: x.multi_source,
        deadline_ms: x.deadline.as_ref().map(|d| offset_ms(**d)),
        revision,
        line: lines.line(start),
    })
}
