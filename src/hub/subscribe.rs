//! A subscriber session: one SUBSCRIBE (checked against the token's
//! scope), a SUBSCRIBED, then orders out of the subscriber's queue and
//! ORDER_ACKs in, until either side ends.

use super::auth::Scope;
use super::session::Close;
use super::Shared;
use crate::wire::control::{OrderAck, Subscribe, Subscribed, DISTRICT};
use crate::wire::frame::{encode_frame, read_frame, FrameType};
use crate::wire::ErrorCode;
use rkyv::util::AlignedVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest control frame a subscriber may send.
const MAX_CONTROL_FRAME: u32 = 64 * 1024;

/// Runs a subscriber session.
pub async fn run(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    scope: Scope,
    shared: &Arc<Shared>,
) -> Result<(), Close> {
    let mut buf = AlignedVec::new();
    let sub: Subscribe = match read_frame(&mut recv, MAX_CONTROL_FRAME, &mut buf).await? {
        Some(FrameType::Subscribe) => serde_json::from_slice(&buf).map_err(|e| {
            Close::new(
                ErrorCode::ProtocolViolation,
                format!("SUBSCRIBE is not valid JSON: {e}"),
            )
        })?,
        Some(other) => {
            return Err(Close::new(
                ErrorCode::ProtocolViolation,
                format!("expected SUBSCRIBE, got {other:?}"),
            ))
        }
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
    let allowed = scope == Scope::District || scope == wanted;
    if !allowed {
        return Err(Close::new(
            ErrorCode::Forbidden,
            format!("this token may not subscribe to {:?}", sub.street),
        ));
    }
    let mut subscription = shared
        .subscribers
        .register(wanted, shared.config.limits.subscriber_queue_orders);
    let scope_label = if wanted == Scope::District {
        "district"
    } else {
        "street"
    };
    let gauge = shared.metrics.subscribers.with_label_values(&[scope_label]);
    gauge.inc();
    let result = async {
        let ok = Subscribed {
            street: sub.street.clone(),
            from_seq: sub.from_seq,
        };
        let json = serde_json::to_vec(&ok).expect("serializes");
        write(&mut send, &encode_frame(FrameType::Subscribed, &json)).await?;
        let reader = read_acks(recv, shared.clone());
        tokio::pin!(reader);
        loop {
            tokio::select! {
                frame = subscription.rx.recv() => match frame {
                    Some(bytes) => write(&mut send, &bytes).await?,
                    None if subscription.too_slow.load(Ordering::Acquire) => {
                        return Err(Close::new(
                            ErrorCode::SubscriberTooSlow,
                            "order queue overflowed: reconnect and resume",
                        ));
                    }
                    None => return Ok(()),
                },
                end = &mut reader => return end,
            }
        }
    }
    .await;
    gauge.dec();
    shared.subscribers.unregister(subscription.id);
    result
}

async fn write(send: &mut quinn::SendStream, bytes: &[u8]) -> Result<(), Close> {
    send.write_all(bytes)
        .await
        .map_err(|e| Close::new(ErrorCode::NoError, e.to_string()))
}

/// Reads ORDER_ACK frames until the stream ends. Kept in its own future so
/// a half-read frame is never dropped by the select above.
async fn read_acks(mut recv: quinn::RecvStream, shared: Arc<Shared>) -> Result<(), Close> {
    let mut buf = AlignedVec::new();
    loop {
        match read_frame(&mut recv, MAX_CONTROL_FRAME, &mut buf).await? {
            Some(FrameType::OrderAck) => {
                let ack: OrderAck = serde_json::from_slice(&buf).map_err(|e| {
                    Close::new(
                        ErrorCode::ProtocolViolation,
                        format!("ORDER_ACK is not valid JSON: {e}"),
                    )
                })?;
                shared.metrics.order_acked(ack.outcome.name());
                tracing::debug!(order = %ack.order_id, outcome = ack.outcome.name(), "order acknowledged");
            }
            Some(other) => {
                return Err(Close::new(
                    ErrorCode::ProtocolViolation,
                    format!("{other:?} frame is not allowed from a subscriber"),
                ))
            }
            None => return Ok(()),
        }
    }
}
