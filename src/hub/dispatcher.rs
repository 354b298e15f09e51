//! Orders out: a warning becomes an [`Order`] for the street that owns its
//! cell, is encoded once as an ORDER frame and queued to the street's and
//! the district's subscribers. Orders live in memory for now; the durable
//! outbox takes this place when it comes.

use super::clock;
use super::subscribers::Subscribers;
use crate::dispatch::Order;
use crate::engine::Warning;
use crate::geo::RegionMap;
use crate::metrics::Metrics;
use crate::wire::frame::{encode_frame, FrameType};
use bytes::Bytes;
use std::sync::Arc;

/// Turns warnings into orders and hands them to subscribers.
pub struct Dispatcher {
    map: Arc<RegionMap>,
    subscribers: Arc<Subscribers>,
    metrics: Arc<Metrics>,
    id_prefix: String,
    /// Next sequence number per street; the last slot is for orders
    /// outside the map (district only).
    next_seq: Vec<u64>,
}

impl Dispatcher {
    /// A dispatcher whose order ids start with a prefix unique to this run.
    pub fn new(map: Arc<RegionMap>, subscribers: Arc<Subscribers>, metrics: Arc<Metrics>) -> Self {
        let next_seq = vec![1; map.streets().len() + 1];
        Dispatcher {
            id_prefix: format!("TG{:x}", clock::now_ms()),
            map,
            subscribers,
            metrics,
            next_seq,
        }
    }

    /// Makes, counts and publishes the order for one warning.
    pub fn dispatch(&mut self, w: &Warning) {
        let street = self.map.street_of(w.cell);
        let slot = street.map_or(self.next_seq.len() - 1, usize::from);
        let seq = self.next_seq[slot];
        self.next_seq[slot] += 1;
        let order = Order::from_warning(
            format!("{}-{}", self.id_prefix, w.incident),
            seq,
            clock::now_ms(),
            w,
            street.map(|s| self.map.street(s)),
        );
        let json = serde_json::to_vec(&order).expect("orders serialize");
        let frame = Bytes::from(encode_frame(FrameType::Order, &json));
        let delivery = self.subscribers.publish(street, &frame);
        for _ in 0..delivery.overflowed {
            self.metrics.order_dropped("subscriber_too_slow");
        }
        let latency = clock::stamp_ns().saturating_sub(w.arrival) as f64 / 1e9;
        self.metrics.warning(w.category, w.severity);
        self.metrics.order(
            order.street_code().unwrap_or("none"),
            w.severity,
            w.revision,
            latency,
        );
        tracing::debug!(
            order = %order.id,
            revision = order.revision,
            severity = %order.severity,
            street = order.street_code().unwrap_or("none"),
            subscribers = delivery.queued,
            "order dispatched"
        );
    }
}
