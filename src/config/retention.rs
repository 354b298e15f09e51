//! `[retention]`: how long the outbox keeps acknowledged (closed) orders
//! and how many, how often the retention pass runs, and when it compacts
//! the file. An order not acknowledged (open, or escalated and still
//! open) is never deleted; an acknowledged one is appended to
//! DATA_DIR/exports/ and synced before it is deleted. Every field has a
//! default, so a config without the table keeps orders for a year.

use serde::Deserialize;
use std::time::Duration;

/// `[retention]`, checked: an interval of at least a second, a share in
/// 0..1 and a chunk of at least one order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Fields")]
pub struct RetentionConfig {
    /// An acknowledged order is kept this long after its acknowledgement,
    /// then exported and deleted; zero: no age limit.
    pub retain_closed_for: Duration,
    /// At most this many acknowledged orders are kept, the oldest (by
    /// when they were made) exported and deleted first; 0: no limit.
    pub retain_closed_max: u64,
    /// The pass runs at start, then this often.
    pub retention_interval: Duration,
    /// After a pass that deleted more than this share of the orders the
    /// file is compacted while the hub runs (commits and reads wait for
    /// it); 0: never while running (`tongguan outbox compact`, offline).
    pub compact_after_deleting: f64,
    /// Orders deleted per transaction, each transaction held against the
    /// dispatcher's commits.
    pub orders_per_transaction: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            retain_closed_for: Duration::from_secs(365 * 86_400),
            retain_closed_max: 0,
            retention_interval: Duration::from_secs(3600),
            compact_after_deleting: 0.0,
            orders_per_transaction: 1_000,
        }
    }
}

/// `[retention]` as written, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Fields {
    #[serde(with = "humantime_serde")]
    retain_closed_for: Duration,
    retain_closed_max: u64,
    #[serde(with = "humantime_serde")]
    retention_interval: Duration,
    compact_after_deleting: f64,
    orders_per_transaction: usize,
}

impl Default for Fields {
    fn default() -> Self {
        let d = RetentionConfig::default();
        Fields {
            retain_closed_for: d.retain_closed_for,
            retain_closed_max: d.retain_closed_max,
            retention_interval: d.retention_interval,
            compact_after_deleting: d.compact_after_deleting,
            orders_per_transaction: d.orders_per_transaction,
        }
    }
}

impl TryFrom<Fields> for RetentionConfig {
    type Error = String;

    fn try_from(f: Fields) -> Result<Self, String> {
        if f.retention_interval < Duration::from_secs(1) {
            return Err(format!(
                "retention.retention_interval is {:?}; it must be at least 1s",
                f.retention_interval
            ));
        }
        if !(0.0..=1.0).contains(&f.compact_after_deleting) {
            return Err(format!(
                "retention.compact_after_deleting is {}; it is a share, 0..1 (0: never while running)",
                f.compact_after_deleting
            ));
        }
        if f.orders_per_transaction == 0 {
            return Err("retention.orders_per_transaction must be at least 1".into());
        }
        Ok(RetentionConfig {
            retain_closed_for: f.retain_closed_for,
            retain_closed_max: f.retain_closed_max,
            retention_interval: f.retention_interval,
            compact_after_deleting: f.compact_after_deleting,
            orders_per_transaction: f.orders_per_transaction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetentionConfig, String> {
        toml::from_str::<RetentionConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_table_is_the_defaults() {
        assert_eq!(parse("").unwrap(), RetentionConfig::default());
        let c = parse("retain_closed_for = \"90d\"\nretain_closed_max = 5\n").unwrap();
        assert_eq!(c.retain_closed_for, Duration::from_secs(90 * 86_400));
        assert_eq!(c.retain_closed_max, 5);
        assert_eq!(c.retention_interval, Duration::from_secs(3600));
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse("retention_interval = \"10ms\"\n").unwrap_err();
        assert!(e.contains("retention_interval"), "{e}");
        let e = parse("compact_after_deleting = 2.0\n").unwrap_err();
        assert!(e.contains("compact_after_deleting"), "{e}");
        let e = parse("retain_closed_days = 3\n").unwrap_err();
        assert!(e.contains("retain_closed_days"), "{e}");
    }
}
