//! The QUIC endpoint's accept loop: admission control at the door (a full
//! hub refuses with QUIC's CONNECTION_REFUSED, counted), then one task per
//! connection.

use crate::quic::session;
use crate::runtime::Shared;
use std::sync::Arc;

/// Accepts connections until the endpoint closes.
pub async fn serve(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    while let Some(incoming) = endpoint.accept().await {
        match shared.admission.connect() {
            Some(slot) => {
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
