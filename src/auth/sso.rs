//! 单点登录 Single sign-on: a JWT of the district's identity provider
//! checked against its published keys (a JWKS), its issuer and audience,
//! its time limits, and turned into a [`Person`] by the claims the config
//! names for the role and the scope. Only asymmetric algorithms (RSA,
//! ECDSA, EdDSA) are taken, and only with a key of the JWKS. Time is an
//! argument; fetching the JWKS is the key store's (jwks.rs).

use crate::auth::person::{parse_scope, Person, Role};
use crate::auth::refusal::Refusal;
use crate::config::auth::SsoConfig;
use crate::geo::RegionMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::HashMap;

/// The identity provider's keys, by key id.
#[derive(Default)]
pub struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    /// Keys without an id (used only when the set has exactly one key).
    unnamed: Vec<DecodingKey>,
}

impl Keys {
    /// The usable keys of a JWKS (symmetric keys are left out: a hub must
    /// not accept tokens it could have signed itself).
    pub fn from_set(set: &JwkSet) -> Keys {
        let mut keys = Keys::default();
        for jwk in &set.keys {
            if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), key);
                }
                None => keys.unnamed.push(key),
            }
        }
        keys
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, kid: Option<&str>) -> Result<&DecodingKey, Refusal> {
        match kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .ok_or_else(|| Refusal::UnknownKey(kid.to_owned())),
            None if self.len() == 1 => Ok(self
                .by_kid
                .values()
                .chain(&self.unnamed)
                .next()
                .expect("one key")),
            None => Err(Refusal::Malformed(
                "no kid in the header, and the JWKS has several keys".into(),
            )),
        }
    }
}

/// Whether a bearer token looks like a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

/// Checks `token` at `now_ms` and returns the person it names.
pub fn verify(
    token: &str,
    keys: &Keys,
    config: &SsoConfig,
    map: &RegionMap,
    now_ms: i64,
) -> Result<Person, Refusal> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(Refusal::Malformed(format!(
            "algorithm {:?} is not taken (only RSA, ECDSA, EdDSA)",
            header.alg
        )));
    }
    let key = keys.find(header.kid.as_deref())?;
    let mut validation = Validation::new(header.alg);
    // Time is checked below against the caller's clock, with the leeway.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[config.issuer.as_deref().unwrap_or_default()]);
    validation.set_audience(&[config.audience.as_deref().unwrap_or_default()]);
    let data = jsonwebtoken::decode::<Value>(token, key, &validation).map_err(refusal)?;
    check_times(&data.claims, config.leeway.as_millis() as i64, now_ms)?;
    person(&data.claims, config, map)
}

fn refusal(e: jsonwebtoken::errors::Error) -> Refusal {
    match e.kind() {
        ErrorKind::InvalidSignature => Refusal::BadSignature,
        ErrorKind::InvalidAudience => Refusal::WrongAudience,
        ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::MissingRequiredClaim(c) => Refusal::Claim {
            claim: c.clone(),
            why: "missing".into(),
        },
        _ => Refusal::Malformed(e.to_string()),
    }
}

/// `exp` must be there and ahead of now, `nbf` (if there) behind it,
/// each within the leeway.
fn check_times(claims: &Value, leeway_ms: i64, now_ms: i64) -> Result<(), Refusal> {
    let seconds = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0) as i64)
    };
    let exp = seconds("exp").ok_or_else(|| Refusal::Claim {
        claim: "exp".into(),
        why: "missing or not a number".into(),
    })?;
    if now_ms - leeway_ms >= exp {
        return Err(Refusal::Expired);
    }
    if seconds("nbf").is_some_and(|nbf| now_ms + leeway_ms < nbf) {
        return Err(Refusal::NotYetValid);
    }
    Ok(())
}

/// The person the claims name.
fn person(claims: &Value, config: &SsoConfig, map: &RegionMap) -> Result<Person, Refusal> {
    let claim = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let missing = |name: &str, why: &str| Refusal::Claim {
        claim: name.to_owned(),
        why: why.to_owned(),
    };
    let name = claim(&config.name_claim)
        .or_else(|| claim("sub"))
        .ok_or_else(|| missing(&config.name_claim, "missing (and no sub)"))?;
    let display_name = claim(&config.display_name_claim).unwrap_or(name);
    let role = match claims.get(&config.role_claim) {
        Some(Value::String(s)) => Role::parse(s),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).find_map(Role::parse),
        _ => None,
    }
    .ok_or_else(|| {
        missing(
            &config.role_claim,
            "no street_officer, street_supervisor, district_desk or admin",
        )
    })?;
    let scope_text =
        claim(&config.scope_claim).ok_or_else(|| missing(&config.scope_claim, "missing"))?;
    let scope = parse_scope(scope_text, map).ok_or_else(|| {
        missing(
            &config.scope_claim,
            &format!("{scope_text:?} is not a street code on the map or \"district\""),
        )
    })?;
    if !role.fits(scope) {
        return Err(Refusal::RoleScope {
            role,
            scope: scope_text.to_owned(),
        });
    }
    Ok(Person {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        role,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_limits_hold_within_the_leeway() {
        let claims = json!({ "exp": 100, "nbf": 50 });
        assert_eq!(check_times(&claims, 1_000, 101_000), Err(Refusal::Expired));
        assert_eq!(
            check_times(&claims, 1_000, 100_999),
            Ok(()),
            "within the leeway"
        );
        assert_eq!(check_times(&claims, 0, 100_000), Err(Refusal::Expired));
        assert_eq!(
            check_times(&claims, 1_000, 48_999),
            Err(Refusal::NotYetValid)
        );
        assert_eq!(check_times(&claims, 1_000, 49_000), Ok(()));
        let e = check_times(&json!({}), 0, 0).unwrap_err();
        assert!(
            matches!(e, Refusal::Claim { ref claim, .. } if claim == "exp"),
            "{e}"
        );
    }

    #[test]
    fn the_claims_name_a_person_whose_role_fits_the_scope() {
        let map = RegionMap::sample();
        let config = SsoConfig::default();
        let p = person(
            &json!({ "sub": "u1", "role": ["x", "street_supervisor"], "street": "310107005000" }),
            &config,
            &map,
        )
        .unwrap();
        assert_eq!((p.name.as_str(), p.display_name.as_str()), ("u1", "u1"));
        assert_eq!(p.role, Role::StreetSupervisor);
        let desk = json!({ "preferred_username": "d", "name": "值班", "role": "district_desk", "street": "district" });
        assert_eq!(person(&desk, &config, &map).unwrap().display_name, "值班");
        let misfit = json!({ "sub": "u", "role": "admin", "street": "310107005000" });
        assert!(matches!(
            person(&misfit, &config, &map),
            Err(Refusal::RoleScope { .. })
        ));
        let no_role = json!({ "sub": "u", "role": "mayor", "street": "district" });
        assert!(matches!(
            person(&no_role, &config, &map),
            Err(Refusal::Claim { .. })
        ));
        let elsewhere = json!({ "sub": "u", "role": "street_officer", "street": "999999999999" });
        assert!(matches!(
            person(&elsewhere, &config, &map),
            Err(Refusal::Claim { .. })
        ));
    }
}
