//! The simulated district: a device population spread over Putuo with a
//! realistic mix of categories, mostly reporting normal values, and the
//! incidents that load brings (breaches held past a rule's hold, a smoke
//! sensor and a camera seeing one fire, a burst of hotline complaints).

use std::time::{Duration, Instant};
use tongguan::model::{Category, Source};
use tongguan::wire::WireEvent;

/// What the load looks like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// An ordinary day: telemetry, a mix of incidents.
    #[default]
    Steady,
    /// A typhoon day: waterlogging and crowd incidents across the district,
    /// ten times as many.
    Storm,
    /// Retransmits (30 % of batches sent twice) and stuck sensors that keep
    /// reporting their alarm.
    DuplicateStorm,
    /// Every incident a smoke sensor and a camera seeing one fire.
    CorrelatedFire,
    /// Every incident a burst of hotline noise complaints.
    HotlineSurge,
}

/// District bounding box (approximate), degrees.
const LAT: (f64, f64) = (31.222, 31.298);
const LON: (f64, f64) = (121.362, 121.458);

/// One simulated device.
pub struct Device {
    pub id: u64,
    pub seq: u64,
    pub category: Category,
    pub source: Source,
    pub lat: f64,
    pub lon: f64,
    pub camera: [u8; 20],
    /// Reporting breach values until then.
    pub breach_until: Option<Instant>,
    /// For rate rules: the last value sent.
    pub level: f64,
}

/// (category, source, share of the population).
const MIX: &[(Category, Source, f64)] = &[
    (Category::Smoke, Source::Sensor, 0.12),
    (Category::WaterLevel, Source::Sensor, 0.14),
    (Category::Gas, Source::Sensor, 0.10),
    (Category::Manhole, Source::Sensor, 0.12),
    (Category::GarbageOverflow, Source::Sensor, 0.14),
    (Category::StructuralStrain, Source::Sensor, 0.05),
    (Category::CrowdDensity, Source::Video, 0.08),
    (Category::Fire, Source::Video, 0.10),
    (Category::IllegalParking, Source::Video, 0.10),
    (Category::Waterlogging, Source::Video, 0.05),
];

/// A value well inside the normal range of a category.
fn normal(category: Category, rng: &mut fastrand::Rng) -> f64 {
    let jitter = rng.f64();
    match category {
        Category::Smoke => 0.2 + 0.3 * jitter,
        Category::Fire => 0.05 * jitter,
        Category::WaterLevel => 3.0 * jitter,
        Category::Waterlogging => 0.1 * jitter,
        Category::Gas => 2.0 * jitter,
        Category::Manhole => 0.5 * jitter,
        Category::CrowdDensity => 0.5 + jitter,
        Category::IllegalParking => 0.2 * jitter,
        Category::GarbageOverflow => 20.0 + 30.0 * jitter,
        Category::StructuralStrain => 0.0,
        Category::NoiseComplaint => 1.0,
    }
}

/// A value beyond a category's default limit.
fn breach(category: Category) -> f64 {
    match category {
        Category::Smoke => 6.0,
        Category::Fire => 0.95,
        Category::WaterLevel => 25.0,
        Category::Waterlogging => 0.9,
        Category::Gas => 40.0,
        Category::Manhole => 20.0,
        Category::CrowdDensity => 6.0,
        Category::IllegalParking => 0.95,
        Category::GarbageOverflow => 99.0,
        Category::StructuralStrain => 0.0,
        Category::NoiseComplaint => 1.0,
    }
}

/// How long a breach must last to pass the default rule's hold, plus a
/// margin.
fn breach_length(category: Category) -> Duration {
    let hold = match category {
        Category::WaterLevel | Category::Waterlogging => 60,
        Category::Gas => 5,
        Category::Manhole => 10,
        Category::CrowdDensity => 120,
        Category::IllegalParking => 300,
        Category::GarbageOverflow => 600,
        Category::StructuralStrain => 62,
        _ => 0,
    };
    Duration::from_secs(hold + 3)
}

/// Every device of the run. Device ids are offset by `base` so runs with
/// different seeds do not share dedup windows on a long-lived hub.
pub struct Population {
    pub devices: Vec<Device>,
    /// Pairs (smoke sensor index, camera index) at one place.
    pub fire_pairs: Vec<(usize, usize)>,
    next_hotline: u64,
}

