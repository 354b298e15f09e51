//! What became of a step: applied (and durable), or refused with a reason
//! a duty officer can read in Chinese and a script in English.

use super::stage::Stage;
use super::step::StepKind;
use serde::Serialize;

/// The answer to one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum StepAnswer {
    /// Recorded durably; the order is now at this stage.
    Applied(Stage),
    /// No order has this id.
    UnknownOrder,
    /// This person may not take this step on this order.
    Forbidden(String),
    /// The order is not at a stage where this step can be taken.
    WrongStage {
        /// The step asked for.
        step: StepKind,
        /// Where the order is.
        stage: Stage,
    },
    /// The step itself is wrong (an empty reason, an unknown street).
    Invalid(String),
    /// Not taken: the outbox cannot be written and too many requests wait
    /// for it. Send it again later.
    Busy,
}

/// A step's answer as HTTP and ORDER_STEP_RESULT write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepAnswerBody {
    /// applied, unknown, forbidden, wrong_stage, invalid or busy.
    pub result: &'static str,
    /// The order's stage after the step, when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Why not, in Chinese then English; empty when applied.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl StepAnswer {
    /// The answer's name: the `result` field, and the label of
    /// `tongguan_order_steps_total`.
    pub fn name(&self) -> &'static str {
        match self {
            StepAnswer::Applied(_) => "applied",
            StepAnswer::UnknownOrder => "unknown",
            StepAnswer::Forbidden(_) => "forbidden",
            StepAnswer::WrongStage { .. } => "wrong_stage",
            StepAnswer::Invalid(_) => "invalid",
            StepAnswer::Busy => "busy",
        }
    }

    /// Every result name, for metric series that exist from the start.
    pub const NAMES: [&'static str; 6] = [
        "applied",
        "unknown",
        "forbidden",
        "wrong_stage",
        "invalid",
        "busy",
    ];

    /// Why it was refused, Chinese first; empty when applied.
    pub fn reason(&self) -> String {
        match self {
            StepAnswer::Applied(_) => String::new(),
            StepAnswer::UnknownOrder => "没有这个工单 / no such order".into(),
            StepAnswer::Forbidden(why) | StepAnswer::Invalid(why) => why.clone(),
            StepAnswer::WrongStage { step, stage } => format!(
                "工单{}，不能{} / the order is {stage}: it cannot be given `{step}` now",
                stage.label_zh(),
                step.label_zh()
            ),
            StepAnswer::Busy => {
                "工单库暂不可写，请稍后重试 / the outbox cannot be written now: try again later"
                    .into()
            }
        }
    }

    /// The answer as its JSON body.
    pub fn body(&self) -> StepAnswerBody {
        StepAnswerBody {
            result: self.name(),
            stage: match self {
                StepAnswer::Applied(s) => Some(*s),
                _ => None,
            },
            reason: self.reason(),
        }
    }
}
