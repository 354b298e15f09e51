//! Rule unit tests (规则单元测试), in the manner of `promtool test rules`: a
//! TOML file gives input series and the orders expected; the series run
//! through the engine on a manual clock and what came is compared with
//! what was expected. No IO here: the caller reads the files and hands
//! the text in (`tongguan rules test FILE...` is that caller).
//!
//! ```toml
//! rules = "../rules.toml"   # relative to this file; default: the embedded default rules
//! mode = "normal"           # or "emergency" (the [emergency] profile); a case may say its own
//!
//! [[test]]
//! name = "gas held 5 s is a critical order"
//!
//! [[test.series]]
//! device = 1
//! source = "sensor"         # sensor | video | hotline | patrol
//! category = "gas"          # smoke | fire | water_level | ... (model.rs)
//! street = "310107005000"   # a street of the region map (a point well inside it), or lat/lon
//! values = "25x5 9"         # one reading per step; `_` a step without one
//! every = "1s"              # the step (default 1s)
//! start = "0s"              # offset of the first step (default 0s)
//! # points = [[0, 25.0], ["5s", 25.0]]   # instead of values: (ms or duration, value)
//!
//! [[test.expect]]
//! category = "gas"          # the lead rule's category
//! severity = "critical"     # after raising for independent sources
//! street = "310107005000"   # optional
//! at = "5s"                 # optional; or within = ["4s", "6s"]
//! # sources = ["sensor"], multi_source = false, kind = "gas", deadline = "5m",
//! # revision = 2 (an update): optional
//!
//! [[test]]
//! name = "below the limit: no order"
//! expect_none = true
//! [[test.series]]
//! # ...
//! ```
//!
//! Values: `20` one reading, `20x6` it and six more (7), `15+5x2` a ramp
//! 15 20 25, `_` / `_x3` steps without a reading ([`series`]). Times count
//! from a fixed epoch ([`EPOCH_MS`], 2026-06-01T00:00:00Z). Each device's
//! events are numbered from 0 in time order.
//!
//! An order is a warning of revision 1 (a new incident, or a condition
//! re-notified after the repeat interval). A case passes when every
//! `[[test.expect]]` finds a warning of its own and every order that came
//! was expected; updates (revision 2 and on: a new source kind joined, the
//! severity rose) are checked only where an expectation names their
//! `revision`. `at` is the event time of the detection that opened the
//! incident (for an update: of the newest detection). The engine runs with
//! the default `[engine]` settings (60 s correlation window, 10 min repeat
//! interval). docs/RULE_TESTS.md has the whole format.

mod file;
mod outcome;
mod run;
pub mod series;

#[cfg(test)]
mod tests;

pub use file::{Case, Expectation, RuleTestError, TestFile, EPOCH_MS, MAX_EVENTS};
pub use outcome::{category_zh, offset, Came, CaseResult};
pub use run::run_case;
