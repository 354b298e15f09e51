//! The device book (设备台账 and maintenance windows) as the nodes of a
//! cluster share it in a key-value bucket, and what a change of the
//! windows does, decided here for every node alike.
//!
//! One key per registered device (`d.<id>`): a registry of 100,000 devices
//! is 100,000 small values, not one value over the servers' payload limit,
//! and a change of one device writes one key. One key for all the windows
//! (`maintenance`): they are few, and a change of them is a
//! compare-and-set on that key, so two desks adding a window at once get
//! two ids, never the same one. The counts of what a window kept back are
//! each node's own (its dispatcher counts them): the bucket holds the
//! windows without them, and a node applying the bucket's windows keeps
//! its own counts.

use crate::dispatch::maintenance::Window;

/// The key of the maintenance windows.
pub const WINDOWS_KEY: &str = "maintenance";

/// How a device's key begins.
const DEVICE_PREFIX: &str = "d.";

/// What a key of the bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookKey {
    /// One registered device.
    Device(u64),
    /// The maintenance windows.
    Windows,
}

/// The key of device `id`.
pub fn device_key(id: u64) -> String {
    format!("{DEVICE_PREFIX}{id}")
}

/// What `key` holds, if it is a key of the book (anything else in the
/// bucket is not ours and is passed over).
pub fn parse_key(key: &str) -> Option<BookKey> {
    if key == WINDOWS_KEY {
        return Some(BookKey::Windows);
    }
    let id = key.strip_prefix(DEVICE_PREFIX)?;
    // "d.007" is not the key of device 7: only the canonical form counts.
    let n: u64 = id.parse().ok()?;
    (n.to_string() == id).then_some(BookKey::Device(n))
}

/// A change of the windows as a desk asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowChange {
    /// A new window (its id is given by [`change_windows`]).
    Add(Window),
    /// A window ended early, by id.
    Remove(String),
}

/// What came of a [`WindowChange`].
#[derive(Debug, Clone, PartialEq)]
pub enum WindowOutcome {
    /// The window as added, with its id.
    Added(Window),
    /// Whether a window of that id was there to remove.
    Removed(bool),
}

impl WindowOutcome {
    /// Whether the windows are now other than before (a removal of a
    /// window that was not there changes nothing, and writes nothing).
    pub fn changed(&self) -> bool {
        !matches!(self, WindowOutcome::Removed(false))
    }
}

/// Applies `change` to `all` at `now_ms`. An added window gets the id
/// `MW-<n>`, n one more than the highest kept, and the windows ended by
/// `now_ms` go first (so ids are given again only once their windows are
/// over); a removal takes the window of that id out.
pub fn change_windows(all: &mut Vec<Window>, change: &WindowChange, now_ms: i64) -> WindowOutcome {
    match change {
        WindowChange::Add(window) => {
            all.retain(|w| w.until_ms > now_ms);
            let n = all
                .iter()
                .filter_map(|w| w.id.strip_prefix("MW-")?.parse::<u64>().ok())
                .max();
            let mut window = window.clone();
            window.id = format!("MW-{}", n.map_or(1, |n| n + 1));
            all.push(window.clone());
            WindowOutcome::Added(window)
        }
        WindowChange::Remove(id) => {
            let before = all.len();
            all.retain(|w| &w.id != id);
            WindowOutcome::Removed(before != all.len())
        }
    }
}

/// The windows as the bucket holds them: without this node's counts.
pub fn shared_windows(windows: &[Window]) -> Vec<Window> {
    windows
        .iter()
        .map(|w| Window {
            suppressed: 0,
            ..w.clone()
        })
        .collect()
}

/// The bucket's windows, each with the count this node kept for the
/// window of the same id (0 for one it had not seen).
pub fn with_local_counts(incoming: Vec<Window>, local: &[Window]) -> Vec<Window> {
    incoming
        .into_iter()
        .map(|mut w| {
            w.suppressed = local
                .iter()
                .find(|l| l.id == w.id)
                .map_or(0, |l| l.suppressed);
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::maintenance::Target;

    const NOW: i64 = 1_800_000_000_000;

    fn window(id: &str, until_ms: i64) -> Window {
        Window {
            id: id.into(),
            target: Target::Device { device: 7 },
            from_ms: NOW - 1_000,
            until_ms,
            reason: "检修".into(),
            by: "王五".into(),
            suppressed: 0,
        }
    }

    #[test]
    fn keys_name_devices_and_the_windows_and_nothing_else() {
        assert_eq!(device_key(7), "d.7");
        assert_eq!(parse_key("d.7"), Some(BookKey::Device(7)));
        assert_eq!(parse_key("maintenance"), Some(BookKey::Windows));
        for other in ["d.007", "d.x", "d.", "7", "maintenance.x", "d.-1"] {
            assert_eq!(parse_key(other), None, "{other}");
        }
    }

    #[test]
    fn an_added_window_takes_the_next_id_after_the_ones_still_open() {
        let mut all = vec![window("MW-3", NOW - 1), window("MW-2", NOW + 60_000)];
        let added = change_windows(&mut all, &WindowChange::Add(window("", NOW + 1)), NOW);
        let WindowOutcome::Added(w) = added else {
            panic!("{added:?}")
        };
        assert_eq!(w.id, "MW-3", "MW-3 had ended: its id is free again");
        assert_eq!(
            all.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            ["MW-2", "MW-3"]
        );
        let gone = change_windows(&mut all, &WindowChange::Remove("MW-2".into()), NOW);
        assert_eq!(gone, WindowOutcome::Removed(true));
        let none = change_windows(&mut all, &WindowChange::Remove("MW-9".into()), NOW);
        assert!(!none.changed());
    }

    #[test]
    fn a_node_keeps_its_own_counts_over_the_buckets_windows() {
        let mut counted = window("MW-1", NOW + 60_000);
        counted.suppressed = 4;
        let shared = shared_windows(std::slice::from_ref(&counted));
        assert_eq!(shared[0].suppressed, 0, "the bucket holds no counts");
        let incoming = vec![shared[0].clone(), window("MW-2", NOW + 60_000)];
        let applied = with_local_counts(incoming, &[counted]);
        assert_eq!(
            applied.iter().map(|w| w.suppressed).collect::<Vec<_>>(),
            [4, 0]
        );
    }
}
