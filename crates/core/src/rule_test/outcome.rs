//! What a case's run gives: every warning that came ([`Came`]), which
//! expectations found none, which new orders nobody expected, and how to
//! print them for a rule author (English, with the Chinese category names
//! the console shows).
//!
//! Invariant: a [`CaseResult`] passes exactly when every expectation found
//! a warning of its own and every new order (revision 1) was expected.

use super::file::Expectation;
use crate::model::{Category, Severity, Source};
use std::fmt;

/// A warning as a rule test sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Came {
    /// The correlator's incident id (numbered from 1 in each case).
    pub incident: u64,
    /// 1 for a new order, n for its n-th revision.
    pub revision: u32,
    /// The incident kind.
    pub kind: String,
    /// The lead rule's category.
    pub category: Category,
    /// Severity after raising for independent sources.
    pub severity: Severity,
    /// The owning street (code, name), `None` outside the region map.
    pub street: Option<(String, String)>,
    /// Event time of the detection that made it, offset from the test
    /// epoch, ms: the one that opened the incident for revision 1, the
    /// newest for an update.
    pub at_ms: i64,
    /// Source kinds, in wire-code order.
    pub sources: Vec<Source>,
    /// The acknowledgement deadline, ms.
    pub deadline_ms: i64,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Line of its `[[test]]` table.
    pub line: usize,
    /// What it expected, in file order.
    pub expected: Vec<Expectation>,
    /// Every warning that came, in the order they came.
    pub came: Vec<Came>,
    /// For each expectation, the index in `came` of the warning it
    /// matched, or `None`.
    pub matched: Vec<Option<usize>>,
    /// Indices in `came` of new orders no expectation matched.
    pub unexpected: Vec<usize>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.matched.iter().all(Option::is_some) && self.unexpected.is_empty()
    }
}

/// The name the console gives a category.
pub fn category_zh(c: Category) -> &'static str {
    match c {
        Category::Smoke => "烟感",
        Category::Fire => "视频烟火",
        Category::WaterLevel => "水位",
        Category::Waterlogging => "积水",
        Category::Gas => "燃气",
        Category::Manhole => "井盖",
        Category::CrowdDensity => "人群密度",
        Category::IllegalParking => "违停",
        Category::GarbageOverflow => "垃圾满溢",
        Category::StructuralStrain => "结构应力",
        Category::NoiseComplaint => "噪声投诉",
    }
}

/// An offset as `1h2m3s`, `4s`, `1s500ms`, `0s`.
pub fn offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let mut rest = ms.unsigned_abs();
    let mut out = String::from(sign);
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.len() == sign.len() {
        out.push_str("0s");
    }
    out
}

fn names<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("+")
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revision > 1 {
            write!(f, "update (revision {}) ", self.revision)?;
        } else {
            f.write_str("order ")?;
        }
        write!(
            f,
            "{} {} {}",
            self.category,
            category_zh(self.category),
            self.severity
        )?;
        match self.at {
            Some((a, b)) if a == b => write!(f, " at {}", offset(a))?,
            Some((a, b)) => write!(f, " within {}..{}", offset(a), offset(b))?,
            None => {}
        }
        if let Some(street) = &self.street {
            write!(f, " street {street}")?;
        }
        if let Some(kind) = &self.kind {
            write!(f, " kind {kind}")?;
        }
        if let Some(sources) = &self.sources {
            write!(f, " sources {}", names(sources))?;
        }
        match self.multi_source {
            Some(true) => f.write_str(" multi-source")?,
            Some(false) => f.write_str(" single-source")?,
            None => {}
        }
        if let Some(d) = self.deadline_ms {
            write!(f, " deadline {}", offset(d))?;
        }
        write!(f, " (line {})", self.line)
    }
}

impl fmt::Display for Came {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revision > 1 {
            write!(f, "update (revision {})", self.revision)?;
        } else {
            f.write_str("order")?;
        }
        write!(
            f,
            " {} {} {} at {}",
            self.category,
            category_zh(self.category),
            self.severity,
            offset(self.at_ms)
        )?;
        match &self.street {
            Some((code, name)) => write!(f, " street {code} {name}")?,
            None => f.write_str(" outside the region map")?,
        }
        write!(
            f,
            " kind {} sources {} deadline {} (incident {})",
            self.kind,
            names(&self.sources),
            offset(self.deadline_ms),
            self.incident
        )
    }
}

impl fmt::Display for CaseResult {
    /// `PASS name`, or `FAIL name` and what was expected against what
    /// came, indented for a list of cases.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed() {
            return write!(f, "PASS {}", self.name);
        }
        writeln!(f, "FAIL {} (line {})", self.name, self.line)?;
        if self.expected.is_empty() {
            writeln!(f, "    expected: no order")?;
        }
        let missing: Vec<&Expectation> = self
            .expected
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| m.is_none())
            .map(|(x, _)| x)
            .collect();
        if !missing.is_empty() {
            writeln!(f, "    expected, did not come:")?;
            for x in missing {
                writeln!(f, "      - {x}")?;
            }
        }
        if !self.unexpected.is_empty() {
            writeln!(f, "    came, not expected:")?;
            for &i in &self.unexpected {
                writeln!(f, "      - {}", self.came[i])?;
            }
        }
        if self.came.is_empty() {
            write!(f, "    got: no warning at all")
        } else {
            write!(f, "    got (every warning, in order):")?;
            for (i, c) in self.came.iter().enumerate() {
                let mark = if self.matched.contains(&Some(i)) {
                    "matched"
                } else if self.unexpected.contains(&i) {
                    "unexpected"
                } else {
                    "not checked"
                };
                write!(f, "\n      {}. {c} [{mark}]", i + 1)?;
            }
            Ok(())
        }
    }
}
