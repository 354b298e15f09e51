//! The device registry (设备台账): what a duty officer needs to know of a
//! device beside its id, its name and address, its street and the unit
//! that owns it. The shell loads it (a CSV file, the API) and hands it to
//! the dispatcher, which names each order's devices from it; an
//! unregistered device is named by its id alone, as before.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// Its id, as its events carry it.
    pub id: u64,
    /// What it is (烟感, 燃气报警器, 水位计, 摄像头...).
    #[serde(default)]
    pub kind: String,
    /// Its name (3号楼烟感).
    pub name: String,
    /// Where it is, as people say it (曹杨路 1040 弄 3 号楼).
    #[serde(default)]
    pub address: String,
    /// The street it is registered to, 12 digits (may be empty).
    #[serde(default)]
    pub street: String,
    /// The unit that owns and maintains it (权属单位).
    #[serde(default)]
    pub owner: String,
}

impl DeviceInfo {
    /// What is wrong with the entry, if anything.
    pub fn invalid(&self) -> Option<String> {
        if self.name.trim().is_empty() {
            return Some(format!(
                "设备 {} 缺少名称 / device {} has no name",
                self.id, self.id
            ));
        }
        let street_ok = self.street.is_empty()
            || (self.street.len() == 12 && self.street.bytes().all(|b| b.is_ascii_digit()));
        if !street_ok {
            return Some(format!(
                "设备 {} 的街镇代码须为 12 位数字 / device {}: street must be 12 digits, not {:?}",
                self.id, self.id, self.street
            ));
        }
        let long = [&self.kind, &self.name, &self.address, &self.owner]
            .iter()
            .any(|t| t.chars().count() > 200);
        long.then(|| {
            format!(
                "设备 {} 的文字过长 / device {}: a field is longer than 200 characters",
                self.id, self.id
            )
        })
    }
}

/// The registered devices, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    by_id: HashMap<u64, DeviceInfo>,
}

impl Registry {
    /// A registry of these devices (a later entry for the same id wins).
    pub fn new(devices: impl IntoIterator<Item = DeviceInfo>) -> Registry {
        Registry {
            by_id: devices.into_iter().map(|d| (d.id, d)).collect(),
        }
    }

    /// A device, if registered.
    pub fn get(&self, id: u64) -> Option<&DeviceInfo> {
        self.by_id.get(&id)
    }

    /// How many devices are registered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every device, by id.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        let mut all: Vec<DeviceInfo> = self.by_id.values().cloned().collect();
        all.sort_unstable_by_key(|d| d.id);
        all
    }

    /// Adds or replaces entries.
    pub fn upsert(&mut self, devices: impl IntoIterator<Item = DeviceInfo>) {
        self.by_id.extend(devices.into_iter().map(|d| (d.id, d)));
    }
}
