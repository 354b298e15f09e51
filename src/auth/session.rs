//! 会话 Console sessions as signed, expiring cookies: the person, how they
//! signed in and until when, as JSON, with an HMAC-SHA256 of it under the
//! hub's session key. Nothing is stored per session: a cookie is good
//! while its signature holds and its time has not passed, unless it was
//! signed out (see the signed-out list beside this file). The CSRF token is the
//! HMAC of the session's id, so it is known to whoever holds the cookie's
//! page but cannot be read from the cookie by another site. Time is an
//! argument: the tests move a number.

use crate::auth::person::{parse_scope, Person, Role, Via};
use crate::auth::refusal::Refusal;
use crate::geo::RegionMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// The cookie's name.
pub const COOKIE: &str = "tongguan_session";
/// The header a change with a session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What a session cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// A random id (hex), for signing out and the CSRF token.
    pub sid: String,
    /// The account name.
    pub name: String,
    /// The name to show.
    pub display_name: String,
    /// The role's name.
    pub role: String,
    /// A street code or `district`.
    pub scope: String,
    /// How the person signed in.
    pub via: Via,
    /// When, in ms since the epoch.
    pub issued_ms: i64,
    /// Until when, in ms since the epoch.
    pub expires_ms: i64,
}

impl Session {
    /// A new session for `person`, from `now_ms` for `ttl_ms`.
    pub fn new(person: &Person, via: Via, map: &RegionMap, now_ms: i64, ttl_ms: i64) -> Session {
        let mut sid = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut sid)
            .expect("the system's random source works");
        Session {
            sid: sid.iter().map(|b| format!("{b:02x}")).collect(),
            name: person.name.clone(),
            display_name: person.display_name.clone(),
            role: person.role.name().to_owned(),
            scope: person.scope.name(map),
            via,
            issued_ms: now_ms,
            expires_ms: now_ms.saturating_add(ttl_ms),
        }
    }

    /// The person the session is for (its role and scope as they were
    /// signed; a scope no longer on the map makes it invalid).
    pub fn person(&self, map: &RegionMap) -> Result<Person, Refusal> {
        let role = Role::parse(&self.role).ok_or(Refusal::SessionInvalid)?;
        let scope = parse_scope(&self.scope, map).ok_or(Refusal::SessionInvalid)?;
        Ok(Person {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            role,
            scope,
        })
    }
}

/// The key that signs session cookies and CSRF tokens.
pub struct SessionKey(hmac::Key);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key from secret bytes (a file's contents).
    pub fn from_bytes(secret: &[u8]) -> SessionKey {
        SessionKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A random key: sessions then end when the hub restarts.
    pub fn random() -> SessionKey {
        let rng = ring::rand::SystemRandom::new();
        SessionKey(
            hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the system's random source works"),
        )
    }

    /// The cookie's value for `session`.
    pub fn seal(&self, session: &Session) -> String {
        let body =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).expect("a session serializes"));
        let tag = hmac::sign(&self.0, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The session a cookie value holds, if this key signed it and it has
    /// not expired at `now_ms`.
    pub fn open(&self, cookie: &str, now_ms: i64) -> Result<Session, Refusal> {
        let (body, tag) = cookie.split_once('.').ok_or(Refusal::SessionInvalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| Refusal::SessionInvalid)?;
        hmac::verify(&self.0, body.as_bytes(), &tag).map_err(|_| Refusal::SessionInvalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Refusal::SessionInvalid)?;
        let session: Session =
            serde_json::from_slice(&json).map_err(|_| Refusal::SessionInvalid)?;
        if now_ms >= session.expires_ms {
            return Err(Refusal::SessionExpired);
        }
        Ok(session)
    }

    /// The session's CSRF token.
    pub fn csrf(&self, sid: &str) -> String {
        let tag = hmac::sign(&self.0, format!("csrf:{sid}").as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `given` is the session's CSRF token (in constant time).
    pub fn csrf_ok(&self, sid: &str, given: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(given) else {
            return false;
        };
        hmac::verify(&self.0, format!("csrf:{sid}").as_bytes(), &tag).is_ok()
    }
}

/// The session cookie's value among a request's `Cookie` headers.
pub fn cookie_value<'a>(headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The `Set-Cookie` value that sets a session (`secure` on HTTPS).
pub fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongguan_core::dispatch::scope::Scope;

    fn officer(map: &RegionMap) -> Person {
        Person {
            name: "zhang.wei".into(),
            display_name: "张伟".into(),
            role: Role::StreetOfficer,
            scope: Scope::Street(map.street_by_code("310107005000").unwrap()),
        }
    }

    #[test]
    fn a_cookie_holds_until_it_expires() {
        let map = RegionMap::sample();
        let key = SessionKey::random();
        let s = Session::new(&officer(&map), Via::Password, &map, 1_000, 60_000);
        let cookie = key.seal(&s);
        assert_eq!(key.open(&cookie, 60_999).unwrap(), s);
        assert_eq!(key.open(&cookie, 61_000), Err(Refusal::SessionExpired));
        assert_eq!(s.person(&map).unwrap(), officer(&map));
    }

    #[test]
    fn a_changed_or_foreign_cookie_is_refused() {
        let map = RegionMap::sample();
        let key = SessionKey::random();
        let mut s = Session::new(&officer(&map), Via::Password, &map, 0, 60_000);
        let cookie = key.seal(&s);
        assert_eq!(
            SessionKey::random().open(&cookie, 1),
            Err(Refusal::SessionInvalid)
        );
        s.role = "admin".into();
        let forged = format!(
            "{}.{}",
            key.seal(&s).split_once('.').unwrap().0,
            cookie.split_once('.').unwrap().1
        );
        assert_eq!(key.open(&forged, 1), Err(Refusal::SessionInvalid));
        assert_eq!(key.open("garbage", 1), Err(Refusal::SessionInvalid));
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let key = SessionKey::from_bytes(b"0123456789abcdef0123456789abcdef");
        let t = key.csrf("aa");
        assert!(key.csrf_ok("aa", &t));
        assert!(!key.csrf_ok("ab", &t));
        assert!(!key.csrf_ok("aa", "not base64 !"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let headers = ["a=1; tongguan_session=xyz.tag", "b=2"];
        assert_eq!(cookie_value(headers.into_iter()), Some("xyz.tag"));
        assert_eq!(cookie_value(["a=1"].into_iter()), None);
        assert!(set_cookie("v", 60, true).ends_with("SameSite=Strict; Secure"));
        assert!(!set_cookie("v", 60, false).contains("Secure"));
    }
}
