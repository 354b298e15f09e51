//! `[record]`: whether the hub records the batches it accepts, for
//! replays (`tongguan replay`): off (the default), a sample of whole
//! devices, or all; where (DATA_DIR/recordings/ unless said), how large a
//! segment grows, and how much and how long is kept. The recording is
//! written on its own thread from a bounded queue; when the queue is full
//! a batch is dropped from the recording and counted, never waited for.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// What the hub records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordMode {
    /// Nothing.
    #[default]
    Off,
    /// The events of a share of the devices (`sample`), each device whole
    /// or not at all, so rules over time still see complete series.
    Sample,
    /// Every accepted event.
    All,
}

/// `[record]`, checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Fields")]
pub struct RecordConfig {
    /// Off, sample or all.
    pub mode: RecordMode,
    /// In `sample` mode, the share of devices recorded, 0..1.
    pub sample: f64,
    /// Where segments go; DATA_DIR/recordings/ when absent.
    pub dir: Option<PathBuf>,
    /// A segment is closed and the next begun past this size, bytes.
    pub segment_bytes: u64,
    /// The oldest segments are deleted while all of them take more; 0: no
    /// size limit.
    pub max_bytes: u64,
    /// Segments whose newest batch is older than this are deleted; zero:
    /// no age limit.
    pub max_age: Duration,
    /// Batches waiting for the recording thread, at most; past it batches
    /// are left out of the recording and counted.
    pub queue_batches: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            mode: RecordMode::Off,
            sample: 0.1,
            dir: None,
            segment_bytes: 256 << 20,
            max_bytes: 20 << 30,
            max_age: Duration::from_secs(7 * 86_400),
            queue_batches: 4096,
        }
    }
}

impl RecordConfig {
    /// The recording's directory for a hub with this data directory.
    pub fn dir_in(&self, data_dir: &std::path::Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| data_dir.join("recordings"))
    }
}

/// `[record]` as written, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Fields {
    mode: RecordMode,
    sample: f64,
    dir: Option<PathBuf>,
    segment_bytes: u64,
    max_bytes: u64,
    #[serde(with = "humantime_serde")]
    max_age: Duration,
    queue_batches: usize,
}

impl Default for Fields {
    fn default() -> Self {
        let d = RecordConfig::default();
        Fields {
            mode: d.mode,
            sample: d.sample,
            dir: d.dir,
            segment_bytes: d.segment_bytes,
            max_bytes: d.max_bytes,
            max_age: d.max_age,
            queue_batches: d.queue_batches,
        }
    }
}

impl TryFrom<Fields> for RecordConfig {
    type Error = String;

    fn try_from(f: Fields) -> Result<Self, String> {
        if !(f.sample > 0.0 && f.sample <= 1.0) {
            return Err(format!(
                "record.sample is {}; it is the share of devices recorded, above 0 and at most 1",
                f.sample
            ));
        }
        if f.segment_bytes < 1 << 20 {
            return Err(format!(
                "record.segment_bytes is {}; a segment needs at least 1 MiB (1048576)",
                f.segment_bytes
            ));
        }
        if f.max_bytes != 0 && f.max_bytes < f.segment_bytes {
            return Err(format!(
                "record.max_bytes ({}) is below record.segment_bytes ({}): not one segment would be kept (0: no size limit)",
                f.max_bytes, f.segment_bytes
            ));
        }
        if f.queue_batches == 0 {
            return Err("record.queue_batches must be at least 1".into());
        }
        Ok(RecordConfig {
            mode: f.mode,
            sample: f.sample,
            dir: f.dir,
            segment_bytes: f.segment_bytes,
            max_bytes: f.max_bytes,
            max_age: f.max_age,
            queue_batches: f.queue_batches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RecordConfig, String> {
        toml::from_str::<RecordConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_table_records_nothing() {
        let c = parse("").unwrap();
        assert_eq!(c, RecordConfig::default());
        assert_eq!(c.mode, RecordMode::Off);
        let c = parse("mode = \"sample\"\nsample = 0.25\nmax_age = \"2d\"\n").unwrap();
        assert_eq!((c.mode, c.sample), (RecordMode::Sample, 0.25));
        assert_eq!(c.max_age, Duration::from_secs(2 * 86_400));
        assert_eq!(
            c.dir_in(std::path::Path::new("data")),
            PathBuf::from("data/recordings")
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (text, field) in [
            ("mode = \"some\"\n", "some"),
            ("sample = 0.0\n", "record.sample"),
            ("sample = 1.5\n", "record.sample"),
            ("segment_bytes = 10\n", "record.segment_bytes"),
            ("max_bytes = 2000000\n", "record.max_bytes"),
            ("queue_batches = 0\n", "record.queue_batches"),
            ("segment_size = 1\n", "segment_size"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
