//! The disposal loop of an order (处置流转), as pure decisions: its
//! [`Stage`]s from 派遣 to 结案, the [`Step`]s a named person takes
//! between them, who may take which ([`Actor`]), the time limit each stage
//! has ([`limits`]), and what a step answers ([`StepAnswer`]). The
//! dispatcher's round applies a step's [`decide::Change`] in the same
//! commit as everything else, so every transition is durable before it is
//! answered or sent.

pub mod actor;
pub mod answer;
pub mod decide;
pub mod limits;
pub mod stage;
pub mod step;

pub use actor::{Actor, Role};
pub use answer::StepAnswer;
pub use stage::Stage;
pub use step::{Photo, Step, StepKind, StepRequest};
