//! Where an order is in the disposal loop. Beside the order's [`Status`]
//! (open / acked / escalated, what subscribers and scripts have always
//! read), the stage says which step comes next.
//!
//! [`Status`]: crate::dispatch::record::Status

use crate::vocabulary::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// A stage of the disposal loop (发现 → 派遣 → 签收 → 处置 → 办结 → 核查 → 结案).
    #[derive(Serialize, Deserialize, Default)]
    #[serde(rename_all = "snake_case")]
    pub enum Stage {
        /// 已派遣: sent to the street, not yet accepted.
        #[default]
        Dispatched => "dispatched",
        /// 已签收: a named officer of the street took it.
        Accepted => "accepted",
        /// 处置中: assigned to a person or team (派遣到人).
        InProgress => "in_progress",
        /// 已反馈: notes or photos from the spot (现场反馈).
        Feedback => "feedback",
        /// 已办结: the street says it is done, with an outcome.
        Resolved => "resolved",
        /// 退回返工: the district sent it back, with a reason.
        SentBack => "sent_back",
        /// 已核查: the district checked the street's work.
        Verified => "verified",
        /// 已结案: closed by the district.
        Closed => "closed",
    }
}

impl Stage {
    /// The stage as a duty officer reads it.
    pub fn label_zh(self) -> &'static str {
        match self {
            Stage::Dispatched => "已派遣",
            Stage::Accepted => "已签收",
            Stage::InProgress => "处置中",
            Stage::Feedback => "已反馈",
            Stage::Resolved => "已办结",
            Stage::SentBack => "退回返工",
            Stage::Verified => "已核查",
            Stage::Closed => "已结案",
        }
    }

    /// Whether the street still has work to do: accepting, handling or
    /// reworking it.
    pub fn is_with_street(self) -> bool {
        matches!(
            self,
            Stage::Dispatched
                | Stage::Accepted
                | Stage::InProgress
                | Stage::Feedback
                | Stage::SentBack
        )
    }
}
