//! Dispatch orders (派单): the [`Order`] a street platform receives, and
//! every decision about it in [`dispatcher::Dispatcher`], a state machine
//! the hub's dispatcher thread only drives.

pub mod batch;
pub mod dispatcher;
pub(crate) mod escalation;
pub mod handover;
pub mod lifecycle;
pub mod maintenance;
pub mod mask;
pub mod order;
pub mod order_frame;
pub mod order_id;
pub mod outbox;
pub mod quality;
pub mod record;
pub mod registry;
pub mod scope;
pub mod summary;
pub mod view;

pub use batch::Batch;
pub use order::{DisposalNote, Order, OrderEvent, Place, StreetRef};
