//! Token checks: which role a token may take and which streets it may see.

use crate::config::AuthConfig;
use crate::geo::RegionMap;
use crate::wire::control::{Role, DISTRICT};

pub use crate::dispatch::scope::Scope;

/// Who a connection turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A device (or gateway), by the token's name.
    Device(String),
    /// A subscriber limited to a scope.
    Subscriber {
        /// The token's name.
        name: String,
        /// What it may see.
        scope: Scope,
    },
}

/// Why a HELLO was refused. The message goes to the client as the close
/// reason: it names no secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No token given.
    #[error("no token in HELLO")]
    Missing,
    /// The token is not in the hub's config for that role.
    #[error("unknown token for role {0:?}")]
    Unknown(Role),
}

/// A token as the config keeps it: `sha256:SALT:HEX`, the SHA-256 of the
/// salt's bytes followed by the token's, so the config holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash {
    salt: String,
    digest: [u8; 32],
}

impl TokenHash {
    /// Parses `sha256:SALT:HEX`.
    pub fn parse(text: &str) -> Option<TokenHash> {
        let rest = text.strip_prefix("sha256:")?;
        let (salt, hex) = rest.rsplit_once(':')?;
        if salt.is_empty() || hex.len() != 64 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (i, byte) in digest.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(TokenHash {
            salt: salt.to_owned(),
            digest,
        })
    }

    /// The hash of `token` with a fresh random salt, as config text.
    pub fn make(token: &str) -> String {
        let mut salt = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .expect("the system's random source works");
        let salt: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let digest = Self::digest(&salt, token);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{salt}:{hex}")
    }

    fn digest(salt: &str, token: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(salt.as_bytes());
        ctx.update(token.as_bytes());
        ctx.finish().as_ref().try_into().expect("32 bytes")
    }

    /// Whether `token` is the one hashed, compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq;
        Self::digest(&self.salt, token).ct_eq(&self.digest).into()
    }
}

/// A configured secret: clear tokens are kept as a hash too, so every
/// comparison is of two digests in constant time (no early exit on the
/// first differing byte, no length leak).
#[derive(Debug, Clone)]
struct Secret(TokenHash);

impl Secret {
    fn new(token: Option<&String>, hash: Option<&String>) -> Option<Secret> {
        match (token, hash) {
            (Some(t), _) => Some(Secret(TokenHash {
                salt: "clear".into(),
                digest: TokenHash::digest("clear", t),
            })),
            (None, Some(h)) => TokenHash::parse(h).map(Secret),
            (None, None) => None,
        }
    }
}

/// The token table.
#[derive(Debug, Clone)]
pub struct Auth {
    devices: Vec<(Secret, String)>,
    subscribers: Vec<(Secret, String, Scope)>,
    prefixes: Vec<(String, String)>,
}

impl Auth {
    /// Builds the table; subscriber tokens naming a street not on the map
    /// are an error.
    pub fn new(config: &AuthConfig, map: &RegionMap) -> Result<Auth, String> {
        let secret = |name: &str, t: Option<&String>, h: Option<&String>| {
            Secret::new(t, h).ok_or_else(|| format!("{name:?}: no usable token or token_hash"))
        };
        let mut devices = Vec::new();
        for t in &config.device {
            devices.push((
                secret(&t.name, t.token.as_ref(), t.token_hash.as_ref())?,
                t.name.clone(),
            ));
        }
        let mut subscribers = Vec::new();
        let mut prefixes = Vec::new();
        for t in &config.subscriber {
            let scope = match t.street.as_str() {
                DISTRICT => Scope::District,
                "*" => {
                    let prefix = t
                        .token
                        .clone()
                        .ok_or("a \"*\" subscriber token must be given in clear")?;
                    prefixes.push((prefix, t.name.clone()));
                    continue;
                }
                code => Scope::Street(map.street_by_code(code).ok_or_else(|| {
                    format!(
                        "auth.subscriber {:?}: street {code} is not on the region map",
                        t.name
                    )
                })?),
            };
            subscribers.push((
                secret(&t.name, t.token.as_ref(), t.token_hash.as_ref())?,
                t.name.clone(),
                scope,
            ));
        }
        Ok(Auth {
            devices,
            subscribers,
            prefixes,
        })
    }

    /// Checks a HELLO's role and token against every configured token of
    /// the role (all of them, whatever matches first).
    pub fn check(&self, role: Role, token: &str, map: &RegionMap) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        match role {
            Role::Device => {
                let mut found = None;
                for (i, (secret, _)) in self.devices.iter().enumerate() {
                    if secret.0.matches(token) && found.is_none() {
                        found = Some(i);
                    }
                }
                found.map(|i| Principal::Device(self.devices[i].1.clone()))
            }
            Role::Subscriber => {
                let mut found = None;
                for (i, (secret, _, _)) in self.subscribers.iter().enumerate() {
                    if secret.0.matches(token) && found.is_none() {
                        found = Some(i);
                    }
                }
                found
                    .map(|i| Principal::Subscriber {
                        name: self.subscribers[i].1.clone(),
                        scope: self.subscribers[i].2,
                    })
                    .or_else(|| {
                        self.prefixes.iter().find_map(|(prefix, name)| {
                            let street =
                                map.street_by_code(token.strip_prefix(prefix.as_str())?)?;
                            Some(Principal::Subscriber {
                                name: format!("{name} ({})", map.street(street).code),
                                scope: Scope::Street(street),
                            })
                        })
                    })
            }
        }
        .ok_or(AuthError::Unknown(role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn development_tokens_map_to_their_scopes() {
        let map = RegionMap::sample();
        let auth = Auth::new(&Config::embedded().auth, &map).unwrap();
        assert!(matches!(
            auth.check(Role::Device, "dev-device-token", &map),
            Ok(Principal::Device(_))
        ));
        assert_eq!(
            auth.check(Role::Subscriber, "dev-device-token", &map),
            Err(AuthError::Unknown(Role::Subscriber)),
            "a device token is no subscriber token"
        );
        let caoyang = map.street_by_code("310107005000").unwrap();
        assert!(matches!(
            auth.check(Role::Subscriber, "dev-street-310107005000", &map),
            Ok(Principal::Subscriber { scope: Scope::Street(s), .. }) if s == caoyang
        ));
        assert!(auth
            .check(Role::Subscriber, "dev-street-999999999999", &map)
            .is_err());
        assert!(matches!(
            auth.check(Role::Subscriber, "dev-district-token", &map),
            Ok(Principal::Subscriber {
                scope: Scope::District,
                ..
            })
        ));
        assert_eq!(auth.check(Role::Device, "", &map), Err(AuthError::Missing));
    }

    #[test]
    fn hashed_tokens_match_only_their_token() {
        let hash = TokenHash::make("a-long-device-secret");
        let parsed = TokenHash::parse(&hash).unwrap();
        assert!(parsed.matches("a-long-device-secret"));
        assert!(!parsed.matches("a-long-device-secreT"));
        assert!(!parsed.matches(""));
        assert_ne!(TokenHash::make("a-long-device-secret"), hash, "salted");
        assert!(TokenHash::parse("sha256:salt:abc").is_none());
        assert!(TokenHash::parse("md5:salt:00").is_none());
    }
}
