//! Whatever touches the QUIC socket: a connection's session (TLS, HELLO,
//! admission), a device's ingest (batches in, BATCH_ACKs out) and a
//! street platform's subscription (orders out, ORDER_ACKs in). They move
//! bytes and hand everything to the runtime.

pub mod accept;
pub mod close;
pub mod endpoints;
pub mod ingest;
pub mod order_requests;
pub mod session;
pub mod subscribe;
