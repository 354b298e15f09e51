//! `tongguan rules test` as a rule author runs it: the shipped tests of the
//! default rules pass (exit 0), a wrong expectation fails naming what was
//! expected and what came (exit 1), a malformed file is refused with its
//! file and line (exit 2). The shipped files cover every default rule in
//! both profiles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tongguan::engine::rules::{Mode, Profiles, DEFAULT_RULES};
use tongguan::geo::RegionMap;
use tongguan::model::Category;
use tongguan_core::rule_test::TestFile;

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    files
}

fn rules_test(files: &[PathBuf]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args(["rules", "test"])
        .args(files)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    (
        status.code().expect("exited"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

#[test]
fn the_shipped_rule_tests_all_pass() {
    let files = shipped();
    let (code, out, err) = rules_test(&files);
    assert_eq!(code, 0, "{out}\n{err}");
    let cases = out.lines().filter(|l| l.starts_with("  PASS ")).count();
    assert!(cases >= 60, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert!(
        out.contains(&format!("SUCCESS: {cases} passed, 0 failed")),
        "{out}"
    );
}

/// Every default rule has, in each profile, a case where it makes an order
/// and one where it must not.
#[test]
fn the_shipped_tests_cover_every_default_rule_in_both_profiles() {
    let map = RegionMap::sample();
    let rules = Profiles::from_toml(DEFAULT_RULES).unwrap();
    let mut covered = Vec::new();
    for file in shipped() {
        let tests = TestFile::parse(&std::fs::read_to_string(&file).unwrap(), &map).unwrap();
        for case in &tests.cases {
            let categories: Vec<Category> = case.events.iter().map(|e| e.category).collect();
            for x in &case.expect {
                covered.push((case.mode, x.category, true));
            }
            if case.expect.is_empty() {
                covered.extend(categories.iter().map(|&c| (case.mode, c, false)));
            }
        }
    }
    for mode in [Mode::Normal, Mode::Emergency] {
        for rule in rules.get(mode).rules() {
            for fires in [true, false] {
                assert!(
                    covered.contains(&(mode, rule.category, fires)),
                    "no {mode:?} case where {} {}",
                    rule.name,
                    if fires { "fires" } else { "stays quiet" }
                );
            }
        }
    }
}

#[test]
fn a_wrong_expectation_fails_and_names_what_was_expected_and_what_came() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        r#"
[[test]]
name = "gas held 5 s, expected too early"
[[test.series]]
device = 7
source = "sensor"
category = "gas"
street = "310107005000"
values = "25x5 9"
[[test.expect]]
category = "gas"
severity = "major"
at = "3s"

[[test]]
name = "gas below the limit"
expect_none = true
[[test.series]]
device = 8
source = "sensor"
category = "gas"
street = "310107005000"
values = "19x10"
"#,
    )
    .unwrap();
    let (code, out, err) = rules_test(&[file]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("FAIL gas held 5 s, expected too early (line 2)"),
        "{out}"
    );
    assert!(out.contains("PASS gas below the limit"), "{out}");
    assert!(
        out.contains("expected, did not come:\n      - order gas 燃气 major at 3s (line 10)"),
        "{out}"
    );
    assert!(
        out.contains("came, not expected:\n      - order gas 燃气 major at 5s street 310107005000 曹杨新村街道"),
        "{out}"
    );
    assert!(out.contains("FAILED: 1 passed, 1 failed"), "{out}");
}

#[test]
fn a_malformed_file_is_refused_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[test]]\nname = \"a\"\nexpect_none = true\n[[test.series]]\ndevice = 1\nsource = \"sensor\"\ncategory = \"lava\"\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[[test]\nname = \"a\"\n").unwrap();
    let no_rules = dir.path().join("no_rules.toml");
    std::fs::write(
        &no_rules,
        "rules = \"absent.toml\"\n[[test]]\nname = \"a\"\nexpect_none = true\n[[test.series]]\ndevice = 1\nsource = \"sensor\"\ncategory = \"gas\"\nstreet = \"310107005000\"\nvalues = \"1\"\n",
    )
    .unwrap();
    // A passing file beside them is still run.
    let mut files = vec![bad.clone(), broken.clone(), no_rules.clone()];
    files.push(shipped()[0].clone());
    let (code, out, err) = rules_test(&files);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains(&format!("{}:7:12: unknown variant `lava`", bad.display())),
        "{err}"
    );
    assert!(err.contains(&format!("{}:1:", broken.display())), "{err}");
    assert!(err.contains("absent.toml"), "{err}");
    assert!(out.contains("PASS "), "{out}");
    assert!(out.contains("3 invalid file(s)"), "{out}");
}
