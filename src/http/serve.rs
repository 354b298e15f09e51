//! The HTTP port itself: an accept loop that serves each TCP connection
//! with hyper's HTTP/1 (the router answers), bounded so that no client can
//! hold the port open.
//!
//! - A request head must arrive whole within `limits.http_header_timeout`,
//!   which is also how long an idle keep-alive connection stays open.
//! - A request body must arrive whole within `limits.http_body_timeout` of
//!   its head: past it the request is answered 408 and the connection
//!   closes (`tongguan_http_body_timeouts_total`).
//! - At most `limits.max_http_connections` connections are served at once
//!   (`tongguan_http_connections`). A connection past the cap is counted
//!   (`tongguan_http_connections_refused_total`) and, while fewer than
//!   [`RESERVE`] such connections are open, read once: within at most
//!   [`RESERVE_HEAD_TIMEOUT`], one request, `/healthz`, `/readyz` and
//!   `/metrics` answered, anything else 503 with `Retry-After`, then closed.
//!   Past the reserve too it is closed at once.
//!
//! - With HTTPS on (`[http] tls`, see [`Https`]) every connection first
//!   completes a TLS handshake, within the header timeout (the reserve's
//!   too), and every answer carries `Strict-Transport-Security`.
//!
//! [`HttpServer::stop`] stops accepting, lets requests in flight finish
//! (event streams end), closes idle connections, and waits for them within
//! the grace period it is given.

use crate::metrics::Metrics;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::{Body as _, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Connections past the cap that are still read for a health check.
pub const RESERVE: usize = 64;
/// The longest a connection past the cap may take to send its request
/// head (or `limits.http_header_timeout`, if shorter).
pub const RESERVE_HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a connection past the cap stays open, answer included.
const RESERVE_LIFETIME: Duration = Duration::from_secs(2);
/// Paths answered on a connection past the cap.
const ANSWERED_PAST_CAP: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// What bounds the HTTP port (from `[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a request head may take to arrive (and an idle keep-alive
    /// connection may stay).
    pub header_timeout: Duration,
    /// Time a request body may take to arrive after its head.
    pub body_timeout: Duration,
}

impl From<&crate::config::Limits> for HttpLimits {
    fn from(l: &crate::config::Limits) -> HttpLimits {
        HttpLimits {
            max_connections: l.max_http_connections,
            header_timeout: l.http_header_timeout,
            body_timeout: l.http_body_timeout,
        }
    }
}

/// HTTPS on the port: the TLS config and how long browsers are told to
/// keep to HTTPS (zero: no HSTS header).
#[derive(Clone)]
pub struct Https {
    /// The server's TLS config (see [`crate::tls::https_config`]).
    pub config: Arc<rustls::ServerConfig>,
    /// `Strict-Transport-Security: max-age`.
    pub hsts_max_age: Duration,
}

/// The running HTTP server.
pub struct HttpServer {
    stop: watch::Sender<Option<Instant>>,
    accept: tokio::task::JoinHandle<()>,
    slots: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    max_connections: usize,
}

/// What every connection of the server shares.
struct Ctx {
    router: Router,
    metrics: Arc<Metrics>,
    limits: HttpLimits,
    /// The TLS handshake of each connection, with HTTPS on.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The HSTS header of every answer, with HTTPS on.
    hsts: Option<HeaderValue>,
    /// `Some(deadline)` once the server stops: connections finish by then.
    stop: watch::Receiver<Option<Instant>>,
}

