//! Admission control: how many connections the hub holds (in all, and per
//! token) and how many events a second one device token may bring. Every
//! limit reached is answered with a documented code and counted, and none
//! is shared in a way that lets one client starve the others: a token's
//! limits are its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The hub's admission state.
pub struct Admission {
    max_total: usize,
    max_per_token: usize,
    rate: u64,
    total: AtomicUsize,
    per_token: Mutex<HashMap<String, usize>>,
    buckets: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
}

/// A held connection slot; dropping it frees the slot.
pub struct Slot {
    admission: Arc<Admission>,
    token: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(t) = &self.token {
            let mut per = self.admission.per_token.lock().expect("admission lock");
            if let Some(n) = per.get_mut(t) {
                *n -= 1;
                if *n == 0 {
                    per.remove(t);
                }
            }
        }
    }
}

/// A token bucket: `rate` events a second, bursts of up to one second's
/// worth.
pub struct Bucket {
    rate: f64,
    tokens: f64,
    /// When tokens were last taken; a bucket starts full.
    last: Option<Instant>,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate: rate as f64,
            tokens: rate as f64,
            last: None,
        }
    }

    /// Takes up to `n` events' worth; returns how many were granted.
    pub fn take(&mut self, n: u32, now: Instant) -> u32 {
        let elapsed = self.last.map_or(0.0, |last| {
            now.saturating_duration_since(last).as_secs_f64()
        });
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        let granted = (n as f64).min(self.tokens.floor()).max(0.0);
        self.tokens -= granted;
        granted as u32
    }
}

impl Admission {
    /// Admission with the configured limits (`rate` 0 = no rate limit).
    pub fn new(max_total: usize, max_per_token: usize, rate: u64) -> Arc<Admission> {
        Arc::new(Admission {
            max_total: max_total.max(1),
            max_per_token: max_per_token.max(1),
            rate,
            total: AtomicUsize::new(0),
            per_token: Mutex::default(),
            buckets: Mutex::default(),
        })
    }

    /// A slot for a new connection, or `None` when the hub is full.
    pub fn connect(self: &Arc<Self>) -> Option<Slot> {
        let prev = self.total.fetch_add(1, Ordering::AcqRel);
        let slot = Slot {
            admission: self.clone(),
            token: None,
        };
        (prev < self.max_total).then_some(slot)
    }

    /// Charges the slot to a token; `false` when the token already holds
    /// its limit of connections.
    pub fn charge(&self, slot: &mut Slot, token: &str) -> bool {
        let mut per = self.per_token.lock().expect("admission lock");
        let n = per.entry(token.to_owned()).or_insert(0);
        if *n >= self.max_per_token {
            return false;
        }
        *n += 1;
        slot.token = Some(token.to_owned());
        true
    }

    /// The rate bucket of a device token, or `None` without a rate limit.
    pub fn bucket(&self, token: &str) -> Option<Arc<Mutex<Bucket>>> {
        if self.rate == 0 {
            return None;
        }
        let mut buckets = self.buckets.lock().expect("admission lock");
        Some(
            buckets
                .entry(token.to_owned())
                .or_insert_with(|| Arc::new(Mutex::new(Bucket::new(self.rate))))
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn slots_are_limited_in_all_and_per_token_and_freed_on_drop() {
        let a = Admission::new(3, 2, 0);
        let mut s1 = a.connect().unwrap();
        let mut s2 = a.connect().unwrap();
        let mut s3 = a.connect().unwrap();
        assert!(a.connect().is_none(), "the fourth is refused");
        assert!(a.charge(&mut s1, "gw"));
        assert!(a.charge(&mut s2, "gw"));
        assert!(!a.charge(&mut s3, "gw"), "a token's third");
        assert!(a.charge(&mut s3, "other"), "another token is not starved");
        drop(s1);
        let mut s4 = a.connect().unwrap();
        assert!(a.charge(&mut s4, "gw"));
    }

    #[test]
    fn a_bucket_grants_its_rate_and_refills() {
        let mut b = Bucket::new(1000);
        // Any instant will do: only differences count.
        let t0 = Instant::now();
        assert_eq!(b.take(600, t0), 600);
        assert_eq!(b.take(600, t0), 400, "a second's burst at most");
        assert_eq!(b.take(10, t0), 0);
        assert_eq!(b.take(600, t0 + Duration::from_millis(500)), 500);
    }
}
