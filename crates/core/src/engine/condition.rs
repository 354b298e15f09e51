//! Threshold state machines. A [`Condition`] follows one device's readings
//! of one category through normal → pending (beyond the limit, waiting out
//! the hold) → active (fired) → cleared at the clear level, so a value
//! hovering at the limit does not flap. While active, further readings only
//! count (one open condition) until the repeat interval re-notifies.
//! A [`CountWindow`] does the same for "N events in one cell within a
//! window".

use super::rules::Test;

/// What a reading did to a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to report; keep the state.
    Hold,
    /// The condition fired: `repeat` 0 is new, n the n-th re-notification.
    Fire {
        /// Re-notification number.
        repeat: u32,
    },
    /// The condition cleared; the state may be dropped (unless the rule
    /// needs history, as rate rules do).
    Clear,
    /// Nothing is going on; the state may be dropped.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
enum Phase {
    Normal,
    Pending,
    Active,
}

/// One device's condition for one category.
#[derive(Debug, Clone, Copy, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Condition {
    phase: Phase,
    /// Start of the hold (or of the condition), Unix ms.
    pub first_seen_ms: i64,
    /// Latest reading beyond the limit, Unix ms.
    pub last_seen_ms: i64,
    /// Readings beyond the limit since `first_seen_ms`.
    pub count: u64,
    notified_ms: i64,
    repeats: u32,
    prev_value: f64,
    prev_time_ms: i64,
}

impl Default for Condition {
    fn default() -> Self {
        Condition {
            phase: Phase::Normal,
            first_seen_ms: 0,
            last_seen_ms: 0,
            count: 0,
            notified_ms: 0,
            repeats: 0,
            prev_value: f64::NAN,
            prev_time_ms: i64::MIN,
        }
    }
}

impl Condition {
    /// Whether it has fired and not cleared.
    pub(crate) fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// Latest event time this condition has seen, Unix ms.
    pub fn last_ms(&self) -> i64 {
        self.last_seen_ms.max(self.prev_time_ms)
    }

    /// Feeds one reading.
    pub fn step(&mut self, test: &Test, value: f64, time_ms: i64, repeat_ms: i64) -> Step {
        match *test {
            Test::Above {
                limit,
                clear,
                hold_ms,
            } => self.level(value >= limit, value <= clear, hold_ms, time_ms, repeat_ms),
            Test::Below {
                limit,
                clear,
                hold_ms,
            } => self.level(value <= limit, value >= clear, hold_ms, time_ms, repeat_ms),
            Test::Rate {
                limit_per_min,
                clear_per_min,
                interval_ms,
            } => self.rate(
                limit_per_min,
                clear_per_min,
                interval_ms,
                value,
                time_ms,
                repeat_ms,
            ),
            Test::Count { .. } => unreachable!("count rules use CountWindow"),
        }
    }

    fn level(&mut self, beyond: bool, cleared: bool, hold_ms: i64, t: i64, repeat_ms: i64) -> Step {
        match self.phase {
            Phase::Normal | Phase::Pending if !beyond => {
                self.phase = Phase::Normal;
                Step::Idle
            }
            Phase::Normal => {
                self.first_seen_ms = t;
                self.last_seen_ms = t;
                self.count = 1;
                if hold_ms <= 0 {
                    self.activate(t)
                } else {
                    self.phase = Phase::Pending;
                    Step::Hold
                }
            }
            Phase::Pending => {
                self.seen(t);
                if t.saturating_sub(self.first_seen_ms) >= hold_ms {
                    self.activate(t)
                } else {
                    Step::Hold
                }
            }
            Phase::Active if cleared => {
                self.phase = Phase::Normal;
                Step::Clear
            }
            Phase::Active => {
                if beyond {
                    self.seen(t);
                }
                self.maybe_repeat(t, repeat_ms)
            }
        }
    }

    fn rate(
        &mut self,
        limit: f64,
        clear: f64,
        interval_ms: i64,
        value: f64,
        t: i64,
        repeat_ms: i64,
    ) -> Step {
        let prev = (self.prev_value, self.prev_time_ms);
        if prev.1 != i64::MIN && t.saturating_sub(prev.1) < interval_ms {
            // Too close to the reference reading (or out of order): the
            // reference stays, and a trend is measured over the interval.
            return Step::Hold;
        }
        self.prev_value = value;
        self.prev_time_ms = t;
        if prev.1 == i64::MIN {
            return Step::Hold;
        }
        let per_min = (value - prev.0) / ((t - prev.1) as f64 / 60_000.0);
        match self.phase {
            Phase::Active if per_min <= clear => {
                self.phase = Phase::Normal;
                Step::Clear
            }
            Phase::Active => {
                self.seen(t);
                self.maybe_repeat(t, repeat_ms)
            }
            _ if per_min >= limit => {
                self.first_seen_ms = prev.1;
                self.last_seen_ms = t;
                self.count = 1;
                self.activate(t)
            }
            _ => Step::Hold,
        }
    }

