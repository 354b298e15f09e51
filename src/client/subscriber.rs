//! The street-platform side: subscribe to a street (or the district),
//! receive orders, acknowledge them with an outcome.

use super::connect::{explain, open, spawn_reader, ClientError, ClientOptions, Session};
use crate::dispatch::Order;
use crate::frame_io::read_frame;
use crate::wire::control::{
    parse_control, OrderAck, Outcome, Role, Subscribe, Subscribed, Welcome,
};
use crate::wire::frame::{encode_frame, FrameType};
use rkyv::util::AlignedVec;
use tokio::sync::mpsc;

/// Largest ORDER frame the client reads.
const MAX_ORDER_FRAME: u32 = 4 << 20;

/// A connected, subscribed street platform.
pub struct SubscriberClient {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    orders: mpsc::UnboundedReceiver<Result<Order, ClientError>>,
    welcome: Welcome,
    subscribed: Subscribed,
}

impl SubscriberClient {
    /// Connects, authenticates and subscribes to `street` (a 12-digit code
    /// or `"district"`) from `from_seq`.
    pub async fn connect(
        opts: &ClientOptions,
        street: &str,
        from_seq: u64,
    ) -> Result<SubscriberClient, ClientError> {
        let Session {
            endpoint,
            conn,
            mut send,
            mut recv,
            welcome,
        } = open(opts, Role::Subscriber).await?;
        let sub = Subscribe {
            street: street.into(),
            from_seq,
        };
        let json = serde_json::to_vec(&sub).expect("serializes");
        send.write_all(&encode_frame(FrameType::Subscribe, &json))
            .await
            .map_err(|e| explain(&conn, e))?;
        let mut buf = AlignedVec::new();
        let subscribed: Subscribed = match read_frame(&mut recv, MAX_ORDER_FRAME, &mut buf).await {
            Ok(Some(ty)) => {
                parse_control(ty, &buf).map_err(|e| ClientError::Protocol(e.chain()))?
            }
            Ok(None) => return Err(explain(&conn, "stream ended before SUBSCRIBED")),
            Err(e) => return Err(explain(&conn, e)),
        };
        let orders = spawn_reader(recv, conn.clone(), MAX_ORDER_FRAME, |ty, bytes| {
            parse_control::<Order>(ty, bytes).map_err(|e| ClientError::Protocol(e.chain()))
        });
        Ok(SubscriberClient {
            endpoint,
            conn,
            send,
            orders,
            welcome,
            subscribed,
        })
    }

    /// The hub's WELCOME (which streets the token may see).
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The hub's SUBSCRIBED answer.
    pub fn subscribed(&self) -> &Subscribed {
        &self.subscribed
    }

    /// The next order (or update of one).
    pub async fn next_order(&mut self) -> Result<Order, ClientError> {
        match self.orders.recv().await {
            Some(r) => r,
            None => Err(explain(&self.conn, "order reader ended")),
        }
    }

    /// Acknowledges an order with an outcome and a note.
    pub async fn ack(
        &mut self,
        order_id: &str,
        outcome: Outcome,
        note: &str,
    ) -> Result<(), ClientError> {
        let ack = OrderAck {
            order_id: order_id.into(),
            outcome,
            note: note.into(),
        };
        let json = serde_json::to_vec(&ack).expect("serializes");
        self.send
            .write_all(&encode_frame(FrameType::OrderAck, &json))
            .await
            .map_err(|e| explain(&self.conn, e))
    }

    /// Closes the connection politely: the acks written so far reach the
    /// hub first (waited for up to a second), then the connection closes.
    pub async fn close(mut self) {
        if self.send.finish().is_ok() {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(1), self.send.stopped()).await;
        }
        self.conn.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}
