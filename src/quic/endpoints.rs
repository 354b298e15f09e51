//! The hub's QUIC endpoints: `hub.endpoints` UDP sockets bound to the same
//! address with SO_REUSEPORT, each with its own quinn endpoint, its accept
//! loop and its sessions on a thread of its own (a current-thread tokio
//! runtime), so that receiving and decrypting is not bound to one core's
//! endpoint task. All of them share the shards, the dispatcher and the
//! admission count through [`Shared`].
//!
//! The kernel hands each datagram to a socket by a hash of its addresses,
//! so a connection stays on the endpoint that accepted it while the
//! client's address stays the same; a client whose address changes (a NAT
//! rebinding) reaches another endpoint, which does not know its connection
//! and resets it, and the client connects again (our clients do).

use crate::quic::accept;
use crate::runtime::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The endpoints, running.
pub struct Endpoints {
    endpoints: Vec<quinn::Endpoint>,
    addr: SocketAddr,
    /// With one endpoint: none, it runs on the hub's own runtime.
    threads: Vec<std::thread::JoinHandle<()>>,
    accept_tx: Vec<tokio::sync::oneshot::Sender<Arc<Shared>>>,
    /// With one endpoint: its accept loop, once serving.
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl Endpoints {
    /// Binds `count` endpoints (at least one) to `addr` with `server`. With
    /// port 0 the first picks a port and the others share it.
    pub fn bind(
        server: quinn::ServerConfig,
        addr: SocketAddr,
        count: usize,
    ) -> std::io::Result<Endpoints> {
        if count <= 1 {
            // As the hub always ran: one endpoint, on the hub's runtime.
            let endpoint = quinn::Endpoint::server(server, addr)?;
            return Ok(Endpoints {
                addr: endpoint.local_addr()?,
                endpoints: vec![endpoint],
                threads: Vec::new(),
                accept_tx: Vec::new(),
                accept: None,
            });
        }
        let mut endpoints = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        let mut accept_tx = Vec::with_capacity(count);
        let mut bound = addr;
        for i in 0..count {
            let socket = reuse_port_socket(bound, count > 1)?;
            bound = socket.local_addr()?;
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (shared_tx, shared_rx) = tokio::sync::oneshot::channel();
            let server = server.clone();
            let thread = std::thread::Builder::new()
                .name(format!("quic-{i}"))
                .spawn(move || run_endpoint(i, socket, server, ready_tx, shared_rx))?;
            let endpoint = ready_rx
                .recv()
                .map_err(|_| std::io::Error::other("the endpoint thread ended at start"))??;
            endpoints.push(endpoint);
            threads.push(thread);
            accept_tx.push(shared_tx);
        }
        Ok(Endpoints {
            endpoints,
            addr: bound,
            threads,
            accept_tx,
            accept: None,
        })
    }

    /// The address they listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many there are (at least one).
    pub fn count(&self) -> usize {
        self.endpoints.len()
    }

    /// Starts accepting connections on every endpoint.
    pub fn serve(&mut self, shared: &Arc<Shared>) {
        if self.threads.is_empty() {
            let endpoint = self.endpoints[0].clone();
            self.accept = Some(tokio::spawn(accept::serve(endpoint, 0, shared.clone())));
        }
        for tx in self.accept_tx.drain(..) {
            let _ = tx.send(shared.clone());
        }
    }

    /// Refuses new connections and closes the open ones with `code`, then
    /// waits (at most `grace`) for them to be gone and the threads to end.
    pub async fn close(mut self, code: u32, reason: &[u8], grace: Duration) {
        self.close_now(code, reason);
        let idle = futures_util::future::join_all(self.endpoints.iter().map(|e| e.wait_idle()));
        let _ = tokio::time::timeout(grace, idle).await;
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        let _ = tokio::time::timeout(grace, joined).await;
    }

    fn close_now(&mut self, code: u32, reason: &[u8]) {
        self.accept_tx.clear();
        for e in &self.endpoints {
            e.set_server_config(None);
            e.close(quinn::VarInt::from_u32(code), reason);
        }
    }
}

impl Drop for Endpoints {
    /// A hub dropped without a shutdown still lets go of its sockets and
    /// threads (and, through them, of its outbox).
    fn drop(&mut self) {
        self.close_now(0, b"");
        if let Some(a) = self.accept.take() {
            a.abort();
        }
    }
}

/// One endpoint's thread: its runtime, its endpoint, then its accept loop
/// once the hub is ready to serve (or nothing, if it never is).
fn run_endpoint(
    index: usize,
    socket: std::net::UdpSocket,
    server: quinn::ServerConfig,
    ready: std::sync::mpsc::Sender<std::io::Result<quinn::Endpoint>>,
    shared: tokio::sync::oneshot::Receiver<Arc<Shared>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    rt.block_on(async move {
        let runtime = Arc::new(quinn::TokioRuntime);
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            runtime,
        );
        let endpoint = match endpoint {
            Ok(e) => e,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(endpoint.clone()));
        if let Ok(shared) = shared.await {
            accept::serve(endpoint.clone(), index, shared).await;
        }
        endpoint.wait_idle().await;
    });
}

/// A UDP socket bound to `addr`, with SO_REUSEPORT when others share it.
fn reuse_port_socket(addr: SocketAddr, reuse: bool) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    #[cfg(unix)]
    if reuse {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The default number of endpoints: one per core, at most the shards.
pub fn default_count(shards: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(shards).max(1)
}
