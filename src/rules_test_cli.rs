//! `tongguan rules test FILE...`: rule unit tests from the command line, in
//! the manner of `promtool test rules`. This reads the files (each test
//! file and the rules file it names, relative to it) and prints; the
//! parsing, the run and the verdicts are the core's
//! (`tongguan_core::rule_test`).
//!
//! Exit status: 0 when every case of every file passed, 1 when a case
//! failed, 2 when a file could not be read or is invalid (it names the
//! file and line); every file is run either way.

use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tongguan_core::geo::RegionMap;
use tongguan_core::rule_test::{RuleTestError, TestFile};

const TEST_HELP: &str = "\
Run rule unit tests: each FILE (TOML) gives input series and the orders \
they must make; the series run through the engine with a manual clock and \
every case prints PASS or FAIL, a failure with what was expected and every \
warning that came.

  rules = \"../rules.toml\"     # relative to FILE; default: the embedded default rules
  mode = \"normal\"             # or \"emergency\" (the [emergency] profile)

  [[test]]
  name = \"gas held 5 s is a critical order\"
  [[test.series]]
  device = 1
  source = \"sensor\"           # sensor | video | hotline | patrol
  category = \"gas\"
  street = \"310107005000\"     # a street code of the region map, or lat = .. lon = ..
  values = \"25x5 9\"           # 25 and five more, then 9; `_` = no reading
  every = \"1s\"                # start = \"0s\"; or points = [[0, 25.0], [\"5s\", 25.0]]
  [[test.expect]]
  category = \"gas\"
  severity = \"critical\"
  at = \"5s\"                   # or within = [\"4s\", \"6s\"]; street, sources, multi_source, revision

  expect_none = true in a [[test]] asserts that no order comes.

Exit status: 0 all passed, 1 a case failed, 2 a file unreadable or invalid \
(file:line:column). The whole format: docs/RULE_TESTS.md.";

/// `tongguan rules ...`: work on rules offline.
#[derive(Subcommand)]
pub enum RulesCommand {
    /// Run rule unit tests (like promtool test rules); see --help.
    #[command(long_about = TEST_HELP)]
    Test(TestArgs),
}

/// Arguments of `tongguan rules test`.
#[derive(Args)]
pub struct TestArgs {
    /// Rule test files (TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Runs a `rules` subcommand, printing to standard output and error.
pub fn run(command: &RulesCommand) -> ExitCode {
    match command {
        RulesCommand::Test(args) => {
            let map = RegionMap::sample();
            let code = test_files(
                &args.files,
                &map,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            ExitCode::from(code)
        }
    }
}

/// What one file came to.
enum FileOutcome {
    /// Cases passed and failed.
    Ran { passed: usize, failed: usize },
    /// Unreadable or invalid: the message to print.
    Invalid(String),
}

/// Runs every file, prints per case, returns the exit status.
pub fn test_files(
    files: &[PathBuf],
    map: &RegionMap,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    let (mut passed, mut failed, mut invalid) = (0, 0, 0);
    for file in files {
        let _ = writeln!(out, "Unit Testing: {}", file.display());
        match test_file(file, map, out) {
            FileOutcome::Ran {
                passed: p,
                failed: f,
            } => {
                let _ = writeln!(out, "  {p} passed, {f} failed");
                passed += p;
                failed += f;
            }
            FileOutcome::Invalid(message) => {
                let _ = writeln!(out, "  INVALID (see standard error)");
                let _ = writeln!(err, "error: {message}");
                invalid += 1;
            }
        }
    }
    let verdict = if invalid + failed == 0 {
        "SUCCESS"
    } else {
        "FAILED"
    };
    let _ = writeln!(
        out,
        "{verdict}: {passed} passed, {failed} failed, {invalid} invalid file(s), in {} file(s)",
        files.len()
    );
    let _ = out.flush();
    if invalid > 0 {
        2
    } else if failed > 0 {
        1
    } else {
        0
    }
}

fn test_file(file: &Path, map: &RegionMap, out: &mut impl Write) -> FileOutcome {
    let name = file.display();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => return FileOutcome::Invalid(format!("{name}: cannot read it: {e}")),
    };
    let tests = match TestFile::parse(&text, map) {
        Ok(tests) => tests,
        Err(e) => return FileOutcome::Invalid(located(file, &e)),
    };
    let rules_text = match &tests.rules {
        None => None,
        Some(rules) => {
            let path = file.parent().unwrap_or(Path::new(".")).join(rules);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) => {
                    return FileOutcome::Invalid(format!(
                        "{name}: cannot read the rules file {}: {e}",
                        path.display()
                    ))
                }
            }
        }
    };
    let results = match tests.run(rules_text.as_deref(), map) {
        Ok(results) => results,
        Err(e) => {
            let rules = tests.rules.as_deref().unwrap_or("(embedded defaults)");
            return FileOutcome::Invalid(format!("{name}: rules {rules}: {e}"));
        }
    };
    let mut passed = 0;
    for r in &results {
        let _ = writeln!(out, "  {r}");
        passed += usize::from(r.passed());
    }
    FileOutcome::Ran {
        passed,
        failed: results.len() - passed,
    }
}

/// `FILE:LINE:COLUMN: what` for a mistake in a test file.
fn located(file: &Path, e: &RuleTestError) -> String {
    match e {
        RuleTestError::Invalid { line, column, what } => {
            format!("{}:{line}:{column}: {what}", file.display())
        }
        other => format!("{}: {other}", file.display()),
    }
}
