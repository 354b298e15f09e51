//! The vocabulary every stage shares: where an event came from ([`Source`]),
//! what it is about ([`Category`]), how bad a warning is ([`Severity`]), and
//! the validated [`Event`] that moves from ingest to the shards.
//!
//! Wire codes of sources and categories are fixed by docs/PROTOCOL.md: they
//! may be added to, never renumbered.

use crate::vocabulary::vocabulary;
use serde::{Deserialize, Serialize};
use std::fmt;

vocabulary! {
    /// Who produced an event. Sources of different kinds are *independent*: a
    /// warning that two kinds agree on is worth more than two of one kind.
    #[derive(PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Source: u8 {
        /// An IoT sensor: smoke, water level, gas, strain, ...
        Sensor = 1 => "sensor",
        /// A video-analytics box reporting a detection with a confidence.
        Video = 2 => "video",
        /// The 12345 citizen hotline.
        Hotline = 3 => "hotline",
        /// A grid patrol (网格巡查) report.
        Patrol = 4 => "patrol",
    }
}

impl Source {
    /// Position in [`Source::ALL`], for dense per-source arrays.
    pub fn index(self) -> usize {
        self as usize - 1
    }
}

vocabulary! {
    /// What an event is about. The value's unit depends on the category
    /// (see docs/PROTOCOL.md, "Categories").
    #[derive(PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Category: u16 {
        /// Smoke obscuration from a smoke sensor, in %/m.
        Smoke = 1 => "smoke",
        /// Fire or open flame seen by a camera: detection confidence 0..1.
        Fire = 2 => "fire",
        /// Water depth above road level from a water-level sensor, in cm.
        WaterLevel = 3 => "water_level",
        /// Standing water seen by a camera or reported: confidence 0..1.
        Waterlogging = 4 => "waterlogging",
        /// Combustible gas concentration, in %LEL.
        Gas = 5 => "gas",
        /// Manhole cover tilt or displacement, in degrees.
        Manhole = 6 => "manhole",
        /// People per square metre estimated by a camera.
        CrowdDensity = 7 => "crowd_density",
        /// Illegal parking detected by a camera: confidence 0..1.
        IllegalParking = 8 => "illegal_parking",
        /// Waste bin fill level, in %.
        GarbageOverflow = 9 => "garbage_overflow",
        /// Structural strain from a strain gauge, in microstrain.
        StructuralStrain = 10 => "structural_strain",
        /// A noise complaint (hotline or patrol): value unused, 1 by convention.
        NoiseComplaint = 11 => "noise_complaint",
    }
}

impl Category {
    /// Position in [`Category::ALL`], for dense per-category arrays.
    pub fn index(self) -> usize {
        self as usize - 1
    }
}

vocabulary! {
    /// How urgent a warning is: the four levels of the national warning scale
    /// (blue, yellow, orange, red), from least to most.
    #[derive(PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Severity {
        /// Blue: handle in the normal course of work.
        Minor => "minor",
        /// Yellow: handle soon.
        Moderate => "moderate",
        /// Orange: handle now.
        Major => "major",
        /// Red: danger to life, everyone available.
        Critical => "critical",
    }
}

impl Severity {
    /// The level `steps` above this one, capped at critical.
    pub(crate) fn raised(self, steps: usize) -> Severity {
        Severity::ALL[(self as usize + steps).min(Severity::ALL.len() - 1)]
    }
}

/// A camera reference for video look-up (视频调阅): the camera's 20-digit
/// national video-network code (GB/T 28181), or all zero bytes for none.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CameraRef(pub [u8; 20]);

impl CameraRef {
    /// No camera.
    pub const NONE: CameraRef = CameraRef([0; 20]);

    /// Parses a 20-digit code.
    pub fn parse(code: &str) -> Option<CameraRef> {
        let bytes: [u8; 20] = code.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(u8::is_ascii_digit)
            .then_some(CameraRef(bytes))
    }

    /// Whether this names a camera.
    pub fn is_some(&self) -> bool {
        self.0 != [0; 20]
    }

    /// The code as text, if a camera is named and the code is well-formed.
    pub fn as_str(&self) -> Option<&str> {
        if !self.is_some() || !self.0.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for CameraRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(code) => write!(f, "CameraRef({code})"),
            None => f.write_str("CameraRef(none)"),
        }
    }
}

/// A validated event inside the hub: what ingest hands to a shard.
///
/// Plain data with a fixed size, so batches of them move between threads
/// without a per-event allocation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The reporting device.
    pub device: u64,
    /// Per-device sequence number, increasing by one per event.
    pub seq: u64,
    /// When it happened, Unix milliseconds (event time).
    pub time_ms: i64,
    /// Measurement or detection confidence; unit by category.
    pub value: f64,
    /// Latitude, degrees (WGS-84).
    pub lat: f64,
    /// Longitude, degrees (WGS-84).
    pub lon: f64,
    /// The H3 cell (resolution 9, as [`crate::geo::cell_of`] gives) of the position.
    pub cell: u64,
    /// What it is about.
    pub category: Category,
    /// Who produced it.
    pub source: Source,
    /// Camera for video look-up, [`CameraRef::NONE`] when not from video.
    pub camera: CameraRef,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Source::ALL {
            assert_eq!(Source::from_code(s.code()), Some(s));
        }
        assert_eq!(Source::from_code(0), None);
        assert_eq!(Source::from_code(5), None);
        for (i, c) in Category::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Category::from_code(c.code()), Some(*c));
            assert_eq!(Category::from_name(c.name()), Some(*c));
        }
        assert_eq!(Category::from_code(0), None);
    }

    #[test]
    fn severity_rises_and_caps() {
        assert_eq!(Severity::Major.raised(1), Severity::Critical);
        assert_eq!(Severity::Minor.raised(2), Severity::Major);
        assert_eq!(Severity::Major.raised(5), Severity::Critical);
    }

    #[test]
    fn camera_codes_are_twenty_digits() {
        assert!(CameraRef::parse("31010700001320000001").is_some());
        assert!(CameraRef::parse("3101070000132000000").is_none());
        assert!(CameraRef::parse("3101070000132000000x").is_none());
        assert!(!CameraRef::NONE.is_some());
    }
}
