//! The QUIC endpoint's accept loop: admission control at the door (a full
//! hub refuses with QUIC's CONNECTION_REFUSED, counted), then one task per
//! connection.

use crate::quic::session;
use crate::runtime::Shared;
use std::sync::Arc;

/// Accepts connections until the endpoint closes; `index` numbers the
/// endpoint among the hub's (`hub.endpoints`).
pub async fn serve(endpoint: quinn::Endpoint, index: usize, shared: Arc<Shared>) {
    let accepted = shared
        .metrics
        .endpoint_connections
        .with_label_values(&[&index.to_string()]);
    while let Some(incoming) = endpoint.accept().await {
        match shared.admission.connect() {
            Some(slot) => {
                accepted.inc();
                tokio::spawn(session::run(incoming, shared.clone(), slot));
            }
            None => {
                // The client retries later.
                shared
                    .metrics
                    .admission_refused
                    .with_label_values(&["hub_full"])
                    .inc();
                incoming.refuse();
            }
        }
    }
}
