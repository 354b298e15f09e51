//! People who sign in, and the audit trail of what they do, on a real hub
//! on loopback: a test identity provider (a key made here, its discovery
//! document and JWKS served on loopback) signs a street officer in; an
//! expired token, a wrong audience and a wrong signature are refused with
//! a clear reason; a people file made by `tongguan users add` signs in by
//! password; a change with a session cookie needs its CSRF token; the audit
//! trail verifies with `tongguan audit verify` until one byte of it is
//! changed; HTTPS serves the console and the API.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{now_ms, point_in, smoke_and_fire, start_hub, start_hub_in, CAOYANG};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AUDIENCE: &str = "tongguan-putuo";
const ADMIN_TOKEN: &str = "a-long-admin-token-for-tests";

/// An answer: status, head (lower-cased header lines, for checks), the
/// head as sent, body.
struct Answer {
    status: u16,
    head: String,
    raw_head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The session cookie's `name=value` from Set-Cookie.
    fn cookie(&self) -> String {
        let line = self.set_cookie();
        line.split(';').next().unwrap().trim().to_owned()
    }

    fn set_cookie(&self) -> String {
        self.raw_head
            .lines()
            .find_map(|l| {
                l.get(..12)
                    .filter(|n| n.eq_ignore_ascii_case("set-cookie: "))
                    .map(|_| &l[12..])
            })
            .unwrap_or_else(|| panic!("no Set-Cookie in {}", self.head))
            .to_owned()
    }
}

/// One HTTP/1.1 request over plain TCP.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("HTTP connect");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head[9..12].parse().expect("status code"),
        head: head.to_lowercase(),
        raw_head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A test identity provider: an ECDSA P-256 key made here, its public
/// half as a JWKS, served with an OIDC discovery document on loopback.
struct Idp {
    key: Vec<u8>,
    issuer: String,
    _server: std::thread::JoinHandle<()>,
}

fn p256() -> (Vec<u8>, Value, String) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    assert_eq!(point.len(), 65, "an uncompressed point");
    let kid = "putuo-idp-1".to_owned();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    });
    (pkcs8.as_ref().to_vec(), jwk, kid)
}

impl Idp {
    /// Serves `/.well-known/openid-configuration` and `/jwks.json` on a
    /// loopback port, on a thread of its own (the hub fetches blocking).
    fn start() -> Idp {
        let (key, jwk, _) = p256();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let discovery =
            json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json") }).to_string();
        let jwks = json!({ "keys": [jwk] }).to_string();
        let server = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route(
                        "/.well-known/openid-configuration",
                        axum::routing::get(move || async move { discovery }),
                    )
                    .route(
                        "/jwks.json",
                        axum::routing::get(move || async move { jwks }),
                    );
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Ends with the test process.
                axum::serve(listener, app).await.unwrap();
            });
        });
        Idp {
            key,
            issuer,
            _server: server,
        }
    }

    /// The hub's [sso] table for this provider (by discovery).
    fn config(&self) -> String {
        format!(
            "[sso]\nissuer = {:?}\naudience = {AUDIENCE:?}\ndiscovery = true\nleeway = \"1s\"\njwks_refresh = \"0s\"\n",
            self.issuer
        )
    }

    fn token(&self, claims: Value) -> String {
        sign(&self.key, "putuo-idp-1", &claims)
    }

    /// A street officer of Caoyang Xincun's claims, expiring in `exp_s`.
    fn officer(&self, exp_s: i64) -> Value {
        json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": "u-1001",
            "preferred_username": "li.ming", "name": "李明",
            "role": ["staff", "street_officer"], "street": CAOYANG,
            "iat": now_ms() / 1000, "exp": now_ms() / 1000 + exp_s,
        })
    }
}

fn sign(pkcs8: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
    )
    .unwrap()
}

