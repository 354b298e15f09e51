//! 审计 The audit trail: every sign-in (and refusal), every read of an
//! order's detail, every change through HTTP and every refused request,
//! appended to a hash-chained log in DATA_DIR/audit/ by a writer off the
//! request path. [`entry`] and [`chain`] are pure (the format, the
//! hashing, the check); [`file`](mod@file) reads, checks and searches the files;
//! [`writer`] appends.

pub mod chain;
pub mod cli;
pub mod entry;
pub mod file;
pub mod writer;

pub use entry::{Entry, Kind, Record};
pub use writer::{Audit, AuditCounters};
