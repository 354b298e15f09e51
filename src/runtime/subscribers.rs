//! The live subscribers and their bounded queues. The dispatcher thread
//! publishes each ORDER frame, after the outbox has committed it, to the
//! subscribers of its scope (a street, or the district). A subscriber whose
//! queue is full is not waited for: it is taken off the list and marked
//! lagging, and its session catches up from the outbox, then re-registers.
//! So a stalled subscriber never slows anyone else, and loses nothing.
//!
//! The browser consoles watch a second, lossy feed: every order the
//! outbox committed (new, updated, acknowledged, escalated), as the order
//! list shows it, made once for all consoles, on a broadcast channel. A console that falls behind is told to reload from
//! the outbox, which holds the truth; the feed costs nothing while no
//! console is open.

use crate::auth::tokens::Scope;
use crate::dispatch::record::OrderRecord;
use crate::dispatch::view::OrderView;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// An encoded ORDER frame and its sequence number in the scope's log.
pub type Frame = (u64, Bytes);

struct Entry {
    id: u64,
    scope: Scope,
    tx: mpsc::Sender<Frame>,
    lagging: Arc<AtomicBool>,
}

/// A subscriber's end: its queue and whether it fell behind.
pub struct Subscription {
    /// Its id in the registry.
    pub id: u64,
    /// ORDER frames of its scope, in sequence order.
    pub rx: mpsc::Receiver<Frame>,
    /// Set when the queue overflowed and the registry dropped it: what is
    /// missing is in the outbox.
    pub lagging: Arc<AtomicBool>,
}

/// What happened to one publish.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Subscribers taken off the list because their queue was full.
    pub lagging: usize,
}

/// Records kept for a console that reads slowly before it is told to
/// reload.
const CONSOLE_FEED_CAPACITY: usize = 1024;

/// Every live subscriber.
pub struct Subscribers {
    entries: RwLock<Vec<Entry>>,
    next_id: AtomicU64,
    console: tokio::sync::broadcast::Sender<Arc<OrderView>>,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers {
            entries: RwLock::default(),
            next_id: AtomicU64::default(),
            console: tokio::sync::broadcast::channel(CONSOLE_FEED_CAPACITY).0,
        }
    }
}

impl Subscribers {
    /// The feed of committed orders, for one console.
    pub fn watch_records(&self) -> tokio::sync::broadcast::Receiver<Arc<OrderView>> {
        self.console.subscribe()
    }

    /// Tells the consoles about records the outbox has just committed.
    pub fn records_committed(&self, records: &[OrderRecord]) {
        if self.console.receiver_count() == 0 {
            return;
        }
        for r in records {
            let _ = self.console.send(Arc::new(OrderView::summary_of(r)));
        }
    }

    /// Adds a subscriber with a queue of `capacity` frames.
    pub fn register(&self, scope: Scope, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let lagging = Arc::new(AtomicBool::new(false));
        self.entries.write().expect("registry lock").push(Entry {
            id,
            scope,
            tx,
            lagging: lagging.clone(),
        });
        Subscription { id, rx, lagging }
    }

    /// Removes a subscriber (its session ended).
    pub fn unregister(&self, id: u64) {
        self.entries
            .write()
            .expect("registry lock")
            .retain(|e| e.id != id);
    }

    /// Queues a frame for every subscriber of exactly this scope.
    pub fn publish(&self, scope: Scope, frame: &Frame) -> Delivery {
        let mut d = Delivery::default();
        let mut full = Vec::new();
        {
            let entries = self.entries.read().expect("registry lock");
            for e in entries.iter().filter(|e| e.scope == scope) {
                match e.tx.try_send(frame.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => full.push(e.id),
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        if !full.is_empty() {
            self.entries.write().expect("registry lock").retain(|e| {
                let cut = full.contains(&e.id);
                if cut {
                    e.lagging.store(true, Ordering::Release);
                }
                !cut
            });
            d.lagging = full.len();
        }
        d
    }
}
