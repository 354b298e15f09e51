//! `POST /api/photos` (the image as the body, its type in Content-Type)
//! keeps a photo from the spot under its SHA-256 and answers how a
//! feedback step names it; `GET /api/photos/{sha256}` shows it to anyone
//! signed in (a street officer too): the hash is only known to those who
//! could read the order that names it.
//!
//! In the cluster mode an upload is also put in the cluster's photo store
//! and answered once it is there, and a photo this node does not hold is
//! looked for there (and kept here after): every node shows every photo,
//! and a feedback step on any node may name it.

use crate::http::actor::Actor;
use crate::http::error::error;
use crate::runtime::Shared;
use crate::store::photos::PhotoError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// `POST /api/photos`
pub async fn post_photo(
    State(shared): State<Arc<Shared>>,
    _actor: Actor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ty = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let limit = shared.config.devices.max_photo_bytes;
    let photos = shared.photos.clone();
    let kept = body.clone();
    let saved = tokio::task::spawn_blocking(move || photos.save(&ty, &kept, limit)).await;
    match saved {
        Ok(Ok(photo)) => {
            if let Some(cluster) = &shared.cluster {
                let put = cluster
                    .photos
                    .put(photo.sha256.clone(), photo.content_type.clone(), body)
                    .await;
                if let Err(e) = put {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("照片未能存入集群，请重试 / the photo could not be stored in the cluster, send it again: {e}"),
                    );
                }
            }
            (StatusCode::CREATED, Json(photo)).into_response()
        }
        Ok(Err(e @ PhotoError::Io(_))) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Ok(Err(e @ PhotoError::TooLarge { .. })) => {
            error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/photos/{sha256}`
pub async fn get_photo(
    State(shared): State<Arc<Shared>>,
    _actor: Actor,
    Path(sha256): Path<String>,
) -> Response {
    match find(&shared, sha256).await {
        Ok(Some((ty, bytes))) => ([(header::CONTENT_TYPE, ty)], bytes).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "没有这张照片 / no such photo"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// A photo by its hash: this node's copy, or in the cluster mode the
/// cluster's (kept here from then on, under the hash of what was read,
/// so a copy that does not match its name is not served).
pub(super) async fn find(
    shared: &Arc<Shared>,
    sha256: String,
) -> Result<Option<(&'static str, Vec<u8>)>, String> {
    let photos = shared.photos.clone();
    let wanted = sha256.clone();
    let local = tokio::task::spawn_blocking(move || photos.read(&wanted))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let Some(cluster) = &shared.cluster else {
        return Ok(local);
    };
    // The shape of a hash first: nothing else is looked for.
    if local.is_some() || !crate::store::photos::is_hash(&sha256) {
        return Ok(local);
    }
    let Some((ty, bytes)) = cluster.photos.get(sha256.clone()).await? else {
        return Ok(None);
    };
    let photos = shared.photos.clone();
    let kept = tokio::task::spawn_blocking(move || {
        photos.save(&ty, &bytes, usize::MAX).map(|p| (p, bytes))
    })
    .await
    .map_err(|e| e.to_string())?;
    match kept {
        Ok((photo, bytes)) if photo.sha256 == sha256 => {
            Ok(crate::store::photos::media_type(&photo.content_type).map(|t| (t, bytes)))
        }
        Ok((photo, _)) => Err(format!(
            "the cluster's photo {sha256} reads as {}: not served",
            photo.sha256
        )),
        Err(e) => Err(e.to_string()),
    }
}
