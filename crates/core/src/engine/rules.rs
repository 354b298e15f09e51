//! Rules: what turns events into detections, per category. Written in TOML
//! (`[[rule]]` tables), checked and compiled into a [`RuleSet`] the shards
//! read without locks (it is shared behind an `Arc` and never mutated).
//!
//! One rule per category. A rule names its incident kind: detections of
//! rules with the same kind (smoke and camera fire are both `fire`)
//! correlate into one multi-source warning.

use crate::model::{Category, Severity};
use crate::vocabulary::vocabulary;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The default rules, embedded in the binary.
pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// A rules file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    /// The emergency profile's file-wide settings.
    #[serde(default)]
    pub emergency: EmergencyProfile,
    /// The rules, one per category.
    #[serde(rename = "rule", default)]
    pub rules: Vec<RuleSpec>,
}

/// `[emergency]`: how the emergency profile (平急转换: typhoon and flood
/// days) differs from normal, file-wide. Each rule may also override its
/// own numbers in a `[rule.emergency]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmergencyProfile {
    /// Every deadline is multiplied by this in emergency mode (0 < x <= 1).
    #[serde(default = "one")]
    pub deadline_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for EmergencyProfile {
    fn default() -> Self {
        EmergencyProfile {
            deadline_scale: 1.0,
        }
    }
}

/// `[rule.emergency]`: a rule's numbers in emergency mode; what is absent
/// stays as in normal mode.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleOverride {
    /// Emergency limit.
    #[serde(default)]
    pub limit: Option<f64>,
    /// Emergency clear level.
    #[serde(default)]
    pub clear: Option<f64>,
    /// Emergency hold.
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub hold: Option<Duration>,
    /// Emergency count.
    #[serde(default)]
    pub count: Option<u32>,
    /// Emergency window.
    #[serde(default, with = "humantime_serde")]
    pub window: Option<Duration>,
    /// Emergency severity.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Emergency deadline (instead of the scaled one).
    #[serde(default, with = "humantime_serde")]
    pub deadline: Option<Duration>,
    /// Emergency accept limit (instead of the scaled one).
    #[serde(default, with = "humantime_serde")]
    pub accept: Option<Duration>,
}

vocabulary! {
    /// Which rules are in force.
    #[derive(serde::Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Mode {
        /// Everyday rules.
        Normal => "normal",
        /// The emergency profile (平急转换).
        Emergency => "emergency",
    }
}

/// Both profiles of one rules file, compiled.
#[derive(Debug, Clone)]
pub struct Profiles {
    /// Everyday rules.
    pub normal: Arc<RuleSet>,
    /// The emergency profile.
    pub emergency: Arc<RuleSet>,
}

impl Profiles {
    /// Parses and compiles a rules file's two profiles; any error in either
    /// refuses the whole file.
    pub fn from_toml(text: &str) -> Result<Profiles, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RulesError::Parse(e.to_string()))?;
        let scale = file.emergency.deadline_scale;
        if !(scale > 0.0 && scale <= 1.0) {
            return Err(RulesError::Parse(format!(
                "emergency.deadline_scale must be in (0, 1], not {scale}"
            )));
        }
        if file.rules.is_empty() {
            // An empty body would silence every alarm of the district.
            return Err(RulesError::Parse(
                "规则文件中没有规则 / the rules file has no [[rule]]: a hub with no rules raises no alarm".into(),
            ));
        }
        let normal = RuleSet::compile(&file.rules)?;
        let emergency_specs: Vec<RuleSpec> = file
            .rules
            .iter()
            .map(|spec| {
                let o = spec.emergency.clone().unwrap_or_default();
                RuleSpec {
                    limit: o.limit.or(spec.limit),
                    clear: o.clear.or(spec.clear),
                    hold: o.hold.or(spec.hold),
                    count: o.count.or(spec.count),
                    window: o.window.or(spec.window),
                    severity: o.severity.unwrap_or(spec.severity),
                    deadline: o.deadline.unwrap_or_else(|| scaled(spec.deadline, scale)),
                    accept: o.accept.or(spec.accept.map(|a| scaled(a, scale))),
                    emergency: None,
                    ..spec.clone()
                }
            })
            .collect();
        let emergency = RuleSet::compile(&emergency_specs).map_err(|e| match e {
            RulesError::Rule { name, what } => RulesError::Rule {
                name,
                what: format!("in the emergency profile: {what}"),
            },
            other => other,
        })?;
        Ok(Profiles {
            normal: Arc::new(normal),
            emergency: Arc::new(emergency),
        })
    }

    /// The rules of a mode.
    pub fn get(&self, mode: Mode) -> &Arc<RuleSet> {
        match mode {
            Mode::Normal => &self.normal,
            Mode::Emergency => &self.emergency,
        }
    }
}

