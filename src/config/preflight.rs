//! What `tongguan check` verifies beyond the config's own fields: every
//! file the config names opens and parses and works with the rest (region
//! map, rules, TLS certificate and key, client CA, the subscribers'
//! streets on the map, the people file, the session key, the identity
//! provider's JWKS, the HTTPS certificate), the addresses suit the tokens, and a production
//! config (`auth.development = false`) holds no placeholder, short or
//! repeated token. Each problem names the field or the entry at fault and,
//! for a file, the file; all of them are reported at once.

use super::Config;
use crate::engine::rules::Profiles;
use crate::geo::RegionMap;
use crate::tls;
use std::collections::HashMap;
use std::path::Path;

/// Shortest token in clear a production config may hold.
pub const MIN_PRODUCTION_TOKEN: usize = 16;

/// What the placeholder tokens of deploy/tongguan.toml contain.
pub const PLACEHOLDER: &str = "CHANGE-ME";

/// Everything that stops the config from serving as it should: the files'
/// problems, then the tokens'. Empty when it is ready.
pub fn problems(config: &Config) -> Vec<String> {
    let mut out = file_problems(config);
    if let Err(e) = config.check_exposure() {
        out.push(e.to_string());
    }
    out.extend(token_problems(config));
    out
}

/// Reads a file the config names, or says which field and file failed.
fn read(field: &str, path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{field} {}: cannot read it: {e}", path.display()))
}

/// The problems of the files the config names: each is opened and parsed
/// as the hub would at start.
pub fn file_problems(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let hub = &config.hub;
    let map = match &hub.region_map {
        Some(path) => read("hub.region_map", path).and_then(|text| {
            RegionMap::from_geojson(&text)
                .map_err(|e| format!("hub.region_map {}: {e}", path.display()))
        }),
        None => Ok(RegionMap::sample()),
    };
    let map = map.map_err(|e| out.push(e)).ok();
    if let Some(path) = &hub.rules {
        if let Err(e) = read("hub.rules", path).and_then(|text| {
            Profiles::from_toml(&text).map_err(|e| format!("hub.rules {}: {e}", path.display()))
        }) {
            out.push(e);
        }
    }
    let client_ca = match &hub.client_ca {
        Some(ca) => read("hub.client_ca", ca)
            .and_then(|_| tls::load_certificates(ca).map_err(|e| format!("hub.client_ca: {e}")))
            .map_err(|e| out.push(e))
            .ok(),
        None => {
            if hub.require_device_certificate {
                out.push(
                    "hub.require_device_certificate needs hub.client_ca (the CA that signs \
                     device certificates)"
                        .into(),
                );
            }
            None
        }
    };
    match (&hub.cert, &hub.key) {
        (Some(cert), Some(key)) => {
            let cert_read = read("hub.cert", cert).map_err(|e| out.push(e));
            let key_read = read("hub.key", key).map_err(|e| out.push(e));
            if cert_read.is_ok() && key_read.is_ok() {
                let checked = tls::Identity::load(cert, key).and_then(|identity| {
                    tls::server_config(
                        &identity,
                        config.limits.quic_idle_timeout,
                        client_ca.as_deref(),
                    )
                });
                if let Err(e) = checked {
                    out.push(format!("hub.cert and hub.key: {:#}", anyhow::Error::new(e)));
                }
            }
        }
        // One without the other is refused when the config is parsed.
        _ if !config.auth.development => out.push(
            "hub.cert and hub.key: a production config (auth.development = false) needs them; \
             the hub makes a self-signed certificate only for development"
                .into(),
        ),
        _ => {}
    }
    if let Some(map) = &map {
        if let Err(e) = crate::auth::Auth::new(&config.auth, map) {
            out.push(format!("auth: {e}"));
        }
        // The people file, the session key and the identity provider's JWKS.
        if let Err(e) = crate::auth::gate::Gate::open(config, map) {
            out.push(e);
        }
    }
    if let (Some(cert), Some(key)) = (&config.http.cert, &config.http.key) {
        if let Err(e) = tls::Identity::load(cert, key).and_then(|id| tls::https_config(&id)) {
            out.push(format!(
                "http.cert and http.key: {:#}",
                anyhow::Error::new(e)
            ));
        }
    }
    out
}

/// Why a token in clear is not fit for production, if it is not.
fn unfit(token: &str) -> Option<String> {
    if token.to_ascii_uppercase().contains(PLACEHOLDER) {
        Some(format!(
            "token is a placeholder ({PLACEHOLDER}...): replace it with a long random secret \
             (openssl rand -base64 33), or give token_hash (tongguan hash-token)"
        ))
    } else if token.chars().count() < MIN_PRODUCTION_TOKEN {
        Some(format!(
            "token has {} characters: a production token has at least {MIN_PRODUCTION_TOKEN}",
            token.chars().count()
        ))
    } else {
        None
    }
}

