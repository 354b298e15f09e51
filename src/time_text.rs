//! Times as people write and read them: a query parameter given as Unix
//! ms or RFC 3339 (`2026-12-01T08:00:00Z`, `2026-12-01 16:00:00+08:00`),
//! and a time shown in the district's zone (Asia/Shanghai, UTC+8 all year:
//! China keeps no summer time).

use std::time::{Duration, UNIX_EPOCH};

/// The district's offset from UTC, ms.
const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;

/// A time given as Unix ms or RFC 3339, in Unix ms; the error names
/// `name` and both forms.
pub fn parse_time_ms(name: &str, text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        format!("{name}={text:?}: 须为毫秒时间戳或 RFC 3339 / neither Unix ms nor RFC 3339 (2026-12-01T08:00:00Z): {e}")
    })?;
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("{name}={text:?}: {e}"))?;
    Ok(since.as_millis() as i64)
}

/// A Unix ms time in Asia/Shanghai, `2026-12-01 16:00:00`.
pub fn shanghai(ms: i64) -> String {
    let local = ms.saturating_add(SHANGHAI_OFFSET_MS).max(0) as u64;
    let t = UNIX_EPOCH + Duration::from_millis(local);
    let text = humantime::format_rfc3339_seconds(t).to_string();
    text.trim_end_matches('Z').replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_both_ways_and_show_in_the_district_zone() {
        assert_eq!(
            parse_time_ms("from", "1764576000000").unwrap(),
            1_764_576_000_000
        );
        assert_eq!(
            parse_time_ms("from", "2025-12-01T08:00:00Z").unwrap(),
            1_764_576_000_000
        );
        assert!(parse_time_ms("from", "yesterday")
            .unwrap_err()
            .contains("from="));
        assert_eq!(shanghai(1_764_576_000_000), "2025-12-01 16:00:00");
    }
}
