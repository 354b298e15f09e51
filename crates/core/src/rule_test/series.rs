//! The compact notation of a series' values, after promtool's
//! `input_series`: `values = "12 20x6 _ 15+5x2"`, one reading per step.
//!
//! - `20` one reading of 20 (any finite number: `-3`, `0.85`, `1e3`);
//! - `20x6` the reading and six more like it (7 readings, as promtool);
//! - `15+5x2` / `15-5x2` a ramp: 15, 20, 25 / 15, 10, 5 (the start and
//!   N more steps);
//! - `_` a step with no reading, `_x3` three of them.
//!
//! Invariant: the expansion never holds more than [`MAX_STEPS`] steps.

/// Most steps one series may expand to.
pub const MAX_STEPS: usize = 100_000;

/// Expands the notation into one entry per step: `Some(value)` for a
/// reading, `None` for a step without one. The error names the word.
pub(crate) fn expand(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let (head, times) = match word.rsplit_once('x') {
            Some((head, n)) => {
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("{word:?}: the count after `x` must be a whole number"))?;
                (head, Some(n))
            }
            None => (word, None),
        };
        let steps = times.unwrap_or(0).saturating_add(1);
        if out.len().saturating_add(steps) > MAX_STEPS {
            return Err(format!(
                "{word:?}: the series would have more than {MAX_STEPS} steps"
            ));
        }
        if head == "_" {
            // `_x3` is three empty steps (promtool), `_` one.
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        let (start, step) = split_ramp(head).ok_or_else(|| {
            format!("{word:?}: expected a number, `AxN`, `A+BxN`, `A-BxN` or `_`")
        })?;
        if step != 0.0 && times.is_none() {
            return Err(format!("{word:?}: a ramp needs its count: `{head}xN`"));
        }
        for i in 0..steps {
            let v = start + step * i as f64;
            if !v.is_finite() {
                return Err(format!("{word:?}: values must be finite"));
            }
            out.push(Some(v));
        }
    }
    Ok(out)
}

/// `A`, `A+B` or `A-B` into (A, ±B); `None` when not numbers.
fn split_ramp(head: &str) -> Option<(f64, f64)> {
    let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
    // The operator: a sign after the first character that is not part of
    // an exponent (`1e-3`).
    let bytes = head.as_bytes();
    let op = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    match op {
        None => Some((number(head)?, 0.0)),
        Some(i) => {
            let step = number(&head[i + 1..])?;
            let step = if bytes[i] == b'-' { -step } else { step };
            Some((number(&head[..i])?, step))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Option<f64>> {
        expand(text).unwrap()
    }

    #[test]
    fn the_notation_expands_as_promtool_does() {
        assert_eq!(values("1 2.5 -3"), vec![Some(1.0), Some(2.5), Some(-3.0)]);
        assert_eq!(values("20x2"), vec![Some(20.0); 3]);
        assert_eq!(
            values("15+5x2 9-3x1"),
            vec![Some(15.0), Some(20.0), Some(25.0), Some(9.0), Some(6.0)]
        );
        assert_eq!(
            values("1 _ _x2 1e1"),
            vec![Some(1.0), None, None, None, Some(10.0)]
        );
        assert_eq!(values("-1-1x1"), vec![Some(-1.0), Some(-2.0)]);
        assert!(values("  ").is_empty());
    }

    #[test]
    fn mistakes_name_the_word() {
        let e = expand("1 two").unwrap_err();
        assert!(e.contains("\"two\""), "{e}");
        let e = expand("1+2").unwrap_err();
        assert!(e.contains("count"), "{e}");
        let e = expand("1x-2").unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        let e = expand("nan").unwrap_err();
        assert!(e.contains("\"nan\""), "{e}");
        let e = expand("1x1000000").unwrap_err();
        assert!(e.contains("more than"), "{e}");
    }
}
