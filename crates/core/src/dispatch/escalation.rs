//! Deadlines: an order not acknowledged by its deadline escalates to the
//! district duty desk (总值班), once. A pure timer wheel keyed by deadline;
//! the dispatcher asks it what is due at `now`.

use std::collections::{BTreeSet, HashMap};

/// Open orders by deadline.
#[derive(Debug, Default)]
pub struct Escalator {
    due: BTreeSet<(i64, String)>,
    deadline_of: HashMap<String, i64>,
}

impl Escalator {
    /// An empty escalator.
    pub fn new() -> Escalator {
        Escalator::default()
    }

    /// Watches an order; a later call for the same id moves its deadline.
    pub fn watch(&mut self, order_id: &str, deadline_ms: i64) {
        self.forget(order_id);
        self.due.insert((deadline_ms, order_id.to_owned()));
        self.deadline_of.insert(order_id.to_owned(), deadline_ms);
    }

    /// Stops watching (acknowledged, or escalated).
    pub fn forget(&mut self, order_id: &str) {
        if let Some(d) = self.deadline_of.remove(order_id) {
            self.due.remove(&(d, order_id.to_owned()));
        }
    }

    /// Orders whose deadline is at or before `now_ms`, oldest first,
    /// still watched: the dispatcher forgets them once their escalation
    /// is durable.
    pub fn due(&self, now_ms: i64) -> impl Iterator<Item = &str> {
        self.due
            .iter()
            .take_while(move |(d, _)| *d <= now_ms)
            .map(|(_, id)| id.as_str())
    }

    /// The earliest deadline watched.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.due.first().map(|(d, _)| *d)
    }
}

/// What the tests ask of an escalator; the dispatcher reads `due` and
/// forgets each order once its escalation is durable.
#[cfg(test)]
impl Escalator {
    /// Orders whose deadline is at or before `now_ms`, oldest first; each
    /// is returned once and forgotten.
    #[must_use]
    fn handle_timeout(&mut self, now_ms: i64) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((d, _)) = self.due.first() {
            if *d > now_ms {
                break;
            }
            let (_, id) = self.due.pop_first().expect("first exists");
            self.deadline_of.remove(&id);
            out.push(id);
        }
        out
    }

    /// Orders watched.
    fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether nothing is watched.
    fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_with_no_ack_escalates_once_at_its_deadline() {
        let mut e = Escalator::new();
        e.watch("a", 1_000);
        e.watch("b", 2_000);
        e.watch("c", 3_000);
        e.forget("b"); // acknowledged in time
        assert!(e.handle_timeout(999).is_empty());
        assert_eq!(e.poll_timeout(), Some(1_000));
        assert_eq!(e.handle_timeout(1_000), vec!["a".to_owned()]);
        assert!(e.handle_timeout(1_500).is_empty(), "once");
        assert_eq!(e.handle_timeout(10_000), vec!["c".to_owned()]);
        assert!(e.is_empty());
    }

    #[test]
    fn an_update_moves_the_deadline() {
        let mut e = Escalator::new();
        e.watch("a", 1_000);
        e.watch("a", 500);
        assert_eq!(e.len(), 1);
        assert_eq!(e.handle_timeout(600), vec!["a".to_owned()]);
    }
}
