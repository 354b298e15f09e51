//! What the HTTP side asks of the cluster besides orders, as seams the
//! NATS side implements (so the runtime and the HTTP handlers do not
//! depend on its client): the device book written to the cluster before
//! this node's copy, photos kept where every node finds them, and the
//! devices' activity from every node's shards, and the rules and the mode
//! written to the cluster before they are put in force here. The embedded
//! hub has none of these: its book, photos, shards and rules are all
//! there is.

use crate::cluster::book::{WindowChange, WindowOutcome};
use crate::cluster::rules::{RulesKey, WriteError};
use crate::dispatch::registry::DeviceInfo;
use crate::engine::shard::DeviceState;
use crate::store::devices::BookError;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A future the seams answer with.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The cluster's device book. Each change is written to the cluster and,
/// once it is acknowledged there, to this node's book; the other nodes
/// take it from the cluster by themselves.
pub trait SharedBook: Send + Sync {
    /// Adds or replaces devices (`replace`: the registry becomes exactly
    /// these); answers the registry's size.
    fn register(
        &self,
        devices: Vec<DeviceInfo>,
        replace: bool,
    ) -> Answer<'_, Result<usize, BookError>>;

    /// Changes the windows at `now_ms`.
    fn change_windows(
        &self,
        change: WindowChange,
        now_ms: i64,
    ) -> Answer<'_, Result<WindowOutcome, BookError>>;
}

/// A photo as the cluster keeps it: its media type and bytes.
pub type StoredPhoto = (String, Vec<u8>);

/// Photos where every node finds them.
pub trait SharedPhotos: Send + Sync {
    /// Keeps a photo this node has just saved (its hash, media type and
    /// bytes) in the cluster; an error says why it is not there.
    fn put(
        &self,
        sha256: String,
        content_type: String,
        bytes: bytes::Bytes,
    ) -> Answer<'_, Result<(), String>>;

    /// A photo by its hash from the cluster (media type and bytes), if it
    /// is kept there.
    fn get(&self, sha256: String) -> Answer<'_, Result<Option<StoredPhoto>, String>>;
}

/// The devices' activity as every node's shards know it.
pub trait SharedActivity: Send + Sync {
    /// What the shards of every live node know of these devices, merged
    /// (bounded in time: a node that does not answer soon is left out).
    fn query(&self, ids: Arc<[u64]>) -> Answer<'_, HashMap<u64, DeviceState>>;
}

/// The cluster's rules and mode.
pub trait SharedRules: Send + Sync {
    /// Writes `value` (the rules file's text, or the mode's name) under
    /// `key` by compare-and-set on the revision `expected` (none: only if
    /// the key is absent); answers the revision it is stored at once the
    /// cluster acknowledged it. A change made meanwhile by another is a
    /// conflict, unless it is the same value.
    fn write(
        &self,
        key: RulesKey,
        value: String,
        expected: Option<u64>,
    ) -> Answer<'_, Result<u64, WriteError>>;
}

/// The seams, as the HTTP handlers hold them in the cluster mode.
#[derive(Clone)]
pub struct ClusterShared {
    /// The device book.
    pub book: Arc<dyn SharedBook>,
    /// The photos.
    pub photos: Arc<dyn SharedPhotos>,
    /// The devices' activity.
    pub activity: Arc<dyn SharedActivity>,
    /// The rules and the mode.
    pub rules: Arc<dyn SharedRules>,
}