/// `d` times the emergency scale (as it was when the scale cannot apply).
fn scaled(d: Duration, scale: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * scale).unwrap_or(d)
}

/// How a rule decides that a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RuleKind {
    /// Value at or above `limit` for `for`; clears at or below `clear`.
    Above,
    /// Value at or below `limit` for `for`; clears at or above `clear`.
    Below,
    /// Value rising by at least `limit` per minute, measured between
    /// readings of one device at least `window` apart (default 1 minute, so
    /// jitter between close readings is not taken for a trend); clears
    /// when the rise per minute is at or below `clear`.
    Rate,
    /// At least `count` events of the category in one cell within `window`.
    Count,
}

/// One rule as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    /// A name for logs and orders.
    pub name: String,
    /// The category it watches (snake_case name).
    pub category: String,
    /// How it decides.
    pub kind: RuleKind,
    /// The limit (above, below, rate).
    #[serde(default)]
    pub limit: Option<f64>,
    /// The clear level (hysteresis); defaults to the limit.
    #[serde(default)]
    pub clear: Option<f64>,
    /// How long the limit must hold before the rule fires.
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub hold: Option<Duration>,
    /// Events needed (count rules).
    #[serde(default)]
    pub count: Option<u32>,
    /// Window for count rules; shortest measuring interval for rate rules.
    #[serde(default, with = "humantime_serde")]
    pub window: Option<Duration>,
    /// Severity of a single-source warning.
    pub severity: Severity,
    /// Incident kind for correlation; defaults to the category name.
    #[serde(default)]
    pub incident: Option<String>,
    /// Time the street has to acknowledge an order.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
    /// Time the street has to accept (签收) an order, when the rule sets
    /// one (at most the deadline); without it only the deadline is
    /// watched, as for clients that only acknowledge.
    #[serde(default, with = "humantime_serde")]
    pub accept: Option<Duration>,
    /// The disposal plan (处置方案) sent with the order.
    pub plan: String,
    /// Overrides in emergency mode.
    #[serde(default)]
    pub emergency: Option<RuleOverride>,
}

/// A rule ready for the engine: times in milliseconds, names resolved.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name.
    pub name: Arc<str>,
    /// The category it watches.
    pub category: Category,
    /// How it decides, with its numbers.
    pub test: Test,
    /// Severity of a single-source warning.
    pub severity: Severity,
    /// Index of its incident kind in [`RuleSet::incident_kinds`].
    pub incident: u16,
    /// Acknowledgement deadline, ms.
    pub deadline_ms: i64,
    /// Accept limit, ms, when the rule sets one.
    pub accept_ms: Option<i64>,
    /// The disposal plan.
    pub plan: Arc<str>,
}

/// A rule's decision, with its numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Test {
    /// A `kind = "above"` rule (see `RuleKind::Above`).
    Above {
        /// Fires at or above this.
        limit: f64,
        /// Clears at or below this.
        clear: f64,
        /// For at least this long, ms.
        hold_ms: i64,
    },
    /// A `kind = "below"` rule (see `RuleKind::Below`).
    Below {
        /// Fires at or below this.
        limit: f64,
        /// Clears at or above this.
        clear: f64,
        /// For at least this long, ms.
        hold_ms: i64,
    },
    /// A `kind = "rate"` rule (see `RuleKind::Rate`).
    Rate {
        /// Fires at or above this rise per minute.
        limit_per_min: f64,
        /// Clears at or below this rise per minute.
        clear_per_min: f64,
        /// Readings closer than this to the reference are not measured, ms.
        interval_ms: i64,
    },
    /// A `kind = "count"` rule (see `RuleKind::Count`).
    Count {
        /// Events needed.
        count: u32,
        /// Within this window, ms.
        window_ms: i64,
    },
}

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Not valid TOML, or a field unknown or of the wrong type.
    #[error("{0}")]
    Parse(String),
    /// A rule that makes no sense.
    #[error("rule {name:?}: {what}")]
    Rule {
        /// The rule's name.
        name: String,
        /// What is wrong.
        what: String,
    },
}