    fn seen(&mut self, t: i64) {
        self.count += 1;
        self.last_seen_ms = self.last_seen_ms.max(t);
    }

    fn activate(&mut self, t: i64) -> Step {
        self.phase = Phase::Active;
        self.notified_ms = t;
        self.repeats = 0;
        Step::Fire { repeat: 0 }
    }

    fn maybe_repeat(&mut self, t: i64, repeat_ms: i64) -> Step {
        if t.saturating_sub(self.notified_ms) >= repeat_ms {
            self.notified_ms = t;
            self.repeats += 1;
            Step::Fire {
                repeat: self.repeats,
            }
        } else {
            Step::Hold
        }
    }
}

/// "At least `count` events in one cell within `window`", for one cell and
/// category: the newest `count` event times, then an open condition.
#[derive(Debug, Clone, Default)]
pub struct CountWindow {
    times: std::collections::VecDeque<i64>,
    active: Option<Condition>,
}

impl CountWindow {
    /// Feeds one event.
    pub fn step(&mut self, count: u32, window_ms: i64, t: i64, repeat_ms: i64) -> Step {
        if let Some(cond) = &mut self.active {
            if t.saturating_sub(cond.last_seen_ms) > window_ms {
                self.active = None;
            } else {
                cond.seen(t);
                return cond.maybe_repeat(t, repeat_ms);
            }
        }
        if self.times.len() == count as usize {
            self.times.pop_front();
        }
        self.times.push_back(t);
        let oldest = self.times.iter().copied().min().unwrap_or(t);
        if self.times.len() == count as usize && t.saturating_sub(oldest) <= window_ms {
            let mut cond = Condition {
                first_seen_ms: oldest,
                last_seen_ms: t,
                count: u64::from(count),
                ..Condition::default()
            };
            let step = cond.activate(t);
            self.active = Some(cond);
            self.times.clear();
            step
        } else {
            Step::Hold
        }
    }

    /// The open condition, if the window fired and has not lapsed.
    pub fn active(&self) -> Option<&Condition> {
        self.active.as_ref()
    }

    /// Its event times and open condition, as a checkpoint keeps them.
    pub(crate) fn to_parts(&self) -> (Vec<i64>, Option<Condition>) {
        (self.times.iter().copied().collect(), self.active)
    }

    /// A window from [`CountWindow::to_parts`].
    pub(crate) fn from_parts(times: Vec<i64>, active: Option<Condition>) -> CountWindow {
        CountWindow {
            times: times.into(),
            active,
        }
    }

