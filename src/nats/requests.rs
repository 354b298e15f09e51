//! Requests about orders (ORDER_ACK, the disposal loop's steps) made on
//! any node, answered by the dispatch owner: a node that does not
//! dispatch forwards each to the requests subject (NATS request and
//! reply), where only the owner listens while it holds the lease; the
//! owner hands it to its dispatcher like one of its own sessions' and
//! answers once the dispatcher has (durably, on the orders stream). A
//! request that finds no owner (a failover in progress) is answered busy,
//! and the client asks again.

use super::connect::Nats;
use crate::dispatch::dispatcher::AckAnswer;
use crate::dispatch::lifecycle::{Actor, Role, Step, StepAnswer};
use crate::dispatch::scope::Scope;
use crate::geo::RegionMap;
use crate::runtime::cluster_ends::Forward;
use crate::runtime::dispatch_thread::OrderMsg;
use crate::runtime::handle::Handle;
use crate::wire::control::{OrderAck, DISTRICT};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a forwarded request waits for the owner's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A request as it travels.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Request {
    Ack {
        ack: OrderAck,
        scope: String,
    },
    Step {
        order_id: String,
        step: Step,
        person: String,
        role: Role,
        scope: String,
    },
    Devices,
}

/// An answer as it travels.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Reply {
    Ack { answer: AckAnswer },
    Step { answer: StepAnswer },
    Done,
}

/// The forwarding side, for a node that does not dispatch.
pub struct NatsForward {
    /// The cluster.
    pub nats: Nats,
    /// Scopes by name.
    pub map: Arc<RegionMap>,
    /// Where the requests run.
    pub rt: tokio::runtime::Handle,
}

impl Forward for NatsForward {
    fn forward(&self, msg: OrderMsg) {
        let (request, answer) = match msg {
            OrderMsg::Ack { ack, scope, reply } => (
                Request::Ack {
                    ack,
                    scope: scope.name(&self.map),
                },
                Answer::Ack(reply),
            ),
            OrderMsg::Step {
                order_id,
                step,
                actor,
                reply,
            } => (
                Request::Step {
                    order_id,
                    step,
                    person: actor.person,
                    role: actor.role,
                    scope: actor.scope.name(&self.map),
                },
                Answer::Step(reply),
            ),
            OrderMsg::Devices => (Request::Devices, Answer::None),
        };
        let client = self.nats.client.clone();
        let subject = self.nats.names.requests_subject();
        self.rt.spawn(async move {
            let body = serde_json::to_vec(&request).expect("requests serialize");
            let reply = tokio::time::timeout(TIMEOUT, client.request(subject, body.into()))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|m| serde_json::from_slice::<Reply>(&m.payload).ok());
            answer.give(reply);
        });
    }
}

/// Where a forwarded request's answer goes.
enum Answer {
    Ack(Option<tokio::sync::oneshot::Sender<AckAnswer>>),
    Step(tokio::sync::oneshot::Sender<StepAnswer>),
    None,
}

impl Answer {
    /// The owner's answer, or busy when none came.
    fn give(self, reply: Option<Reply>) {
        match (self, reply) {
            (Answer::Ack(Some(tx)), Some(Reply::Ack { answer })) => {
                let _ = tx.send(answer);
            }
            (Answer::Ack(Some(tx)), _) => {
                let _ = tx.send(AckAnswer::Busy);
            }
            (Answer::Step(tx), Some(Reply::Step { answer })) => {
                let _ = tx.send(answer);
            }
            (Answer::Step(tx), _) => {
                let _ = tx.send(StepAnswer::Busy);
            }
            _ => {}
        }
    }
}

/// The owner's side: answers forwarded requests until aborted (when the
/// dispatch lease is lost).
pub async fn serve(
    nats: Nats,
    handle: Handle,
    map: Arc<RegionMap>,
) -> Result<(), async_nats::SubscribeError> {
    let subject = nats.names.requests_subject();
    let mut requests = nats
        .client
        .queue_subscribe(subject, "dispatch".into())
        .await?;
    while let Some(msg) = requests.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let (handle, map, client) = (handle.clone(), map.clone(), nats.client.clone());
        tokio::spawn(async move {
            let reply = match serde_json::from_slice::<Request>(&msg.payload) {
                Ok(request) => answer(&handle, &map, request).await,
                Err(e) => {
                    tracing::warn!(error = %e, "a request about an order this node cannot read");
                    return;
                }
            };
            let body = serde_json::to_vec(&reply).expect("replies serialize");
            let _ = client.publish(reply_to, body.into()).await;
        });
    }
    Ok(())
}

/// Hands a request to this node's dispatcher and waits for its answer.
async fn answer(handle: &Handle, map: &RegionMap, request: Request) -> Reply {
    let scope_of = |name: &str| match name {
        DISTRICT => Some(Scope::District),
        code => map.street_by_code(code).map(Scope::Street),
    };
    match request {
        Request::Ack { ack, scope } => {
            let answer = match scope_of(&scope) {
                None => AckAnswer::Forbidden,
                Some(scope) => match handle.ack(ack, scope).await {
                    Ok(rx) => rx.await.unwrap_or(AckAnswer::Busy),
                    Err(_) => AckAnswer::Busy,
                },
            };
            Reply::Ack { answer }
        }
        Request::Step {
            order_id,
            step,
            person,
            role,
            scope,
        } => {
            let answer = match scope_of(&scope) {
                None => StepAnswer::Forbidden(format!("未知范围 unknown scope {scope}")),
                Some(scope) => {
                    let actor = Actor {
                        person,
                        role,
                        scope,
                    };
                    match handle.step(order_id, step, actor).await {
                        Ok(rx) => rx.await.unwrap_or(StepAnswer::Busy),
                        Err(_) => StepAnswer::Busy,
                    }
                }
            };
            Reply::Step { answer }
        }
        Request::Devices => {
            let _ = handle.devices_changed().await;
            Reply::Done
        }
    }
}
