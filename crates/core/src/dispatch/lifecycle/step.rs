//! The steps a person takes on an order, as they come from an HTTP body
//! or an ORDER_STEP frame: `{"order_id": "...", "step": "assign", "to":
//! "李四"}`. Free text is masked when it is recorded, not here.

use crate::vocabulary::vocabulary;
use crate::wire::control::Outcome;
use serde::{Deserialize, Serialize};

/// Most photos one feedback step may name.
pub const MAX_PHOTOS_PER_FEEDBACK: usize = 9;

/// Most characters of a note, reason or name.
pub const MAX_TEXT_CHARS: usize = 2_000;

/// A photo from the spot, stored by the shell beside the outbox and named
/// here by its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
    /// Its size, bytes.
    pub bytes: u64,
    /// Its media type (image/jpeg, image/png).
    pub content_type: String,
}

/// One step of the disposal loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// 签收: the street takes the order.
    Accept {
        /// A note.
        #[serde(default)]
        note: String,
    },
    /// 派遣到人: hands the work to a person or team.
    Assign {
        /// Who does the work.
        to: String,
        /// A note.
        #[serde(default)]
        note: String,
    },
    /// 现场反馈: notes and photos from the spot.
    Feedback {
        /// What was found or done.
        #[serde(default)]
        note: String,
        /// Photos uploaded before, by hash.
        #[serde(default)]
        photos: Vec<Photo>,
    },
    /// 办结: the street is done, with its outcome (what ORDER_ACK does).
    Resolve {
        /// What the street found.
        outcome: Outcome,
        /// A note.
        #[serde(default)]
        note: String,
    },
    /// 退回返工: the district sends the street's resolution back.
    SendBack {
        /// Why.
        reason: String,
    },
    /// 核查: the district checked the street's resolution.
    Verify {
        /// A note.
        #[serde(default)]
        note: String,
    },
    /// 结案: the district closes a resolved order.
    Close {
        /// A note.
        #[serde(default)]
        note: String,
    },
    /// 转派 / 退单: to another street (its code), or back to the district
    /// (`"district"`).
    Transfer {
        /// The street code, or "district".
        to: String,
        /// Why.
        reason: String,
    },
}

vocabulary! {
    /// The kind of a step: its name in JSON, metrics and history.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum StepKind {
        /// 签收.
        Accept => "accept",
        /// 派遣到人.
        Assign => "assign",
        /// 现场反馈.
        Feedback => "feedback",
        /// 办结.
        Resolve => "resolve",
        /// 退回返工.
        SendBack => "send_back",
        /// 核查.
        Verify => "verify",
        /// 结案.
        Close => "close",
        /// 转派 / 退单.
        Transfer => "transfer",
    }
}

impl StepKind {
    /// The step as a duty officer reads it.
    pub fn label_zh(self) -> &'static str {
        match self {
            StepKind::Accept => "签收",
            StepKind::Assign => "派遣到人",
            StepKind::Feedback => "现场反馈",
            StepKind::Resolve => "办结",
            StepKind::SendBack => "退回返工",
            StepKind::Verify => "核查",
            StepKind::Close => "结案",
            StepKind::Transfer => "转派",
        }
    }
}

impl Step {
    /// Its kind.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Accept { .. } => StepKind::Accept,
            Step::Assign { .. } => StepKind::Assign,
            Step::Feedback { .. } => StepKind::Feedback,
            Step::Resolve { .. } => StepKind::Resolve,
            Step::SendBack { .. } => StepKind::SendBack,
            Step::Verify { .. } => StepKind::Verify,
            Step::Close { .. } => StepKind::Close,
            Step::Transfer { .. } => StepKind::Transfer,
        }
    }

    /// What is wrong with the step as written, whatever the order: empty
    /// names and reasons, text too long, photos not named by a hash.
    pub fn invalid(&self) -> Option<String> {
        let texts: Vec<&str> = match self {
            Step::Accept { note } | Step::Verify { note } | Step::Close { note } => vec![note],
            Step::Assign { to, note } => {
                if to.trim().is_empty() {
                    return Some(
                        "派遣到人须写明处置人 / assign needs `to`, a person or team".into(),
                    );
                }
                vec![to, note]
            }
            Step::Feedback { note, photos } => {
                if note.trim().is_empty() && photos.is_empty() {
                    return Some(
                        "现场反馈须有说明或照片 / feedback needs a note or a photo".into(),
                    );
                }
                if photos.len() > MAX_PHOTOS_PER_FEEDBACK {
                    return Some(format!(
                        "一次反馈最多 {MAX_PHOTOS_PER_FEEDBACK} 张照片 / at most {MAX_PHOTOS_PER_FEEDBACK} photos per feedback"
                    ));
                }
                if let Some(p) = photos.iter().find(|p| !is_sha256(&p.sha256)) {
                    return Some(format!(
                        "照片须以 SHA-256 标识 / a photo is named by its SHA-256 (64 hex digits), not {:?}",
                        p.sha256
                    ));
                }
                vec![note]
            }
            Step::Resolve { note, .. } => vec![note],
            Step::SendBack { reason } | Step::Transfer { reason, .. } => {
                if reason.trim().is_empty() {
                    return Some(format!(
                        "{}须写明原因 / {} needs a reason",
                        self.kind().label_zh(),
                        self.kind()
                    ));
                }
                vec![reason]
            }
        };
        texts
            .iter()
            .any(|t| t.chars().count() > MAX_TEXT_CHARS)
            .then(|| format!("文字过长 / text longer than {MAX_TEXT_CHARS} characters"))
    }
}

/// A step on one order, as an HTTP body or an ORDER_STEP frame carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRequest {
    /// The order.
    pub order_id: String,
    /// The step, its fields beside `order_id`.
    #[serde(flatten)]
    pub step: Step,
    /// Who takes it, as a street platform names its officer (a signed-in
    /// person is named by their session instead).
    #[serde(default)]
    pub by: String,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
