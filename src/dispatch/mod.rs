//! Dispatch orders (派单): the [`Order`] a street platform receives. The
//! hub's dispatcher thread (src/hub/dispatcher.rs) builds and routes them.

pub mod order;

pub use order::{Order, OrderEvent, Place, StreetRef};
