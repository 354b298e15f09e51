//! The simulated district: a device population standing in the streets
//! of the hub's region map (see places.rs), each device's event
//! pre-encoded once (template.rs), with a realistic mix of categories, mostly reporting normal values, and the
//! incidents that load brings (breaches held past a rule's hold, a smoke
//! sensor and a camera seeing one fire, a burst of hotline complaints).

use crate::places::Places;
use crate::template::{template, BatchFrame, Template};
use tongguan::model::{Category, Source};
use tongguan::prefetch::prefetch;
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

/// One simulated device: its pre-encoded event (which holds its id and
/// position) and the state its readings change. Two cache lines, aligned,
/// so a reading touches no other memory and can be prefetched.
#[repr(align(64))]
pub struct Device {
    /// Its event as the batch archive holds it (seq, time and value are
    /// patched per reading).
    pub template: Template,
    pub seq: u64,
    /// Reporting breach values until then (ns since the run's start;
    /// 0 = not breaching).
    pub breach_until: u64,
    /// For rate rules: the last value sent.
    pub level: f64,
    pub category: Category,
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
/// margin, in ns.
fn breach_length(category: Category) -> u64 {
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
    (hold + 3) * SECOND
}

/// A nanosecond count of one second.
const SECOND: u64 = 1_000_000_000;

/// Every device of one connection. Device ids are offset by `base` so
/// runs with different seeds do not share dedup windows on a long-lived
/// hub.
pub struct Population {
    pub devices: Vec<Device>,
    /// Pairs (smoke sensor index, camera index) at one place.
    pub fire_pairs: Vec<(usize, usize)>,
    next_hotline: u64,
    /// With `--cover`, the next device to draw in order before the skewed
    /// mix begins; `devices.len()` once every device has been drawn (or
    /// without `--cover`).
    cover_next: usize,
}

/// A category and source drawn from [`MIX`].
fn draw_kind(rng: &mut fastrand::Rng) -> (Category, Source) {
    let mut pick = rng.f64();
    MIX.iter()
        .find(|(_, _, share)| {
            pick -= share;
            pick < 0.0
        })
        .map_or((Category::Smoke, Source::Sensor), |(c, s, _)| (*c, *s))
}

impl Device {
    /// A device of `category` and `source` at (lat, lon).
    fn new(id: u64, category: Category, source: Source, lat: f64, lon: f64) -> Device {
        let mut camera = [0u8; 20];
        if source == Source::Video {
            camera.copy_from_slice(format!("310107{:014}", id % 100_000_000_000_000).as_bytes());
        }
        let template = template(&WireEvent {
            device_id: id,
            seq: 0,
            time_ms: 0,
            value: 0.0,
            lat,
            lon,
            category: category.code(),
            source: source.code(),
            flags: 0,
            camera,
        });
        Device {
            template,
            seq: 0,
            breach_until: 0,
            level: 100.0,
            category,
        }
    }

    /// The device's id, from its template.
    pub fn id(&self) -> u64 {
        u64::from_le_bytes(self.template[0..8].try_into().expect("8 bytes"))
    }

    /// Its position (lat, lon), from its template.
    pub fn position(&self) -> (f64, f64) {
        let f = |at: usize| f64::from_le_bytes(self.template[at..at + 8].try_into().expect("8"));
        (f(POSITION_AT), f(POSITION_AT + 8))
    }
}

/// Where lat and lon sit in an archived event (PROTOCOL.md 6.3).
const POSITION_AT: usize = 32;

impl Population {
    /// `count` devices standing in the streets of `places`.
    pub fn new(count: usize, base: u64, places: &Places, rng: &mut fastrand::Rng) -> Population {
        let mut devices: Vec<Device> = (0..count)
            .map(|i| {
                let (category, source) = draw_kind(rng);
                let (lat, lon) = places.pick(rng);
                Device::new(base + i as u64, category, source, lat, lon)
            })
            .collect();
        let fire_pairs = fire_pairs(&devices);
        for &(s, c) in &fire_pairs {
            // The camera stands where the smoke sensor is.
            let at = POSITION_AT..POSITION_AT + 16;
            let spot: [u8; 16] = devices[s].template[at.clone()].try_into().expect("16");
            devices[c].template[at].copy_from_slice(&spot);
        }
        Population {
            devices,
            fire_pairs,
            next_hotline: base + count as u64,
            cover_next: count,
        }
    }

    /// `--cover`: the next `devices.len()` draws of [`Population::next_device`]
    /// are every device once, in order (0, 1, 2 ...); the skewed mix
    /// follows. So every device is heard at least once in a run long
    /// enough for that.
    pub fn cover_in_order(&mut self) {
        self.cover_next = 0;
    }

    /// Prefetches device `i`'s state: it is read a few events later.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        prefetch(&self.devices[i], 2);
    }

