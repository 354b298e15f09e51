//! A bounded queue into an engine thread that async senders wait on
//! without a sleep loop: a tokio semaphore counts the free slots of a
//! crossbeam channel. A sender awaits a permit (no thread blocked, no
//! polling), then the send cannot find the queue full; the engine thread,
//! which blocks on the crossbeam side with a deadline, gives a permit back
//! for each message it takes. One slot past the capacity is kept for the
//! shutdown's stop message, which takes no permit.

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The engine stopped: nothing more is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the hub is shutting down")]
pub struct Stopped;

/// The sending side, cloned by every session.
#[derive(Debug)]
pub struct Inbox<T> {
    tx: Sender<T>,
    room: Arc<Semaphore>,
}

impl<T> Clone for Inbox<T> {
    fn clone(&self) -> Self {
        Inbox {
            tx: self.tx.clone(),
            room: self.room.clone(),
        }
    }
}

/// The engine thread's side.
#[derive(Debug)]
pub struct Outlet<T> {
    /// Receive from this (alone, or in a `select!`), then call
    /// [`Outlet::took`] for what was taken.
    pub rx: Receiver<T>,
    room: Arc<Semaphore>,
}

/// A queue of `capacity` messages.
pub fn inbox<T>(capacity: usize) -> (Inbox<T>, Outlet<T>) {
    let (tx, rx) = bounded(capacity + 1);
    let room = Arc::new(Semaphore::new(capacity));
    (
        Inbox {
            tx,
            room: room.clone(),
        },
        Outlet { rx, room },
    )
}

impl<T> Inbox<T> {
    /// Queues `msg`, waiting while the queue is full. Returns whether it
    /// had to wait (backpressure, for the metrics).
    pub async fn send(&self, msg: T) -> Result<bool, Stopped> {
        let (permit, waited) = match self.room.try_acquire() {
            Ok(p) => (p, false),
            Err(_) => (self.room.acquire().await.map_err(|_| Stopped)?, true),
        };
        // The thread gives the slot back when it takes the message.
        permit.forget();
        match self.tx.try_send(msg) {
            Ok(()) => Ok(waited),
            Err(TrySendError::Disconnected(_)) => Err(Stopped),
            Err(TrySendError::Full(_)) => {
                debug_assert!(false, "a permit was held, so the queue had room");
                Err(Stopped)
            }
        }
    }

    /// Queues the shutdown's last message from a blocking context, in the
    /// slot kept for it.
    pub fn send_last(&self, msg: T) -> Result<(), Stopped> {
        self.tx.send(msg).map_err(|_| Stopped)
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.tx.len()
    }
}

impl<T> Outlet<T> {
    /// `n` messages were taken: their slots are free again.
    pub fn took(&self, n: usize) {
        if n > 0 {
            self.room.add_permits(n);
        }
    }

    /// No sender is left, or the queue is closed: wake every waiter.
    pub fn close(&self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_makes_the_sender_wait_until_a_message_is_taken() {
        let (tx, out) = inbox::<u32>(2);
        assert!(!tx.send(1).await.unwrap());
        assert!(!tx.send(2).await.unwrap());
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(3).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the third waits for room");
        assert_eq!(out.rx.recv().unwrap(), 1);
        out.took(1);
        assert!(waiting.await.unwrap().unwrap(), "it waited");
        assert_eq!(tx.len(), 2);
        tx.send_last(99).unwrap();
        let all: Vec<u32> = out.rx.try_iter().collect();
        assert_eq!(all, vec![2, 3, 99], "the last message has its own slot");
    }

    #[tokio::test]
    async fn a_closed_outlet_stops_waiting_senders() {
        let (tx, out) = inbox::<u32>(1);
        tx.send(1).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        tokio::task::yield_now().await;
        out.close();
        assert_eq!(waiting.await.unwrap(), Err(Stopped));
    }
}
