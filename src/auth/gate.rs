//! 门 (the gate): everything that signs people in, in one value the hub
//! shares: the people file, the identity provider's keys, the session key
//! and the signed-out sessions. Password checks and JWKS fetches block:
//! the HTTP handlers call those on a blocking thread.

use crate::auth::jwks::KeyStore;
use crate::auth::people::People;
use crate::auth::person::{Person, Via};
use crate::auth::refusal::Refusal;
use crate::auth::session::{Session, SessionKey};
use crate::auth::signed_out::SignedOut;
use crate::auth::sso;
use crate::config::Config;
use crate::geo::RegionMap;

/// The gate.
pub struct Gate {
    people: Option<People>,
    sso: Option<KeyStore>,
    config: crate::config::auth::SsoConfig,
    key: SessionKey,
    signed_out: SignedOut,
    ttl_ms: i64,
}

impl Gate {
    /// Loads the people file and the JWKS the config names, and the session
    /// key (or makes one).
    pub fn open(config: &Config, map: &RegionMap) -> Result<Gate, String> {
        let people = match &config.people.users {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("people.users {}: {e}", path.display()))?;
                let people = People::parse(&text, &path.display().to_string(), map)
                    .map_err(|e| e.to_string())?;
                tracing::info!(file = %path.display(), accounts = people.len(), "people file loaded");
                Some(people)
            }
            None => None,
        };
        let sso = if config.sso.enabled() {
            let store = KeyStore::open(&config.sso).map_err(|e| format!("sso: {e}"))?;
            tracing::info!(
                issuer = config.sso.issuer.as_deref().unwrap_or_default(),
                keys = store.keys().len(),
                "single sign-on on"
            );
            Some(store)
        } else {
            None
        };
        let key = match &config.people.session_key_file {
            Some(path) => {
                let secret = std::fs::read(path)
                    .map_err(|e| format!("people.session_key_file {}: {e}", path.display()))?;
                if secret.len() < 32 {
                    return Err(format!(
                        "people.session_key_file {}: at least 32 bytes",
                        path.display()
                    ));
                }
                SessionKey::from_bytes(&secret)
            }
            None => SessionKey::random(),
        };
        Ok(Gate {
            people,
            sso,
            config: config.sso.clone(),
            key,
            signed_out: SignedOut::default(),
            ttl_ms: i64::try_from(config.people.session_ttl.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// Checks a name and password (slow: run it on a blocking thread).
    pub fn sign_in_password(&self, name: &str, password: &str) -> Result<Person, Refusal> {
        self.people
            .as_ref()
            .ok_or(Refusal::PasswordsOff)?
            .check_password(name, password)
    }

    /// Checks a JWT; a key not yet known makes the hub fetch the JWKS again
    /// (at most once per `sso.jwks_refresh`; blocking: run it on a blocking
    /// thread).
    pub fn sign_in_jwt(
        &self,
        token: &str,
        map: &RegionMap,
        now_ms: i64,
    ) -> Result<Person, Refusal> {
        match self.verify_jwt(token, map, now_ms) {
            Err(Refusal::UnknownKey(_)) if self.sso.as_ref().is_some_and(KeyStore::refresh) => {
                self.verify_jwt(token, map, now_ms)
            }
            other => other,
        }
    }

    /// Checks a JWT against the keys already fetched (never blocks).
    pub fn verify_jwt(&self, token: &str, map: &RegionMap, now_ms: i64) -> Result<Person, Refusal> {
        let store = self.sso.as_ref().ok_or(Refusal::SsoOff)?;
        sso::verify(token, &store.keys(), &self.config, map, now_ms)
    }

    /// Whether single sign-on is configured.
    pub fn sso_enabled(&self) -> bool {
        self.sso.is_some()
    }

    /// A new session for `person`: the session and its cookie's value.
    pub fn start(
        &self,
        person: &Person,
        via: Via,
        map: &RegionMap,
        now_ms: i64,
    ) -> (Session, String) {
        let session = Session::new(person, via, map, now_ms, self.ttl_ms);
        let cookie = self.key.seal(&session);
        (session, cookie)
    }

    /// The session a cookie holds, if it is good and not signed out.
    pub fn session(&self, cookie: &str, now_ms: i64) -> Result<Session, Refusal> {
        let session = self.key.open(cookie, now_ms)?;
        if self.signed_out.contains(&session.sid) {
            return Err(Refusal::SignedOut);
        }
        Ok(session)
    }

    /// Signs a session out.
    pub fn sign_out(&self, session: &Session, now_ms: i64) {
        if self
            .signed_out
            .insert(&session.sid, session.expires_ms, now_ms)
        {
            tracing::warn!(
                "more signed-out sessions than remembered: the one expiring soonest was forgotten"
            );
        }
    }

    /// A session's CSRF token.
    pub fn csrf(&self, session: &Session) -> String {
        self.key.csrf(&session.sid)
    }

    /// Whether `given` is the session's CSRF token.
    pub fn csrf_ok(&self, session: &Session, given: &str) -> bool {
        self.key.csrf_ok(&session.sid, given)
    }

    /// How long a new session lasts, in seconds (the cookie's Max-Age).
    pub fn ttl_s(&self) -> i64 {
        self.ttl_ms / 1000
    }
}
