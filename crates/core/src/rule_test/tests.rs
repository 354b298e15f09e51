//! The runner against small files: what passes, what fails and how it
//! says so, and mistakes named with their line.

use super::*;
use crate::geo::RegionMap;
use crate::model::{Category, Severity, Source};
use std::sync::OnceLock;

const CAOYANG: &str = "310107005000";

fn map() -> &'static RegionMap {
    static MAP: OnceLock<RegionMap> = OnceLock::new();
    MAP.get_or_init(RegionMap::sample)
}

fn run(text: &str) -> Vec<CaseResult> {
    let file = TestFile::parse(text, map()).unwrap_or_else(|e| panic!("{e}"));
    file.run(None, map()).unwrap()
}

fn invalid(text: &str) -> (usize, usize, String) {
    match TestFile::parse(text, map()) {
        Err(RuleTestError::Invalid { line, column, what }) => (line, column, what),
        other => panic!("expected an invalid file, got {other:?}"),
    }
}

const GAS: &str = r#"
[[test]]
name = "gas held 5 s"
[[test.series]]
device = 7
source = "sensor"
category = "gas"
street = "310107005000"
values = "25x5 9"
[[test.expect]]
category = "gas"
severity = "major"
street = "310107005000"
at = "5s"
"#;

#[test]
fn gas_held_for_its_five_seconds_makes_the_expected_major_order() {
    let results = run(GAS);
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert!(r.passed(), "{r}");
    assert_eq!(r.to_string(), "PASS gas held 5 s");
    assert_eq!(r.came.len(), 1);
    let c = &r.came[0];
    assert_eq!(
        (c.category, c.severity, c.at_ms),
        (Category::Gas, Severity::Major, 5_000)
    );
    assert_eq!(c.street.as_ref().unwrap().0, CAOYANG);
    assert_eq!(c.street.as_ref().unwrap().1, "曹杨新村街道");
    assert_eq!(c.sources, vec![Source::Sensor]);
}

#[test]
fn a_wrong_expectation_fails_naming_what_was_expected_and_what_came() {
    let text = GAS.replace("at = \"5s\"", "at = \"4s\"");
    let r = &run(&text)[0];
    assert!(!r.passed());
    assert_eq!(r.matched, vec![None]);
    assert_eq!(r.unexpected, vec![0]);
    let msg = r.to_string();
    assert!(msg.starts_with("FAIL gas held 5 s (line 2)"), "{msg}");
    assert!(
        msg.contains("expected, did not come:\n      - order gas 燃气 major at 4s street 310107005000 (line 10)"),
        "{msg}"
    );
    assert!(
        msg.contains("came, not expected:\n      - order gas 燃气 major at 5s street 310107005000 曹杨新村街道 kind gas sources sensor deadline 5m"),
        "{msg}"
    );
    assert!(msg.contains("1. order gas 燃气 major at 5s"), "{msg}");
}

const GAS_NONE: &str = r#"
[[test]]
name = "nothing, please"
expect_none = true
[[test.series]]
device = 7
source = "sensor"
category = "gas"
street = "310107005000"
values = "VALUES"
"#;

#[test]
fn expect_none_passes_below_the_limit_and_fails_when_an_order_comes() {
    let r = &run(&GAS_NONE.replace("VALUES", "19.9x10"))[0];
    assert!(r.passed(), "{r}");
    let r = &run(&GAS_NONE.replace("VALUES", "25x5"))[0];
    assert!(!r.passed());
    let msg = r.to_string();
    assert!(msg.contains("expected: no order"), "{msg}");
    assert!(
        msg.contains("came, not expected:\n      - order gas"),
        "{msg}"
    );
}

#[test]
fn smoke_and_camera_fire_in_one_street_are_one_critical_multi_source_order() {
    let text = r#"
mode = "normal"
[[test]]
name = "smoke then fire"
[[test.series]]
device = 1
source = "sensor"
category = "smoke"
street = "310107005000"
points = [[0, 5.0]]
[[test.series]]
device = 2
source = "video"
category = "fire"
street = "310107005000"
camera = "31010700001320000007"
points = [["20s", 0.9]]
[[test.expect]]
category = "smoke"
severity = "major"
at = "0s"
multi_source = false
[[test.expect]]
category = "smoke"
severity = "critical"
revision = 2
within = ["10s", "30s"]
sources = ["video", "sensor"]
"#;
    let r = &run(text)[0];
    assert!(r.passed(), "{r}");
    assert_eq!(r.came.len(), 2);
    assert_eq!(r.came[1].incident, r.came[0].incident);
}

