//! One QUIC connection from accept to close: the handshake (TLS and ALPN
//! are checked by rustls), the HELLO within its timeout, token checks, the
//! WELCOME, then the device or subscriber session. Any error closes this
//! connection only, with a protocol close code and a reason.

use crate::auth::tokens::Principal;
use crate::frame_io::read_frame;
use crate::quic::close::Close;
use crate::quic::ingest;
use crate::quic::subscribe;
use crate::runtime::Shared;
use crate::wire::control::{parse_control, Features, Hello, Role, Welcome};
use crate::wire::frame::{encode_frame, FrameType};
use crate::wire::ErrorCode;
use quinn::VarInt;
use rkyv::util::AlignedVec;
use std::sync::Arc;

/// Runs one incoming connection to its end.
pub async fn run(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    mut slot: crate::auth::admission::Slot,
) {
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
    };
    let span = tracing::info_span!("conn", peer = %conn.remote_address(), id = conn.stable_id());
    tracing::Instrument::instrument(
        async move {
            match serve(&conn, &shared, &mut slot).await {
                Ok(()) => {}
                Err(close) if close.code == ErrorCode::NoError => {
                    tracing::debug!(reason = %close.reason, "connection ended");
                }
                Err(close) => {
                    if close.code.is_rejection() {
                        shared.metrics.frame_rejected(close.code.name());
                    }
                    tracing::warn!(code = %close.code, reason = %close.reason, "closing connection");
                    conn.close(VarInt::from_u32(close.code.code()), close.reason.as_bytes());
                }
            }
        },
        span,
    )
    .await;
}

async fn serve(
    conn: &quinn::Connection,
    shared: &Arc<Shared>,
    slot: &mut crate::auth::admission::Slot,
) -> Result<(), Close> {
    let hello_timeout = shared.config.limits.hello_timeout;
    let first = tokio::time::timeout(hello_timeout, async {
        let (send, mut recv) = conn
            .accept_bi()
            .await
            .map_err(|e| Close::new(ErrorCode::NoError, e.to_string()))?;
        let mut buf = AlignedVec::new();
        // A HELLO is small: do not let a client make us read a megabyte
        // before it has said who it is.
        match read_frame(&mut recv, 64 * 1024, &mut buf).await? {
            Some(ty) => Ok((send, recv, parse_control::<Hello>(ty, &buf)?)),
            None => Err(Close::new(ErrorCode::NoError, "stream closed before HELLO")),
        }
    })
    .await;
    let (mut send, recv, hello) = match first {
        Ok(r) => r?,
        Err(_) => {
            return Err(Close::new(
                ErrorCode::HelloTimeout,
                format!("no HELLO within {hello_timeout:?}"),
            ))
        }
    };
    let principal = shared
        .auth
        .check(hello.role, &hello.token, &shared.map)
        .map_err(|e| Close::new(ErrorCode::AuthFailed, e.to_string()))?;
    if matches!(principal, Principal::Device(_))
        && shared.config.hub.require_device_certificate
        && conn.peer_identity().is_none()
    {
        return Err(Close::new(
            ErrorCode::AuthFailed,
            "this hub requires devices to present a certificate signed by its client CA",
        ));
    }
    let key = match &principal {
        Principal::Device(name) => format!("device:{name}"),
        Principal::Subscriber { name, .. } => format!("subscriber:{name}"),
    };
    if !shared.admission.charge(slot, &key) {
        shared
            .metrics
            .admission_refused
            .with_label_values(&["token_connections"])
            .inc();
        return Err(Close::new(
            ErrorCode::TooManyConnections,
            format!(
                "this token already holds {} connections (limits.max_connections_per_token)",
                shared.config.limits.max_connections_per_token
            ),
        ));
    }
    let limits = &shared.config.limits;
    // What the client asked for that this hub has for its role; WELCOME
    // names it (and nothing when nothing is granted).
    let features = Features::grant(hello.role, &hello.features);
    let streets = match &principal {
        Principal::Device(_) => Vec::new(),
        Principal::Subscriber { scope, .. } => vec![scope.name(&shared.map)],
    };
    let welcome = Welcome {
        hub: format!("tongguan/{}", env!("CARGO_PKG_VERSION")),
        max_frame_bytes: limits.max_frame_bytes,
        max_batch_events: limits.max_batch_events,
        streets,
        features: features.names(),
    };
    let json = serde_json::to_vec(&welcome).expect("welcome serializes");
    send.write_all(&encode_frame(FrameType::Welcome, &json))
        .await
        .map_err(|e| Close::new(ErrorCode::NoError, e.to_string()))?;
    let role = match hello.role {
        Role::Device => "device",
        Role::Subscriber => "subscriber",
    };
    tracing::info!(role, client = %hello.client, features = ?welcome.features, "authenticated");
    shared.metrics.connection(role, 1);
    let result = match principal {
        Principal::Device(name) => {
            ingest::run(send, recv, shared, shared.admission.bucket(&name), features).await
        }
        Principal::Subscriber { scope, .. } => {
            subscribe::run(send, recv, scope, shared, features).await
        }
    };
    shared.metrics.connection(role, -1);
    result
}
