//! The devices' activity gathered from every node of a cluster: each node's
//! shards know only the devices of the partitions they run (and, until
//! swept, of partitions they ran before), so a question about devices goes
//! to every live node and their answers are merged here. The gathering is
//! bounded: it ends once every live node has answered, or at its deadline
//! with what came (a node that died a moment ago is still a member until
//! its key lapses, and must not hold the answer up).
//!
//! The merge keeps, per device, the answer with the latest `last_seen_ms`:
//! the node that ran the device's latest event is its partition's owner
//! now, and what an earlier owner still holds is older.

use crate::engine::shard::DeviceState;
use std::collections::{BTreeSet, HashMap};

/// One gathering of answers.
#[derive(Debug, Clone)]
pub struct Gather {
    /// The nodes not heard from yet; `None` when who is live is unknown
    /// (then only the deadline ends the gathering).
    waiting: Option<BTreeSet<String>>,
    deadline_ms: i64,
    found: HashMap<u64, DeviceState>,
}

impl Gather {
    /// Waits for these nodes (none known: `None`) until `now_ms +
    /// within_ms`.
    pub fn new(nodes: Option<Vec<String>>, now_ms: i64, within_ms: i64) -> Gather {
        Gather {
            waiting: nodes.map(|n| n.into_iter().collect()),
            deadline_ms: now_ms + within_ms,
            found: HashMap::new(),
        }
    }

    /// Takes one node's answer (a node not waited for is taken too: one
    /// that joined meanwhile knows what it knows).
    pub fn on_reply(&mut self, node: &str, found: impl IntoIterator<Item = (u64, DeviceState)>) {
        if let Some(waiting) = &mut self.waiting {
            waiting.remove(node);
        }
        for (id, state) in found {
            merge(&mut self.found, id, state);
        }
    }

    /// Whether the gathering is over at `now_ms`.
    #[must_use]
    pub fn is_done(&self, now_ms: i64) -> bool {
        now_ms >= self.deadline_ms || self.waiting.as_ref().is_some_and(BTreeSet::is_empty)
    }

    /// When the gathering ends at the latest, Unix ms.
    pub fn deadline_ms(&self) -> i64 {
        self.deadline_ms
    }

    /// The nodes not heard from (for the log).
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.waiting.iter().flatten().map(String::as_str)
    }

    /// What was gathered.
    pub fn finish(self) -> HashMap<u64, DeviceState> {
        self.found
    }
}

/// Keeps in `into` the later of its answer for `id` and `state`: the
/// latest `last_seen_ms`, and on a tie the one that saw more events.
pub fn merge(into: &mut HashMap<u64, DeviceState>, id: u64, state: DeviceState) {
    let newer =
        |old: &DeviceState| (state.last_seen_ms, state.events) > (old.last_seen_ms, old.events);
    match into.get(&id) {
        Some(old) if !newer(old) => {}
        _ => {
            into.insert(id, state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn seen(last_seen_ms: i64, events: u64) -> DeviceState {
        DeviceState {
            last_seen_ms,
            events,
            ..DeviceState::default()
        }
    }

    #[test]
    fn the_latest_answer_for_a_device_wins_and_every_node_ends_the_gathering() {
        let nodes = vec!["hub-b".to_string(), "hub-c".to_string()];
        let mut g = Gather::new(Some(nodes), NOW, 500);
        g.on_reply("hub-b", [(7, seen(NOW - 10, 3)), (8, seen(NOW - 50, 1))]);
        assert!(!g.is_done(NOW + 10), "hub-c has not answered");
        // hub-c ran device 7 before it moved: an older answer.
        g.on_reply("hub-c", [(7, seen(NOW - 900, 40)), (9, seen(NOW - 5, 2))]);
        assert!(g.is_done(NOW + 10));
        let found = g.finish();
        assert_eq!(found[&7], seen(NOW - 10, 3));
        assert_eq!(found.len(), 3);
    }

    #[test]
    fn a_silent_node_or_unknown_members_end_at_the_deadline() {
        let mut g = Gather::new(Some(vec!["hub-b".into()]), NOW, 500);
        g.on_reply("hub-x", [(1, seen(NOW, 1))]);
        assert!(!g.is_done(NOW + 499));
        assert!(g.is_done(NOW + 500));
        assert_eq!(g.missing().collect::<Vec<_>>(), ["hub-b"]);
        let g = Gather::new(None, NOW, 500);
        assert!(!g.is_done(NOW + 1), "who is live is unknown: wait");
        let g = Gather::new(Some(Vec::new()), NOW, 500);
        assert!(g.is_done(NOW), "no other node to ask");
    }
}