impl HttpServer {
    /// Serves `router` on `listener` within `limits`, over TLS when `https`
    /// is given. Must run inside a tokio runtime.
    pub fn spawn(
        listener: TcpListener,
        router: Router,
        metrics: Arc<Metrics>,
        limits: HttpLimits,
        https: Option<Https>,
    ) -> HttpServer {
        let (stop, stop_rx) = watch::channel(None);
        let hsts = https
            .as_ref()
            .filter(|h| !h.hsts_max_age.is_zero())
            .map(|h| {
                let value = format!("max-age={}", h.hsts_max_age.as_secs());
                HeaderValue::from_str(&value).expect("digits are a header value")
            });
        let tls = https.map(|h| tokio_rustls::TlsAcceptor::from(h.config));
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let reserve = Arc::new(Semaphore::new(RESERVE));
        let ctx = Arc::new(Ctx {
            router,
            metrics,
            limits,
            tls,
            hsts,
            stop: stop_rx,
        });
        let accept = tokio::spawn(accept_loop(listener, ctx, slots.clone(), reserve.clone()));
        HttpServer {
            stop,
            accept,
            slots,
            reserve,
            max_connections: limits.max_connections,
        }
    }

    /// Stops: no new connection is accepted (the port closes), requests in
    /// flight may finish and event streams end, idle connections close;
    /// whatever is still open after `grace` is closed.
    pub async fn stop(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.stop.send_replace(Some(deadline));
        let _ = self.accept.await;
        let slots = self.slots.clone();
        let closed = async {
            let _ = self.slots.acquire_many(self.max_connections as u32).await;
            let _ = self.reserve.acquire_many(RESERVE as u32).await;
        };
        // Connections close themselves at the deadline; allow them a moment.
        let bound = deadline.max(Instant::now() + RESERVE_LIFETIME) + Duration::from_millis(200);
        if tokio::time::timeout_at(bound, closed).await.is_err() {
            tracing::warn!(
                open = self.max_connections - slots.available_permits(),
                "HTTP connections still open after the grace period"
            );
        }
    }
}

/// Resolves to the deadline once the server stops (now if it is gone).
async fn stopping(stop: &mut watch::Receiver<Option<Instant>>) -> Instant {
    match stop.wait_for(Option::is_some).await {
        Ok(deadline) => deadline.unwrap_or_else(Instant::now),
        Err(_) => Instant::now(),
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    slots: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
) {
    let mut stop = ctx.stop.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopping(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            tokio::spawn(serve_connection(ctx.clone(), stream, slot));
            continue;
        }
        ctx.metrics.http_connections_refused.inc();
        match reserve.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(serve_past_cap(ctx.clone(), stream, slot));
            }
            // Past the reserve too: closed at once.
            Err(_) => drop(stream),
        }
    }
}

/// An accept error: the peer gave up (ignored), or the process is out of
/// file descriptors or memory (logged; wait a moment for some to free).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "HTTP port: cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// The TLS handshake of a connection, within `limit`; `None` if it
/// failed or took too long (the peer's business: logged at debug).
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTPS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Serves a connection that holds a slot, until it closes or times out,
/// or the server stops.
async fn serve_connection(ctx: Arc<Ctx>, stream: TcpStream, slot: OwnedSemaphorePermit) {
    ctx.metrics.http_connections.inc();
    match &ctx.tls {
        Some(acceptor) => {
            if let Some(tls) = handshake(acceptor, stream, ctx.limits.header_timeout).await {
                serve_io(&ctx, tls).await;
            }
        }
        None => serve_io(&ctx, stream).await,
    }
    ctx.metrics.http_connections.dec();
    drop(slot);
}

/// Serves one connection's bytes (plain or TLS) until it closes or times
/// out, or the server stops.
async fn serve_io<I>(ctx: &Arc<Ctx>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.limits.header_timeout);
    let service = Service {
        ctx: ctx.clone(),
        past_cap: false,
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut stop = ctx.stop.clone();
    let ended = tokio::select! {
        ended = conn.as_mut() => Some(ended),
        deadline = stopping(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout_at(deadline, conn.as_mut()).await.ok()
        }
    };
    if let Some(Err(e)) = ended {
        // Header timeouts, resets, broken requests: the peer's business.
        tracing::debug!(error = %e, "HTTP connection ended");
    }
}

