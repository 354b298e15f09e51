//! The devices' activity (events, last seen, clock offset) from every
//! node's shards, for `GET /api/devices` and the console: each node's
//! shards know only the devices of the partitions they run. Every node
//! answers requests on `{prefix}.devices.activity` with what its shards
//! know of the ids asked for; the asking node asks its own shards
//! directly, publishes the question once to all the others, and gathers
//! their answers until every other live node (the members bucket) has
//! answered or [`WITHIN`] has passed. The merge (the latest last seen
//! wins) is the core's `cluster::activity`.

use super::connect::Nats;
use crate::cluster::activity::Gather;
use crate::engine::shard::DeviceState;
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::cluster_shared::{Answer, SharedActivity};
use crate::runtime::handle::Handle;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long the asking node gathers answers at most.
pub const WITHIN: Duration = Duration::from_millis(500);

/// A question as it travels.
#[derive(Serialize, Deserialize)]
struct Question {
    /// The asking node (it asks its own shards itself).
    from: String,
    ids: Vec<u64>,
}

/// An answer as it travels: per device `[id, last_seen_ms, events,
/// clock_offset_ms, clock_skewed]`, compact (10,000 devices fit well
/// under a NATS message's limit).
#[derive(Serialize, Deserialize)]
struct Reply {
    node: String,
    devices: Vec<(u64, i64, u64, i64, bool)>,
}

/// The asking side.
pub struct NatsActivity {
    nats: Nats,
    node: String,
    handle: Handle,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl NatsActivity {
    /// Asks as `node`, its own shards through `handle`.
    pub fn new(
        nats: Nats,
        node: String,
        handle: Handle,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> NatsActivity {
        NatsActivity {
            nats,
            node,
            handle,
            clock,
            metrics,
        }
    }

    async fn query_now(&self, ids: Arc<[u64]>) -> HashMap<u64, DeviceState> {
        let (own, others) = tokio::join!(self.handle.query_devices(ids.clone()), self.ask(ids));
        let mut gather = others;
        gather.on_reply(&self.node, own);
        let missing: Vec<&str> = gather.missing().collect();
        if !missing.is_empty() {
            tracing::debug!(?missing, "devices' activity without some nodes' answers");
        }
        gather.finish()
    }

    /// Asks every other node and gathers their answers.
    async fn ask(&self, ids: Arc<[u64]>) -> Gather {
        let others = self.others().await;
        let mut gather = Gather::new(others, self.clock.now_ms(), WITHIN.as_millis() as i64);
        if gather.is_done(self.clock.now_ms()) {
            return gather;
        }
        let client = &self.nats.client;
        let inbox = client.new_inbox();
        let question = Question {
            from: self.node.clone(),
            ids: ids.to_vec(),
        };
        let body = serde_json::to_vec(&question).expect("questions serialize");
        let asked = async {
            let answers = client.subscribe(inbox.clone()).await?;
            client
                .publish_with_reply(self.nats.names.activity_subject(), inbox, body.into())
                .await?;
            client.flush().await?;
            Ok::<_, async_nats::Error>(answers)
        };
        let mut answers = match asked.await {
            Ok(a) => a,
            Err(e) => {
                self.failed(e);
                return gather;
            }
        };
        while !gather.is_done(self.clock.now_ms()) {
            let left = (gather.deadline_ms() - self.clock.now_ms()).max(0) as u64;
            let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(left), answers.next()).await
            else {
                break;
            };
            match serde_json::from_slice::<Reply>(&msg.payload) {
                Ok(r) => gather.on_reply(&r.node, r.devices.into_iter().map(state)),
                Err(e) => {
                    tracing::warn!(error = %e, "a node's answer about devices cannot be read")
                }
            }
        }
        let _ = answers.unsubscribe().await;
        gather
    }

    /// The other live nodes, or `None` when the members cannot be read
    /// (then the deadline alone ends the gathering).
    async fn others(&self) -> Option<Vec<String>> {
        let read = async {
            let mut keys = self.nats.members.keys().await?;
            let mut live = Vec::new();
            while let Some(k) = keys.next().await {
                live.push(k?);
            }
            Ok::<_, async_nats::Error>(live)
        };
        match read.await {
            Ok(live) => Some(live.into_iter().filter(|n| *n != self.node).collect()),
            Err(e) => {
                self.failed(e);
                None
            }
        }
    }

    fn failed(&self, e: impl std::fmt::Display) {
        self.metrics
            .cluster_errors
            .with_label_values(&["activity"])
            .inc();
        tracing::warn!(error = %e, "asking the other nodes about devices");
    }
}

impl SharedActivity for NatsActivity {
    fn query(&self, ids: Arc<[u64]>) -> Answer<'_, HashMap<u64, DeviceState>> {
        Box::pin(self.query_now(ids))
    }
}

fn state(
    (id, last_seen_ms, events, clock_offset_ms, clock_skewed): (u64, i64, u64, i64, bool),
) -> (u64, DeviceState) {
    let state = DeviceState {
        last_seen_ms,
        events,
        clock_offset_ms,
        clock_skewed,
    };
    (id, state)
}

/// The answering side, on every node, until aborted: what this node's
/// shards know of the ids asked for (an empty answer too: the asker then
/// knows this node has answered).
pub async fn serve(
    nats: Nats,
    node: String,
    handle: Handle,
) -> Result<(), async_nats::SubscribeError> {
    let mut questions = nats.client.subscribe(nats.names.activity_subject()).await?;
    while let Some(msg) = questions.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let question = match serde_json::from_slice::<Question>(&msg.payload) {
            Ok(q) if q.from == node => continue,
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "a question about devices this node cannot read");
                continue;
            }
        };
        let (handle, client, node) = (handle.clone(), nats.client.clone(), node.clone());
        tokio::spawn(async move {
            let found = handle.query_devices(question.ids.into()).await;
            let reply = Reply {
                node,
                devices: found
                    .into_iter()
                    .map(|(id, s)| {
                        (
                            id,
                            s.last_seen_ms,
                            s.events,
                            s.clock_offset_ms,
                            s.clock_skewed,
                        )
                    })
                    .collect(),
            };
            let body = serde_json::to_vec(&reply).expect("replies serialize");
            let _ = client.publish(reply_to, body.into()).await;
        });
    }
    Ok(())
}
