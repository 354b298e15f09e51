//! The one Rust client of the protocol, used by gateways written in Rust,
//! `loadgen` and the tests: [`DeviceClient`] sends event batches,
//! [`SubscriberClient`] receives and acknowledges orders. Both read their
//! stream in a task of their own, so every `recv` here is cancel-safe.

mod connect;
mod device;
mod subscriber;

pub use connect::{ClientError, ClientOptions};
pub use device::{Acks, DeviceClient};
pub use subscriber::{Delivery, SubscriberClient};
