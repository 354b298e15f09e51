//! `[devices]`: the device registry read at start, and the largest photo
//! a street may attach to its feedback. Every field has a default.

use serde::Deserialize;
use std::path::PathBuf;

/// `[devices]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DevicesConfig {
    /// A CSV file of devices (`id,kind,name,address,street,owner`) added to
    /// the registry at start; empty: none (the API can add them).
    pub registry_csv: PathBuf,
    /// Largest photo accepted, bytes.
    pub max_photo_bytes: usize,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        DevicesConfig {
            registry_csv: PathBuf::new(),
            max_photo_bytes: 5 << 20,
        }
    }
}

impl DevicesConfig {
    /// The registry file to read at start, if one is named.
    pub fn registry_file(&self) -> Option<&std::path::Path> {
        (!self.registry_csv.as_os_str().is_empty()).then_some(self.registry_csv.as_path())
    }
}