#[test]
fn a_case_runs_the_emergency_profile_when_asked() {
    let text = r#"
[[test]]
name = "12 cm for 20 s, emergency"
mode = "emergency"
[[test.series]]
device = 3
source = "sensor"
category = "water_level"
lat = 31.2575
lon = 121.4125
values = "12x3"
every = "10s"
[[test.expect]]
category = "water_level"
severity = "major"
at = "20s"

[[test]]
name = "12 cm for 20 s, normal"
expect_none = true
[[test.series]]
device = 3
source = "sensor"
category = "water_level"
lat = 31.2575
lon = 121.4125
values = "12x3"
every = "10s"
"#;
    let results = run(text);
    assert!(results.iter().all(CaseResult::passed), "{results:#?}");
}

#[test]
fn the_rules_under_test_are_the_ones_handed_in() {
    let rules = crate::engine::rules::DEFAULT_RULES
        .replace("limit = 20.0         # %LEL", "limit = 30.0         # %LEL");
    let file = TestFile::parse(GAS, map()).unwrap();
    let r = &file.run(Some(&rules), map()).unwrap()[0];
    assert!(!r.passed(), "25 %LEL is below the raised limit");
    assert!(r.came.is_empty());
    assert!(r.to_string().contains("got: no warning at all"), "{r}");
    let e = file.run(Some("[[rule]]\nname = 1\n"), map()).unwrap_err();
    assert!(matches!(e, RuleTestError::Rules(_)), "{e}");
}

#[test]
fn mistakes_are_named_with_their_line_and_column() {
    let (line, column, what) = invalid("[[test]]\nname = \"a\"\nexpect_none = true\n[[test.series]]\ndevice = 1\nsource = \"sensor\"\ncategory = \"lava\"\n");
    assert_eq!((line, column), (7, 12), "{what}");
    assert!(what.contains("lava"), "{what}");
    let (line, _, what) = invalid(&GAS.replace("values = \"25x5 9\"", "values = \"25x5 nine\""));
    assert_eq!(line, 9, "{what}");
    assert!(what.contains("\"nine\""), "{what}");
    let (line, _, what) = invalid(&GAS.replace(
        "street = \"310107005000\"\nvalues",
        "street = \"310107999000\"\nvalues",
    ));
    assert_eq!(line, 8, "{what}");
    assert!(
        what.contains("310107999000") && what.contains("曹杨新村街道"),
        "{what}"
    );
    let (line, _, what) = invalid(&GAS.replace("at = \"5s\"", "at = \"5 parsecs\""));
    assert_eq!(line, 14, "{what}");
    let (line, _, what) = invalid(&GAS.replace(
        "severity = \"major\"",
        "severity = \"major\"\ncolour = \"red\"",
    ));
    assert_eq!(line, 13, "{what}");
    assert!(what.contains("colour"), "{what}");
    let (line, _, what) = invalid("[[test]]\nname = \"a\"\n[[test.series]]\ndevice = 1\nsource = \"sensor\"\ncategory = \"gas\"\nstreet = \"310107005000\"\nvalues = \"1\"\n");
    assert_eq!(line, 1, "{what}");
    assert!(what.contains("expect_none"), "{what}");
    let (_, _, what) = invalid("mode = \"normal\"\n");
    assert!(what.contains("no [[test]]"), "{what}");
    let (line, _, what) = invalid(&format!("{GAS}\n{GAS}"));
    assert_eq!(line, 18, "{what}");
    assert!(what.contains("second case"), "{what}");
    let (line, _, what) = invalid("[[test]\nname = \"a\"\n");
    assert_eq!(line, 1, "{what}");
}

#[test]
fn events_are_in_time_order_and_numbered_per_device() {
    let text = r#"
[[test]]
name = "two series of one device"
expect_none = true
[[test.series]]
device = 1
source = "sensor"
category = "gas"
street = "310107005000"
values = "1 _ 1"
every = "2s"
start = "1s"
[[test.series]]
device = 1
source = "sensor"
category = "water_level"
street = "310107005000"
points = [[0, 1.0], [2000, 1.0], ["1m30s", 2]]
"#;
    let file = TestFile::parse(text, map()).unwrap();
    let e = &file.cases[0].events;
    let got: Vec<(i64, u64, Category)> = e
        .iter()
        .map(|e| (e.time_ms - EPOCH_MS, e.seq, e.category))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0, Category::WaterLevel),
            (1_000, 1, Category::Gas),
            (2_000, 2, Category::WaterLevel),
            (5_000, 3, Category::Gas),
            (90_000, 4, Category::WaterLevel),
        ]
    );
}

#[test]
fn offsets_print_compactly() {
    assert_eq!(offset(0), "0s");
    assert_eq!(offset(5_000), "5s");
    assert_eq!(offset(90_500), "1m30s500ms");
    assert_eq!(offset(3_600_000), "1h");
}
