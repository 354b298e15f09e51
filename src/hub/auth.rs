//! Token checks: which role a token may take and which streets it may see.

use crate::config::AuthConfig;
use crate::geo::{RegionMap, StreetId};
use crate::wire::control::{Role, DISTRICT};
use rustc_hash::FxHashMap;

/// What a subscriber token may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One street's orders.
    Street(StreetId),
    /// Every order (district duty desk).
    District,
}

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

/// The token table.
#[derive(Debug, Clone)]
pub struct Auth {
    devices: FxHashMap<String, String>,
    subscribers: FxHashMap<String, (String, Scope)>,
    prefixes: Vec<(String, String)>,
}

impl Auth {
    /// Builds the table; subscriber tokens naming a street not on the map
    /// are an error.
    pub fn new(config: &AuthConfig, map: &RegionMap) -> Result<Auth, String> {
        let devices = config
            .device
            .iter()
            .map(|t| (t.token.clone(), t.name.clone()))
            .collect();
        let mut subscribers = FxHashMap::default();
        let mut prefixes = Vec::new();
        for t in &config.subscriber {
            let scope = match t.street.as_str() {
                DISTRICT => Scope::District,
                "*" => {
                    prefixes.push((t.token.clone(), t.name.clone()));
                    continue;
                }
                code => Scope::Street(map.street_by_code(code).ok_or_else(|| {
                    format!(
                        "auth.subscriber {:?}: street {code} is not on the region map",
                        t.name
                    )
                })?),
            };
            subscribers.insert(t.token.clone(), (t.name.clone(), scope));
        }
        Ok(Auth {
            devices,
            subscribers,
            prefixes,
        })
    }

    /// Checks a HELLO's role and token.
    pub fn check(&self, role: Role, token: &str, map: &RegionMap) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        match role {
            Role::Device => self
                .devices
                .get(token)
                .map(|name| Principal::Device(name.clone())),
            Role::Subscriber => self
                .subscribers
                .get(token)
                .map(|(name, scope)| Principal::Subscriber {
                    name: name.clone(),
                    scope: *scope,
                })
                .or_else(|| {
                    self.prefixes.iter().find_map(|(prefix, name)| {
                        let street = map.street_by_code(token.strip_prefix(prefix.as_str())?)?;
                        Some(Principal::Subscriber {
                            name: format!("{name} ({})", map.street(street).code),
                            scope: Scope::Street(street),
                        })
                    })
                }),
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
}
