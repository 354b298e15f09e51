//! The description covers the router, and only the router: the routes are
//! read from the source of `src/http/` (every `.route("PATH", get(..)
//! .post(..))` of the admin router and the routers merged into it), as
//! axum keeps no list of them to ask, and each (method, path) must be an
//! operation of [`super::document`], and each operation a route.

use std::collections::BTreeSet;
use std::path::Path;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/http is readable") {
        let path = entry.expect("a directory entry").path();
        if path.ends_with("openapi") {
            // The description itself, whose code names `.route(` too.
            continue;
        } else if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of the call whose opening parenthesis is at `open`, to its
/// matching close (string literals do not hold parentheses in routes).
fn call(text: &str, open: usize) -> &str {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..open + i + 1];
                }
            }
            _ => {}
        }
    }
    panic!("an unclosed .route( call")
}

/// The HTTP methods a route call names: `get(`, `.post(`,
/// `axum::routing::put(`, ... (a word, not the tail of a longer name).
fn methods(route: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for method in ["get", "post", "put", "delete", "patch"] {
        let needle = format!("{method}(");
        let named = route.match_indices(&needle).any(|(at, _)| {
            let before = route[..at].chars().last();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        });
        if named {
            found.push(method);
        }
    }
    found
}

/// (method, path) of every route in the sources of `src/http/`.
fn routed() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for file in files {
        // Code only: comments (this file's doc, too) may show a route.
        let text: String = std::fs::read_to_string(&file)
            .expect("a source file")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        for (at, _) in text.match_indices(".route(") {
            let route = call(&text, at + ".route".len());
            let path = route
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("a route without a path in {}", file.display()));
            let methods = methods(route);
            assert!(!methods.is_empty(), "{path}: no method found");
            for m in methods {
                routes.insert((m.to_owned(), path.to_owned()));
            }
        }
    }
    routes
}

/// (method, path) of every operation described.
fn described() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(super::document()).expect("serializes");
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

#[test]
fn every_route_of_the_router_is_described_and_nothing_else() {
    let routed = routed();
    let described = described();
    // The scan itself works: it finds routes of each router.
    for known in [
        "/api/orders",
        "/api/maintenance/{id}",
        "/api/console/stream",
    ] {
        assert!(routed.iter().any(|(_, p)| p == known), "{known} not found");
    }
    let missing: Vec<_> = routed.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "routes not in the description: {missing:?}; describe each on a stub in \
         src/http/openapi/api.rs (or console.rs) and list it in the paths of its mod.rs"
    );
    let extra: Vec<_> = described.difference(&routed).collect();
    assert!(extra.is_empty(), "described but not routed: {extra:?}");
}

#[test]
fn the_scan_reads_chained_methods_and_not_handler_names() {
    let route =
        r#"("/api/rules", get(crate::http::rules::get_rules).put(crate::http::rules::put_rules))"#;
    assert_eq!(methods(route), ["get", "put"]);
    let route = r#"("/api/events", axum::routing::post(crate::http::events::post_events))"#;
    assert_eq!(methods(route), ["post"]);
}

#[test]
fn every_operation_has_answers_and_says_how_it_is_authenticated() {
    let doc = serde_json::to_value(super::document()).expect("serializes");
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for name in ["bearer", "session", "csrf"] {
        assert!(schemes.contains_key(name), "{name}");
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path}: no answer");
            let security = op["security"].as_array();
            assert!(security.is_some(), "{method} {path}: no security");
            for requirement in security.unwrap() {
                for scheme in requirement.as_object().expect("a requirement").keys() {
                    assert!(schemes.contains_key(scheme), "{method} {path}: {scheme}");
                }
            }
        }
    }
}
