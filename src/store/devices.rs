//! The device registry and the maintenance windows as the hub keeps them:
//! in memory for the dispatcher and the API, and in DATA_DIR/devices/
//! (registry.json, maintenance.json, each replaced whole and durably on
//! every change, so a restart has them). A registry can also be read from
//! a CSV file (`id,kind,name,address,street,owner`, a header line first).
//!
//! In the cluster mode the book is a copy of the cluster's (a bucket every
//! node follows): the `apply_*` and `replace_from_cluster` methods take
//! what the bucket holds in, changing and saving only what differs, so a
//! node applying its own write again costs nothing.

use crate::cluster::book::with_local_counts;
use crate::dispatch::maintenance::Window;
use crate::dispatch::registry::{DeviceInfo, Registry};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Why the registry or the windows could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or a body is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// The cluster's copy of the book could not be written (no quorum of
    /// NATS, a leader election): nothing changed; ask again.
    #[error("设备台账未能写入集群 / the cluster's device book could not be written: {0}")]
    Cluster(String),
}

/// The registry and the windows.
#[derive(Debug)]
pub struct DeviceBook {
    dir: PathBuf,
    registry: RwLock<Arc<Registry>>,
    windows: Mutex<Vec<Window>>,
}

impl DeviceBook {
    /// Opens DATA_DIR/devices/, reading what it holds.
    pub fn open(data_dir: &Path) -> Result<DeviceBook, BookError> {
        let dir = data_dir.join("devices");
        std::fs::create_dir_all(&dir).map_err(|source| BookError::Io {
            path: dir.clone(),
            source,
        })?;
        let devices: Vec<DeviceInfo> = read_json(&dir.join("registry.json"))?;
        let windows: Vec<Window> = read_json(&dir.join("maintenance.json"))?;
        Ok(DeviceBook {
            dir,
            registry: RwLock::new(Arc::new(Registry::new(devices))),
            windows: Mutex::new(windows),
        })
    }

    /// The registry as it stands.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().expect("registry lock").clone()
    }

    /// Adds or replaces devices (`replace`: the registry becomes exactly
    /// these), durably, after checking every entry.
    pub fn register(&self, devices: Vec<DeviceInfo>, replace: bool) -> Result<usize, BookError> {
        if let Some(why) = devices.iter().find_map(DeviceInfo::invalid) {
            return Err(BookError::Invalid(why));
        }
        let mut guard = self.registry.write().expect("registry lock");
        let mut next = if replace {
            Registry::default()
        } else {
            Registry::clone(&guard)
        };
        next.upsert(devices);
        self.save("registry.json", &next.devices())?;
        let n = next.len();
        *guard = Arc::new(next);
        Ok(n)
    }

    /// The windows, with what each kept back.
    pub fn windows(&self) -> Vec<Window> {
        self.windows.lock().expect("windows lock").clone()
    }

    /// Changes the windows with `change`, durably; returns what it returned.
    pub fn change_windows<T>(
        &self,
        change: impl FnOnce(&mut Vec<Window>) -> T,
    ) -> Result<T, BookError> {
        let mut guard = self.windows.lock().expect("windows lock");
        let mut next = guard.clone();
        let out = change(&mut next);
        self.save("maintenance.json", &next)?;
        *guard = next;
        Ok(out)
    }

    /// Takes the dispatcher's view of the windows (counts, expiry) as the
    /// one kept; written to disk with the next change.
    pub fn windows_seen(&self, windows: &[Window]) {
        let mut guard = self.windows.lock().expect("windows lock");
        for w in guard.iter_mut() {
            if let Some(seen) = windows.iter().find(|s| s.id == w.id) {
                w.suppressed = w.suppressed.max(seen.suppressed);
            }
        }
    }

    /// Takes changes of single devices from the cluster's bucket in (a
    /// device, or `None` for one no longer registered); returns whether
    /// the registry is now other than before (saved only then).
    pub fn apply_devices(
        &self,
        changes: Vec<(u64, Option<DeviceInfo>)>,
    ) -> Result<bool, BookError> {
        let mut guard = self.registry.write().expect("registry lock");
        let differs = changes.iter().any(|(id, d)| guard.get(*id) != d.as_ref());
        if !differs {
            return Ok(false);
        }
        let next = if changes.iter().all(|(_, d)| d.is_some()) {
            // Only added or changed: the registry as it is, upserted.
            let mut next = Registry::clone(&guard);
            next.upsert(changes.into_iter().filter_map(|(_, d)| d));
            next
        } else {
            let mut by_id: HashMap<u64, DeviceInfo> =
                guard.devices().into_iter().map(|d| (d.id, d)).collect();
            for (id, d) in changes {
                match d {
                    Some(d) => by_id.insert(id, d),
                    None => by_id.remove(&id),
                };
            }
            Registry::new(by_id.into_values())
        };
        self.save("registry.json", &next.devices())?;
        *guard = Arc::new(next);
        Ok(true)
    }

    /// Takes the cluster's windows in, keeping this node's counts of what
    /// each kept back; returns whether they are now other than before.
    pub fn apply_windows(&self, incoming: Vec<Window>) -> Result<bool, BookError> {
        let mut guard = self.windows.lock().expect("windows lock");
        let next = with_local_counts(incoming, &guard);
        if next == *guard {
            return Ok(false);
        }
        self.save("maintenance.json", &next)?;
        *guard = next;
        Ok(true)
    }

    /// The book becomes what the cluster's bucket holds (a node starting
    /// or following the bucket again): exactly these devices and windows,
    /// this node's counts kept. Returns whether anything changed.
    pub fn replace_from_cluster(
        &self,
        devices: Vec<DeviceInfo>,
        windows: Vec<Window>,
    ) -> Result<bool, BookError> {
        let next = Registry::new(devices);
        let mut changed = false;
        {
            let mut guard = self.registry.write().expect("registry lock");
            if **guard != next {
                self.save("registry.json", &next.devices())?;
                *guard = Arc::new(next);
                changed = true;
            }
        }
        Ok(self.apply_windows(windows)? || changed)
    }

    fn save<T: serde::Serialize>(&self, file: &str, value: &T) -> Result<(), BookError> {
        let path = self.dir.join(file);
        let json = serde_json::to_vec_pretty(value).expect("serializes");
        super::atomic::replace_file(&path, &json).map_err(|source| BookError::Io { path, source })
    }
}

