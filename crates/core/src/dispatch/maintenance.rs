//! Maintenance windows (维护期): a device, a kind of device in a street, or
//! an area, silenced from a start to an end, with a reason and who set
//! it. A warning whose every event comes from inside an open window is not
//! dispatched: the dispatcher counts it against the window instead. A
//! window past its end covers nothing and is dropped by itself; the
//! decision takes the time as an argument like every other.

use crate::geo::RegionMap;
use crate::model::{Category, Event};
use serde::{Deserialize, Serialize};

/// What a window covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// One device.
    Device {
        /// Its id.
        device: u64,
    },
    /// Every device of one category in one street.
    Category {
        /// The category (smoke, gas, ...).
        category: Category,
        /// The street's 12-digit code.
        street: String,
    },
    /// Every device within a circle.
    Area {
        /// Centre, degrees.
        lat: f64,
        /// Centre, degrees.
        lon: f64,
        /// Radius, metres (at most 5 km).
        radius_m: f64,
    },
}

/// Largest area a window may cover, metres of radius.
pub const MAX_RADIUS_M: f64 = 5_000.0;

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Its id, given by the hub.
    pub id: String,
    /// What it covers.
    pub target: Target,
    /// From, Unix ms.
    pub from_ms: i64,
    /// Until (exclusive), Unix ms.
    pub until_ms: i64,
    /// Why (检修, 调试, ...).
    pub reason: String,
    /// Who set it.
    pub by: String,
    /// Warnings it kept from dispatching so far.
    #[serde(default)]
    pub suppressed: u64,
}

impl Window {
    /// What is wrong with it as asked for, if anything.
    pub fn invalid(&self, map: &RegionMap) -> Option<String> {
        if self.until_ms <= self.from_ms {
            return Some("结束时间须晚于开始时间 / until must be after from".into());
        }
        if self.reason.trim().is_empty() {
            return Some("须写明原因 / a window needs a reason".into());
        }
        match &self.target {
            Target::Device { .. } => None,
            Target::Category { street, .. } => map
                .street_by_code(street)
                .is_none()
                .then(|| format!("没有街镇代码 {street:?} / no street has the code {street:?}")),
            Target::Area { lat, lon, radius_m } => {
                let bad_centre = crate::geo::cell_of(*lat, *lon).is_none();
                let bad_radius = !(*radius_m > 0.0 && *radius_m <= MAX_RADIUS_M);
                (bad_centre || bad_radius).then(|| {
                    format!("区域须为有效坐标和 0–{MAX_RADIUS_M} 米半径 / an area needs a valid centre and a radius of 0-{MAX_RADIUS_M} m")
                })
            }
        }
    }

    /// Whether it is open at `now_ms` and covers the event.
    pub fn covers(&self, e: &Event, map: &RegionMap, now_ms: i64) -> bool {
        if now_ms < self.from_ms || now_ms >= self.until_ms {
            return false;
        }
        match &self.target {
            Target::Device { device } => e.device == *device,
            Target::Category { category, street } => {
                e.category == *category
                    && map
                        .street_of(e.cell)
                        .is_some_and(|s| map.street(s).code == *street)
            }
            Target::Area { lat, lon, radius_m } => {
                distance_m((e.lat, e.lon), (*lat, *lon)) <= *radius_m
            }
        }
    }
}

/// The windows in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintenance {
    windows: Vec<Window>,
}

impl Maintenance {
    /// These windows.
    pub fn new(windows: Vec<Window>) -> Maintenance {
        Maintenance { windows }
    }

    /// The windows, as set.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The window covering every one of `events` at `now_ms`, if one does
    /// (the first set, when several do).
    pub fn covering<'a>(
        &self,
        events: impl IntoIterator<Item = &'a Event> + Clone,
        map: &RegionMap,
        now_ms: i64,
    ) -> Option<&Window> {
        self.windows
            .iter()
            .find(|w| events.clone().into_iter().all(|e| w.covers(e, map, now_ms)))
    }

    /// Counts a warning a window kept back.
    pub fn count(&mut self, id: &str) {
        if let Some(w) = self.windows.iter_mut().find(|w| w.id == id) {
            w.suppressed += 1;
        }
    }

    /// Drops the windows ended by `now_ms`; returns them.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Window> {
        let (ended, open) = self.windows.drain(..).partition(|w| w.until_ms <= now_ms);
        self.windows = open;
        ended
    }
}

