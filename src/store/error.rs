//! Why the outbox failed, with the real error as each variant's source:
//! a message names what failed and `{:#}` (anyhow's chain) adds why, each
//! cause once. redb's several error types all convert into `redb::Error`.

use std::path::PathBuf;

/// Why the store failed. The hub refuses new orders rather than pretend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The outbox's directory could not be created.
    #[error("cannot create the outbox's directory {dir}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or created.
    #[error("cannot open the outbox {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: redb::Error,
    },
    /// A read or write failed.
    #[error("outbox read or write failed")]
    Io(#[source] redb::Error),
    /// An earlier I/O error closed the database; the next commit opens it
    /// again.
    #[error("the outbox is closed after an I/O error; it reopens on the next write")]
    Closed,
    /// A record could not be decoded (written by an incompatible version).
    #[error("outbox record {key} cannot be decoded")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The message and every cause, `: `-separated (as `{:#}` prints it),
    /// for an answer or a log line that shows one string.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cause = e.source();
        }
        out
    }
}

/// Each of redb's error types is a read or write failure.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> StoreError {
                StoreError::Io(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_once() {
        let e = StoreError::CreateDir {
            dir: "/nowhere/data".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            e.chain(),
            "cannot create the outbox's directory /nowhere/data: permission denied"
        );
        let e = StoreError::from(redb::StorageError::Io(std::io::Error::other("disk full")));
        assert_eq!(
            e.chain(),
            "outbox read or write failed: I/O error: disk full"
        );
    }
}