    /// Latest event time seen, Unix ms.
    pub fn last_ms(&self) -> i64 {
        let times = self.times.iter().copied().max().unwrap_or(i64::MIN);
        self.active.map_or(times, |c| c.last_seen_ms.max(times))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABOVE: Test = Test::Above {
        limit: 15.0,
        clear: 10.0,
        hold_ms: 60_000,
    };
    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_value_below_the_limit_does_nothing() {
        let mut c = Condition::default();
        for i in 0..100 {
            assert_eq!(c.step(&ABOVE, 14.9, i * 1000, HOUR), Step::Idle);
        }
    }

    #[test]
    fn above_the_limit_for_the_hold_fires_once() {
        let mut c = Condition::default();
        assert_eq!(c.step(&ABOVE, 20.0, 0, HOUR), Step::Hold);
        assert_eq!(c.step(&ABOVE, 20.0, 59_999, HOUR), Step::Hold);
        assert_eq!(c.step(&ABOVE, 20.0, 60_000, HOUR), Step::Fire { repeat: 0 });
        assert_eq!(c.step(&ABOVE, 20.0, 61_000, HOUR), Step::Hold);
        assert_eq!(c.count, 4, "every reading beyond the limit is counted");
    }

    #[test]
    fn dipping_below_the_limit_restarts_the_hold() {
        let mut c = Condition::default();
        c.step(&ABOVE, 20.0, 0, HOUR);
        assert_eq!(c.step(&ABOVE, 14.0, 30_000, HOUR), Step::Idle);
        assert_eq!(c.step(&ABOVE, 20.0, 40_000, HOUR), Step::Hold);
        assert_eq!(c.step(&ABOVE, 20.0, 70_000, HOUR), Step::Hold);
        assert_eq!(
            c.step(&ABOVE, 20.0, 100_000, HOUR),
            Step::Fire { repeat: 0 }
        );
    }

    #[test]
    fn hysteresis_keeps_an_active_condition_from_flapping() {
        let mut c = Condition::default();
        c.step(&ABOVE, 20.0, 0, HOUR);
        assert_eq!(c.step(&ABOVE, 20.0, 60_000, HOUR), Step::Fire { repeat: 0 });
        // Oscillating around the limit but above the clear level.
        for i in 0..20 {
            let v = if i % 2 == 0 { 12.0 } else { 16.0 };
            assert_eq!(c.step(&ABOVE, v, 61_000 + i * 1000, HOUR), Step::Hold);
        }
        assert_eq!(c.step(&ABOVE, 9.0, 90_000, HOUR), Step::Clear);
        assert_eq!(
            c.step(&ABOVE, 20.0, 91_000, HOUR),
            Step::Hold,
            "a new hold starts"
        );
    }

    #[test]
    fn an_open_condition_is_renotified_after_the_repeat_interval() {
        let t = Test::Above {
            limit: 3.0,
            clear: 1.5,
            hold_ms: 0,
        };
        let mut c = Condition::default();
        let mut fired = Vec::new();
        for s in 0..25 {
            if let Step::Fire { repeat } = c.step(&t, 5.0, s * 1000, 10_000) {
                fired.push((s, repeat));
            }
        }
        assert_eq!(fired, vec![(0, 0), (10, 1), (20, 2)]);
        assert_eq!(c.count, 25);
    }

    #[test]
    fn below_rules_mirror_above_rules() {
        let t = Test::Below {
            limit: 1.0,
            clear: 2.0,
            hold_ms: 0,
        };
        let mut c = Condition::default();
        assert_eq!(c.step(&t, 1.5, 0, HOUR), Step::Idle);
        assert_eq!(c.step(&t, 0.5, 1, HOUR), Step::Fire { repeat: 0 });
        assert_eq!(c.step(&t, 1.5, 2, HOUR), Step::Hold);
        assert_eq!(c.step(&t, 2.5, 3, HOUR), Step::Clear);
    }

    #[test]
    fn rate_rules_fire_on_a_fast_rise_and_clear_when_it_stops() {
        let t = Test::Rate {
            limit_per_min: 50.0,
            clear_per_min: 10.0,
            interval_ms: 30_000,
        };
        let mut c = Condition::default();
        assert_eq!(c.step(&t, 100.0, 0, HOUR), Step::Hold);
        assert_eq!(
            c.step(&t, 120.0, 60_000, HOUR),
            Step::Hold,
            "20/min is slow"
        );
        assert_eq!(
            c.step(&t, 130.0, 60_001, HOUR),
            Step::Hold,
            "too close to measure"
        );
        assert_eq!(
            c.step(&t, 180.0, 90_000, HOUR),
            Step::Fire { repeat: 0 },
            "120/min"
        );
        assert_eq!(
            c.step(&t, 200.0, 120_000, HOUR),
            Step::Hold,
            "40/min: still rising"
        );
        assert_eq!(c.step(&t, 201.0, 180_000, HOUR), Step::Clear);
        assert_eq!(
            c.step(&t, 150.0, 170_000, HOUR),
            Step::Hold,
            "out of order: ignored"
        );
    }

    #[test]
    fn three_complaints_in_an_hour_make_one_condition() {
        let mut w = CountWindow::default();
        assert_eq!(w.step(3, HOUR, 0, HOUR), Step::Hold);
        assert_eq!(
            w.step(3, HOUR, 2 * HOUR, HOUR),
            Step::Hold,
            "first one aged out"
        );
        assert_eq!(w.step(3, HOUR, 2 * HOUR + 10, HOUR), Step::Hold);
        assert_eq!(
            w.step(3, HOUR, 2 * HOUR + 20, HOUR),
            Step::Fire { repeat: 0 }
        );
        assert_eq!(
            w.step(3, HOUR, 2 * HOUR + 30, HOUR),
            Step::Hold,
            "collapsed"
        );
        assert_eq!(w.active().unwrap().count, 4);
        // A quiet hour lapses it; three more fire again.
        let t = 4 * HOUR;
        assert_eq!(w.step(3, HOUR, t, HOUR), Step::Hold);
        assert!(w.active().is_none());
        w.step(3, HOUR, t + 1, HOUR);
        assert_eq!(w.step(3, HOUR, t + 2, HOUR), Step::Fire { repeat: 0 });
    }
}