async fn sign_in_jwt(addr: SocketAddr, token: &str) -> Answer {
    request(
        addr,
        "POST",
        "/api/session",
        &[],
        &json!({ "token": token }).to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_street_officer_signs_in_with_the_identity_providers_token() {
    let idp = Idp::start();
    let hub = start_hub(&idp.config()).await;
    let addr = hub.admin_addr;

    let signed = sign_in_jwt(addr, &idp.token(idp.officer(600))).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    let me = signed.json();
    assert_eq!(me["name"], "li.ming");
    assert_eq!(me["display_name"], "李明");
    assert_eq!(me["role"], "street_officer");
    assert_eq!(me["scope"], CAOYANG);
    assert_eq!(me["via"], "sso");
    assert!(me["csrf_token"].as_str().is_some_and(|t| t.len() > 20));
    let set = signed.set_cookie().to_lowercase();
    assert!(
        set.contains("httponly") && set.contains("samesite=strict"),
        "{set}"
    );
    assert!(!set.contains("secure"), "plain HTTP: no Secure flag: {set}");

    // The cookie is who they are, for the session and for the console.
    let cookie = signed.cookie();
    let who = request(addr, "GET", "/api/session", &[("Cookie", &cookie)], "").await;
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(who.json()["display_name"], "李明");
    let console = request(
        addr,
        "GET",
        "/api/console/session",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert_eq!(console.json()["scope"], CAOYANG);
    // The token itself works as a bearer too, and a street officer may not
    // read every street's orders nor the audit trail.
    let bearer = format!("Bearer {}", idp.token(idp.officer(600)));
    let who = request(
        addr,
        "GET",
        "/api/session",
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(who.json()["name"], "li.ming");
    let audit = request(addr, "GET", "/api/audit", &[("Cookie", &cookie)], "").await;
    assert_eq!(audit.status, 403, "{}", audit.body);
    assert_eq!(audit.json()["reason"], "forbidden");
    assert!(
        audit.json()["error"].as_str().unwrap().contains("无权"),
        "{}",
        audit.body
    );
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_a_wrong_audience_and_a_wrong_signature_are_refused_with_a_reason() {
    let idp = Idp::start();
    let hub = start_hub(&idp.config()).await;
    let addr = hub.admin_addr;

    let expired = sign_in_jwt(addr, &idp.token(idp.officer(-60))).await;
    let mut other_audience = idp.officer(600);
    other_audience["aud"] = json!("another-system");
    let wrong_audience = sign_in_jwt(addr, &idp.token(other_audience)).await;
    // Signed by a key of the same name that the provider never published.
    let (forger, _, _) = p256();
    let forged = sign_in_jwt(addr, &sign(&forger, "putuo-idp-1", &idp.officer(600))).await;
    let (stranger, _, _) = p256();
    let unknown_key = sign_in_jwt(addr, &sign(&stranger, "not-published", &idp.officer(600))).await;
    let mut as_district = idp.officer(600);
    as_district["street"] = json!("district");
    let misfit = sign_in_jwt(addr, &idp.token(as_district)).await;

    for (answer, reason, english, chinese) in [
        (&expired, "expired", "expired", "过期"),
        (&wrong_audience, "wrong_audience", "wrong audience", "受众"),
        (&forged, "bad_signature", "bad signature", "签名无效"),
        (&unknown_key, "unknown_key", "not-published", "密钥未知"),
        (&misfit, "role_scope", "cannot be bound", "角色与辖区不符"),
    ] {
        let body = answer.json();
        assert!(
            matches!(answer.status, 401 | 403),
            "{reason}: {}",
            answer.body
        );
        assert_eq!(body["reason"], reason, "{}", answer.body);
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(english) && error.contains(chinese),
            "{reason}: {error}"
        );
        assert!(!answer.head.contains("set-cookie"), "{reason}: no session");
    }
    hub.shutdown(Duration::from_secs(5)).await;
}

/// `tongguan users add` with the password on standard input.
fn add_user(file: &Path, name: &str, display: &str, role: &str, scope: &str, password: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args([
            "users",
            "add",
            "--name",
            name,
            "--display-name",
            display,
            "--role",
            role,
            "--scope",
            scope,
        ])
        .arg("--file")
        .arg(file)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tongguan audit verify` on a data dir: success, and what it printed.
fn verify(data: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongguan"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn sign_in(addr: SocketAddr, name: &str, password: &str) -> Answer {
    let body = json!({ "name": name, "password": password }).to_string();
    request(addr, "POST", "/api/session", &[], &body).await
}

/// A people file with an administrator, a desk officer and a street
/// officer, and the config that names it (with an admin token, so reads
/// are guarded too).
fn people_config(dir: &Path) -> String {
    let file = dir.join("people.toml");
    add_user(
        &file,
        "wang.admin",
        "王管理",
        "admin",
        "district",
        "admin-password-1",
    );
    add_user(
        &file,
        "zhao.desk",
        "赵值班",
        "district_desk",
        "district",
        "desk-password-1",
    );
    add_user(
        &file,
        "li.ming",
        "李明",
        "street_officer",
        CAOYANG,
        "street-password-1",
    );
    format!(
        "[people]\nusers = {:?}\n[auth]\ndevelopment = true\nadmin_token = {ADMIN_TOKEN:?}\n[[auth.device]]\nname = \"d\"\ntoken = \"dev-device-token\"\n\
         [[auth.subscriber]]\nname = \"desk\"\nstreet = \"district\"\ntoken = \"dev-district-token\"\n",
        file.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_and_a_change_needs_the_sessions_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let hub = start_hub_in(dir, &config).await;
    let addr = hub.admin_addr;

    let wrong = sign_in(addr, "wang.admin", "not-the-password").await;
    assert_eq!(
        (wrong.status, wrong.json()["reason"].clone()),
        (401, json!("wrong_password"))
    );
    assert!(wrong.json()["error"].as_str().unwrap().contains("密码错误"));
    let nobody = sign_in(addr, "nobody", "whatever-password").await;
    assert_eq!(
        (nobody.status, nobody.json()["reason"].clone()),
        (401, json!("unknown_user"))
    );

    let admin = sign_in(addr, "wang.admin", "admin-password-1").await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    let me = admin.json();
    assert_eq!(
        (me["role"].as_str(), me["via"].as_str()),
        (Some("admin"), Some("password"))
    );
    let cookie = admin.cookie();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    let without = request(
        addr,
        "PUT",
        "/api/mode",
        &[("Cookie", &cookie)],
        "emergency",
    )
    .await;
    assert_eq!(without.status, 403, "{}", without.body);
    assert_eq!(without.json()["reason"], "csrf");
    let forged = request(
        addr,
        "PUT",
        "/api/mode",
        &[("Cookie", &cookie), ("X-CSRF-Token", "AAAA")],
        "emergency",
    )
    .await;
    assert_eq!(forged.json()["reason"], "csrf");
    let with = request(
        addr,
        "PUT",
        "/api/mode",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "emergency",
    )
    .await;
    assert_eq!(with.status, 200, "{}", with.body);
    assert_eq!(with.json()["mode"], "emergency");

    // A street officer may not change the hub nor read every order; the
    // admin token still works as before.
    let officer = sign_in(addr, "li.ming", "street-password-1").await;
    let (oc, ocsrf) = (
        officer.cookie(),
        officer.json()["csrf_token"].as_str().unwrap().to_owned(),
    );
    let refused = request(
        addr,
        "PUT",
        "/api/mode",
        &[("Cookie", &oc), ("X-CSRF-Token", &ocsrf)],
        "normal",
    )
    .await;
    assert_eq!(
        (refused.status, refused.json()["reason"].clone()),
        (403, json!("forbidden"))
    );
    let orders = request(addr, "GET", "/api/orders", &[("Cookie", &oc)], "").await;
    assert_eq!(orders.status, 403, "{}", orders.body);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let back = request(
        addr,
        "PUT",
        "/api/mode",
        &[("Authorization", &bearer)],
        "normal",
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.body);

    // Counted for the SREs.
    let scrape = request(addr, "GET", "/metrics", &[], "").await.body;
    let count = |name, labels| common::metric(&scrape, name, labels);
    assert_eq!(
        count("tongguan_sign_ins_total", "result=\"wrong_password\""),
        1.0
    );
    assert_eq!(
        count("tongguan_sign_ins_total", "result=\"unknown_user\""),
        1.0
    );
    assert_eq!(count("tongguan_sign_ins_total", "result=\"ok\""), 2.0);
    assert_eq!(count("tongguan_http_refused_total", "reason=\"csrf\""), 2.0);
    assert_eq!(
        count("tongguan_http_refused_total", "reason=\"forbidden\""),
        2.0
    );

    // Signing out ends the session (the cookie is cleared, and refused if
    // kept).
    let out = request(
        addr,
        "DELETE",
        "/api/session",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    )
    .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(
        out.set_cookie().to_lowercase().contains("max-age=0"),
        "{}",
        out.head
    );
    let after = request(addr, "GET", "/api/session", &[("Cookie", &cookie)], "").await;
    assert_eq!(
        (after.status, after.json()["reason"].clone()),
        (401, json!("signed_out"))
    );
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_has_every_step_and_verifies_until_one_byte_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = people_config(dir.path());
    let hub = start_hub_in(dir, &config).await;
    let addr = hub.admin_addr;

    // An order to read: a smoke sensor and a camera in Caoyang Xincun.
    let mut device = common::device(&hub).await;
    let ack = device
        .send_and_wait(&smoke_and_fire(7001, now_ms(), point_in(CAOYANG)))
        .await
        .unwrap();
    assert_eq!(ack.accepted, 2);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let mut order = String::new();
    for _ in 0..100 {
        let list = request(
            addr,
            "GET",
            "/api/orders",
            &[("Authorization", &bearer)],
            "",
        )
        .await
        .json();
        if let Some(id) = list["orders"][0]["id"].as_str() {
            order = id.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!order.is_empty(), "the fire made an order");

    let refused = sign_in(addr, "zhao.desk", "wrong-password").await;
    assert_eq!(refused.status, 401);
    let desk = sign_in(addr, "zhao.desk", "desk-password-1").await;
    let cookie = desk.cookie();
    let read = request(
        addr,
        "GET",
        &format!("/api/orders/{order}"),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let csrf = desk.json()["csrf_token"].as_str().unwrap().to_owned();
    let denied = request(
        addr,
        "PUT",
        "/api/mode",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "emergency",
    )
    .await;
    assert_eq!(denied.status, 403, "the desk does not change the mode");

    // Searchable by person, order and time; exported as CSV.
    let mine = request(
        addr,
        "GET",
        "/api/audit?person=zhao.desk",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let entries = mine.json()["entries"].as_array().unwrap().clone();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["refused", "read_order", "sign_in", "sign_in_refused"],
        "newest first"
    );
    assert_eq!(entries[1]["order"], order.as_str());
    assert_eq!(entries[3]["outcome"], "wrong_password");
    let of_order = request(
        addr,
        "GET",
        &format!("/api/audit?order={order}"),
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(of_order.json()["entries"].as_array().unwrap().len(), 1);
    let later = request(
        addr,
        "GET",
        &format!("/api/audit?from={}", now_ms() + 60_000),
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert!(later.json()["entries"].as_array().unwrap().is_empty());
    let bad = request(
        addr,
        "GET",
        "/api/audit?from=yesterday",
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let csv = request(
        addr,
        "GET",
        "/api/audit.csv?person=zhao.desk",
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(csv.head.contains("content-type: text/csv"), "{}", csv.head);
    assert!(
        csv.body.contains("seq,time,action,person")
            && csv.body.contains("read_order,zhao.desk,赵值班"),
        "{}",
        csv.body
    );

    let data = hub.dir.path().to_owned();
    let keep = hub.stop_keeping_data().await;
    let (ok, said) = verify(&data);
    assert!(ok, "{said}");
    assert!(said.contains(": 4 entries"), "{said}");
    assert!(said.contains("the chain holds"), "{said}");

    // One byte of the third entry changed (a letter of a name).
    let log = data.join("audit/audit.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let third = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    let at = third
        + bytes[third..]
            .windows(9)
            .position(|w| w == b"\"person\":")
            .unwrap()
        + 11;
    bytes[at] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();
    let (ok, said) = verify(&data);
    assert!(!ok, "a changed byte is found: {said}");
    assert!(
        said.contains("line 3") && said.contains("hash does not match"),
        "{said}"
    );

    // The last entries cut off are found through the head.
    bytes[at] ^= 0x20;
    let last = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    std::fs::write(&log, &bytes[..last]).unwrap();
    let (ok, said) = verify(&data);
    assert!(!ok && said.contains("removed"), "{said}");
    drop(keep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_console_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let people = people_config(dir.path());
    let config = format!(
        "[http]\ntls = true\nhsts_max_age = \"1d\"\nmonitoring_listen = \"127.0.0.1:0\"\n{people}"
    );
    let hub = start_hub_in(dir, &config).await;
    assert!(hub.https);
    let url = format!("https://127.0.0.1:{}", hub.admin_addr.port());
    let pem = hub.cert_pem.clone();
    let got = tokio::task::spawn_blocking(move || {
        let cert = ureq::tls::Certificate::from_pem(pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut page = agent.get(format!("{url}/console")).call().unwrap();
        let hsts = page
            .headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned());
        let html = page.body_mut().read_to_string().unwrap();
        let mut signed = agent
            .post(format!("{url}/api/session"))
            .header("Content-Type", "application/json")
            .send(r#"{"name":"li.ming","password":"street-password-1"}"#)
            .unwrap();
        let cookie = signed
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let me: Value = serde_json::from_str(&signed.body_mut().read_to_string().unwrap()).unwrap();
        let session = cookie.split(';').next().unwrap().to_owned();
        let mut orders = agent
            .get(format!("{url}/api/console/orders"))
            .header("Cookie", &session)
            .call()
            .unwrap();
        let orders_status = orders.status().as_u16();
        let orders: Value =
            serde_json::from_str(&orders.body_mut().read_to_string().unwrap()).unwrap();
        (hsts, html, cookie, me, orders_status, orders)
    })
    .await
    .unwrap();
    let (hsts, html, cookie, me, orders_status, orders) = got;
    assert_eq!(hsts.as_deref(), Some("max-age=86400"));
    assert!(
        html.contains("<html") || html.contains("<!DOCTYPE") || html.contains("<!doctype"),
        "{html}"
    );
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(me["name"], "li.ming");
    assert_eq!(orders_status, 200, "{orders}");
    assert!(orders["orders"].is_array(), "{orders}");

    // Scrapers without TLS have the plain monitoring port, and only that
    // on it.
    let plain = hub.monitoring_addr.expect("a monitoring port");
    let scrape = request(plain, "GET", "/metrics", &[], "").await;
    assert_eq!(scrape.status, 200);
    assert!(scrape.body.contains("tongguan_"), "{}", scrape.body);
    assert_eq!(
        request(plain, "GET", "/api/session", &[], "").await.status,
        404
    );

    // Plain HTTP on the HTTPS port gets no answer.
    let mut plain = tokio::net::TcpStream::connect(hub.admin_addr)
        .await
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut raw)).await;
    assert!(
        !String::from_utf8_lossy(&raw).contains("200 OK"),
        "no plain answer"
    );
    hub.shutdown(Duration::from_secs(5)).await;
}
