//! Dispatch orders (派单): the [`Order`] a street platform receives. The
//! hub's dispatcher thread (src/hub/dispatcher.rs) builds and routes them.

pub mod escalation;
pub mod mask;
pub mod order;
pub mod quality;
pub mod record;
pub mod summary;

pub use order::{Order, OrderEvent, Place, StreetRef};
