//! Photos from the spot in the object store `{prefix}_photos`, so that a
//! photo uploaded to one node is shown, and named in a feedback step, on
//! any node. An object is named by the photo's SHA-256 (what an order's
//! feedback names it by) and carries its media type; the node that took
//! the upload keeps its own copy in DATA_DIR/photos too, and a node that
//! fetches one from the store keeps a copy after (the HTTP side does
//! both). The object store checks each object's digest as it reads it.

use crate::metrics::Metrics;
use crate::runtime::cluster_shared::{Answer, SharedPhotos, StoredPhoto};
use async_nats::jetstream::object_store::{self, ObjectMetadata, ObjectStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The metadata key of a photo's media type.
const CONTENT_TYPE: &str = "content-type";
/// How long a put or a get may take (photos are a few MB at most).
const WITHIN: Duration = Duration::from_secs(30);

/// The cluster's photos.
pub struct NatsPhotos {
    store: ObjectStore,
    metrics: Arc<Metrics>,
}

impl NatsPhotos {
    /// Photos in `store`.
    pub fn new(store: ObjectStore, metrics: Arc<Metrics>) -> NatsPhotos {
        NatsPhotos { store, metrics }
    }

    fn failed(&self, e: impl std::fmt::Display) -> String {
        self.metrics
            .cluster_errors
            .with_label_values(&["photos"])
            .inc();
        e.to_string()
    }

    async fn put_now(&self, sha256: String, ty: String, bytes: bytes::Bytes) -> Result<(), String> {
        // The same hash is the same photo: once there, it stays.
        if self.store.info(&sha256).await.is_ok() {
            return Ok(());
        }
        let meta = ObjectMetadata {
            name: sha256,
            metadata: HashMap::from([(CONTENT_TYPE.to_owned(), ty)]),
            ..Default::default()
        };
        let mut body: &[u8] = &bytes;
        match tokio::time::timeout(WITHIN, self.store.put(meta, &mut body)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => Err(self.failed(format!("not stored within {WITHIN:?}"))),
        }
    }

    async fn get_now(&self, sha256: String) -> Result<Option<StoredPhoto>, String> {
        let read = async {
            let mut object = match self.store.get(&sha256).await {
                Ok(o) => o,
                Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            let ty = object
                .info
                .metadata
                .get(CONTENT_TYPE)
                .cloned()
                .unwrap_or_default();
            let mut bytes = Vec::with_capacity(object.info.size);
            object
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Some((ty, bytes)))
        };
        match tokio::time::timeout(WITHIN, read).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => Err(self.failed(format!("not read within {WITHIN:?}"))),
        }
    }
}

impl SharedPhotos for NatsPhotos {
    fn put(
        &self,
        sha256: String,
        content_type: String,
        bytes: bytes::Bytes,
    ) -> Answer<'_, Result<(), String>> {
        Box::pin(self.put_now(sha256, content_type, bytes))
    }

    fn get(&self, sha256: String) -> Answer<'_, Result<Option<StoredPhoto>, String>> {
        Box::pin(self.get_now(sha256))
    }
}
