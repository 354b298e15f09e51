//! The device side: send batches (pipelined, one stream write per frame),
//! receive their acks in order: BATCH_ACK, or BATCH_ACK_V2 with every
//! rejected event when the device asked for `batch_ack_v2` and the hub
//! granted it.

use super::connect::{explain, open, spawn_reader, ClientError, ClientOptions, Session};
use crate::wire::batch::{BatchAck, BatchAckV2, BatchEncoder, WireEvent};
use crate::wire::control::{Feature, Features, Role, Welcome};
use crate::wire::frame::{encode_header, FrameType, HEADER_LEN};
use tokio::sync::mpsc;

/// An ack as read: a BATCH_ACK_V2, or a BATCH_ACK with no rejects listed.
type AckItem = Result<BatchAckV2, ClientError>;

/// A connected device (or gateway).
pub struct DeviceClient {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    acks: mpsc::UnboundedReceiver<AckItem>,
    encoder: BatchEncoder,
    frame: Vec<u8>,
    next_batch: u64,
    welcome: Welcome,
    granted: Features,
}

impl DeviceClient {
    /// Connects and authenticates as a device.
    pub async fn connect(opts: &ClientOptions) -> Result<DeviceClient, ClientError> {
        DeviceClient::connect_with(opts, &[]).await
    }

    /// Connects and authenticates as a device, asking for `features`
    /// ([`Feature::BatchAckV2`]); [`DeviceClient::granted`] says what the
    /// hub granted.
    pub async fn connect_with(
        opts: &ClientOptions,
        features: &[Feature],
    ) -> Result<DeviceClient, ClientError> {
        let Session {
            endpoint,
            conn,
            send,
            recv,
            welcome,
            granted,
        } = open(opts, Role::Device, features).await?;
        let acks = if granted.has(Feature::BatchAckV2) {
            let max = BatchAckV2::max_len(welcome.max_batch_events).min(u32::MAX as usize);
            spawn_reader(recv, conn.clone(), max as u32, |ty, bytes| match ty {
                FrameType::BatchAckV2 => BatchAckV2::decode(bytes).ok_or_else(|| {
                    ClientError::Protocol(
                        "BATCH_ACK_V2 is not 24 bytes and its count of 6-byte rejects".into(),
                    )
                }),
                other => Err(ClientError::Protocol(format!("unexpected {other:?} frame"))),
            })
        } else {
            spawn_reader(recv, conn.clone(), 1024, |ty, bytes| match ty {
                FrameType::BatchAck => BatchAck::decode(bytes)
                    .map(|ack| BatchAckV2 {
                        ack,
                        rejects: Vec::new(),
                    })
                    .ok_or_else(|| ClientError::Protocol("BATCH_ACK is not 20 bytes".into())),
                other => Err(ClientError::Protocol(format!("unexpected {other:?} frame"))),
            })
        };
        Ok(DeviceClient {
            endpoint,
            conn,
            send,
            acks,
            encoder: BatchEncoder::new(),
            frame: Vec::new(),
            next_batch: 1,
            welcome,
            granted,
        })
    }

