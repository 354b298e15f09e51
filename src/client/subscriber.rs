//! The street-platform side: subscribe to a street (or the district),
//! receive orders, acknowledge them with an outcome. With the features a
//! subscriber may ask for at HELLO, also: each ack's result
//! (`order_ack_result`), the end of the backlog (`backlog_end`), and the
//! whole log after a `seq`, with each backlog order's status
//! (`gapless_log`).

use super::connect::{explain, open, spawn_reader, ClientError, ClientOptions, Session};
use crate::dispatch::lifecycle::StepRequest;
use crate::dispatch::order_frame::OrderFrame;
use crate::dispatch::Order;
use crate::frame_io::read_frame;
use crate::wire::control::{
    parse_control, AckResult, BacklogEnd, Feature, Features, OrderAck, OrderAckResult,
    OrderStepResult, Outcome, Role, Subscribe, Subscribed, Welcome,
};
use crate::wire::frame::{encode_frame, FrameType};
use rkyv::util::AlignedVec;
use std::collections::VecDeque;
use tokio::sync::mpsc;

/// Largest ORDER frame the client reads.
const MAX_ORDER_FRAME: u32 = 4 << 20;

/// A frame the hub sends a subscriber after SUBSCRIBED.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An ORDER: an order, an update or an escalation (with its status in
    /// a gapless backlog).
    Order(Box<OrderFrame>),
    /// An ORDER_ACK_RESULT: what became of one of this client's acks.
    AckResult(OrderAckResult),
    /// BACKLOG_END: the backlog is sent, live orders follow.
    BacklogEnd(BacklogEnd),
    /// ORDER_STEP_RESULT: what became of one of this client's steps.
    StepResult(OrderStepResult),
}

