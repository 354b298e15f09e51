//! 设备位置 / Where simulated devices stand: inside the streets of the
//! hub's embedded region map, never in the gaps between them or outside
//! the district. Points are drawn in the map's own bounding box and kept
//! only when `street_of` puts their cell in a street, so when the embedded
//! map changes (surveyed outlines instead of rectangles) the generator
//! follows it without a change here.

use tongguan::geo::{cell_of, RegionMap};

/// Draws before giving up on the bounding box and taking a street's
/// interior point: the map's streets cover a good part of their box, so
/// this bound is reached only by a map with almost no area.
const TRIES: usize = 1_000;

/// Positions inside a region map's streets.
pub struct Places {
    map: RegionMap,
    lat: (f64, f64),
    lon: (f64, f64),
}

impl Places {
    /// Places of the hub's embedded map.
    pub fn sample() -> Places {
        Places::of(RegionMap::sample())
    }

    /// Places of `map`: its bounding box, from the streets' outlines.
    pub fn of(map: RegionMap) -> Places {
        let mut lat = (f64::INFINITY, f64::NEG_INFINITY);
        let mut lon = (f64::INFINITY, f64::NEG_INFINITY);
        let points = map
            .streets()
            .iter()
            .flat_map(|s| s.outline.iter().flatten().flatten());
        for &[x, y] in points {
            lon = (lon.0.min(x), lon.1.max(x));
            lat = (lat.0.min(y), lat.1.max(y));
        }
        Places { map, lat, lon }
    }

    /// The map the places are drawn from.
    #[cfg(test)]
    pub fn map(&self) -> &RegionMap {
        &self.map
    }

    /// A random position (lat, lon) whose cell belongs to a street.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> (f64, f64) {
        for _ in 0..TRIES {
            let lat = self.lat.0 + (self.lat.1 - self.lat.0) * rng.f64();
            let lon = self.lon.0 + (self.lon.1 - self.lon.0) * rng.f64();
            if self.street_at(lat, lon).is_some() {
                return (lat, lon);
            }
        }
        let street = rng.usize(..self.map.streets().len()) as u16;
        self.map
            .interior_point(street)
            .expect("every street of a loaded map owns a cell")
    }

    /// The street holding a position, if any.
    pub fn street_at(&self, lat: f64, lon: f64) -> Option<u16> {
        cell_of(lat, lon).and_then(|c| self.map.street_of(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_place_is_in_a_street_and_every_street_gets_some() {
        let places = Places::sample();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut seen = vec![0u32; places.map().streets().len()];
        for _ in 0..5_000 {
            let (lat, lon) = places.pick(&mut rng);
            let street = places.street_at(lat, lon).expect("inside a street");
            seen[usize::from(street)] += 1;
        }
        assert!(
            seen.iter().all(|&n| n > 0),
            "streets without devices: {seen:?}"
        );
    }

    #[test]
    fn a_map_of_one_small_street_keeps_its_devices_inside_it() {
        let one = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
            "properties":{"code":"310107005000","name":"曹杨新村街道"},
            "geometry":{"type":"Polygon","coordinates":[[[121.40,31.25],[121.42,31.25],
            [121.42,31.265],[121.40,31.265],[121.40,31.25]]]}}]}"#;
        let places = Places::of(RegionMap::from_geojson(one).unwrap());
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..500 {
            let (lat, lon) = places.pick(&mut rng);
            assert!((31.25..=31.265).contains(&lat) && (121.40..=121.42).contains(&lon));
            assert_eq!(places.street_at(lat, lon), Some(0));
        }
    }
}
