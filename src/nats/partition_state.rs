//! Where the partitions' engine state is kept between owners: the bucket
//! `<prefix>_engine`, one key per partition (`p<n>`), each value a
//! [`PartitionState`] (the engine's state and the stream sequence it
//! covers), history 1, no expiry, as many replicas as the events stream.
//! Every write is a compare-and-set on the revision the writer last read
//! or wrote, so a node that lost a partition cannot overwrite what its
//! next owner saved: the write fails and the node stops the partition.
//!
//! A state over [`INLINE_MAX`] bytes (a KV value must fit in one NATS
//! message, 1 MB by default: some 16,000 devices of one partition) goes
//! into the object store `<prefix>_engine_states` under a name of its
//! own, and the key holds a pointer to it ([`POINTER`] and the name): the
//! key's compare-and-set still decides whose state counts. An object
//! whose pointer lost the compare-and-set, or was replaced, is deleted.

use super::connect::Nats;
use crate::cluster::partition_state::{PartitionState, PartitionStateError};
use async_nats::jetstream::{kv, object_store, stream};
use bytes::Bytes;
use tokio::io::AsyncReadExt;

/// States up to this size are the key's value itself.
pub const INLINE_MAX: usize = 512 * 1024;
/// The start of a key's value that names an object instead.
pub const POINTER: &[u8; 8] = b"TGPOBJ\0\0";

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
    /// The object the key points to, for a large state: the next write
    /// replaces it.
    pub object: Option<String>,
}

/// The bucket and the object store of the large states.
#[derive(Clone)]
pub struct States {
    bucket: kv::Store,
    objects: object_store::ObjectStore,
}

/// The bucket and the object store, opened or created.
pub async fn open(nats: &Nats) -> Result<States, StateError> {
    let store = |e: &dyn std::fmt::Display| StateError::Store(e.to_string());
    let name = nats.names.engine_bucket();
    let objects_name = nats.names.engine_states_store();
    if let (Ok(bucket), Ok(objects)) = (
        nats.js.get_key_value(&name).await,
        nats.js.get_object_store(&objects_name).await,
    ) {
        return Ok(States { bucket, objects });
    }
    let events = nats
        .js
        .get_stream(nats.names.events_stream())
        .await
        .map_err(|e| store(&e))?;
    let replicas = events.cached_info().config.num_replicas;
    let bucket = match nats.js.get_key_value(&name).await {
        Ok(b) => b,
        Err(_) => nats
            .js
            .create_key_value(kv::Config {
                bucket: name,
                history: 1,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| store(&e))?,
    };
    let objects = match nats.js.get_object_store(&objects_name).await {
        Ok(o) => o,
        Err(_) => nats
            .js
            .create_object_store(object_store::Config {
                bucket: objects_name,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| store(&e))?,
    };
    Ok(States { bucket, objects })
}

/// The object a key's value points to, if it is a pointer.
fn pointed(value: &[u8]) -> Option<&str> {
    value
        .strip_prefix(POINTER.as_slice())
        .and_then(|name| std::str::from_utf8(name).ok())
}

fn key(partition: u32) -> String {
    format!("p{partition}")
}

/// Partition `partition` of `partitions`'s saved state.
pub async fn load(states: &States, partition: u32, partitions: u32) -> Result<Found, StateError> {
    let entry = states
        .bucket
        .entry(key(partition))
        .await
        .map_err(|e| StateError::Store(e.to_string()))?;
    let Some(entry) = entry else {
        return Ok(Found {
            state: None,
            refused: None,
            revision: 0,
            object: None,
        });
    };
    let object = pointed(&entry.value).map(str::to_owned);
    let (state, refused) = match entry.operation {
        kv::Operation::Put => {
            let bytes = match pointed(&entry.value) {
                Some(name) => read_object(states, name).await?,
                None => entry.value.to_vec(),
            };
            match PartitionState::decode(&bytes, partition, partitions) {
                Ok(s) => (Some(s), None),
                Err(why) => (None, Some(why)),
            }
        }
        _ => (None, None),
    };
    Ok(Found {
        state,
        refused,
        revision: entry.revision,
        object,
    })
}

async fn read_object(states: &States, name: &str) -> Result<Vec<u8>, StateError> {
    let failed = |e: &dyn std::fmt::Display| StateError::Store(format!("state object {name}: {e}"));
    let mut object = states.objects.get(name).await.map_err(|e| failed(&e))?;
    let mut bytes = Vec::with_capacity(object.info.size);
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| failed(&e))?;
    Ok(bytes)
}

/// Writes `bytes` as partition `partition`'s state, expecting the key at
/// `revision` (0: absent), which points to the object `previous` if it
/// names one; the new revision and the object the key now points to. A
/// large state goes to the object store first, and the key then points
/// to it.
pub async fn save(
    states: &States,
    partition: u32,
    bytes: Vec<u8>,
    revision: u64,
    previous: Option<String>,
) -> Result<Saved, StateError> {
    if bytes.len() <= INLINE_MAX {
        let revision = swap(states, partition, Bytes::from(bytes), revision).await?;
        forget(states, previous).await;
        return Ok(Saved {
            revision,
            object: None,
        });
    }
    // A name of its own for each save (the revision it replaces and the
    // time), so a stale node's object never overwrites the owner's.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("p{partition}-r{revision}-{stamp}");
    let mut body: &[u8] = &bytes;
    states
        .objects
        .put(name.as_str(), &mut body)
        .await
        .map_err(|e| StateError::Store(format!("state object {name}: {e}")))?;
    let mut pointer = POINTER.to_vec();
    pointer.extend_from_slice(name.as_bytes());
    match swap(states, partition, Bytes::from(pointer), revision).await {
        Ok(revision) => {
            forget(states, previous).await;
            Ok(Saved {
                revision,
                object: Some(name),
            })
        }
        Err(e) => {
            forget(states, Some(name)).await;
            Err(e)
        }
    }
}

/// A state written.
pub struct Saved {
    /// The key's new revision.
    pub revision: u64,
    /// The object it points to, for a large state.
    pub object: Option<String>,
}

/// Deletes an object no key points to any more (best effort: one left
/// behind costs only its space).
async fn forget(states: &States, name: Option<String>) {
    if let Some(name) = name {
        if let Err(e) = states.objects.delete(name.as_str()).await {
            tracing::debug!(object = %name, error = %e, "an old state object not deleted");
        }
    }
}

/// The key's compare-and-set.
async fn swap(
    states: &States,
    partition: u32,
    value: Bytes,
    revision: u64,
) -> Result<u64, StateError> {
    let bucket = &states.bucket;
    if revision == 0 {
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
    }
}