/// Great-circle distance, metres.
fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (Ok(a), Ok(b)) = (h3o::LatLng::new(a.0, a.1), h3o::LatLng::new(b.0, b.1)) else {
        return f64::INFINITY;
    };
    a.distance_m(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CameraRef, Source};

    const T0: i64 = 1_800_000_000_000;
    const CAOYANG: &str = "310107005000";

    fn event(map: &RegionMap, device: u64, category: Category, street: &str) -> Event {
        let (lat, lon) = map
            .interior_point(map.street_by_code(street).unwrap())
            .unwrap();
        Event {
            device,
            seq: 1,
            time_ms: T0,
            value: 1.0,
            lat,
            lon,
            cell: crate::geo::cell_of(lat, lon).unwrap(),
            category,
            source: Source::Sensor,
            camera: CameraRef::NONE,
        }
    }

    fn window(target: Target) -> Window {
        Window {
            id: "M1".into(),
            target,
            from_ms: T0,
            until_ms: T0 + 3_600_000,
            reason: "检修".into(),
            by: "王五".into(),
            suppressed: 0,
        }
    }

    #[test]
    fn a_window_covers_its_target_only_while_it_is_open() {
        let map = RegionMap::sample();
        let smoke = event(&map, 7, Category::Smoke, CAOYANG);
        let other = event(&map, 8, Category::Smoke, CAOYANG);
        let w = window(Target::Device { device: 7 });
        assert!(w.covers(&smoke, &map, T0));
        assert!(!w.covers(&other, &map, T0), "another device");
        assert!(!w.covers(&smoke, &map, T0 - 1), "not yet");
        assert!(!w.covers(&smoke, &map, T0 + 3_600_000), "over");
        let kind = window(Target::Category {
            category: Category::Smoke,
            street: CAOYANG.into(),
        });
        assert!(kind.covers(&other, &map, T0));
        assert!(!kind.covers(&event(&map, 9, Category::Gas, CAOYANG), &map, T0));
        let area = window(Target::Area {
            lat: smoke.lat,
            lon: smoke.lon,
            radius_m: 50.0,
        });
        assert!(area.covers(&smoke, &map, T0));
        assert!(!area.covers(&event(&map, 9, Category::Smoke, "310107020000"), &map, T0));
    }

    #[test]
    fn a_warning_is_kept_back_only_when_every_event_is_covered() {
        let map = RegionMap::sample();
        let m = Maintenance::new(vec![window(Target::Device { device: 7 })]);
        let a = event(&map, 7, Category::Smoke, CAOYANG);
        let b = event(&map, 8, Category::Smoke, CAOYANG);
        assert_eq!(
            m.covering([&a], &map, T0).map(|w| w.id.as_str()),
            Some("M1")
        );
        assert!(
            m.covering([&a, &b], &map, T0).is_none(),
            "a second device speaks"
        );
    }

    #[test]
    fn windows_expire_by_themselves_and_bad_ones_are_explained() {
        let map = RegionMap::sample();
        let mut m = Maintenance::new(vec![window(Target::Device { device: 7 })]);
        assert!(m.expire(T0 + 1).is_empty());
        assert_eq!(m.expire(T0 + 3_600_000).len(), 1);
        assert!(m.windows().is_empty());
        let backwards = Window {
            until_ms: T0,
            ..window(Target::Device { device: 7 })
        };
        assert!(backwards.invalid(&map).unwrap().contains("until"));
        let nowhere = window(Target::Category {
            category: Category::Gas,
            street: "310107999000".into(),
        });
        assert!(nowhere.invalid(&map).is_some());
        let huge = window(Target::Area {
            lat: 31.25,
            lon: 121.4,
            radius_m: 50_000.0,
        });
        assert!(huge.invalid(&map).is_some());
    }
}
