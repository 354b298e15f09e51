//! Where the partitions' engine state is kept between owners: the bucket
//! `<prefix>_engine`, one key per partition (`p<n>`), each value a
//! [`PartitionState`] (the engine's state and the stream sequence it
//! covers), history 1, no expiry, as many replicas as the events stream.
//! Every write is a compare-and-set on the revision the writer last read
//! or wrote, so a node that lost a partition cannot overwrite what its
//! next owner saved: the write fails and the node stops the partition.

use super::connect::Nats;
use crate::cluster::partition_state::{PartitionState, PartitionStateError};
use async_nats::jetstream::{kv, stream};
use bytes::Bytes;

/// Why a partition's state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// NATS did not answer, or refused.
    #[error("the engine state bucket: {0}")]
    Store(String),
    /// Another node wrote the partition's state since this one last did:
    /// the partition is no longer this node's.
    #[error("partition {0}'s state was written by another node since")]
    Fenced(u32),
}

/// What a new owner finds for its partition.
pub struct Found {
    /// The saved state, if any could be read.
    pub state: Option<PartitionState>,
    /// Why a value that was there is not used, if so.
    pub refused: Option<PartitionStateError>,
    /// The key's revision (0: no key), for the next write.
    pub revision: u64,
}

/// The bucket, opened or created.
pub async fn open(nats: &Nats) -> Result<kv::Store, StateError> {
    let name = nats.names.engine_bucket();
    if let Ok(store) = nats.js.get_key_value(&name).await {
        return Ok(store);
    }
    let events = nats
        .js
        .get_stream(nats.names.events_stream())
        .await
        .map_err(|e| StateError::Store(e.to_string()))?;
    let replicas = events.cached_info().config.num_replicas;
    nats.js
        .create_key_value(kv::Config {
            bucket: name,
            history: 1,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| StateError::Store(e.to_string()))
}

fn key(partition: u32) -> String {
    format!("p{partition}")
}

/// Partition `partition` of `partitions`'s saved state.
pub async fn load(
    bucket: &kv::Store,
    partition: u32,
    partitions: u32,
) -> Result<Found, StateError> {
    let entry = bucket
        .entry(key(partition))
        .await
        .map_err(|e| StateError::Store(e.to_string()))?;
    let Some(entry) = entry else {
        return Ok(Found {
            state: None,
            refused: None,
            revision: 0,
        });
    };
    let (state, refused) = match entry.operation {
        kv::Operation::Put => match PartitionState::decode(&entry.value, partition, partitions) {
            Ok(s) => (Some(s), None),
            Err(why) => (None, Some(why)),
        },
        _ => (None, None),
    };
    Ok(Found {
        state,
        refused,
        revision: entry.revision,
    })
}

/// Writes `bytes` as partition `partition`'s state, expecting the key at
/// `revision` (0: absent); the new revision.
pub async fn save(
    bucket: &kv::Store,
    partition: u32,
    bytes: Vec<u8>,
    revision: u64,
) -> Result<u64, StateError> {
    let value = Bytes::from(bytes);
    let written = if revision == 0 {
        bucket
            .create(key(partition), value)
            .await
            .map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => StateError::Fenced(partition),
                _ => StateError::Store(e.to_string()),
            })
    } else {
        bucket
            .update(key(partition), value, revision)
            .await
            .map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => StateError::Fenced(partition),
                _ => StateError::Store(e.to_string()),
            })
    };
    written
}
