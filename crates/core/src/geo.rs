//! Geography: positions become H3 cells (h3o), cells become the street or
//! town that owns them through a [`RegionMap`] loaded from GeoJSON.
//!
//! The map is tiled once at load time (a cell belongs to the street whose
//! polygon holds its centre), so routing an order is one hash lookup.

use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, LatLng, Resolution};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Resolution of an event's map cell: about 0.1 km², a block or two.
pub(crate) const CELL_RESOLUTION: Resolution = Resolution::Nine;

/// Resolution of the parent cell that picks an event's shard: about 5 km².
pub(crate) const SHARD_RESOLUTION: Resolution = Resolution::Seven;

/// The default map of Putuo's streets and towns shipped with the hub: the
/// real outlines from OpenStreetMap (© OpenStreetMap contributors, ODbL
/// 1.0; see deploy/putuo-streets.SOURCE.md). The border between 甘泉路 and
/// 宜川路 is drawn, not surveyed, so those two are marked approximate; load
/// a surveyed map with `hub.region_map` in the config for real use.
const SAMPLE_MAP: &str = include_str!("../../../deploy/putuo-streets.geojson");

/// The cell at resolution 9 (`CELL_RESOLUTION`) holding a position, or `None` if the
/// position is not a valid latitude/longitude.
pub fn cell_of(lat: f64, lon: f64) -> Option<u64> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let ll = LatLng::new(lat, lon).ok()?;
    Some(u64::from(ll.to_cell(CELL_RESOLUTION)))
}

/// The cell and its ring of immediate neighbours (7 cells, fewer near a
/// pentagon). `cell` must be a valid index, as [`cell_of`] returns.
pub fn neighbourhood(cell: u64) -> impl Iterator<Item = u64> {
    let cell = CellIndex::try_from(cell).expect("cell index from cell_of");
    cell.grid_disk_safe(1).map(u64::from)
}

/// The parent cell used as shard key.
pub(crate) fn shard_key(cell: u64) -> u64 {
    let cell = CellIndex::try_from(cell).expect("cell index from cell_of");
    cell.parent(SHARD_RESOLUTION)
        .map_or(u64::from(cell), u64::from)
}

/// Bits of an H3 index that hold its base cell and first seven digits
/// (bits 24..52): all that tells a resolution-7 cell from another, and all
/// a finer cell says of its resolution-7 parent.
const PARENT_BITS_SHIFT: u32 = 24;
const PARENT_BITS_MASK: u64 = (1 << 28) - 1;

/// What is the same in every resolution-7 cell index: mode 1 (a cell),
/// resolution 7, and digits 8 to 15 unused (7 each).
const PARENT_FIXED: u64 = (1 << 59) | (7 << 52) | ((1 << PARENT_BITS_SHIFT) - 1);

/// The resolution-7 parent of `cell` (a cell of resolution 7 or finer, as
/// [`cell_of`] returns) in 32 bits, by the H3 index layout: a shard keeps
/// it for each of its million devices. [`unpack_parent`] gives the parent
/// back.
#[inline]
pub(crate) fn pack_parent(cell: u64) -> u32 {
    ((cell >> PARENT_BITS_SHIFT) & PARENT_BITS_MASK) as u32
}

/// The resolution-7 cell [`pack_parent`] packed.
#[inline]
pub(crate) fn unpack_parent(packed: u32) -> u64 {
    PARENT_FIXED | (u64::from(packed) << PARENT_BITS_SHIFT)
}

/// The centre of a cell, (lat, lon) degrees.
pub(crate) fn cell_center(cell: u64) -> (f64, f64) {
    let ll = LatLng::from(CellIndex::try_from(cell).expect("valid cell"));
    (ll.lat(), ll.lng())
}

/// A cell index as the usual 15-hex-digit H3 string.
pub(crate) fn cell_name(cell: u64) -> String {
    CellIndex::try_from(cell).map_or_else(|_| format!("{cell:x}"), |c| c.to_string())
}

/// A street or town platform (街镇) that receives orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Street {
    /// Official 12-digit statistical division code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// `town` or `street` (镇 or 街道), from the map's `kind` property.
    pub kind: String,
    /// Its boundary as the map gives it, for drawing (the console's SVG
    /// map): polygons, each a list of rings of `[lon, lat]` points, the
    /// first ring the outside. Routing uses the tiled cells, never this.
    #[serde(skip)]
    pub outline: Vec<Vec<Vec<[f64; 2]>>>,
    /// Whether the map marks this boundary approximate (drawn, not
    /// surveyed): the console draws it so. Not part of an order's place.
    #[serde(skip)]
    pub approximate: bool,
}

