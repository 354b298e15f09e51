//! The live subscribers and their bounded queues. The dispatcher thread
//! publishes an order's encoded frame to every subscriber whose scope
//! covers the order's street; a subscriber whose queue is full is cut off
//! (its queue closes, its session closes the connection as too slow) so it
//! never slows anyone else.

use super::auth::Scope;
use crate::geo::StreetId;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

struct Entry {
    id: u64,
    scope: Scope,
    tx: mpsc::Sender<Bytes>,
    too_slow: Arc<AtomicBool>,
}

/// A subscriber's end: its queue and whether it was cut off.
pub struct Subscription {
    /// Its id in the registry.
    pub id: u64,
    /// Encoded ORDER frames.
    pub rx: mpsc::Receiver<Bytes>,
    /// Set when the queue overflowed and the registry dropped it.
    pub too_slow: Arc<AtomicBool>,
}

/// What happened to one publish.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Subscribers that got the order queued.
    pub queued: usize,
    /// Subscribers cut off because their queue was full.
    pub overflowed: usize,
}

/// Every live subscriber.
#[derive(Default)]
pub struct Subscribers {
    entries: RwLock<Vec<Entry>>,
    next_id: AtomicU64,
}

impl Subscribers {
    /// Adds a subscriber with a queue of `capacity` orders.
    pub fn register(&self, scope: Scope, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let too_slow = Arc::new(AtomicBool::new(false));
        self.entries.write().expect("registry lock").push(Entry {
            id,
            scope,
            tx,
            too_slow: too_slow.clone(),
        });
        Subscription { id, rx, too_slow }
    }

    /// Removes a subscriber (its session ended).
    pub fn unregister(&self, id: u64) {
        self.entries
            .write()
            .expect("registry lock")
            .retain(|e| e.id != id);
    }

    /// Queues `frame` for the street's subscribers and the district's.
    pub fn publish(&self, street: Option<StreetId>, frame: &Bytes) -> Delivery {
        let mut d = Delivery::default();
        let mut full = Vec::new();
        {
            let entries = self.entries.read().expect("registry lock");
            for e in entries.iter() {
                let wants = match e.scope {
                    Scope::District => true,
                    Scope::Street(s) => Some(s) == street,
                };
                if !wants {
                    continue;
                }
                match e.tx.try_send(frame.clone()) {
                    Ok(()) => d.queued += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => full.push(e.id),
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        if !full.is_empty() {
            let mut entries = self.entries.write().expect("registry lock");
            entries.retain(|e| {
                let cut = full.contains(&e.id);
                if cut {
                    e.too_slow.store(true, Ordering::Release);
                }
                !cut
            });
            d.overflowed = full.len();
        }
        d
    }

    /// Subscribers by scope: (street, district).
    pub fn counts(&self) -> (usize, usize) {
        let entries = self.entries.read().expect("registry lock");
        let district = entries
            .iter()
            .filter(|e| e.scope == Scope::District)
            .count();
        (entries.len() - district, district)
    }
}
