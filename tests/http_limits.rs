//! The HTTP port cannot be held open: half-sent request heads are closed
//! after `limits.http_header_timeout`, a body that does not arrive gets 408
//! after `limits.http_body_timeout`, connections past
//! `limits.max_http_connections` are counted and still answered on
//! `/healthz` and `/readyz`, and shutdown closes what is open. Real sockets
//! on 127.0.0.1; every loop is bounded in count and time.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";

/// Raises this process's soft limit of open files towards `want` (never
/// past the hard limit); returns the soft limit now in force. (Linux, where
/// `rlim_t` is a u64.)
fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `lim`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// File descriptors this process holds (the hub's and the clients').
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// GET `path` within `secs` seconds: the status, or `None` if there was no
/// answer (refused, closed, or too slow).
async fn get_within(addr: SocketAddr, path: &str, secs: u64) -> Option<(u16, String)> {
    tokio::time::timeout(Duration::from_secs(secs), async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.get(9..12)?.parse().ok()?;
        Some((status, text))
    })
    .await
    .ok()
    .flatten()
}

/// Waits until the hub closes `s` (EOF or reset; whatever it sends first
/// is read and dropped), at most `bound`; returns when, or `None`.
async fn closed_within(mut s: TcpStream, bound: Duration) -> Option<Instant> {
    tokio::time::timeout(bound, async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// A metric of the hub's scrape, answered even past the connection cap.
async fn scrape(addr: SocketAddr, name: &str) -> f64 {
    let (status, text) = get_within(addr, "/metrics", 5)
        .await
        .expect("/metrics answers");
    assert_eq!(status, 200, "{text}");
    metric(&text, name, "")
}

/// Polls /healthz every 100 ms until `done`; returns (polls, failures).
async fn poll_health(
    addr: SocketAddr,
    done: tokio::sync::watch::Receiver<bool>,
) -> (u32, Vec<String>) {
    let (mut polls, mut failures) = (0, Vec::new());
    // At most 300 polls (30 s): the test's own bound.
    while !*done.borrow() && polls < 300 {
        polls += 1;
        match get_within(addr, "/healthz", 1).await {
            Some((200, _)) => {}
            other => failures.push(format!("poll {polls}: {other:?}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (polls, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_half_sent_requests_are_closed_within_the_header_timeout() {
    const WANTED: usize = 2000;
    let header_timeout = Duration::from_secs(1);
    // Each connection costs two descriptors here: the client's and the hub's.
    let soft = raise_fd_limit(2 * WANTED as u64 + 1024);
    let n = WANTED.min((soft as usize).saturating_sub(512) / 2);
    if n < WANTED {
        println!("note: the open-file limit is {soft}: {n} connections instead of {WANTED}");
    }
    assert!(
        n >= 200,
        "the open-file limit ({soft}) is too low for this test"
    );
    // The cap above the test's connections: this test is about the timeout.
    let hub =
        start_hub("[limits]\nmax_http_connections = 4096\nhttp_header_timeout = \"1s\"\n").await;
    let addr = hub.admin_addr;
    let fds_before = fd_count();

    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let health = tokio::spawn(poll_health(addr, done_rx));

    let started = Instant::now();
    let mut waits = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connection {i}: connect timed out"))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        s.write_all(HALF_SENT).await.expect("half a request head");
        let sent = Instant::now();
        waits.spawn(async move {
            let closed = closed_within(s, header_timeout + Duration::from_secs(5)).await;
            (sent, closed)
        });
    }
    let opened = started.elapsed();
    let fds_held = fd_count();

    let (mut longest, mut shortest, mut last_close) = (Duration::ZERO, Duration::MAX, started);
    // (shortest stays MAX and last_close `started` if none closed: the assertions say so.)
    let mut open = 0;
    while let Some(joined) = waits.join_next().await {
        match joined.expect("reader task") {
            (sent, Some(at)) => {
                longest = longest.max(at - sent);
                shortest = shortest.min(at - sent);
                last_close = last_close.max(at);
            }
            (_, None) => open += 1,
        }
    }
    let all_closed = last_close - started;
    // The hub's side has gone too: its descriptors are given back.
    let mut fds_after = fd_count();
    for _ in 0..50 {
        if fds_after <= fds_before + 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = fd_count();
    }
    done_tx.send_replace(true);
    let (polls, failures) = health.await.expect("health poller");
    println!(
        "{n} half-sent requests: opened in {opened:?}; each closed {shortest:?}..{longest:?} after \
         it was sent, the last {all_closed:?} after the first was opened; descriptors of this \
         process {fds_before} before, {fds_held} held, {fds_after} after; /healthz polled \
         {polls} times, {} failures",
        failures.len()
    );
    assert_eq!(
        open, 0,
        "{open} of {n} connections still open 6 s after they were sent"
    );
    assert!(
        shortest >= Duration::from_millis(800),
        "a connection closed after {shortest:?}: before the header timeout"
    );
    assert!(
        longest <= header_timeout + Duration::from_secs(2),
        "a connection was held {longest:?} (header timeout {header_timeout:?})"
    );
    assert!(
        fds_after <= fds_before + 16,
        "descriptors: {fds_before} before, {fds_after} after"
    );
    assert!(polls >= 5, "only {polls} health polls");
    assert!(failures.is_empty(), "/healthz failed: {failures:?}");
    assert_eq!(scrape(addr, "tongguan_http_connections").await, 1.0);
    assert_eq!(
        scrape(addr, "tongguan_http_connections_refused_total").await,
        0.0
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_health_is_answered_and_refusals_are_counted() {
    let hub =
        start_hub("[limits]\nmax_http_connections = 50\nhttp_header_timeout = \"30s\"\n").await;
    let addr = hub.admin_addr;
    // 50 idle connections hold every slot.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // The scrape comes after them, so it is served past the cap.
    let mut held = 0.0;
    for _ in 0..50 {
        held = scrape(addr, "tongguan_http_connections").await;
        if held == 50.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held, 50.0, "50 idle connections hold the slots");
    let refused_before = scrape(addr, "tongguan_http_connections_refused_total").await;
    assert!(
        refused_before >= 1.0,
        "the scrapes past the cap are counted"
    );

    for i in 0..20 {
        let (status, text) = get_within(addr, "/healthz", 2)
            .await
            .unwrap_or_else(|| panic!("/healthz {i}: no answer at the cap"));
        assert_eq!(status, 200, "{text}");
        assert!(text.ends_with("ok\n"), "{text}");
        let (status, text) = get_within(addr, "/readyz", 2)
            .await
            .unwrap_or_else(|| panic!("/readyz {i}: no answer at the cap"));
        assert_eq!(status, 200, "{text}");
    }
    let (status, text) = get_within(addr, "/api/rules", 2)
        .await
        .expect("an answer past the cap");
    assert_eq!(status, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    let refused = scrape(addr, "tongguan_http_connections_refused_total").await;
    assert!(
        refused >= refused_before + 42.0,
        "refused {refused_before} then {refused}"
    );
    // The idle connections were not disturbed.
    for s in &idle {
        let mut buf = [0u8; 1];
        assert!(
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle connection under the cap was closed"
        );
    }

    // Past the reserve too: 100 half-sent heads past the cap are closed,
    // the reserve's within its short head timeout, the rest at once.
    let started = Instant::now();
    let mut waits = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let _ = s.write_all(HALF_SENT).await;
        waits.spawn(closed_within(s, Duration::from_secs(5)));
    }
    let mut last = started;
    while let Some(closed) = waits.join_next().await {
        last = last.max(closed.expect("reader").expect("closed within 5 s"));
    }
    println!(
        "100 half-sent heads past the cap closed within {:?}",
        last - started
    );
    assert!(
        last - started <= Duration::from_secs(3),
        "{:?}",
        last - started
    );
    let (status, _) = get_within(addr, "/healthz", 2)
        .await
        .expect("/healthz answers once the reserve is free");
    assert_eq!(status, 200);

    // Slots freed: everything is served again.
    drop(idle);
    let mut status = 0;
    for _ in 0..50 {
        status = get_within(addr, "/api/rules", 2).await.map_or(0, |x| x.0);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "GET /api/rules once the idle connections closed"
    );
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_does_not_arrive_is_answered_408() {
    let hub = start_hub("[limits]\nhttp_body_timeout = \"1s\"\n").await;
    let addr = hub.admin_addr;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"PUT /api/mode HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nemer")
        .await
        .unwrap();
    let sent = Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .expect("answered and closed within 5 s")
        .expect("read");
    let took = sent.elapsed();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(3)).contains(&took),
        "answered after {took:?}"
    );
    assert_eq!(scrape(addr, "tongguan_http_body_timeouts_total").await, 1.0);
    let (status, body) = http_get(addr, "/api/mode").await;
    assert_eq!(status, 200);
    assert!(body.contains("normal"), "the mode did not change: {body}");
    hub.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_ends_streams_and_closes_the_port() {
    let hub = start_hub("").await;
    let addr = hub.admin_addr;
    // An idle keep-alive connection, after one request.
    let mut keep = TcpStream::connect(addr).await.unwrap();
    keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = keep.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The console's event stream, which never ends by itself.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /api/console/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DISTRICT_TOKEN}\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A request in flight: its head and half its body.
    let mut put = TcpStream::connect(addr).await.unwrap();
    put.write_all(b"PUT /api/mode HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nemer")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let grace = Duration::from_secs(2);
    let stopping = tokio::spawn(hub.hub.shutdown(grace));
    tokio::time::sleep(Duration::from_millis(200)).await;
    put.write_all(b"gency").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), put.read_to_end(&mut answer))
        .await
        .expect("the request in flight is answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the event stream ends")
        .unwrap();
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "the stream ends with its last chunk: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        closed_within(keep, Duration::from_secs(5)).await.is_some(),
        "the idle connection is closed"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown returns")
        .unwrap();
    let took = started.elapsed();
    println!("shutdown with an idle connection, an event stream and a request in flight: {took:?}");
    assert!(
        took < grace,
        "shutdown took {took:?}: the HTTP connections held it"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the HTTP port is closed after shutdown"
    );
}
