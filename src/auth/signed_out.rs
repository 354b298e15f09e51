//! 已退出的会话 Sessions signed out before they expired: their ids, each
//! kept until the session would have expired anyway, at most [`MAX`] of
//! them (past it, the one expiring soonest is forgotten first, counted by
//! the caller). Kept in memory: a restart with a session key file lets
//! signed-out cookies in again until they expire (documented).

use std::collections::HashMap;
use std::sync::Mutex;

/// Most sessions remembered as signed out.
pub const MAX: usize = 100_000;

/// The signed-out sessions.
#[derive(Debug, Default)]
pub struct SignedOut {
    ids: Mutex<HashMap<String, i64>>,
}

impl SignedOut {
    /// Remembers `sid` as signed out until `expires_ms`; forgets the
    /// expired. Returns whether one had to be forgotten early.
    pub fn insert(&self, sid: &str, expires_ms: i64, now_ms: i64) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.retain(|_, exp| *exp > now_ms);
        let mut evicted = false;
        if ids.len() >= MAX {
            if let Some(first) = ids.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone()) {
                ids.remove(&first);
                evicted = true;
            }
        }
        ids.insert(sid.to_owned(), expires_ms);
        evicted
    }

    /// Whether `sid` was signed out.
    pub fn contains(&self, sid: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_out_session_is_remembered_until_it_expires() {
        let s = SignedOut::default();
        assert!(!s.insert("a", 100, 0));
        assert!(s.contains("a"));
        assert!(!s.contains("b"));
        s.insert("b", 300, 150);
        assert!(!s.contains("a"), "expired, forgotten");
        assert!(s.contains("b"));
    }
}