impl Population {
    pub fn new(count: usize, base: u64, rng: &mut fastrand::Rng) -> Population {
        let mut devices = Vec::with_capacity(count);
        for i in 0..count {
            let mut pick = rng.f64();
            let (category, source) = MIX
                .iter()
                .find(|(_, _, share)| {
                    pick -= share;
                    pick < 0.0
                })
                .map_or((Category::Smoke, Source::Sensor), |(c, s, _)| (*c, *s));
            let id = base + i as u64;
            let mut camera = [0u8; 20];
            if source == Source::Video {
                camera
                    .copy_from_slice(format!("310107{:014}", id % 100_000_000_000_000).as_bytes());
            }
            devices.push(Device {
                id,
                seq: 0,
                category,
                source,
                lat: LAT.0 + (LAT.1 - LAT.0) * rng.f64(),
                lon: LON.0 + (LON.1 - LON.0) * rng.f64(),
                camera,
                breach_until: None,
                level: 100.0,
            });
        }
        // One in fifty smoke sensors has a camera on the same spot.
        let smokes: Vec<usize> = (0..count)
            .filter(|&i| devices[i].category == Category::Smoke)
            .collect();
        let cameras: Vec<usize> = (0..count)
            .filter(|&i| devices[i].category == Category::Fire)
            .collect();
        let fire_pairs: Vec<(usize, usize)> = smokes
            .iter()
            .step_by(50)
            .zip(cameras.iter().step_by(50))
            .map(|(&s, &c)| (s, c))
            .collect();
        for &(s, c) in &fire_pairs {
            devices[c].lat = devices[s].lat;
            devices[c].lon = devices[s].lon;
        }
        Population {
            devices,
            fire_pairs,
            next_hotline: base + count as u64,
        }
    }

    /// The next reading of device `i` at `now` (event time `time_ms`), and
    /// whether it is a breach reading (a possible order trigger).
    pub fn reading(
        &mut self,
        i: usize,
        now: Instant,
        time_ms: i64,
        rng: &mut fastrand::Rng,
    ) -> (WireEvent, bool) {
        let d = &mut self.devices[i];
        let breaching = d.breach_until.is_some_and(|until| now < until);
        if !breaching {
            d.breach_until = None;
        }
        let value = if d.category == Category::StructuralStrain {
            // Slow drift normally, a fast rise while breaching.
            d.level += if breaching { 80.0 } else { 0.01 * rng.f64() };
            d.level
        } else if breaching {
            breach(d.category)
        } else {
            normal(d.category, rng)
        };
        let e = WireEvent {
            device_id: d.id,
            seq: d.seq,
            time_ms,
            value,
            lat: d.lat,
            lon: d.lon,
            category: d.category.code(),
            source: d.source.code(),
            flags: 0,
            camera: d.camera,
        };
        d.seq += 1;
        (e, breaching)
    }

    /// Starts an incident; returns the events that must go out now besides
    /// the devices' own readings (hotline complaints have no device of
    /// their own in the population).
    pub fn start_incident(
        &mut self,
        scenario: Scenario,
        now: Instant,
        time_ms: i64,
        rng: &mut fastrand::Rng,
    ) -> Vec<WireEvent> {
        // Shares of (fire pair, hotline complaints, one device's breach).
        let (fire, hotline) = match scenario {
            Scenario::Steady | Scenario::DuplicateStorm => (0.25, 0.15),
            Scenario::Storm => (0.0, 0.1),
            Scenario::CorrelatedFire => (1.0, 0.0),
            Scenario::HotlineSurge => (0.0, 1.0),
        };
        let roll = rng.f64();
        if roll < fire && !self.fire_pairs.is_empty() {
            let (s, c) = self.fire_pairs[rng.usize(..self.fire_pairs.len())];
            for i in [s, c] {
                self.devices[i].breach_until = Some(now + Duration::from_secs(3));
            }
            Vec::new()
        } else if roll < fire + hotline {
            // Three complaints about noise at one place, from the hotline.
            let d = &self.devices[rng.usize(..self.devices.len())];
            let (lat, lon) = (d.lat, d.lon);
            (0..3)
                .map(|k| {
                    self.next_hotline += 1;
                    WireEvent {
                        device_id: self.next_hotline,
                        seq: 0,
                        time_ms: time_ms + k,
                        value: 1.0,
                        lat,
                        lon,
                        category: Category::NoiseComplaint.code(),
                        source: Source::Hotline.code(),
                        flags: 0,
                        camera: [0; 20],
                    }
                })
                .collect()
        } else {
            let i = match scenario {
                // Waterlogging and crowds: the devices that see them.
                Scenario::Storm => self.pick_of(
                    &[
                        Category::WaterLevel,
                        Category::Waterlogging,
                        Category::CrowdDensity,
                    ],
                    rng,
                ),
                _ => rng.usize(..self.devices.len()),
            };
            let d = &mut self.devices[i];
            if d.breach_until.is_none() {
                // A stuck sensor keeps reporting its alarm for the whole run.
                let length = match scenario {
                    Scenario::DuplicateStorm => Duration::from_secs(24 * 3600),
                    _ => breach_length(d.category),
                };
                d.breach_until = Some(now + length);
            }
            Vec::new()
        }
    }

    /// A device of one of `categories` (a few tries, then any device).
    fn pick_of(&self, categories: &[Category], rng: &mut fastrand::Rng) -> usize {
        for _ in 0..32 {
            let i = rng.usize(..self.devices.len());
            if categories.contains(&self.devices[i].category) {
                return i;
            }
        }
        rng.usize(..self.devices.len())
    }

    /// The next device to report: skewed, so a few devices are very busy
    /// and most are quiet (index ~ n * u^3: the busiest tenth sends about
    /// half the events).
    pub fn next_device(&self, rng: &mut fastrand::Rng) -> usize {
        let u = rng.f64();
        ((self.devices.len() as f64) * u * u * u) as usize % self.devices.len()
    }
}