    /// Writes the next reading of device `i` at `now` (ns since the start;
    /// event time `time_ms`) into `frame`; returns its (device, seq) when
    /// it is a breach reading (a possible order trigger).
    #[inline]
    pub fn reading(
        &mut self,
        i: usize,
        now: u64,
        time_ms: i64,
        frame: &mut BatchFrame,
        rng: &mut fastrand::Rng,
    ) -> Option<(u64, u64)> {
        let d = &mut self.devices[i];
        let breaching = now < d.breach_until;
        if !breaching {
            d.breach_until = 0;
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
        frame.push(&d.template, d.seq, time_ms, value);
        let key = (d.id(), d.seq);
        d.seq += 1;
        breaching.then_some(key)
    }

    /// Starts an incident at `now` (ns since the start). Events that must
    /// go out now besides the devices' own readings (hotline complaints
    /// have no device of their own) are written to `frame`, and their keys
    /// to `triggers`.
    pub fn start_incident(
        &mut self,
        scenario: Scenario,
        now: u64,
        time_ms: i64,
        frame: &mut BatchFrame,
        triggers: &mut Vec<(u64, u64)>,
        rng: &mut fastrand::Rng,
    ) {
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
                self.devices[i].breach_until = now + 3 * SECOND;
            }
        } else if roll < fire + hotline {
            self.hotline_burst(time_ms, frame, triggers, rng);
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
            if d.breach_until == 0 {
                // A stuck sensor keeps reporting its alarm for the whole run.
                let length = match scenario {
                    Scenario::DuplicateStorm => 24 * 3600 * SECOND,
                    _ => breach_length(d.category),
                };
                d.breach_until = now + length;
            }
        }
    }

    /// Three complaints about noise at one device's place, from the hotline.
    fn hotline_burst(
        &mut self,
        time_ms: i64,
        frame: &mut BatchFrame,
        triggers: &mut Vec<(u64, u64)>,
        rng: &mut fastrand::Rng,
    ) {
        let (lat, lon) = self.devices[rng.usize(..self.devices.len())].position();
        for k in 0..3 {
            self.next_hotline += 1;
            let e = WireEvent {
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
            };
            frame.push(&template(&e), e.seq, e.time_ms, e.value);
            triggers.push((e.device_id, e.seq));
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
    /// half the events). With `--cover`, every device once in order first.
    #[inline]
    pub fn next_device(&mut self, rng: &mut fastrand::Rng) -> usize {
        let n = self.devices.len();
        if self.cover_next < n {
            let i = self.cover_next;
            self.cover_next += 1;
            return i;
        }
        let u = rng.f64();
        ((n as f64 * u * u * u) as usize).min(n - 1)
    }
}

/// One in fifty smoke sensors has a camera on the same spot.
fn fire_pairs(devices: &[Device]) -> Vec<(usize, usize)> {
    let of = |c: Category| -> Vec<usize> {
        (0..devices.len())
            .filter(|&i| devices[i].category == c)
            .collect()
    };
    of(Category::Smoke)
        .into_iter()
        .step_by(50)
        .zip(of(Category::Fire).into_iter().step_by(50))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn population(n: usize) -> Population {
        Population::new(
            n,
            1_000,
            &Places::sample(),
            &mut fastrand::Rng::with_seed(3),
        )
    }

    #[test]
    fn devices_stand_in_streets_and_fire_pairs_share_a_spot() {
        let places = Places::sample();
        let p = population(2_000);
        assert!(p
            .devices
            .iter()
            .all(|d| places.street_at(d.position().0, d.position().1).is_some()));
        assert!(!p.fire_pairs.is_empty());
        for &(s, c) in &p.fire_pairs {
            let (s, c) = (&p.devices[s], &p.devices[c]);
            assert_eq!(s.position(), c.position());
        }
    }

    #[test]
    fn a_breach_reports_breach_values_until_it_ends_then_normal_ones() {
        let mut p = population(200);
        let mut rng = fastrand::Rng::with_seed(9);
        let gas = p
            .devices
            .iter()
            .position(|d| d.category == Category::Gas)
            .unwrap();
        p.devices[gas].breach_until = 5 * SECOND;
        let mut frame = BatchFrame::with_capacity(4);
        let during = p.reading(gas, SECOND, 1_000, &mut frame, &mut rng);
        let after = p.reading(gas, 6 * SECOND, 6_000, &mut frame, &mut rng);
        let id = p.devices[gas].id();
        assert_eq!(during, Some((id, 0)), "a breach reading is a trigger");
        assert_eq!(after, None);
        assert_eq!(p.devices[gas].breach_until, 0);
        assert_eq!(p.devices[gas].seq, 2);
        assert_eq!(frame.len(), 2);
    }

    #[test]
    fn a_hotline_surge_writes_three_complaints_and_notes_them() {
        let mut p = population(100);
        let mut rng = fastrand::Rng::with_seed(5);
        let mut frame = BatchFrame::with_capacity(8);
        let mut triggers = Vec::new();
        p.start_incident(
            Scenario::HotlineSurge,
            0,
            5,
            &mut frame,
            &mut triggers,
            &mut rng,
        );
        assert_eq!(frame.len(), 3);
        assert_eq!(triggers.len(), 3);
        assert!(triggers.iter().all(|&(d, seq)| d > 1_100 && seq == 0));
    }

    #[test]
    fn activity_is_skewed_towards_a_few_devices() {
        let mut p = population(1_000);
        let mut rng = fastrand::Rng::with_seed(11);
        let busiest_tenth = (0..100_000)
            .filter(|_| p.next_device(&mut rng) < 100)
            .count();
        // u^3 < 0.1 for u < 0.464: about 46 % of the picks.
        assert!((40_000..52_000).contains(&busiest_tenth), "{busiest_tenth}");
    }

    #[test]
    fn cover_draws_every_device_once_in_order_then_the_skewed_mix() {
        let mut p = population(1_000);
        p.cover_in_order();
        let mut rng = fastrand::Rng::with_seed(11);
        let first: Vec<usize> = (0..1_000).map(|_| p.next_device(&mut rng)).collect();
        assert_eq!(first, (0..1_000).collect::<Vec<_>>());
        let busiest_tenth = (0..100_000)
            .filter(|_| p.next_device(&mut rng) < 100)
            .count();
        assert!((40_000..52_000).contains(&busiest_tenth), "{busiest_tenth}");
    }
}
