//! A subscriber session: one SUBSCRIBE (checked against the token's
//! scope), a SUBSCRIBED, then every order of the scope it has not
//! acknowledged (from the outbox), then live orders; ORDER_ACKs go to the
//! dispatcher, which records them durably.
//!
//! Catching up and going live never leave a gap: the session registers for
//! live frames first, then reads the outbox, and skips live frames it has
//! already sent (sequence numbers only grow). A session whose live queue
//! overflowed does the same again from where it was.
//!
//! What a subscriber asked for at HELLO and was granted adds to that:
//! `order_ack_result` answers each ORDER_ACK with ORDER_ACK_RESULT once the
//! dispatcher has recorded (or refused) it, in the order the acks came;
//! `order_steps` reads ORDER_STEP frames too and answers each with
//! ORDER_STEP_RESULT (src/quic/order_requests.rs);
//! `backlog_end` sends BACKLOG_END after the first backlog; `gapless_log`
//! makes a backlog from a `seq` above 0 hold every order of the scope after
//! it, acknowledged ones too, and gives each backlog ORDER its status.

use crate::auth::tokens::Scope;
use crate::dispatch::order_frame::OrderFrame;
use crate::frame_io::read_frame;
use crate::quic::close::Close;
use crate::quic::order_requests::{
    read_requests, write, write_answers, Out, Requests, ANSWERS_IN_FLIGHT,
};
use crate::runtime::dispatch_thread::encode_order;
use crate::runtime::Shared;
use crate::store::BacklogFilter;
use crate::wire::control::{
    parse_control, BacklogEnd, Feature, Features, Subscribe, Subscribed, DISTRICT,
};
use crate::wire::frame::{encode_frame, FrameType};
use crate::wire::ErrorCode;
use rkyv::util::AlignedVec;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};

/// Largest control frame a subscriber may send.
const MAX_CONTROL_FRAME: u32 = 64 * 1024;

/// Orders read from the outbox per round trip to it.
const CATCH_UP_CHUNK: usize = 256;

/// How long, once the subscriber has finished its stream, the answers of
/// its last acks may take to be recorded and to reach it.
const FLUSH_BEFORE_END: Duration = Duration::from_secs(2);

/// What the session was granted, as it uses it.
#[derive(Debug, Clone, Copy)]
struct Granted {
    /// Whether anything is answered (ORDER_ACK_RESULT or ORDER_STEP_RESULT).
    answers: bool,
    /// ORDER_STEP frames are read and answered.
    steps: bool,
    /// ORDER_ACKs are answered.
    ack_answers: bool,
    backlog_end: bool,
    gapless: bool,
}

/// Runs a subscriber session; `features` are those granted at HELLO.
pub async fn run(
    send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    scope: Scope,
    shared: &Arc<Shared>,
    features: Features,
) -> Result<(), Close> {
    let granted = Granted {
        answers: features.has(Feature::OrderAckResult) || features.has(Feature::OrderSteps),
        steps: features.has(Feature::OrderSteps),
        ack_answers: features.has(Feature::OrderAckResult),
        backlog_end: features.has(Feature::BacklogEnd),
        gapless: features.has(Feature::GaplessLog),
    };
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
    let send: Out = Arc::new(Mutex::new(send));
    let result = async {
        write(&send, &encode_frame(FrameType::Subscribed, &json)).await?;
        // With ORDER_ACK_RESULT, a task of its own answers the acks in
        // order as the dispatcher records them; without, nobody waits.
        let (answers, answerer) = if granted.answers {
            let (tx, rx) = mpsc::channel(ANSWERS_IN_FLIGHT);
            let task = tokio::spawn(write_answers(send.clone(), rx));
            (Some(tx), Some(AbortOnDrop(task)))
        } else {
            (None, None)
        };
        let requests = Requests {
            scope,
            steps: granted.steps,
            ack_answers: granted.ack_answers,
        };
        let reader = read_requests(recv, requests, shared.clone(), answers);
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
        let mut backlog_done = false;
        loop {
            let mut live = shared
                .subscribers
                .register(wanted, shared.config.limits.subscriber_queue_orders);
            let served = async {
                let (at, orders) =
                    catch_up(&send, shared, &sub.street, cursor, granted.gapless).await?;
                cursor = at;
                if granted.backlog_end && !backlog_done {
                    let end = BacklogEnd {
                        last_seq: cursor,
                        orders,
                    };
                    let json = serde_json::to_vec(&end).expect("serializes");
                    write(&send, &encode_frame(FrameType::BacklogEnd, &json)).await?;
                }
                backlog_done = true;
                loop {
                    match live.rx.recv().await {
                        Some((seq, bytes)) if seq > cursor => {
                            write(&send, &bytes).await?;
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
                Ok(false) => {
                    if let Some(mut answerer) = answerer {
                        // The subscriber is done: its last acks are
                        // answered and reach it before the session ends.
                        let _ = tokio::time::timeout(FLUSH_BEFORE_END, &mut answerer.0).await;
                        drop(answerer);
                        let _ = tokio::time::timeout(FLUSH_BEFORE_END, async {
                            let mut out = send.lock().await;
                            let _ = out.finish();
                            let _ = out.stopped().await;
                        })
                        .await;
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
    .await;
    gauge.dec();
    result
}

/// Sends what the outbox holds for the scope after `cursor` (what is not
/// acknowledged; with the gapless log and a cursor above 0, every order);
/// returns the new cursor and how many orders were sent.
async fn catch_up(
    send: &Out,
    shared: &Arc<Shared>,
    scope: &str,
    mut cursor: u64,
    gapless: bool,
) -> Result<(u64, u64), Close> {
    let which = if gapless && cursor > 0 {
        BacklogFilter::All
    } else {
        BacklogFilter::Unacked
    };
    let mut sent = 0;
    loop {
        let store = shared.store.clone();
        let scope_name = scope.to_owned();
        let chunk = tokio::task::spawn_blocking(move || {
            store.backlog(&scope_name, cursor, which, CATCH_UP_CHUNK)
        })
        .await
        .map_err(|e| Close::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| Close::new(ErrorCode::Internal, e.to_string()))?;
        let done = chunk.len() < CATCH_UP_CHUNK;
        for (seq, record) in chunk {
            let mut order = record.order;
            order.seq = seq;
            let frame = if gapless {
                let with_status = OrderFrame {
                    order,
                    status: Some(record.status),
                    ack: record.ack,
                };
                let json = serde_json::to_vec(&with_status).expect("orders serialize");
                encode_frame(FrameType::Order, &json).into()
            } else {
                encode_order(&order)
            };
            write(send, &frame).await?;
            cursor = seq;
            sent += 1;
        }
        if done {
            return Ok((cursor, sent));
        }
    }
}

/// A task that ends with the session.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
