//! Compaction: a redb file does not shrink when records are deleted (its
//! free pages are reused by later writes), so after retention has deleted
//! many orders the file is compacted: live pages are moved to the front
//! and the file is truncated. It needs the database to itself: it takes
//! the store's lock for writing, so commits and reads wait until it is
//! done (measured in benches/outbox_scale.rs), and read transactions
//! still open from before must end first (it waits for them briefly,
//! else gives up and says so). `tongguan outbox compact` does it offline.

use super::{Store, StoreError};
use std::time::{Duration, Instant};

/// How long compaction waits for read transactions begun before it took
/// the lock (a list, a backlog chunk: milliseconds) before giving up.
const READERS_GRACE: Duration = Duration::from_millis(500);

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The file's size before, bytes.
    pub before_bytes: u64,
    /// Its size after, bytes.
    pub after_bytes: u64,
    /// How long the outbox was held.
    pub elapsed: Duration,
}

impl Store {
    /// Compacts the file, holding the outbox meanwhile.
    pub fn compact(&self) -> Result<Compacted, StoreError> {
        let before_bytes = self.file_bytes();
        let started = Instant::now();
        {
            let mut guard = self.db.write().expect("outbox lock");
            let db = guard.as_mut().ok_or(StoreError::Closed)?;
            // No new transaction can begin while the lock is held; those
            // begun before it end within milliseconds.
            loop {
                match db.compact() {
                    Ok(_) => break,
                    Err(redb::CompactionError::TransactionInProgress)
                        if started.elapsed() < READERS_GRACE =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(StoreError::Io(e.into())),
                }
            }
        }
        Ok(Compacted {
            before_bytes,
            after_bytes: self.file_bytes(),
            elapsed: started.elapsed(),
        })
    }

    /// The database file's size, bytes (0 if it cannot be read).
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
}