/// Serves one request of a connection past the cap, briefly.
async fn serve_past_cap(ctx: Arc<Ctx>, stream: TcpStream, slot: OwnedSemaphorePermit) {
    let head = ctx.limits.header_timeout.min(RESERVE_HEAD_TIMEOUT);
    let _ = tokio::time::timeout(RESERVE_LIFETIME, async {
        match &ctx.tls {
            Some(acceptor) => {
                if let Some(tls) = handshake(acceptor, stream, head).await {
                    serve_one(&ctx, tls).await;
                }
            }
            None => serve_one(&ctx, stream).await,
        }
    })
    .await;
    drop(slot);
}

/// Serves one request of a connection past the cap.
async fn serve_one<I>(ctx: &Arc<Ctx>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(false)
        .header_read_timeout(ctx.limits.header_timeout.min(RESERVE_HEAD_TIMEOUT));
    let service = Service {
        ctx: ctx.clone(),
        past_cap: true,
    };
    let _ = builder.serve_connection(TokioIo::new(io), service).await;
}

/// The hyper service of one connection: the router, with the body
/// deadline on the way in and the stop on the way out.
#[derive(Clone)]
struct Service {
    ctx: Arc<Ctx>,
    past_cap: bool,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        use tower_service::Service as _;
        if self.past_cap && !ANSWERED_PAST_CAP.contains(&req.uri().path()) {
            let busy = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1"), (header::CONNECTION, "close")],
                "the hub serves as many HTTP connections as it may \
                 (limits.max_http_connections): try again later\n",
            );
            return Box::pin(std::future::ready(Ok(busy.into_response())));
        }
        let mut router = self.ctx.router.clone();
        let expired = Arc::new(AtomicBool::new(false));
        let answer = if req.body().is_end_stream() {
            router.call(req.map(Body::new))
        } else {
            let limit = self.ctx.limits.body_timeout;
            let (metrics, flag) = (self.ctx.metrics.clone(), expired.clone());
            router.call(req.map(|body| BodyDeadline::new(body, limit, flag, metrics)))
        };
        let stop = (!self.past_cap).then(|| self.ctx.stop.clone());
        let hsts = self.ctx.hsts.clone();
        Box::pin(async move {
            let mut response = match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if let Some(hsts) = hsts {
                response
                    .headers_mut()
                    .insert(header::STRICT_TRANSPORT_SECURITY, hsts);
            }
            if expired.load(Ordering::Relaxed) {
                let late = (
                    StatusCode::REQUEST_TIMEOUT,
                    [(header::CONNECTION, "close")],
                    "the request body did not arrive within limits.http_body_timeout\n",
                );
                return Ok(late.into_response());
            }
            match stop {
                // A stream (no known length, the console's events) ends
                // when the server stops, so the connection can close.
                Some(stop) if response.body().size_hint().exact().is_none() => {
                    Ok(response.map(|body| Body::new(UntilStop::new(body, stop))))
                }
                _ => Ok(response),
            }
        })
    }
}

/// A request body that fails once `limits.http_body_timeout` has passed
/// since its head arrived.
struct BodyDeadline {
    /// `None` once the deadline passed.
    body: Option<Incoming>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl BodyDeadline {
    fn new(
        body: Incoming,
        limit: Duration,
        expired: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
    ) -> BodyDeadline {
        BodyDeadline {
            body: Some(body),
            sleep: Box::pin(tokio::time::sleep(limit)),
            expired,
            metrics,
        }
    }
}

/// The error a late request body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within limits.http_body_timeout")]
struct BodyTimedOut;

impl hyper::body::Body for BodyDeadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            if !this.expired.swap(true, Ordering::Relaxed) {
                this.metrics.http_body_timeouts.inc();
            }
            this.body = None;
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body
            .as_ref()
            .is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), hyper::body::Body::size_hint)
    }
}

/// A response body that ends when the server stops.
struct UntilStop {
    body: Body,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl UntilStop {
    fn new(body: Body, mut stop: watch::Receiver<Option<Instant>>) -> UntilStop {
        UntilStop {
            body,
            stop: Box::pin(async move {
                stopping(&mut stop).await;
            }),
        }
    }
}

impl hyper::body::Body for UntilStop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