    /// The hub's WELCOME (its limits).
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The features the hub granted (none unless asked for with
    /// [`DeviceClient::connect_with`]).
    pub fn granted(&self) -> Features {
        self.granted
    }

    fn needs_v2(&self) -> Result<(), ClientError> {
        if self.granted.has(Feature::BatchAckV2) {
            Ok(())
        } else {
            Err(ClientError::Protocol(
                "the hub did not grant batch_ack_v2: acks list no rejected events".into(),
            ))
        }
    }

    /// Sends a batch without waiting for its ack; returns its batch number.
    pub async fn send_batch(&mut self, events: &[WireEvent]) -> Result<u64, ClientError> {
        let seq = self.next_batch;
        self.next_batch += 1;
        let payload = self.encoder.encode(seq, events);
        self.frame.clear();
        self.frame.reserve(HEADER_LEN + payload.len());
        self.frame
            .extend_from_slice(&encode_header(FrameType::Batch, payload.len()));
        self.frame.extend_from_slice(payload);
        self.send
            .write_all(&self.frame)
            .await
            .map_err(|e| explain(&self.conn, e))?;
        Ok(seq)
    }

    /// The next ack, in batch order.
    pub async fn recv_ack(&mut self) -> Result<BatchAck, ClientError> {
        self.recv_any().await.map(|a| a.ack)
    }

    /// The next ack, in batch order, with every rejected event (needs
    /// [`Feature::BatchAckV2`] granted).
    pub async fn recv_ack_v2(&mut self) -> Result<BatchAckV2, ClientError> {
        self.needs_v2()?;
        self.recv_any().await
    }

    async fn recv_any(&mut self) -> AckItem {
        match self.acks.recv().await {
            Some(r) => r,
            None => Err(explain(&self.conn, "ack reader ended")),
        }
    }

    /// Takes the ack stream, so one task can send while another reads
    /// acks. Afterwards [`DeviceClient::recv_ack`] reports the stream gone.
    pub fn take_acks(&mut self) -> Acks {
        let (_, empty) = mpsc::unbounded_channel();
        Acks {
            rx: std::mem::replace(&mut self.acks, empty),
            conn: self.conn.clone(),
        }
    }

    /// Sends a batch and waits for its ack.
    pub async fn send_and_wait(&mut self, events: &[WireEvent]) -> Result<BatchAck, ClientError> {
        self.send_and_wait_any(events).await.map(|a| a.ack)
    }

    /// Sends a batch and waits for its ack with every rejected event
    /// (needs [`Feature::BatchAckV2`] granted).
    pub async fn send_and_wait_v2(
        &mut self,
        events: &[WireEvent],
    ) -> Result<BatchAckV2, ClientError> {
        self.needs_v2()?;
        self.send_and_wait_any(events).await
    }

    async fn send_and_wait_any(&mut self, events: &[WireEvent]) -> AckItem {
        let seq = self.send_batch(events).await?;
        let ack = self.recv_any().await?;
        if ack.ack.batch_seq != seq {
            return Err(ClientError::Protocol(format!(
                "ack for batch {} while waiting for {seq}",
                ack.ack.batch_seq
            )));
        }
        Ok(ack)
    }

    /// Sends a HEARTBEAT vouching for `devices` (may be empty: the
    /// connection alone).
    pub async fn heartbeat(&mut self, devices: &[u64]) -> Result<(), ClientError> {
        let mut frame = encode_header(FrameType::Heartbeat, devices.len() * 8).to_vec();
        for d in devices {
            frame.extend_from_slice(&d.to_le_bytes());
        }
        self.send
            .write_all(&frame)
            .await
            .map_err(|e| explain(&self.conn, e))
    }

    /// Writes raw bytes on the stream: for testing how the hub answers
    /// malformed input.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.send
            .write_all(bytes)
            .await
            .map_err(|e| explain(&self.conn, e))
    }

    /// Ends the stream (no more frames): for testing how the hub treats a
    /// stream that ends mid-frame.
    pub fn finish(&mut self) -> Result<(), ClientError> {
        self.send
            .finish()
            .map_err(|e| ClientError::Lost(e.to_string()))
    }

    /// Waits until the hub closes the connection and returns why.
    pub async fn closed(&self) -> ClientError {
        self.conn.closed().await.into()
    }

    /// Finishes the stream and closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.send.finish();
        self.conn.close(0u32.into(), b"done");
        self.endpoint.wait_idle().await;
    }
}

/// A device connection's acks, taken to be read in a task of their own.
pub struct Acks {
    rx: mpsc::UnboundedReceiver<AckItem>,
    conn: quinn::Connection,
}

impl Acks {
    /// The next ack, in batch order.
    pub async fn recv(&mut self) -> Result<BatchAck, ClientError> {
        self.recv_v2().await.map(|a| a.ack)
    }

    /// The next ack, in batch order, with its rejected events: listed when
    /// the hub granted [`Feature::BatchAckV2`], empty otherwise.
    pub async fn recv_v2(&mut self) -> Result<BatchAckV2, ClientError> {
        match self.rx.recv().await {
            Some(r) => r,
            None => Err(explain(&self.conn, "ack reader ended")),
        }
    }
}
