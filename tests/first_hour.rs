//! The operator's first hour, through the real binary: `tongguan check` on
//! a config like deploy/tongguan.toml, `tongguan --config FILE` serving
//! without the word `serve`, `/` leading to the console, errors that name
//! each cause once without colour codes, and `tongguan demo` stopped with
//! Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tongguan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tongguan"));
    c.env_remove("TONGGUAN_CONFIG").env_remove("NO_COLOR");
    c
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

/// Waits for the child to exit, killing it (by its PID) after `secs`.
fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// deploy/tongguan.toml with its /etc/tongguan/ paths moved into `dir`.
fn deploy_like(dir: &Path) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/tongguan.toml"))
            .unwrap();
    assert!(
        text.contains("\"/etc/tongguan/"),
        "how deploy/ names its files"
    );
    text.replace("\"/etc/tongguan/", &format!("\"{}/", dir.display()))
}

/// The files deploy/tongguan.toml names, in `dir`.
fn install_files(dir: &Path) {
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    std::fs::write(
        dir.join("rules.toml"),
        tongguan::engine::rules::DEFAULT_RULES,
    )
    .unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/putuo-sample.geojson"),
        dir.join("putuo.geojson"),
    )
    .unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["tongguan.example".to_owned()]).unwrap();
    std::fs::write(dir.join("tls/hub.crt.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("tls/hub.key.pem"), ck.signing_key.serialize_pem()).unwrap();
}

/// Every placeholder token replaced by a long secret of its own, the video
/// boxes' by a token hash.
fn real_tokens(config: &str) -> String {
    let hash = tongguan::auth::TokenHash::make("the video boxes' secret");
    let mut out = String::new();
    for (i, line) in config.lines().enumerate() {
        let line = if line == "token = \"CHANGE-ME-device-video-analytics\"" {
            format!("token_hash = \"{hash}\"")
        } else if !line.starts_with('#') && line.contains("\"CHANGE-ME-") {
            let (key, _) = line.split_once('=').unwrap();
            format!("{key}= \"a-long-random-secret-number-{i:04}\"")
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn check(config: &Path) -> (bool, String, String) {
    let out = tongguan()
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_opens_every_file_and_refuses_placeholder_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    let config = dir.path().join("tongguan.toml");

    // As shipped, before installing anything: every missing file and every
    // placeholder is named, all in one run.
    std::fs::write(&config, deploy_like(&etc)).unwrap();
    let (ok, _, said) = check(&config);
    assert!(!ok, "{said}");
    for (field, file) in [
        ("hub.region_map", "putuo.geojson"),
        ("hub.rules", "rules.toml"),
        ("hub.cert", "hub.crt.pem"),
        ("hub.key", "hub.key.pem"),
    ] {
        assert!(
            said.lines()
                .any(|l| l.contains(field) && l.contains(file) && l.contains("No such file")),
            "{field}: {said}"
        );
    }
    assert!(
        said.contains(
            "auth.device[2] \"IoT sensing platform gateway, standby (物联感知平台 备)\": \
             token is a placeholder (CHANGE-ME...)"
        ),
        "{said}"
    );
    assert!(
        said.contains("auth.admin_token: token is a placeholder"),
        "{said}"
    );
    assert!(
        said.contains("auth.subscriber[11] \"桃浦镇 (Taopu Town)\": token is a placeholder"),
        "{said}"
    );

    // The files installed, the placeholders still there.
    install_files(&etc);
    let (ok, _, said) = check(&config);
    assert!(!ok);
    assert!(
        !said.contains("hub.rules") && !said.contains("hub.cert"),
        "{said}"
    );
    assert_eq!(
        said.lines().filter(|l| l.contains("placeholder")).count(),
        15,
        "the admin token, 3 devices, the desk and 10 streets: {said}"
    );

    // Real tokens (one of them a hash): ready.
    let real = real_tokens(&deploy_like(&etc));
    std::fs::write(&config, &real).unwrap();
    let (ok, stdout, said) = check(&config);
    assert!(ok, "{said}");
    assert!(stdout.trim_end().ends_with(": ok"), "{stdout}");

    // A short token is named too; a broken certificate names its file.
    let short = real.replacen(
        "\ntoken = \"a-long-random-secret-number-",
        "\ntoken = \"short-",
        1,
    );
    std::fs::write(&config, short).unwrap();
    let (ok, _, said) = check(&config);
    assert!(!ok);
    assert!(
        said.contains(
            "auth.device[1] \"IoT sensing platform gateway (物联感知平台)\": token has 10 characters"
        ),
        "{said}"
    );
    std::fs::write(&config, &real).unwrap();
    std::fs::write(etc.join("tls/hub.crt.pem"), "not a certificate\n").unwrap();
    let (ok, _, said) = check(&config);
    assert!(!ok);
    assert!(
        said.contains("hub.cert and hub.key") && said.contains("hub.crt.pem"),
        "{said}"
    );
}

/// A hub process and what it printed on stdout first.
struct Serving {
    child: Child,
    banner: String,
}

fn serve(args: &[&str], data: &Path) -> Serving {
    let mut child = tongguan()
        .args(args)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--shards",
            "1",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    Serving { child, banner }
}

/// Stops a hub with SIGTERM; returns its stderr.
fn stop(mut s: Serving) -> String {
    signal(&s.child, "TERM");
    let status = wait_exit(&mut s.child, 30);
    let mut err = String::new();
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    err
}

/// One GET; returns the whole response head and body.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

/// The address in `text` right after `before`, up to the next '/'.
fn address_after(text: &str, before: &str) -> SocketAddr {
    let rest = &text[text
        .find(before)
        .unwrap_or_else(|| panic!("{before}: {text}"))
        + before.len()..];
    rest.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn the_hub_serves_without_the_word_serve_and_leads_to_its_console() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tongguan.toml");
    std::fs::write(&config, "[engine]\nrepeat_interval = \"5m\"\n").unwrap();
    let hub = serve(
        &["--config", config.to_str().unwrap()],
        &dir.path().join("data"),
    );
    let banner = hub.banner.clone();
    assert!(
        banner.starts_with("tongguan serving: QUIC 127.0.0.1:"),
        "{banner}"
    );
    let http = address_after(&banner, "HTTP http://");
    assert_eq!(address_after(&banner, "console http://"), http, "{banner}");
    assert!(banner.trim_end().ends_with("/console"), "{banner}");

    let root = get(http, "/");
    let status = &root[9..12];
    assert!(status == "307" || status == "308", "{root}");
    assert!(
        root.lines()
            .any(|l| l.eq_ignore_ascii_case("location: /console")),
        "{root}"
    );
    assert!(get(http, "/console").starts_with("HTTP/1.1 200"));

    let logs = stop(hub);
    assert!(logs.contains("tongguan serving"), "{logs}");
    assert!(
        !logs.contains("\x1b["),
        "no colour codes into a pipe: {logs:?}"
    );

    // `serve` still works, and --color always colours even into a pipe.
    let hub = serve(
        &[
            "--color",
            "always",
            "serve",
            "--config",
            config.to_str().unwrap(),
        ],
        &dir.path().join("data"),
    );
    assert!(
        hub.banner.starts_with("tongguan serving:"),
        "{}",
        hub.banner
    );
    assert!(stop(hub).contains("\x1b["), "--color always");
}

#[test]
fn serve_options_before_a_subcommand_are_refused() {
    let out = tongguan()
        .args(["--config", "x.toml", "check", "--config", "y.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--config goes after the subcommand"),
        "{said}"
    );
}

#[test]
fn an_error_names_each_cause_once_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    for args in [
        vec!["--config"],
        vec!["serve", "--config"],
        vec!["check", "--config"],
    ] {
        let out = tongguan().args(&args).arg(&missing).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            said.matches("No such file or directory").count(),
            1,
            "{args:?}: {said}"
        );
        assert!(said.contains("nowhere.toml"), "{said}");
        assert!(!said.contains("Caused by"), "{said}");
        assert!(!said.contains("\x1b["), "{said:?}");
    }
}

/// Starts `tongguan demo` with `args` on ports the OS picks; returns the
/// child, its stdout lines and its banner.
fn demo(
    args: &[&str],
) -> (
    Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
    String,
) {
    let mut child = tongguan()
        .args(["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--rate", "400", "--incident-every", "500ms"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().expect("a banner").unwrap();
    (child, lines, banner)
}

fn data_dir_of(banner: &str) -> std::path::PathBuf {
    let rest = &banner[banner.find("outbox in ").expect(banner) + "outbox in ".len()..];
    let dir = rest
        .strip_suffix(" (removed at the end)")
        .expect("a temporary directory");
    dir.into()
}

#[test]
fn the_demo_runs_until_ctrl_c_then_sums_up_and_cleans_up() {
    let (mut child, lines, banner) = demo(&["--duration", "0", "--ack-after", "100ms..400ms"]);
    assert!(banner.starts_with("tongguan demo until Ctrl-C"), "{banner}");
    let dir = data_dir_of(&banner);
    assert!(dir.join("outbox.redb").exists(), "{}", dir.display());
    let console = address_after(&banner, "console http://");
    let lines = std::thread::spawn(move || lines.map(Result::unwrap).collect::<Vec<_>>());

    std::thread::sleep(Duration::from_secs(4));
    assert!(
        get(console, "/console").starts_with("HTTP/1.1 200"),
        "the console is up"
    );
    signal(&child, "INT");
    let status = wait_exit(&mut child, 30);
    let out = lines.join().unwrap();
    assert!(status.success(), "{status}: {out:#?}");
    let done = out
        .iter()
        .find(|l| l.starts_with("done: "))
        .unwrap_or_else(|| panic!("a summary: {out:#?}"));
    assert!(done.contains("the desk acknowledged"), "{done}");
    assert!(
        !done.contains("acknowledged 0;"),
        "some acks within 4 s: {done}"
    );
    assert!(!dir.exists(), "{} removed", dir.display());
}

#[test]
fn a_demo_of_fixed_duration_ends_by_itself_when_no_one_is_watching() {
    let (mut child, lines, banner) = demo(&["--duration", "2s"]);
    assert!(banner.starts_with("tongguan demo for 2s"), "{banner}");
    let dir = data_dir_of(&banner);
    let status = wait_exit(&mut child, 60);
    assert!(status.success(), "{status}");
    let out: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(out.iter().any(|l| l.starts_with("done: ")), "{out:#?}");
    assert!(
        !out.iter().any(|l| l.contains("stay up until Ctrl-C")),
        "{out:#?}"
    );
    assert!(!dir.exists());
}
