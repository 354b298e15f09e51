//! `[people]`, `[sso]` and `[audit]`: who may sign in to the console and
//! how. `[people]` names the file of accounts (argon2 password hashes, made
//! by `tongguan users add`) and how long a session lasts; `[sso]` the
//! district's identity provider whose JWTs sign people in (issuer,
//! audience, JWKS from a file or a URL, or found by OIDC discovery, and
//! the claims that carry the role and the scope); `[audit]` the audit
//! trail's writer queue. Every field has a default: without a people file
//! and an issuer nobody signs in by name, and tokens work as before.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[people]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeopleConfig {
    /// The accounts file (TOML, `[[user]]` entries); none: no password
    /// sign-in.
    pub users: Option<PathBuf>,
    /// A session cookie expires this long after sign-in.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// A file of at least 32 bytes whose contents sign session cookies
    /// (so sessions outlive a restart and every node of a cluster accepts
    /// them); none: a random key made at start.
    pub session_key_file: Option<PathBuf>,
}

impl Default for PeopleConfig {
    fn default() -> Self {
        PeopleConfig {
            users: None,
            session_ttl: Duration::from_secs(8 * 3600),
            session_key_file: None,
        }
    }
}

/// `[sso]`: single sign-on (单点登录) by the district's identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsoConfig {
    /// The identity provider's issuer (`iss`); none: single sign-on off.
    pub issuer: Option<String>,
    /// The audience (`aud`) tokens must be for.
    pub audience: Option<String>,
    /// The JWKS: a file, or an `http(s)://` URL.
    pub jwks: Option<String>,
    /// Find the JWKS from `ISSUER/.well-known/openid-configuration`
    /// (its `jwks_uri`) when `jwks` is not given.
    pub discovery: bool,
    /// The claim holding the person's scope: a street code or `district`.
    pub scope_claim: String,
    /// The claim holding the role (a string, or a list whose first known
    /// role counts).
    pub role_claim: String,
    /// The claim holding the person's account name.
    pub name_claim: String,
    /// The claim holding the name to show (the account name without it).
    pub display_name_claim: String,
    /// Clock difference allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// A token signed by a key not in the JWKS makes the hub fetch it
    /// again, at most this often.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh: Duration,
}

impl Default for SsoConfig {
    fn default() -> Self {
        SsoConfig {
            issuer: None,
            audience: None,
            jwks: None,
            discovery: false,
            scope_claim: "street".into(),
            role_claim: "role".into(),
            name_claim: "preferred_username".into(),
            display_name_claim: "name".into(),
            leeway: Duration::from_secs(30),
            jwks_refresh: Duration::from_secs(60),
        }
    }
}

impl SsoConfig {
    /// Whether single sign-on is configured.
    pub fn enabled(&self) -> bool {
        self.issuer.is_some()
    }

    /// What is wrong with the table, if anything.
    pub fn check(&self) -> Result<(), String> {
        if !self.enabled() {
            return match (&self.audience, &self.jwks) {
                (None, None) => Ok(()),
                _ => Err("sso.audience and sso.jwks need sso.issuer".into()),
            };
        }
        if self.audience.as_deref().is_none_or(str::is_empty) {
            return Err("sso.issuer needs sso.audience (the audience tokens must be for)".into());
        }
        if self.jwks.is_none() && !self.discovery {
            return Err("sso.issuer needs sso.jwks (a file or URL) or sso.discovery = true".into());
        }
        let claims = [
            &self.scope_claim,
            &self.role_claim,
            &self.name_claim,
            &self.display_name_claim,
        ];
        if claims.iter().any(|c| c.is_empty()) {
            return Err("sso's claim names may not be empty".into());
        }
        Ok(())
    }
}

/// `[audit]`: the audit trail in DATA_DIR/audit/.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Entries waiting for the writer; a full queue makes requests wait
    /// (nothing is dropped).
    pub queue_entries: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            queue_entries: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_sign_on_needs_an_audience_and_keys() {
        assert!(SsoConfig::default().check().is_ok(), "off by default");
        let issuer = SsoConfig {
            issuer: Some("https://idp.test".into()),
            ..SsoConfig::default()
        };
        assert!(issuer.check().unwrap_err().contains("audience"));
        let no_keys = SsoConfig {
            audience: Some("tongguan".into()),
            ..issuer.clone()
        };
        assert!(no_keys.check().unwrap_err().contains("jwks"));
        let discovered = SsoConfig {
            discovery: true,
            ..no_keys.clone()
        };
        assert!(discovered.check().is_ok());
        let stray = SsoConfig {
            audience: Some("x".into()),
            ..SsoConfig::default()
        };
        assert!(stray.check().unwrap_err().contains("need sso.issuer"));
    }
}