/// A connected, subscribed street platform.
pub struct SubscriberClient {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    deliveries: mpsc::UnboundedReceiver<Result<Delivery, ClientError>>,
    /// Frames read while another kind was waited for, in arrival order.
    held: VecDeque<Delivery>,
    welcome: Welcome,
    granted: Features,
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
        SubscriberClient::connect_with(opts, street, from_seq, &[]).await
    }

    /// As [`SubscriberClient::connect`], asking for `features`
    /// ([`Feature::OrderAckResult`], [`Feature::BacklogEnd`],
    /// [`Feature::GaplessLog`]); [`SubscriberClient::granted`] says what
    /// the hub granted.
    pub async fn connect_with(
        opts: &ClientOptions,
        street: &str,
        from_seq: u64,
        features: &[Feature],
    ) -> Result<SubscriberClient, ClientError> {
        let Session {
            endpoint,
            conn,
            mut send,
            mut recv,
            welcome,
            granted,
        } = open(opts, Role::Subscriber, features).await?;
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
        let parse = if granted.has(Feature::GaplessLog) {
            parse_with_status
        } else {
            parse_plain
        };
        let deliveries = spawn_reader(recv, conn.clone(), MAX_ORDER_FRAME, parse);
        Ok(SubscriberClient {
            endpoint,
            conn,
            send,
            deliveries,
            held: VecDeque::new(),
            welcome,
            granted,
            subscribed,
        })
    }

    /// The hub's WELCOME (which streets the token may see).
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The features the hub granted (none unless asked for with
    /// [`SubscriberClient::connect_with`]).
    pub fn granted(&self) -> Features {
        self.granted
    }

    /// The hub's SUBSCRIBED answer.
    pub fn subscribed(&self) -> &Subscribed {
        &self.subscribed
    }

    /// The next frame of any kind, in the order the hub sent them (frames
    /// held back by the other `next_*` calls first).
    pub async fn next_delivery(&mut self) -> Result<Delivery, ClientError> {
        self.next_matching(|_| true).await
    }

    /// The next order (or update of one). Ack results and the backlog end
    /// read meanwhile are kept for [`SubscriberClient::next_ack_result`]
    /// and [`SubscriberClient::next_delivery`].
    pub async fn next_order(&mut self) -> Result<Order, ClientError> {
        self.next_order_frame().await.map(|f| f.order)
    }

    /// The next order with what its frame says besides: its `status` and
    /// `ack` in a gapless backlog.
    pub async fn next_order_frame(&mut self) -> Result<OrderFrame, ClientError> {
        match self
            .next_matching(|d| matches!(d, Delivery::Order(_)))
            .await?
        {
            Delivery::Order(frame) => Ok(*frame),
            _ => unreachable!("matched an order"),
        }
    }

    /// The next ORDER_ACK_RESULT (needs [`Feature::OrderAckResult`]
    /// granted). Orders read meanwhile are kept for the other calls.
    pub async fn next_ack_result(&mut self) -> Result<OrderAckResult, ClientError> {
        self.needs(Feature::OrderAckResult)?;
        match self
            .next_matching(|d| matches!(d, Delivery::AckResult(_)))
            .await?
        {
            Delivery::AckResult(r) => Ok(r),
            _ => unreachable!("matched an ack result"),
        }
    }

    /// Reads the backlog to its BACKLOG_END (needs [`Feature::BacklogEnd`]
    /// granted): its orders, oldest first, and the marker. Call it first,
    /// before any other `next_*`. Ack results read meanwhile are kept.
    pub async fn backlog(&mut self) -> Result<(Vec<OrderFrame>, BacklogEnd), ClientError> {
        self.needs(Feature::BacklogEnd)?;
        let mut orders = Vec::new();
        loop {
            match self
                .next_matching(|d| !matches!(d, Delivery::AckResult(_) | Delivery::StepResult(_)))
                .await?
            {
                Delivery::Order(o) => orders.push(*o),
                Delivery::BacklogEnd(end) => return Ok((orders, end)),
                Delivery::AckResult(_) | Delivery::StepResult(_) => {
                    unreachable!("answers are held")
                }
            }
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

    /// Acknowledges an order and waits for what became of the ack (needs
    /// [`Feature::OrderAckResult`] granted). Results of earlier acks read
    /// meanwhile are kept for [`SubscriberClient::next_ack_result`].
    pub async fn ack_and_wait(
        &mut self,
        order_id: &str,
        outcome: Outcome,
        note: &str,
    ) -> Result<AckResult, ClientError> {
        self.needs(Feature::OrderAckResult)?;
        self.ack(order_id, outcome, note).await?;
        match self
            .next_matching(|d| matches!(d, Delivery::AckResult(r) if r.order_id == order_id))
            .await?
        {
            Delivery::AckResult(r) => Ok(r.result),
            _ => unreachable!("matched an ack result"),
        }
    }

    /// Takes a step of the disposal loop for the officer `step.by` names
    /// and waits for its answer (needs [`Feature::OrderSteps`] granted).
    pub async fn step_and_wait(
        &mut self,
        step: &StepRequest,
    ) -> Result<OrderStepResult, ClientError> {
        self.needs(Feature::OrderSteps)?;
        let json = serde_json::to_vec(step).expect("serializes");
        self.send
            .write_all(&encode_frame(FrameType::OrderStep, &json))
            .await
            .map_err(|e| explain(&self.conn, e))?;
        let id = step.order_id.as_str();
        match self
            .next_matching(|d| matches!(d, Delivery::StepResult(r) if r.order_id == id))
            .await?
        {
            Delivery::StepResult(r) => Ok(r),
            _ => unreachable!("matched a step result"),
        }
    }

    /// The first held frame `wanted` accepts, or the first such frame
    /// read, holding the others. Cancel-safe: it awaits only the channel.
    async fn next_matching(
        &mut self,
        wanted: impl Fn(&Delivery) -> bool,
    ) -> Result<Delivery, ClientError> {
        if let Some(i) = self.held.iter().position(&wanted) {
            return Ok(self.held.remove(i).expect("held frame"));
        }
        loop {
            match self.deliveries.recv().await {
                Some(Ok(d)) if wanted(&d) => return Ok(d),
                Some(Ok(d)) => self.held.push_back(d),
                Some(Err(e)) => return Err(e),
                None => return Err(explain(&self.conn, "order reader ended")),
            }
        }
    }

    fn needs(&self, feature: Feature) -> Result<(), ClientError> {
        if self.granted.has(feature) {
            Ok(())
        } else {
            Err(ClientError::Protocol(format!(
                "the hub did not grant {}",
                feature.name()
            )))
        }
    }

    /// Ends the stream: no more acks. The hub answers those sent (with
    /// [`Feature::OrderAckResult`]), then ends the session; read the
    /// answers with [`SubscriberClient::next_ack_result`].
    pub fn finish(&mut self) -> Result<(), ClientError> {
        self.send
            .finish()
            .map_err(|e| ClientError::Lost(e.to_string()))
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

/// A subscriber's frames without the gapless log: ORDER as the order alone.
fn parse_plain(ty: FrameType, bytes: &[u8]) -> Result<Delivery, ClientError> {
    let protocol = |e: crate::wire::control::ControlError| ClientError::Protocol(e.chain());
    Ok(match ty {
        FrameType::Order => Delivery::Order(Box::new(OrderFrame {
            order: parse_control::<Order>(ty, bytes).map_err(protocol)?,
            status: None,
            ack: None,
        })),
        _ => parse_other(ty, bytes)?,
    })
}

/// A subscriber's frames with the gapless log: ORDER with its status.
fn parse_with_status(ty: FrameType, bytes: &[u8]) -> Result<Delivery, ClientError> {
    let protocol = |e: crate::wire::control::ControlError| ClientError::Protocol(e.chain());
    Ok(match ty {
        FrameType::Order => Delivery::Order(Box::new(
            parse_control::<OrderFrame>(ty, bytes).map_err(protocol)?,
        )),
        _ => parse_other(ty, bytes)?,
    })
}

/// ORDER_ACK_RESULT and BACKLOG_END; any other frame is an error (as an
/// ORDER expected).
fn parse_other(ty: FrameType, bytes: &[u8]) -> Result<Delivery, ClientError> {
    let protocol = |e: crate::wire::control::ControlError| ClientError::Protocol(e.chain());
    Ok(match ty {
        FrameType::OrderAckResult => {
            Delivery::AckResult(parse_control(ty, bytes).map_err(protocol)?)
        }
        FrameType::BacklogEnd => Delivery::BacklogEnd(parse_control(ty, bytes).map_err(protocol)?),
        FrameType::OrderStepResult => {
            Delivery::StepResult(parse_control(ty, bytes).map_err(protocol)?)
        }
        _ => {
            return Err(protocol(
                parse_control::<Order>(ty, bytes).expect_err("not an ORDER frame"),
            ))
        }
    })
}
