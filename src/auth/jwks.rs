//! 密钥集 Where the identity provider's keys come from: a JWKS file, a
//! JWKS URL, or the `jwks_uri` of the issuer's OIDC discovery document;
//! fetched at start and again when a token names a key not yet known, at
//! most once per `sso.jwks_refresh`. Fetches block (at most
//! [`FETCH_TIMEOUT`]): callers run them off the async runtime.

use crate::auth::sso::Keys;
use crate::config::auth::SsoConfig;
use jsonwebtoken::jwk::JwkSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The longest one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The keys in force and when they were last fetched.
pub struct KeyStore {
    config: SsoConfig,
    keys: RwLock<Arc<Keys>>,
    fetched: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.keys().len())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Fetches the keys once; an identity provider that cannot be reached
    /// at start is an error (the hub says why rather than refuse everyone
    /// later).
    pub fn open(config: &SsoConfig) -> Result<KeyStore, String> {
        let keys = fetch(config)?;
        if keys.is_empty() {
            return Err("the JWKS holds no usable (RSA, EC or OKP) key".into());
        }
        Ok(KeyStore {
            config: config.clone(),
            keys: RwLock::new(Arc::new(keys)),
            fetched: Mutex::new(Some(Instant::now())),
        })
    }

    /// The keys in force.
    pub fn keys(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches the keys again if the last fetch is older than
    /// `sso.jwks_refresh`; returns whether it did and the keys changed.
    pub fn refresh(&self) -> bool {
        {
            let mut last = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.config.jwks_refresh) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match fetch(&self.config) {
            Ok(keys) if !keys.is_empty() => {
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "the identity provider's JWKS could not be fetched again");
                false
            }
        }
    }
}

/// The keys of the configured source.
fn fetch(config: &SsoConfig) -> Result<Keys, String> {
    let text = match (&config.jwks, &config.issuer) {
        (Some(source), _) => read(source)?,
        (None, Some(issuer)) => {
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let doc: serde_json::Value =
                serde_json::from_str(&get(&url)?).map_err(|e| format!("{url}: not JSON: {e}"))?;
            let jwks = doc
                .get("jwks_uri")
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("{url}: no jwks_uri"))?;
            get(jwks)?
        }
        (None, None) => return Err("no sso.jwks and no sso.issuer".into()),
    };
    let set: JwkSet =
        serde_json::from_str(&text).map_err(|e| format!("the JWKS is not a JWK set: {e}"))?;
    Ok(Keys::from_set(&set))
}

/// A JWKS from a file or a URL.
fn read(source: &str) -> Result<String, String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        get(source)
    } else {
        std::fs::read_to_string(source).map_err(|e| format!("{source}: {e}"))
    }
}

fn get(url: &str) -> Result<String, String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .build()
        .new_agent();
    agent
        .get(url)
        .call()
        .map_err(|e| format!("{url}: {e}"))?
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWKS with one EC key (the public point of a P-256 key made here)
    /// and one symmetric key, which must not be taken.
    fn jwks_text() -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256",
              "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]) },
            { "kty": "oct", "kid": "shared-secret", "k": URL_SAFE_NO_PAD.encode(b"0123456789abcdef") },
        ]})
        .to_string()
    }

    #[test]
    fn a_jwks_file_gives_its_asymmetric_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks_text()).unwrap();
        let config = SsoConfig {
            issuer: Some("https://idp.test".into()),
            audience: Some("tongguan".into()),
            jwks: Some(path.display().to_string()),
            ..SsoConfig::default()
        };
        let store = KeyStore::open(&config).unwrap();
        assert_eq!(store.keys().len(), 1, "the oct key is left out");
        assert!(!store.refresh(), "not again within jwks_refresh");
        std::fs::write(&path, "{\"keys\": []}").unwrap();
        let missing = SsoConfig {
            jwks: Some(dir.path().join("none.json").display().to_string()),
            ..config.clone()
        };
        assert!(KeyStore::open(&missing).unwrap_err().contains("none.json"));
        assert!(KeyStore::open(&config).unwrap_err().contains("no usable"));
    }
}
