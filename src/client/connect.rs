//! Connecting and saying HELLO, shared by both kinds of client.

use crate::frame_io::read_frame;
use crate::tls::{self, Trust};
use crate::wire::control::{parse_control, Feature, Features, Hello, Role, Welcome};
use crate::wire::frame::{encode_frame, FrameType};
use crate::wire::ErrorCode;
use rkyv::util::AlignedVec;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The hub's QUIC address.
    pub hub: SocketAddr,
    /// Name the hub's certificate is checked against.
    pub server_name: String,
    /// What certificates to trust.
    pub trust: Trust,
    /// The token.
    pub token: String,
    /// Names this client in the hub's logs.
    pub client_name: String,
    /// A certificate to present (mutual TLS), if the hub asks for one.
    pub identity: Option<std::sync::Arc<crate::tls::Identity>>,
}

impl ClientOptions {
    /// Options for a hub on loopback in development: any certificate,
    /// the given token.
    pub fn dev(hub: SocketAddr, token: &str) -> ClientOptions {
        ClientOptions {
            hub,
            server_name: "localhost".into(),
            trust: Trust::AnyOnLoopback,
            token: token.into(),
            client_name: format!("tongguan-client/{}", env!("CARGO_PKG_VERSION")),
            identity: None,
        }
    }
}

/// What went wrong on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TLS or endpoint setup failed.
    #[error("cannot set up the client: {0}")]
    Setup(String),
    /// The connection could not be made.
    #[error("cannot connect to {hub}: {what}")]
    Connect {
        /// The hub.
        hub: SocketAddr,
        /// Why.
        what: String,
    },
    /// The hub closed the connection with a protocol code.
    #[error("hub closed the connection: {code:?}: {reason}")]
    Closed {
        /// The code, if it is one of the protocol's.
        code: Option<ErrorCode>,
        /// The hub's reason.
        reason: String,
    },
    /// The connection was lost another way (timeout, reset, ...).
    #[error("connection lost: {0}")]
    Lost(String),
    /// The hub sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The protocol close code, when the hub closed the connection.
    pub fn close_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Closed { code, .. } => *code,
            _ => None,
        }
    }
}

impl From<quinn::ConnectionError> for ClientError {
    fn from(e: quinn::ConnectionError) -> Self {
        match e {
            quinn::ConnectionError::ApplicationClosed(c) => ClientError::Closed {
                code: ErrorCode::from_code(c.error_code.into_inner()),
                reason: String::from_utf8_lossy(&c.reason).into_owned(),
            },
            other => ClientError::Lost(other.to_string()),
        }
    }
}

/// The error that best explains a failed stream operation: the
/// connection's close reason when there is one.
pub(crate) fn explain(conn: &quinn::Connection, fallback: impl ToString) -> ClientError {
    match conn.close_reason() {
        Some(e) => e.into(),
        None => ClientError::Lost(fallback.to_string()),
    }
}

/// An open, authenticated connection.
pub(crate) struct Session {
    pub endpoint: quinn::Endpoint,
    pub conn: quinn::Connection,
    pub send: quinn::SendStream,
    pub recv: quinn::RecvStream,
    pub welcome: Welcome,
    /// What WELCOME says the hub granted.
    pub granted: Features,
}

/// Connects, opens the stream, sends HELLO (asking for `features`) and
/// waits for WELCOME.
pub(crate) async fn open(
    opts: &ClientOptions,
    role: Role,
    features: &[Feature],
) -> Result<Session, ClientError> {
    let cfg = match &opts.identity {
        Some(id) => tls::client_config_with_identity(&opts.trust, opts.hub, id),
        None => tls::client_config(&opts.trust, opts.hub),
    }
    .map_err(|e| ClientError::Setup(e.to_string()))?;
    let bind: SocketAddr = if opts.hub.is_ipv6() {
        "[::]:0".parse().expect("addr")
    } else {
        "0.0.0.0:0".parse().expect("addr")
    };
    let mut endpoint =
        quinn::Endpoint::client(bind).map_err(|e| ClientError::Setup(e.to_string()))?;
    endpoint.set_default_client_config(cfg);
    let connect_err = |what: String| ClientError::Connect {
        hub: opts.hub,
        what,
    };
    let conn = endpoint
        .connect(opts.hub, &opts.server_name)
        .map_err(|e| connect_err(e.to_string()))?
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = Hello {
        role,
        token: opts.token.clone(),
        client: opts.client_name.clone(),
        features: features.iter().copied().collect::<Features>().names(),
    };
    let json = serde_json::to_vec(&hello).expect("hello serializes");
    send.write_all(&encode_frame(FrameType::Hello, &json))
        .await
        .map_err(|e| explain(&conn, e))?;
    let mut buf = AlignedVec::new();
    let welcome: Welcome = match read_frame(&mut recv, 64 * 1024, &mut buf).await {
        Ok(Some(ty)) => parse_control(ty, &buf).map_err(|e| ClientError::Protocol(e.chain()))?,
        Ok(None) => return Err(explain(&conn, "stream ended before WELCOME")),
        Err(e) => return Err(explain(&conn, e)),
    };
    let granted = Features::from_names(&welcome.features);
    Ok(Session {
        endpoint,
        conn,
        send,
        recv,
        welcome,
        granted,
    })
}

/// Reads frames in a task of its own and hands each, parsed by `parse`,
/// to the returned channel; the first error ends it. Keeping the read out
/// of the caller's futures makes the caller's `recv` cancel-safe.
pub(crate) fn spawn_reader<T: Send + 'static>(
    mut recv: quinn::RecvStream,
    conn: quinn::Connection,
    max_frame: u32,
    parse: fn(FrameType, &[u8]) -> Result<T, ClientError>,
) -> mpsc::UnboundedReceiver<Result<T, ClientError>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = AlignedVec::new();
        loop {
            let item = match read_frame(&mut recv, max_frame, &mut buf).await {
                Ok(Some(ty)) => parse(ty, &buf),
                Ok(None) => Err(explain(&conn, "stream ended")),
                Err(e) => Err(explain(&conn, e)),
            };
            let stop = item.is_err();
            if tx.send(item).is_err() || stop {
                break;
            }
        }
    });
    rx
}