/// Longest count a count rule may ask for (it keeps that many timestamps
/// per cell).
pub(crate) const MAX_COUNT: u32 = 64;

/// The compiled rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    by_category: Vec<Option<Rule>>,
    incident_kinds: Vec<Arc<str>>,
}

impl RuleSet {
    /// The embedded default rules.
    pub fn defaults() -> RuleSet {
        RuleSet::from_toml(DEFAULT_RULES).expect("embedded default rules are valid")
    }

    /// Parses and compiles a rules file.
    pub fn from_toml(text: &str) -> Result<RuleSet, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RulesError::Parse(e.to_string()))?;
        RuleSet::compile(&file.rules)
    }

    /// Compiles rule specs.
    pub(crate) fn compile(specs: &[RuleSpec]) -> Result<RuleSet, RulesError> {
        let mut by_category: Vec<Option<Rule>> = vec![None; Category::ALL.len()];
        let mut incident_kinds: Vec<Arc<str>> = Vec::new();
        for spec in specs {
            let bad = |what: String| RulesError::Rule {
                name: spec.name.clone(),
                what,
            };
            let category = Category::from_name(&spec.category).ok_or_else(|| {
                let known: Vec<&str> = Category::ALL.iter().map(|c| c.name()).collect();
                bad(format!(
                    "unknown category {:?}; expected one of {}",
                    spec.category,
                    known.join(", ")
                ))
            })?;
            if by_category[category.index()].is_some() {
                return Err(bad(format!("a second rule for category {category}")));
            }
            let need = |v: Option<f64>, field: &str| {
                v.filter(|x| x.is_finite())
                    .ok_or_else(|| bad(format!("{:?} rules need a finite `{field}`", spec.kind)))
            };
            let longest = Duration::from_secs(366 * 86_400);
            for (what, d) in [
                ("deadline", Some(spec.deadline)),
                ("for", spec.hold),
                ("window", spec.window),
            ] {
                if d.is_some_and(|d| d > longest) {
                    return Err(bad(format!("`{what}` is longer than a year")));
                }
            }
            let hold_ms = ms(spec.hold.unwrap_or_default());
            let test = match spec.kind {
                RuleKind::Above | RuleKind::Below => {
                    let limit = need(spec.limit, "limit")?;
                    let clear = spec.clear.unwrap_or(limit);
                    let above = spec.kind == RuleKind::Above;
                    if !clear.is_finite() || (above && clear > limit) || (!above && clear < limit) {
                        return Err(bad(format!(
                            "clear level {clear} must be on the safe side of the limit {limit}"
                        )));
                    }
                    if above {
                        Test::Above {
                            limit,
                            clear,
                            hold_ms,
                        }
                    } else {
                        Test::Below {
                            limit,
                            clear,
                            hold_ms,
                        }
                    }
                }
                RuleKind::Rate => {
                    let limit = need(spec.limit, "limit")?;
                    let clear = spec.clear.unwrap_or(limit);
                    if !clear.is_finite() || clear > limit {
                        return Err(bad(format!(
                            "clear rate {clear} must not exceed the limit {limit}"
                        )));
                    }
                    Test::Rate {
                        limit_per_min: limit,
                        clear_per_min: clear,
                        interval_ms: ms(spec.window.unwrap_or(Duration::from_secs(60))).max(1),
                    }
                }
                RuleKind::Count => {
                    let count = spec
                        .count
                        .ok_or_else(|| bad("count rules need `count`".into()))?;
                    if !(1..=MAX_COUNT).contains(&count) {
                        return Err(bad(format!("count must be 1..={MAX_COUNT}, not {count}")));
                    }
                    let window = spec
                        .window
                        .ok_or_else(|| bad("count rules need `window`".into()))?;
                    Test::Count {
                        count,
                        window_ms: ms(window).max(1),
                    }
                }
            };
            let kind_name = spec
                .incident
                .clone()
                .unwrap_or_else(|| category.name().to_owned());
            let incident = match incident_kinds.iter().position(|k| **k == *kind_name) {
                Some(i) => i,
                None => {
                    incident_kinds.push(kind_name.into());
                    incident_kinds.len() - 1
                }
            } as u16;
            if spec.plan.trim().is_empty() {
                return Err(bad("the disposal plan is empty".into()));
            }
            if spec
                .accept
                .is_some_and(|a| a.is_zero() || a > spec.deadline)
            {
                return Err(bad(format!(
                    "accept must be more than 0 and at most the deadline ({})",
                    humantime_serde::re::humantime::format_duration(spec.deadline)
                )));
            }
            by_category[category.index()] = Some(Rule {
                name: spec.name.as_str().into(),
                category,
                test,
                severity: spec.severity,
                incident,
                deadline_ms: ms(spec.deadline).max(1),
                accept_ms: spec.accept.map(|a| ms(a).max(1)),
                plan: spec.plan.as_str().into(),
            });
        }
        Ok(RuleSet {
            by_category,
            incident_kinds,
        })
    }

    /// The rule for a category, if any.
    #[inline]
    pub fn get(&self, category: Category) -> Option<&Rule> {
        self.by_category[category.index()].as_ref()
    }

    /// Names of the incident kinds, indexed by [`Rule::incident`].
    pub fn incident_kinds(&self) -> &[Arc<str>] {
        &self.incident_kinds
    }

    /// All rules, in category order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.by_category.iter().flatten()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_cover_every_category() {
        let rules = RuleSet::defaults();
        for c in Category::ALL {
            assert!(rules.get(c).is_some(), "no default rule for {c}");
        }
        let smoke = rules.get(Category::Smoke).unwrap();
        let fire = rules.get(Category::Fire).unwrap();
        assert_eq!(
            smoke.incident, fire.incident,
            "smoke and camera fire correlate"
        );
        assert_eq!(&*rules.incident_kinds()[usize::from(fire.incident)], "fire");
    }

    #[test]
    fn the_emergency_profile_lowers_limits_and_shortens_deadlines() {
        let p = Profiles::from_toml(DEFAULT_RULES).unwrap();
        let normal = p.normal.get(Category::WaterLevel).unwrap();
        let emergency = p.emergency.get(Category::WaterLevel).unwrap();
        match (normal.test, emergency.test) {
            (Test::Above { limit: n, .. }, Test::Above { limit: e, .. }) => {
                assert!(e < n, "{e} < {n}")
            }
            other => panic!("{other:?}"),
        }
        assert!(emergency.deadline_ms < normal.deadline_ms);
        let empty = Profiles::from_toml("").unwrap_err().to_string();
        assert!(empty.contains("no [[rule]]"), "{empty}");
        let bad = "[emergency]\ndeadline_scale = 2.0\n";
        assert!(Profiles::from_toml(bad)
            .unwrap_err()
            .to_string()
            .contains("deadline_scale"));
        let bad = "[[rule]]\nname='w'\ncategory='water_level'\nkind='above'\nlimit=15\nclear=10\nseverity='minor'\ndeadline='1h'\nplan='x'\n[rule.emergency]\nclear=20\n";
        let e = Profiles::from_toml(bad).unwrap_err().to_string();
        assert!(e.contains("emergency profile"), "{e}");
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| RuleSet::from_toml(text).unwrap_err().to_string();
        let base = "name='x'\nseverity='major'\ndeadline='10m'\nplan='go'\n";
        let e = err(&format!(
            "[[rule]]\n{base}category='lava'\nkind='above'\nlimit=1"
        ));
        assert!(e.contains("unknown category \"lava\""), "{e}");
        let e = err(&format!("[[rule]]\n{base}category='smoke'\nkind='above'"));
        assert!(e.contains("limit"), "{e}");
        let e = err(&format!(
            "[[rule]]\n{base}category='smoke'\nkind='above'\nlimit=1\nclear=2"
        ));
        assert!(e.contains("safe side"), "{e}");
        let e = err(&format!(
            "[[rule]]\n{base}category='smoke'\nkind='above'\nlimit=1\ncolour=2"
        ));
        assert!(e.contains("colour"), "{e}");
        let e = err(&format!(
            "[[rule]]\n{base}category='smoke'\nkind='above'\nlimit=1\n[[rule]]\n{base}category='smoke'\nkind='above'\nlimit=1"
        ));
        assert!(e.contains("second rule"), "{e}");
        let e = err(&format!(
            "[[rule]]\n{base}category='noise_complaint'\nkind='count'\ncount=100\nwindow='1h'"
        ));
        assert!(e.contains("count must be"), "{e}");
    }
}
