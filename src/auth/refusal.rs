//! 拒绝原因 Why someone was not let in or not let do something, in Chinese
//! and English: every sign-in, session and permission refusal of the HTTP
//! API is one of these, and so is its audit entry's reason. The messages
//! name no secret.

use crate::auth::person::{Action, Role};

/// Why a sign-in, a session or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No credentials at all.
    #[error("请先登录 / sign in first: a session cookie, or Authorization: Bearer TOKEN")]
    NoCredentials,
    /// The account name is not in the people file.
    #[error("用户不存在 / unknown user {0:?}")]
    UnknownUser(String),
    /// The password does not match.
    #[error("密码错误 / wrong password for {0:?}")]
    WrongPassword(String),
    /// The account is disabled in the people file.
    #[error("账号已停用 / the account {0:?} is disabled")]
    Disabled(String),
    /// Password sign-in asked for, but no people file is configured.
    #[error("未配置账号文件 / password sign-in is off: no people.users file is configured")]
    PasswordsOff,
    /// A JWT, but no identity provider is configured.
    #[error("未配置单点登录 / single sign-on is off: no sso.issuer is configured")]
    SsoOff,
    /// The JWT's `exp` has passed.
    #[error("令牌已过期 / the token has expired")]
    Expired,
    /// The JWT's `nbf` is still ahead.
    #[error("令牌尚未生效 / the token is not valid yet (nbf)")]
    NotYetValid,
    /// The JWT is for another audience.
    #[error("令牌受众不符 / wrong audience: the token is not for this hub")]
    WrongAudience,
    /// The JWT is from another issuer.
    #[error(
        "令牌签发者不符 / wrong issuer: the token is not from the configured identity provider"
    )]
    WrongIssuer,
    /// The JWT's signature does not verify.
    #[error("签名无效 / bad signature: the token was not signed by the identity provider's key")]
    BadSignature,
    /// The JWT names a key the identity provider does not publish.
    #[error("签名密钥未知 / unknown signing key {0:?}: not in the identity provider's JWKS")]
    UnknownKey(String),
    /// Not a JWT, or one with an algorithm we do not take.
    #[error("令牌格式错误 / malformed token: {0}")]
    Malformed(String),
    /// The JWT lacks a claim we need, or its value is not usable.
    #[error("令牌缺少声明 / the token's claim {claim:?} is missing or not usable: {why}")]
    Claim {
        /// The claim.
        claim: String,
        /// What is wrong with it.
        why: String,
    },
    /// A role bound to a scope it cannot have.
    #[error("角色与辖区不符 / role {} cannot be bound to scope {scope:?}", .role.name())]
    RoleScope {
        /// The role.
        role: Role,
        /// The scope given.
        scope: String,
    },
    /// The session cookie has expired.
    #[error("会话已过期，请重新登录 / the session has expired: sign in again")]
    SessionExpired,
    /// The session cookie was not made by this hub, or was changed.
    #[error("会话无效，请重新登录 / the session cookie is not valid: sign in again")]
    SessionInvalid,
    /// The session was signed out.
    #[error("会话已退出 / the session was signed out: sign in again")]
    SignedOut,
    /// A change with a session cookie but without its CSRF token.
    #[error("缺少或错误的 CSRF 令牌 / missing or wrong X-CSRF-Token header: changes with a session cookie must echo the session's csrf_token")]
    Csrf,
    /// The token given is not one of this hub's.
    #[error("令牌无效 / this token is not one of this hub's (admin, district or street token, or a JWT of the identity provider)")]
    UnknownToken,
    /// The role may not do this.
    #[error("{} 无权{} / role {} may not {}", .role.name_zh(), .action.describe(), .role.name(), .action.describe())]
    Forbidden {
        /// The role.
        role: Role,
        /// What it tried.
        action: Action,
    },
}

impl Refusal {
    /// A short machine-readable name, for JSON and the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no_credentials",
            Refusal::UnknownUser(_) => "unknown_user",
            Refusal::WrongPassword(_) => "wrong_password",
            Refusal::Disabled(_) => "disabled",
            Refusal::PasswordsOff => "passwords_off",
            Refusal::SsoOff => "sso_off",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::BadSignature => "bad_signature",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::Malformed(_) => "malformed",
            Refusal::Claim { .. } => "claim",
            Refusal::RoleScope { .. } => "role_scope",
            Refusal::SessionExpired => "session_expired",
            Refusal::SessionInvalid => "session_invalid",
            Refusal::SignedOut => "signed_out",
            Refusal::Csrf => "csrf",
            Refusal::UnknownToken => "unknown_token",
            Refusal::Forbidden { .. } => "forbidden",
        }
    }

    /// Whether the answer is 403 (known, but may not) rather than 401 (who
    /// are you).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            Refusal::Forbidden { .. }
                | Refusal::Csrf
                | Refusal::Disabled(_)
                | Refusal::RoleScope { .. }
        )
    }
}
