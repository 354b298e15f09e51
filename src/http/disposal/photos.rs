//! `POST /api/photos` (the image as the body, its type in Content-Type)
//! keeps a photo from the spot under its SHA-256 and answers how a
//! feedback step names it; `GET /api/photos/{sha256}` shows it to anyone
//! signed in (a street officer too): the hash is only known to those who
//! could read the order that names it.

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
    let saved = tokio::task::spawn_blocking(move || photos.save(&ty, &body, limit)).await;
    match saved {
        Ok(Ok(photo)) => (StatusCode::CREATED, Json(photo)).into_response(),
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
    let photos = shared.photos.clone();
    match tokio::task::spawn_blocking(move || photos.read(&sha256)).await {
        Ok(Ok(Some((ty, bytes)))) => ([(header::CONTENT_TYPE, ty)], bytes).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "没有这张照片 / no such photo"),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