/// The tokens of a production config (`auth.development = false`) that
/// must not serve: placeholders (`CHANGE-ME...`), tokens in clear shorter
/// than [`MIN_PRODUCTION_TOKEN`], and a token given to two entries (of one
/// role only the first entry would ever match; across roles one secret
/// would open both). Entries are named by their table
/// and position counted from 1 as they appear in the file, and their name:
/// `auth.device[2] "gateway, standby": token is a placeholder (...)`.
/// Token hashes (`token_hash`) are not judged: the hub cannot see the
/// secret. A development config has no token problems.
pub fn token_problems(config: &Config) -> Vec<String> {
    let auth = &config.auth;
    if auth.development {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(why) = auth.admin_token.as_deref().and_then(unfit) {
        out.push(format!("auth.admin_token: {why}"));
    }
    let entries = auth
        .device
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("auth.device[{}] {:?}", i + 1, t.name), &t.token))
        .chain(
            auth.subscriber
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("auth.subscriber[{}] {:?}", i + 1, t.name), &t.token)),
        );
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (entry, token) in entries {
        let Some(token) = token.as_deref() else {
            continue;
        };
        if let Some(why) = unfit(token) {
            out.push(format!("{entry}: {why}"));
        } else if let Some(first) = seen.get(token) {
            out.push(format!(
                "{entry}: token is the same as {first}'s: give each entry its own"
            ));
        } else {
            seen.insert(token, entry);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(auth: &str) -> Config {
        Config::from_layers(Some((
            "t.toml".into(),
            &format!("[auth]\ndevelopment = false\n{auth}"),
        )))
        .unwrap()
    }

    #[test]
    fn placeholders_and_short_tokens_are_named_by_entry() {
        let c = production(
            "admin_token = \"CHANGE-ME-admin-api-token-0000\"\n\
             [[auth.device]]\nname = \"gw-01\"\ntoken = \"a-real-secret-of-enough-length\"\n\
             [[auth.device]]\nname = \"gw-02\"\ntoken = \"CHANGE-ME-device-iot-gateway-02\"\n\
             [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = \"short-token\"\n",
        );
        let p = token_problems(&c);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].starts_with("auth.admin_token: token is a placeholder (CHANGE-ME...)"));
        assert!(
            p[1].starts_with("auth.device[2] \"gw-02\": token is a placeholder (CHANGE-ME...)"),
            "{p:#?}"
        );
        assert!(
            p[2].starts_with("auth.subscriber[1] \"desk\": token has 11 characters"),
            "{p:#?}"
        );
    }

    #[test]
    fn hashes_and_long_tokens_pass_and_development_is_not_judged() {
        let hash = crate::auth::TokenHash::make("whatever it was");
        let c = production(&format!(
            "[[auth.device]]\nname = \"gw\"\ntoken_hash = \"{hash}\"\n\
             [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = \"0123456789abcdef\"\n"
        ));
        assert!(token_problems(&c).is_empty(), "{:?}", token_problems(&c));
        let dev = Config::from_layers(Some((
            "t.toml".into(),
            "[auth]\ndevelopment = true\n[[auth.device]]\nname = \"gw\"\ntoken = \"CHANGE-ME-x\"\n",
        )))
        .unwrap();
        assert!(token_problems(&dev).is_empty());
    }

    #[test]
    fn a_token_given_twice_is_named() {
        let c = production(
            "[[auth.device]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\n\
             [[auth.subscriber]]\nname = \"b\"\nstreet = \"district\"\ntoken = \"0123456789abcdef\"\n",
        );
        assert_eq!(
            token_problems(&c),
            ["auth.subscriber[1] \"b\": token is the same as auth.device[1] \"a\"'s: give each entry its own"]
        );
    }

    #[test]
    fn every_missing_file_is_named_with_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| format!("{:?}", dir.path().join(name).display().to_string());
        let c = Config::from_layers(Some((
            "t.toml".into(),
            &format!(
                "[hub]\nregion_map = {}\nrules = {}\ncert = {}\nkey = {}\nclient_ca = {}\n",
                p("map.geojson"),
                p("rules.toml"),
                p("hub.crt.pem"),
                p("hub.key.pem"),
                p("ca.pem")
            ),
        )))
        .unwrap();
        let problems = file_problems(&c);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        for (field, file) in [
            ("hub.region_map", "map.geojson"),
            ("hub.rules", "rules.toml"),
            ("hub.cert", "hub.crt.pem"),
            ("hub.key", "hub.key.pem"),
            ("hub.client_ca", "ca.pem"),
        ] {
            assert!(
                problems
                    .iter()
                    .any(|m| m.starts_with(field) && m.contains(file) && m.contains("cannot read")),
                "{field}: {problems:#?}"
            );
        }
    }

    #[test]
    fn files_that_open_but_do_not_parse_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            format!("{:?}", path.display().to_string())
        };
        let c = Config::from_layers(Some((
            "t.toml".into(),
            &format!(
                "[hub]\nregion_map = {}\nrules = {}\ncert = {}\nkey = {}\n",
                write("map.geojson", "{}"),
                write("rules.toml", "[[rule]]\nname = 'x'\ncategory = 'lava'\n"),
                write("hub.crt.pem", "not a certificate"),
                write("hub.key.pem", "not a key"),
            ),
        )))
        .unwrap();
        let problems = file_problems(&c);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        let named = |i: usize, field: &str, file: &str| {
            assert!(
                problems[i].starts_with(field) && problems[i].contains(file),
                "{problems:#?}"
            )
        };
        named(0, "hub.region_map", "map.geojson");
        named(1, "hub.rules", "rules.toml");
        named(2, "hub.cert and hub.key", "hub.crt.pem");
    }

    #[test]
    fn a_production_config_needs_its_certificate() {
        let c = production("[[auth.device]]\nname = \"gw\"\ntoken = \"0123456789abcdef\"\n");
        let problems = problems(&c);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("hub.cert and hub.key: a production config"));
    }
}