/// Index of a street in its [`RegionMap`].
pub type StreetId = u16;

/// Why a region map could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegionMapError {
    /// Not GeoJSON at all.
    #[error("region map is not valid GeoJSON: {0}")]
    Parse(String),
    /// GeoJSON, but not a FeatureCollection.
    #[error("region map must be a GeoJSON FeatureCollection")]
    NotCollection,
    /// A feature without the properties a street needs.
    #[error("feature {index}: {what}")]
    Feature {
        /// Position of the feature in the collection.
        index: usize,
        /// What is wrong with it.
        what: String,
    },
    /// No feature at all.
    #[error("region map has no streets")]
    Empty,
}

/// Streets and the cells they own.
#[derive(Debug, Clone)]
pub struct RegionMap {
    streets: Vec<Street>,
    cells: FxHashMap<u64, StreetId>,
    approximate: bool,
}

impl RegionMap {
    /// The embedded default map of Putuo (OpenStreetMap outlines, two
    /// streets' shared border approximate).
    pub fn sample() -> RegionMap {
        RegionMap::from_geojson(SAMPLE_MAP).expect("embedded sample map is valid")
    }

    /// Loads a FeatureCollection whose features have a `code` (12 digits),
    /// a `name` and optionally a `name_en` property, and a Polygon or
    /// MultiPolygon geometry in WGS-84 degrees.
    pub fn from_geojson(text: &str) -> Result<RegionMap, RegionMapError> {
        let gj: geojson::GeoJson = text
            .parse()
            .map_err(|e: geojson::Error| RegionMapError::Parse(e.to_string()))?;
        let geojson::GeoJson::FeatureCollection(fc) = gj else {
            return Err(RegionMapError::NotCollection);
        };
        let mut streets = Vec::new();
        let mut cells = FxHashMap::default();
        let mut approximate = false;
        for (index, feature) in fc.features.iter().enumerate() {
            let bad = |what: String| RegionMapError::Feature { index, what };
            let prop = |key: &str| {
                feature
                    .property(key)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let code = prop("code").ok_or_else(|| bad("no \"code\" property".into()))?;
            if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("code {code:?} is not 12 digits")));
            }
            let name = prop("name").ok_or_else(|| bad("no \"name\" property".into()))?;
            let name_en = prop("name_en").unwrap_or_else(|| name.clone());
            let drawn = feature
                .property("approximate")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            approximate |= drawn;
            let geometry = feature
                .geometry
                .as_ref()
                .ok_or_else(|| bad("no geometry".into()))?;
            let shape = geo_types::Geometry::<f64>::try_from(geometry.clone())
                .map_err(|e| bad(format!("geometry: {e}")))?;
            let polygons = match shape {
                geo_types::Geometry::Polygon(p) => vec![p],
                geo_types::Geometry::MultiPolygon(mp) => mp.0,
                _ => return Err(bad("geometry must be a Polygon or MultiPolygon".into())),
            };
            let id =
                StreetId::try_from(streets.len()).map_err(|_| bad("too many streets".into()))?;
            let mut tiler = TilerBuilder::new(CELL_RESOLUTION)
                .containment_mode(ContainmentMode::ContainsCentroid)
                .build();
            let outline = polygons
                .iter()
                .map(|p| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|ring| ring.0.iter().map(|c| [c.x, c.y]).collect())
                        .collect()
                })
                .collect();
            for polygon in polygons {
                tiler
                    .add(polygon)
                    .map_err(|e| bad(format!("polygon: {e}")))?;
            }
            for cell in tiler.into_coverage() {
                cells.entry(u64::from(cell)).or_insert(id);
            }
            let kind = prop("kind").unwrap_or_else(|| "street".into());
            streets.push(Street {
                code,
                name,
                name_en,
                kind,
                outline,
                approximate: drawn,
            });
        }
        if streets.is_empty() {
            return Err(RegionMapError::Empty);
        }
        Ok(RegionMap {
            streets,
            cells,
            approximate,
        })
    }

    /// The street owning a cell, if the cell is inside the map.
    pub fn street_of(&self, cell: u64) -> Option<StreetId> {
        self.cells.get(&cell).copied()
    }

    /// A street by id.
    pub fn street(&self, id: StreetId) -> &Street {
        &self.streets[usize::from(id)]
    }

    /// A street's id by its code.
    pub fn street_by_code(&self, code: &str) -> Option<StreetId> {
        self.streets
            .iter()
            .position(|s| s.code == code)
            .map(|i| i as StreetId)
    }

    /// All streets, in map order.
    pub fn streets(&self) -> &[Street] {
        &self.streets
    }

    /// Whether any boundary is marked approximate.
    pub fn is_approximate(&self) -> bool {
        self.approximate
    }

    /// A cell owned by the street, and its centre: handy for tests and load
    /// generation that need a point inside a given street.
    pub fn interior_point(&self, id: StreetId) -> Option<(f64, f64)> {
        let mut owned: Vec<u64> = self
            .cells
            .iter()
            .filter(|&(_, &s)| s == id)
            .map(|(&c, _)| c)
            .collect();
        owned.sort_unstable();
        // The cell whose whole neighbourhood is this street's, so that a
        // point there is well inside.
        let inner = owned
            .iter()
            .copied()
            .find(|&c| neighbourhood(c).all(|n| self.street_of(n) == Some(id)));
        inner.or(owned.first().copied()).map(cell_center)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_map_has_the_ten_streets_of_putuo() {
        let map = RegionMap::sample();
        assert!(map.is_approximate());
        let codes: Vec<&str> = map.streets().iter().map(|s| s.code.as_str()).collect();
        let csv = include_str!("../../../deploy/putuo-streets.csv");
        let expected: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected);
        for id in 0..map.streets().len() as StreetId {
            let (lat, lon) = map.interior_point(id).expect("every street owns cells");
            assert_eq!(map.street_of(cell_of(lat, lon).unwrap()), Some(id));
        }
    }

    #[test]
    fn points_route_to_their_street() {
        let map = RegionMap::sample();
        // Inside Caoyang Xincun (the landmark the map's source checks).
        let caoyang = map.street_by_code("310107005000").unwrap();
        let cell = cell_of(31.245, 121.405).unwrap();
        assert_eq!(map.street_of(cell), Some(caoyang));
        // 宜川路 and 甘泉路 share the drawn border; 长寿路 is OSM's own.
        for (code, approximate) in [
            ("310107020000", true),
            ("310107016000", true),
            ("310107015000", false),
        ] {
            let id = map.street_by_code(code).unwrap();
            assert_eq!(map.street(id).approximate, approximate, "{code}");
        }
        // Far outside the district.
        assert_eq!(map.street_of(cell_of(39.9, 116.4).unwrap()), None);
    }

    proptest::proptest! {
        /// The packed parent is h3o's parent, for cells anywhere on the
        /// globe (pentagons' base cells among them) and for the parent
        /// itself.
        #[test]
        fn a_packed_parent_is_the_parent(lat in -90.0f64..90.0, lon in -180.0f64..180.0) {
            let cell = cell_of(lat, lon).unwrap();
            let parent = shard_key(cell);
            proptest::prop_assert_eq!(unpack_parent(pack_parent(cell)), parent);
            proptest::prop_assert_eq!(unpack_parent(pack_parent(parent)), parent);
        }
    }

    #[test]
    fn every_base_cells_parents_pack() {
        for base in CellIndex::base_cells() {
            for child in base.children(Resolution::Seven).take(50) {
                let packed = pack_parent(u64::from(child));
                assert_eq!(unpack_parent(packed), u64::from(child), "{child}");
            }
        }
    }

    #[test]
    fn neighbourhood_is_the_cell_and_its_ring() {
        let cell = cell_of(31.25, 121.40).unwrap();
        let ring: Vec<u64> = neighbourhood(cell).collect();
        assert_eq!(ring.len(), 7);
        assert!(ring.contains(&cell));
    }

    #[test]
    fn bad_maps_are_refused_with_a_reason() {
        assert!(matches!(
            RegionMap::from_geojson("{"),
            Err(RegionMapError::Parse(_))
        ));
        let no_code = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"x"},
            "geometry":{"type":"Polygon","coordinates":[[[121.3,31.2],[121.4,31.2],[121.4,31.3],[121.3,31.2]]]}}]}"#;
        let err = RegionMap::from_geojson(no_code).unwrap_err().to_string();
        assert!(err.contains("code"), "{err}");
    }
}
