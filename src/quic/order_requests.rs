//! What a subscriber sends after SUBSCRIBE: ORDER_ACKs and, once granted
//! `order_steps` at HELLO, ORDER_STEPs of the disposal loop, handed to the
//! dispatcher in the order they came; and their answers (ORDER_ACK_RESULT,
//! ORDER_STEP_RESULT) written back in that order as each becomes durable.
//! A client granted neither gets what it always got: acks taken, nothing
//! answered, any other frame a protocol error.

use crate::auth::tokens::Scope;
use crate::dispatch::dispatcher::AckAnswer;
use crate::dispatch::lifecycle::{Actor, Role, StepAnswer, StepKind, StepRequest};
use crate::frame_io::read_frame;
use crate::quic::close::Close;
use crate::runtime::Shared;
use crate::wire::control::{parse_control, OrderAck, OrderAckResult, OrderStepResult};
use crate::wire::frame::{encode_frame, FrameType};
use crate::wire::ErrorCode;
use rkyv::util::AlignedVec;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Largest control frame a subscriber may send.
const MAX_CONTROL_FRAME: u32 = 64 * 1024;

/// Requests read and not yet answered, at most: past this the session
/// reads no further one until the oldest is answered.
pub const ANSWERS_IN_FLIGHT: usize = 1024;

/// The stream to the subscriber, shared by the orders and the answers
/// (each frame written whole under the lock).
pub type Out = Arc<Mutex<quinn::SendStream>>;

/// A request waiting for the dispatcher's answer.
pub enum Pending {
    /// An ORDER_ACK, answered with ORDER_ACK_RESULT.
    Ack(String, oneshot::Receiver<AckAnswer>),
    /// An ORDER_STEP, answered with ORDER_STEP_RESULT.
    Step(String, StepKind, oneshot::Receiver<StepAnswer>),
}

/// What the session may send and be answered.
#[derive(Debug, Clone, Copy)]
pub struct Requests {
    /// What the subscriber's token may see.
    pub scope: Scope,
    /// ORDER_STEP frames are taken (`order_steps` granted).
    pub steps: bool,
    /// ORDER_ACKs are answered (`order_ack_result` granted).
    pub ack_answers: bool,
}

/// Writes one frame to the subscriber.
pub async fn write(send: &Out, bytes: &[u8]) -> Result<(), Close> {
    send.lock()
        .await
        .write_all(bytes)
        .await
        .map_err(|e| Close::new(ErrorCode::NoError, e.to_string()))
}

/// Reads ORDER_ACK (and, when granted, ORDER_STEP) frames until the stream
/// ends and hands them to the dispatcher, queuing the answers asked for.
/// Kept in its own future so a half-read frame is never dropped by the
/// session's select.
pub async fn read_requests(
    mut recv: quinn::RecvStream,
    can: Requests,
    shared: Arc<Shared>,
    answers: Option<mpsc::Sender<Pending>>,
) -> Result<(), Close> {
    let mut buf = AlignedVec::new();
    while let Some(ty) = read_frame(&mut recv, MAX_CONTROL_FRAME, &mut buf).await? {
        let pending = if ty == FrameType::OrderStep && can.steps {
            let req: StepRequest = parse_control(ty, &buf)?;
            let (order_id, kind) = (req.order_id.clone(), req.step.kind());
            let actor = platform_actor(&req.by, can.scope);
            let answer = shared.runtime.step(req.order_id, req.step, actor).await?;
            Some(Pending::Step(order_id, kind, answer))
        } else {
            let ack: OrderAck = parse_control(ty, &buf)?;
            if can.ack_answers {
                let order_id = ack.order_id.clone();
                Some(Pending::Ack(
                    order_id,
                    shared.runtime.ack(ack, can.scope).await?,
                ))
            } else {
                shared.runtime.submit_ack(ack, can.scope).await?;
                None
            }
        };
        if let (Some(p), Some(queue)) = (pending, &answers) {
            // The answerer stops only with the connection.
            let _ = queue.send(p).await;
        }
    }
    Ok(())
}

/// A platform's step is taken for the officer it names (`by`), with the
/// rights of its token: a street's supervisor, or the district desk.
fn platform_actor(by: &str, scope: Scope) -> Actor {
    let role = match scope {
        Scope::District => Role::DistrictDesk,
        Scope::Street(_) => Role::StreetSupervisor,
    };
    Actor {
        person: by.trim().to_owned(),
        role,
        scope,
    }
}

/// Writes each request's answer, in the order they came, once the
/// dispatcher has answered it.
pub async fn write_answers(send: Out, mut pending: mpsc::Receiver<Pending>) {
    while let Some(p) = pending.recv().await {
        // No answer: the hub is stopping, and the connection with it.
        let frame = match p {
            Pending::Ack(order_id, answer) => {
                let Ok(answer) = answer.await else { return };
                let result = OrderAckResult {
                    order_id,
                    result: answer.result(),
                };
                let json = serde_json::to_vec(&result).expect("serializes");
                encode_frame(FrameType::OrderAckResult, &json)
            }
            Pending::Step(order_id, step, answer) => {
                let Ok(answer) = answer.await else { return };
                let body = answer.body();
                let result = OrderStepResult {
                    order_id,
                    step,
                    result: body.result.to_owned(),
                    stage: body.stage,
                    reason: body.reason,
                };
                let json = serde_json::to_vec(&result).expect("serializes");
                encode_frame(FrameType::OrderStepResult, &json)
            }
        };
        if write(&send, &frame).await.is_err() {
            return;
        }
    }
}