/// Reads a JSON file, or the default when there is none.
fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T, BookError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| BookError::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(BookError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Devices from CSV text with a header line naming the columns (`id` and
/// `name` needed; `kind`, `address`, `street`, `owner` optional); the
/// error names the line.
pub fn parse_csv(text: &str) -> Result<Vec<DeviceInfo>, BookError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<DeviceInfo>().enumerate() {
        let d = row.map_err(|e| {
            BookError::Invalid(format!(
                "设备台账第 {} 行有误 / registry line {}: {e}",
                i + 2,
                i + 2
            ))
        })?;
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "id,kind,name,address,street,owner\n\
        7,烟感,3号楼烟感,曹杨路 1040 弄 3 号楼,310107005000,物业\n\
        8,燃气报警器,食堂燃气,,,\n";

    #[test]
    fn a_registry_from_csv_survives_a_reopen_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let book = DeviceBook::open(dir.path()).unwrap();
        let devices = parse_csv(CSV).unwrap();
        assert_eq!(book.register(devices, true).unwrap(), 2);
        let again = DeviceBook::open(dir.path()).unwrap();
        assert_eq!(again.registry().get(7).unwrap().name, "3号楼烟感");
        assert_eq!(again.registry().get(8).unwrap().street, "");
        let e = parse_csv("id,name\nseven,x\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = book
            .register(parse_csv("id,name,street\n9,x,123\n").unwrap(), false)
            .unwrap_err();
        assert!(e.to_string().contains("12 digits"), "{e}");
        assert_eq!(book.registry().len(), 2, "nothing of a refused change");
    }

    #[test]
    fn the_clusters_changes_are_taken_in_once_and_the_nodes_counts_kept() {
        use crate::dispatch::maintenance::Target;
        let dir = tempfile::tempdir().unwrap();
        let book = DeviceBook::open(dir.path()).unwrap();
        let devices = parse_csv(CSV).unwrap();
        let window = Window {
            id: "MW-1".into(),
            target: Target::Device { device: 7 },
            from_ms: 0,
            until_ms: i64::MAX,
            reason: "检修".into(),
            by: "王五".into(),
            suppressed: 0,
        };
        assert!(book
            .replace_from_cluster(devices.clone(), vec![window.clone()])
            .unwrap());
        assert!(!book
            .replace_from_cluster(devices.clone(), vec![window.clone()])
            .unwrap());
        book.windows_seen(&[Window {
            suppressed: 3,
            ..window.clone()
        }]);
        // The bucket's windows hold no counts: this node's stay.
        assert!(!book.apply_windows(vec![window]).unwrap());
        assert_eq!(book.windows()[0].suppressed, 3);
        let renamed = DeviceInfo {
            name: "5号楼烟感".into(),
            ..devices[0].clone()
        };
        assert!(book
            .apply_devices(vec![(7, Some(renamed)), (8, None)])
            .unwrap());
        assert!(!book.apply_devices(vec![(8, None)]).unwrap());
        let again = DeviceBook::open(dir.path()).unwrap();
        assert_eq!(again.registry().len(), 1);
        assert_eq!(again.registry().get(7).unwrap().name, "5号楼烟感");
    }
}
