//! The HTTP side of the disposal loop and of what the console needs
//! around it: steps on an order, photos from the spot, the device registry
//! and maintenance windows. One router merged into the admin router, so
//! these paths live together.

mod maintenance;
mod photos;
mod registry;
mod steps;

use crate::runtime::Shared;
use axum::routing::{delete, get, post};
use axum::Router;
use std::sync::Arc;

/// The disposal loop's routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/orders/{id}/steps", post(steps::post_step))
        .route("/api/photos", post(photos::post_photo))
        .route("/api/photos/{sha256}", get(photos::get_photo))
        .route(
            "/api/devices/registry",
            get(registry::get_registry)
                .put(registry::put_registry)
                .post(registry::post_registry),
        )
        .route(
            "/api/maintenance",
            get(maintenance::list).post(maintenance::add),
        )
        .route("/api/maintenance/{id}", delete(maintenance::remove))
}
