//! A subscriber session: one SUBSCRIBE (checked against the token's
//! scope), a SUBSCRIBED, then every order of the scope it has not
//! acknowledged (from the outbox), then live orders; ORDER_ACKs go to the
//! dispatcher, which records them durably.
//!
//! Catching up and going live never leave a gap: the session registers for
//! live frames first, then reads the outbox, and skips live frames it has
//! already sent (sequence numbers only grow). A session whose live queue
//! overflowed does the same again from where it was.

use crate::auth::tokens::Scope;
use crate::frame_io::read_frame;
use crate::quic::close::Close;
use crate::runtime::dispatch_thread::encode_order;
use crate::runtime::Shared;
use crate::wire::control::{parse_control, OrderAck, Subscribe, Subscribed, DISTRICT};
use crate::wire::frame::{encode_frame, FrameType};
use crate::wire::ErrorCode;
use rkyv::util::AlignedVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest control frame a subscriber may send.
const MAX_CONTROL_FRAME: u32 = 64 * 1024;

/// Orders read from the outbox per round trip to it.
const CATCH_UP_CHUNK: usize = 256;

/// Runs a subscriber session.
pub async fn run(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    scope: Scope,
    shared: &Arc<Shared>,
) -> Result<(), Close> {
    let mut buf = AlignedVec::new();
    let sub: Subscribe = match read_frame(&mut recv, MAX_CONTROL_FRAME, &mut buf).await? {
        Some(ty) => parse_control(ty, &buf)?,
        None => return Ok(()),
    };
    let wanted = if sub.street == DISTRICT {
        Scope::District
    } else {
        match shared.map.street_by_code(&sub.street) {
            Some(s) => Scope::Street(s),
            None => {
                return Err(Close::new(
                    ErrorCode::Forbidden,
                    format!("street {:?} is not on the region map", sub.street),
                ))
            }
        }
    };
    if scope != Scope::District && scope != wanted {
        return Err(Close::new(
            ErrorCode::Forbidden,
            format!("this token may not subscribe to {:?}", sub.street),
        ));
    }
    let scope_label = if wanted == Scope::District {
        "district"
    } else {
        "street"
    };
    let gauge = shared.metrics.subscribers.with_label_values(&[scope_label]);
    gauge.inc();
    let ok = Subscribed {
        street: sub.street.clone(),
        from_seq: sub.from_seq,
    };
    let json = serde_json::to_vec(&ok).expect("serializes");
    let result = async {
        write(&mut send, &encode_frame(FrameType::Subscribed, &json)).await?;
        let reader = read_acks(recv, scope, shared.clone());
        tokio::pin!(reader);
        let mut cursor = sub.from_seq;
        let store = shared.store.clone();
        let scope_name = sub.street.clone();
        let last = tokio::task::spawn_blocking(move || store.last_seq(&scope_name))
            .await
            .map_err(|e| Close::new(ErrorCode::Internal, e.to_string()))?
            .map_err(|e| Close::new(ErrorCode::Internal, e.to_string()))?;
        if cursor > last {
            // Ahead of the log (an outbox replaced?): start from the
            // beginning rather than skip what the log holds.
            tracing::warn!(
                from_seq = cursor,
                last,
                "from_seq is past the log; resuming from 0"
            );
            cursor = 0;
        }
        loop {
            let mut live = shared
                .subscribers
                .register(wanted, shared.config.limits.subscriber_queue_orders);
            let served = async {
                cursor = catch_up(&mut send, shared, &sub.street, cursor).await?;
                loop {
                    match live.rx.recv().await {
                        Some((seq, bytes)) if seq > cursor => {
                            write(&mut send, &bytes).await?;
                            cursor = seq;
                        }
                        Some(_) => {}
                        None if live.lagging.load(Ordering::Acquire) => return Ok(true),
                        None => return Ok(false),
                    }
                }
            };
            let outcome = tokio::select! {
                r = served => r,
                end = &mut reader => end.map(|()| false),
            };
            shared.subscribers.unregister(live.id);
            match outcome {
                Ok(true) => tracing::info!(
                    cursor,
                    "subscriber fell behind; catching up from the outbox"
                ),
                Ok(false) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
    .await;
    gauge.dec();
    result
}

/// Sends what the outbox holds for the scope after `cursor` and is not
/// acknowledged; returns the new cursor.
async fn catch_up(
    send: &mut quinn::SendStream,
    shared: &Arc<Shared>,
    scope: &str,
    mut cursor: u64,
) -> Result<u64, Close> {
    loop {
        let store = shared.store.clone();
        let scope_name = scope.to_owned();
        let chunk =
            tokio::task::spawn_blocking(move || store.backlog(&scope_name, cursor, CATCH_UP_CHUNK))
                .await
                .map_err(|e| Close::new(ErrorCode::Internal, e.to_string()))?
                .map_err(|e| Close::new(ErrorCode::Internal, e.to_string()))?;
        let done = chunk.len() < CATCH_UP_CHUNK;
        for (seq, record) in chunk {
            let mut order = record.order;
            order.seq = seq;
            write(send, &encode_order(&order)).await?;
            cursor = seq;
        }
        if done {
            return Ok(cursor);
        }
    }
}

async fn write(send: &mut quinn::SendStream, bytes: &[u8]) -> Result<(), Close> {
    send.write_all(bytes)
        .await
        .map_err(|e| Close::new(ErrorCode::NoError, e.to_string()))
}

/// Reads ORDER_ACK frames until the stream ends and hands them to the
/// dispatcher. Kept in its own future so a half-read frame is never
/// dropped by the select above.
async fn read_acks(
    mut recv: quinn::RecvStream,
    scope: Scope,
    shared: Arc<Shared>,
) -> Result<(), Close> {
    let mut buf = AlignedVec::new();
    loop {
        match read_frame(&mut recv, MAX_CONTROL_FRAME, &mut buf).await? {
            Some(ty) => {
                let ack: OrderAck = parse_control(ty, &buf)?;
                shared.runtime.submit_ack(ack, scope).await?;
            }
            None => return Ok(()),
        }
    }
}
