//! `GET /api/console/stream`: the viewer's orders as they change, as
//! server-sent events. Each `order` event is an order as the list shows
//! it (new, updated, acknowledged or escalated), right after the outbox
//! committed it; a `resync` event says the console fell behind and should
//! reload its list. The page reads it with `fetch`, so the token travels
//! in the Authorization header like every other call, never in a URL.

use super::Viewer;
use crate::dispatch::view::OrderView;
use crate::runtime::Shared;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The stream of the viewer's order changes.
pub async fn stream(State(shared): State<Arc<Shared>>, viewer: Viewer) -> Response {
    let feed = shared.subscribers.watch_records();
    let hello = Event::default()
        .event("hello")
        .data(viewer.scope.name(&shared.map));
    let changes = futures_util::stream::unfold(
        (feed, shared, viewer),
        |(mut feed, shared, viewer)| async move {
            loop {
                let event = match feed.recv().await {
                    Ok(view) if viewer.scope.may_see(&shared.map, &view.order) => {
                        order_event(&view)
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => Event::default().event("resync").data("lagged"),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(event), (feed, shared, viewer)));
            }
        },
    );
    let events = futures_util::stream::StreamExt::chain(
        futures_util::stream::once(async { Ok(hello) }),
        changes,
    );
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn order_event(view: &OrderView) -> Event {
    Event::default()
        .event("order")
        .json_data(view)
        .unwrap_or_else(|_| Event::default().event("resync").data("encode"))
}
