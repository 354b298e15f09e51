//! The one handle the sessions (QUIC and HTTP) hold to talk to the
//! runtime: submit events to a shard (awaiting queue capacity, so a full
//! queue pushes back on the sender), hand in an acknowledgement and get
//! its answer once it is durable, ask the shards about devices. Every wait
//! is on a channel: no sleep, no polling.

use crate::dispatch::dispatcher::AckAnswer;
use crate::dispatch::lifecycle::{Actor, Step, StepAnswer};
use crate::dispatch::scope::Scope;
use crate::engine::shard::DeviceState;
use crate::metrics::Metrics;
use crate::runtime::dispatch_thread::OrderMsg;
use crate::runtime::inbox::{Inbox, Stopped};
use crate::runtime::shard_msg::ShardMsg;
use crate::wire::control::OrderAck;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Queues into the shard threads and the dispatcher thread.
#[derive(Clone)]
pub struct Handle {
    shards: Vec<Inbox<ShardMsg>>,
    acks: Inbox<OrderMsg>,
    metrics: Arc<Metrics>,
}

impl Handle {
    /// A handle on these queues.
    pub(crate) fn new(
        shards: Vec<Inbox<ShardMsg>>,
        acks: Inbox<OrderMsg>,
        metrics: Arc<Metrics>,
    ) -> Handle {
        Handle {
            shards,
            acks,
            metrics,
        }
    }

    /// How many shards there are.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Messages waiting in each shard's queue.
    pub fn queue_depths(&self) -> impl Iterator<Item = usize> + '_ {
        self.shards.iter().map(Inbox::len)
    }

    /// Queues a message to a shard, waiting while its queue is full (the
    /// session stops reading meanwhile: QUIC flow control pushes back).
    pub async fn submit(&self, shard: usize, msg: ShardMsg) -> Result<(), Stopped> {
        if self.shards[shard].send(msg).await? {
            self.metrics.backpressure.inc();
        }
        Ok(())
    }

    /// Queues a message to every shard, made anew for each.
    pub async fn submit_to_all(&self, msg: impl Fn() -> ShardMsg) -> Result<(), Stopped> {
        for shard in 0..self.shards.len() {
            self.submit(shard, msg()).await?;
        }
        Ok(())
    }

    /// Hands an acknowledgement to the dispatcher without waiting for its
    /// answer (a QUIC ORDER_ACK: the outbox and the next delivery tell).
    pub async fn submit_ack(&self, ack: OrderAck, scope: Scope) -> Result<(), Stopped> {
        let msg = OrderMsg::Ack {
            ack,
            scope,
            reply: None,
        };
        self.acks.send(msg).await.map(drop)
    }

    /// Hands an acknowledgement to the dispatcher; the answer comes once it
    /// is durable, or refused. The receiver errs if the hub stops first.
    pub async fn ack(
        &self,
        ack: OrderAck,
        scope: Scope,
    ) -> Result<oneshot::Receiver<AckAnswer>, Stopped> {
        let (reply, answer) = oneshot::channel();
        let msg = OrderMsg::Ack {
            ack,
            scope,
            reply: Some(reply),
        };
        self.acks.send(msg).await?;
        Ok(answer)
    }

    /// Hands a step of the disposal loop to the dispatcher; the answer
    /// comes once it is durable, or refused. The receiver errs if the hub
    /// stops first.
    pub async fn step(
        &self,
        order_id: String,
        step: Step,
        actor: Actor,
    ) -> Result<oneshot::Receiver<StepAnswer>, Stopped> {
        let (reply, answer) = oneshot::channel();
        let msg = OrderMsg::Step {
            order_id,
            step,
            actor,
            reply,
        };
        self.acks.send(msg).await?;
        Ok(answer)
    }

    /// Tells the dispatcher the device registry or the maintenance windows
    /// changed in the device book.
    pub async fn devices_changed(&self) -> Result<(), Stopped> {
        self.acks.send(OrderMsg::Devices).await.map(drop)
    }

    /// What the shards know of these devices.
    pub async fn query_devices(&self, ids: Arc<[u64]>) -> HashMap<u64, DeviceState> {
        let mut answers = Vec::new();
        for shard in 0..self.shards.len() {
            let (reply, answer) = oneshot::channel();
            let msg = ShardMsg::Query {
                ids: ids.clone(),
                reply,
            };
            if self.submit(shard, msg).await.is_ok() {
                answers.push(answer);
            }
        }
        let mut out = HashMap::new();
        for answer in answers {
            // A shard that stopped meanwhile has nothing to say.
            if let Ok(found) = answer.await {
                out.extend(found);
            }
        }
        out
    }
}
