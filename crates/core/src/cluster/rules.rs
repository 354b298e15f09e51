//! The rules in force and the mode (平急转换) as the nodes of a cluster
//! share them in a key-value bucket, and which of what a node sees it
//! puts in force, decided here for every node alike.
//!
//! Two keys: [`RULES_KEY`] holds the rules file's text exactly as a desk
//! put it (every node compiles it itself), [`MODE_KEY`] the mode's name.
//! A change is a compare-and-set on the revision the desk read (or, if it
//! names none, the one its node has in force), so two desks changing the
//! rules at once do not silently overwrite each other: one writes, the
//! other is told. Invariant kept by [`InForce`]: a node puts an entry in
//! force only if its revision is above the one it has for that key, so
//! its own write seen again on the watch, or an old entry delivered after
//! a newer one, changes nothing.

use crate::engine::rules::Mode;

/// The key of the rules file's text.
pub const RULES_KEY: &str = "rules";
/// The key of the mode.
pub const MODE_KEY: &str = "mode";

/// What a key of the bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesKey {
    /// The rules file's text.
    Rules,
    /// The mode, `normal` or `emergency`.
    Mode,
}

impl RulesKey {
    /// The key's name in the bucket.
    pub fn name(self) -> &'static str {
        match self {
            RulesKey::Rules => RULES_KEY,
            RulesKey::Mode => MODE_KEY,
        }
    }

    /// What `key` holds, if it is one of ours (anything else in the bucket
    /// is passed over).
    pub fn parse(key: &str) -> Option<RulesKey> {
        match key {
            RULES_KEY => Some(RulesKey::Rules),
            MODE_KEY => Some(RulesKey::Mode),
            _ => None,
        }
    }
}

/// The mode as the bucket holds it.
pub fn mode_value(mode: Mode) -> &'static str {
    mode.name()
}

/// The mode a value of [`MODE_KEY`] names, if it names one.
pub fn parse_mode(value: &[u8]) -> Option<Mode> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| Mode::from_name(s.trim()))
}

/// The revisions of the bucket's entries a node has in force, per key
/// (none: nothing of the bucket yet, the node's own config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InForce {
    rules: Option<u64>,
    mode: Option<u64>,
}

impl InForce {
    /// The revision of `key` in force.
    pub fn revision(&self, key: RulesKey) -> Option<u64> {
        match key {
            RulesKey::Rules => self.rules,
            RulesKey::Mode => self.mode,
        }
    }

    /// Whether an entry of `key` at `revision` is newer than what is in
    /// force; if it is, it is now the one in force (the caller puts its
    /// value in force before anything else can look).
    #[must_use]
    pub fn take(&mut self, key: RulesKey, revision: u64) -> bool {
        let slot = match key {
            RulesKey::Rules => &mut self.rules,
            RulesKey::Mode => &mut self.mode,
        };
        if slot.is_some_and(|r| r >= revision) {
            return false;
        }
        *slot = Some(revision);
        true
    }
}

/// The revision a change is written against: the one the desk read (it
/// changed what it saw), else the one its node has in force (none: the
/// key must not exist yet, a create).
pub fn expected(asked: Option<u64>, in_force: Option<u64>) -> Option<u64> {
    asked.or(in_force)
}

/// What a compare-and-set that lost means, from what the bucket holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contest {
    /// The bucket holds exactly the value asked for (another node wrote
    /// the same, or this write went through and its answer was lost): the
    /// change is made, at that revision.
    Same(u64),
    /// Someone else's change is there: this one is refused.
    Lost {
        /// The revision the bucket holds now (none: the key was removed).
        current: Option<u64>,
    },
}

/// Decides a lost compare-and-set of `asked` against the bucket's
/// `current` value and revision.
pub fn after_lost(asked: &[u8], current: Option<(&[u8], u64)>) -> Contest {
    match current {
        Some((value, revision)) if value == asked => Contest::Same(revision),
        Some((_, revision)) => Contest::Lost {
            current: Some(revision),
        },
        None => Contest::Lost { current: None },
    }
}

/// Why a change of the rules or the mode was not written to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Someone changed the key after the revision this change was made
    /// against.
    #[error(
        "the {key} of the cluster changed meanwhile (now at revision {}, this change was made \
         against {}): read GET /api/{key} again and make the change on what is in force",
        show(*current),
        show(*expected)
    )]
    Conflict {
        /// `rules` or `mode`.
        key: &'static str,
        /// The revision the change was made against (none: a create).
        expected: Option<u64>,
        /// The revision in the bucket now.
        current: Option<u64>,
    },
    /// The cluster did not take the write (no quorum, NATS unreachable).
    #[error("the cluster did not store the change: {0}; the rules in force stay, send it again")]
    Unavailable(String),
}

fn show(revision: Option<u64>) -> String {
    revision.map_or_else(|| "none".into(), |r| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_ours_or_passed_over() {
        for key in [RulesKey::Rules, RulesKey::Mode] {
            assert_eq!(RulesKey::parse(key.name()), Some(key));
        }
        assert_eq!(RulesKey::parse("maintenance"), None);
    }

    #[test]
    fn a_mode_goes_into_the_bucket_and_back() {
        for mode in Mode::ALL {
            assert_eq!(parse_mode(mode_value(mode).as_bytes()), Some(mode));
        }
        assert_eq!(parse_mode(b"emergency\n"), Some(Mode::Emergency));
        assert_eq!(parse_mode(b"sideways"), None);
        assert_eq!(parse_mode(&[0xff]), None);
    }

    #[test]
    fn only_a_newer_revision_is_put_in_force_per_key() {
        let mut f = InForce::default();
        assert!(f.take(RulesKey::Rules, 5));
        assert!(!f.take(RulesKey::Rules, 5), "its own write seen again");
        assert!(!f.take(RulesKey::Rules, 3), "an older entry");
        assert!(f.take(RulesKey::Mode, 4), "the mode has its own revision");
        assert!(f.take(RulesKey::Rules, 6));
        assert_eq!(f.revision(RulesKey::Rules), Some(6));
        assert_eq!(f.revision(RulesKey::Mode), Some(4));
    }

    #[test]
    fn a_change_is_made_against_what_the_desk_read_else_what_is_in_force() {
        assert_eq!(expected(Some(3), Some(7)), Some(3));
        assert_eq!(expected(None, Some(7)), Some(7));
        assert_eq!(expected(None, None), None);
    }

    #[test]
    fn a_lost_write_is_made_if_the_bucket_holds_the_same_else_refused() {
        assert_eq!(after_lost(b"x", Some((b"x", 9))), Contest::Same(9));
        assert_eq!(
            after_lost(b"x", Some((b"y", 9))),
            Contest::Lost { current: Some(9) }
        );
        assert_eq!(after_lost(b"x", None), Contest::Lost { current: None });
    }

    #[test]
    fn a_conflict_says_what_to_do() {
        let e = WriteError::Conflict {
            key: "rules",
            expected: Some(3),
            current: Some(5),
        };
        let text = e.to_string();
        assert!(text.contains("revision 5"), "{text}");
        assert!(text.contains("against 3"), "{text}");
        assert!(text.contains("GET /api/rules again"), "{text}");
    }
}
