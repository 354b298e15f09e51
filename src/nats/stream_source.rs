//! The cluster's events stream read back as a recording, for `tongguan
//! replay --nats`: a time range of `<PREFIX>_EVENTS`, message by message
//! in stream order, each with its partition (from its subject), the
//! arrival time ingest stamped (format 1: the time the stream stored it)
//! and its events; a message of no events is a tick its partition's owner
//! wrote while the partition was quiet.
//!
//! Reading changes nothing on the servers: the stream is looked up, never
//! created (a missing one is an error naming it), and read through an
//! ephemeral ordered consumer, which the server drops once the reader
//! goes. The read ends at the stream's last sequence as of the start, or
//! at the first message stored past the range, so it is bounded however
//! busy the district is.
//!
//! The async side runs on a tokio runtime of its own on a thread of its
//! own; the replay, synchronous, takes the messages from a bounded queue
//! (the reader waits while the replay is behind, no message is dropped).

use super::connect::{connect, ClusterError, Names};
use crate::config::cluster::ClusterConfig;
use crate::engine::partition::shard_of;
use crate::model::Event;
use crate::wire::event_log;
use async_nats::jetstream::{self, consumer, consumer::DeliverPolicy};
use futures_util::StreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Messages queued between the reader and the replay.
const QUEUE: usize = 1024;
/// How far a message's stored time may be ahead of the arrival ingest
/// stamped on it (a part published again after a leader election, the
/// clocks of the ingesting node and of the servers): the read starts this
/// much before `from` and ends this much after `to`, by stored time, and
/// keeps the messages whose arrival is in the range.
const SLACK_MS: i64 = 60_000;
/// The longest the stream may stay silent while messages up to the last
/// sequence are still to come.
const STALL: Duration = Duration::from_secs(30);

/// Why the events stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The servers could not be reached.
    #[error(transparent)]
    Connect(#[from] ClusterError),
    /// No events stream of that name on the servers.
    #[error("no events stream {stream} on {servers}: is cluster.prefix the cluster's (it names the stream), and has a node of the cluster run on these servers?")]
    NoStream {
        /// The stream looked for.
        stream: String,
        /// The servers asked.
        servers: String,
    },
    /// JetStream refused or failed a request.
    #[error("events stream {stream}: {what}: {message}")]
    JetStream {
        /// The stream.
        stream: String,
        /// What was asked.
        what: &'static str,
        /// What the server or client said.
        message: String,
    },
    /// A message of another partition map than the config's.
    #[error("events stream: message {seq} on {subject} does not belong to a map of {partitions} partitions: give the cluster's config (cluster.partitions)")]
    Partitions {
        /// The message's stream sequence.
        seq: u64,
        /// Its subject.
        subject: String,
        /// The config's partition count.
        partitions: usize,
    },
    /// Nothing came for a while although the last sequence was not read.
    #[error("events stream {stream}: nothing delivered for {secs} s after message {seq}, before the last ({last})")]
    Stalled {
        /// The stream.
        stream: String,
        /// How long it was silent.
        secs: u64,
        /// The last message delivered (0: none).
        seq: u64,
        /// The last sequence as of the start.
        last: u64,
    },
    /// The reading thread or its runtime could not start.
    #[error("events stream reader: {0}")]
    Thread(std::io::Error),
}

/// Which messages to read: by arrival time, Unix ms, inclusive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    /// From this arrival on.
    pub from: Option<i64>,
    /// Up to this arrival.
    pub to: Option<i64>,
}

/// The stream as found at the start of a read.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The stream's name.
    pub stream: String,
    /// The servers, comma-separated.
    pub servers: String,
    /// Partitions of the map (the config's).
    pub partitions: usize,
    /// The stream's first sequence still held (retention deletes older).
    pub first_seq: u64,
    /// The last sequence when the read began: where it ends at the latest.
    pub last_seq: u64,
    /// When the oldest message still held was stored, Unix ms (0: the
    /// stream is empty).
    pub first_ms: i64,
    /// When the last message was stored, Unix ms (0: the stream is empty).
    pub last_ms: i64,
    /// The cluster's rules in force now (`<prefix>_rules`, the rules
    /// file's text as a desk put it), if the bucket holds them.
    pub rules: Option<RulesInForce>,
}

/// The rules file the cluster runs, as read when the read began.
#[derive(Debug, Clone)]
pub struct RulesInForce {
    /// The bucket.
    pub bucket: String,
    /// The key's revision.
    pub revision: u64,
    /// The rules file's text.
    pub text: String,
}

/// One message of the stream, in the range.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    /// Its stream sequence.
    pub seq: u64,
    /// Its partition.
    pub partition: usize,
    /// The engine's time for it: the arrival ingest (or, for a tick, the
    /// partition's owner) stamped, Unix ms.
    pub arrival_ms: i64,
    /// Its events; none: a tick.
    pub events: Vec<Event>,
}

/// What the reader hands on.
#[derive(Debug)]
pub enum Item {
    /// A message in the range.
    Message(StreamMessage),
    /// A message out of the range (by its arrival) or in a format this
    /// binary does not read (passed over, as a partition's owner passes
    /// over it): it counts for the progress only.
    Passed {
        /// Its stream sequence.
        seq: u64,
        /// Why it cannot be read, if that is why.
        unreadable: Option<String>,
    },
}

/// A read of the events stream under way; dropping it stops the read.
pub struct StreamReader {
    opened: Opened,
    items: mpsc::Receiver<Result<Item, StreamError>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StreamReader {
    /// Connects with `cfg` (servers, token, credentials, TLS, prefix,
    /// partitions), finds the events stream and starts reading `range`;
    /// returns once the stream is found (or not).
    pub fn open(cfg: &ClusterConfig, range: Range) -> Result<StreamReader, StreamError> {
        let (opened_tx, opened_rx) = oneshot::channel();
        let (tx, items) = mpsc::channel(QUEUE);
        let cfg = cfg.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StreamError::Thread)?;
        let thread = std::thread::Builder::new()
            .name("replay-stream".into())
            .spawn(move || runtime.block_on(read(cfg, range, opened_tx, tx)))
            .map_err(StreamError::Thread)?;
        let mut reader = StreamReader {
            opened: Opened {
                stream: String::new(),
                servers: String::new(),
                partitions: 0,
                first_seq: 0,
                last_seq: 0,
                first_ms: 0,
                last_ms: 0,
                rules: None,
            },
            items,
            thread: Some(thread),
        };
        match opened_rx.blocking_recv() {
            Ok(Ok(opened)) => {
                reader.opened = opened;
                Ok(reader)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StreamError::Thread(std::io::Error::other(
                "the reading thread ended before it found the stream",
            ))),
        }
    }

    /// The stream as found at the start.
    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    /// The next message, waiting for it; `None` at the end of the range.
    pub fn next_item(&mut self) -> Option<Result<Item, StreamError>> {
        self.items.blocking_recv()
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // Closing the queue ends the reader at its next send.
        self.items.close();
        while self.items.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Items = mpsc::Sender<Result<Item, StreamError>>;

/// The reading thread: finds the stream, says so, then reads the range
/// into `tx` until its end, an error, or the replay gone.
async fn read(
    cfg: ClusterConfig,
    range: Range,
    opened_tx: oneshot::Sender<Result<Opened, StreamError>>,
    tx: Items,
) {
    let found = find(&cfg).await;
    let (js, opened) = match found {
        Ok(found) => found,
        Err(e) => {
            let _ = opened_tx.send(Err(e));
            return;
        }
    };
    if opened_tx.send(Ok(opened.clone())).is_err() {
        return;
    }
    if let Err(e) = deliver(&js, &cfg, &opened, range, &tx).await {
        let _ = tx.send(Err(e)).await;
    }
}

/// Connects and looks the events stream up (never creating it).
async fn find(cfg: &ClusterConfig) -> Result<(jetstream::Context, Opened), StreamError> {
    let client = connect(cfg, "replay").await?;
    let js = jetstream::new(client);
    let names = Names::new(&cfg.prefix);
    let name = names.events_stream();
    let servers = cfg.servers.join(",");
    let stream = js.get_stream(&name).await.map_err(|e| {
        use async_nats::jetstream::context::GetStreamErrorKind;
        match e.kind() {
            GetStreamErrorKind::JetStream(j)
                if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                StreamError::NoStream {
                    stream: name.clone(),
                    servers: servers.clone(),
                }
            }
            _ => StreamError::JetStream {
                stream: name.clone(),
                what: "looking it up",
                message: e.to_string(),
            },
        }
    })?;
    let state = &stream.cached_info().state;
    let held = |t| if state.messages == 0 { 0 } else { unix_ms(t) };
    let opened = Opened {
        stream: name,
        servers,
        partitions: cfg.partitions as usize,
        first_seq: state.first_sequence,
        last_seq: state.last_sequence,
        first_ms: held(state.first_timestamp),
        last_ms: held(state.last_timestamp),
        rules: rules_in_force(&js, &names).await,
    };
    Ok((js, opened))
}

/// The cluster's rules in force, looked up (never created): none when
/// the bucket or its key is not there, or cannot be read.
async fn rules_in_force(js: &jetstream::Context, names: &Names) -> Option<RulesInForce> {
    let bucket = names.rules_bucket();
    let kv = js.get_key_value(&bucket).await.ok()?;
    let entry = kv
        .entry(crate::cluster::rules::RULES_KEY)
        .await
        .ok()
        .flatten()?;
    let text = String::from_utf8(entry.value.to_vec()).ok()?;
    Some(RulesInForce {
        bucket,
        revision: entry.revision,
        text,
    })
}

/// Reads the range through an ephemeral ordered consumer into `tx`.
async fn deliver(
    js: &jetstream::Context,
    cfg: &ClusterConfig,
    opened: &Opened,
    range: Range,
    tx: &Items,
) -> Result<(), StreamError> {
    let fail = |what: &'static str| {
        let stream = opened.stream.clone();
        move |e: &dyn std::fmt::Display| StreamError::JetStream {
            stream,
            what,
            message: e.to_string(),
        }
    };
    // Nothing held, or nothing stored since the range began: an ordered
    // consumer would wait for messages that never come.
    let empty = opened.last_seq == 0 || opened.last_seq < opened.first_seq;
    let before = range
        .from
        .is_some_and(|f| opened.last_ms < f.saturating_sub(SLACK_MS));
    let after = range
        .to
        .is_some_and(|t| opened.first_ms > t.saturating_add(SLACK_MS));
    if empty || before || after {
        return Ok(());
    }
    let deliver_policy = match range.from {
        Some(from) => DeliverPolicy::ByStartTime {
            start_time: system_time(from.saturating_sub(SLACK_MS)).into(),
        },
        None => DeliverPolicy::All,
    };
    let stream = js
        .get_stream_no_info(&opened.stream)
        .await
        .map_err(|e| fail("opening it")(&e))?;
    let ordered = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: format!("{}.events.*", cfg.prefix),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| fail("reading it")(&e))?;
    let mut messages = ordered
        .messages()
        .await
        .map_err(|e| fail("reading it")(&e))?;
    let prefix = format!("{}.events.", cfg.prefix);
    let mut last = 0u64;
    while last < opened.last_seq {
        // (The replay gone, the read ends without waiting for the next.)
        let next = tokio::select! {
            next = tokio::time::timeout(STALL, messages.next()) => next,
            () = tx.closed() => break,
        };
        let msg = match next {
            Ok(Some(Ok(msg))) => msg,
            Ok(Some(Err(e))) => return Err(fail("reading it")(&e)),
            Ok(None) => return Err(fail("reading it")(&"the consumer ended")),
            Err(_) => {
                return Err(StreamError::Stalled {
                    stream: opened.stream.clone(),
                    secs: STALL.as_secs(),
                    seq: last,
                    last: opened.last_seq,
                })
            }
        };
        let info = msg.info().map_err(|e| fail("a message's metadata")(&e))?;
        let (seq, stored_ms) = (info.stream_sequence, unix_ms(info.published));
        last = seq;
        if range
            .to
            .is_some_and(|t| stored_ms > t.saturating_add(SLACK_MS))
        {
            break;
        }
        let at = Stored {
            subject: msg.subject.as_str(),
            seq,
            stored_ms,
        };
        let item = message(at, &msg.payload, &prefix, opened.partitions, range)?;
        if tx.send(Ok(item)).await.is_err() {
            // The replay stopped reading.
            break;
        }
    }
    Ok(())
}

/// Where and when the stream stored a message.
#[derive(Debug, Clone, Copy)]
struct Stored<'a> {
    subject: &'a str,
    seq: u64,
    stored_ms: i64,
}

/// What one message of the stream is for the replay.
fn message(
    at: Stored<'_>,
    payload: &[u8],
    prefix: &str,
    partitions: usize,
    range: Range,
) -> Result<Item, StreamError> {
    let Stored {
        subject,
        seq,
        stored_ms,
    } = at;
    let wrong = || StreamError::Partitions {
        seq,
        subject: subject.to_owned(),
        partitions,
    };
    let partition: usize = subject
        .strip_prefix(prefix)
        .and_then(|p| p.parse().ok())
        .filter(|&p| p < partitions)
        .ok_or_else(wrong)?;
    let mut events = Vec::new();
    let part = match event_log::decode(payload, &mut events) {
        Ok(part) => part,
        Err(e) => {
            return Ok(Item::Passed {
                seq,
                unreadable: Some(format!("message {seq} on {subject}: {e}")),
            })
        }
    };
    // Ingest put each event on the subject of its cell's partition: one
    // elsewhere says the map has another size than the config's.
    if events
        .iter()
        .any(|e| shard_of(e.cell, partitions) != partition)
    {
        return Err(wrong());
    }
    let arrival_ms = part.arrival_ms.unwrap_or(stored_ms);
    let outside =
        range.from.is_some_and(|f| arrival_ms < f) || range.to.is_some_and(|t| arrival_ms > t);
    if outside {
        return Ok(Item::Passed {
            seq,
            unreadable: None,
        });
    }
    Ok(Item::Message(StreamMessage {
        seq,
        partition,
        arrival_ms,
        events,
    }))
}

fn system_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn unix_ms(t: impl Into<SystemTime>) -> i64 {
    match t.into().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CameraRef, Category, Source};

    const T: i64 = 1_780_000_000_000;

    fn smoke(cell: u64) -> Event {
        Event {
            device: 7,
            seq: 1,
            time_ms: T,
            value: 8.0,
            lat: 31.25,
            lon: 121.41,
            cell,
            category: Category::Smoke,
            source: Source::Sensor,
            camera: CameraRef::NONE,
        }
    }

    fn at(subject: &str) -> Stored<'_> {
        Stored {
            subject,
            seq: 9,
            stored_ms: T + 40,
        }
    }

    #[test]
    fn a_part_runs_on_its_subjects_partition_at_its_arrival_and_a_tick_has_no_events() {
        let cell = crate::geo::cell_of(31.25, 121.41).unwrap();
        let p = shard_of(cell, 64);
        let subject = format!("tg.events.{p}");
        let mut bytes = Vec::new();
        event_log::encode(T + 5, &[smoke(cell)], &mut bytes);
        let Ok(Item::Message(m)) =
            message(at(&subject), &bytes, "tg.events.", 64, Range::default())
        else {
            panic!("a message");
        };
        assert_eq!((m.seq, m.partition, m.arrival_ms), (9, p, T + 5));
        assert_eq!(m.events, [smoke(cell)]);
        let mut tick = Vec::new();
        event_log::encode(T + 9, &[], &mut tick);
        let Ok(Item::Message(t)) =
            message(at("tg.events.3"), &tick, "tg.events.", 64, Range::default())
        else {
            panic!("a tick");
        };
        assert_eq!((t.partition, t.arrival_ms, t.events.len()), (3, T + 9, 0));
        // Format 1 had no arrival: the time the stream stored it.
        let old = [&[1u8][..], &bytes[9..]].concat();
        let Ok(Item::Message(m)) = message(at(&subject), &old, "tg.events.", 64, Range::default())
        else {
            panic!("a message of format 1");
        };
        assert_eq!(m.arrival_ms, T + 40);
    }

    #[test]
    fn out_of_range_unreadable_and_another_maps_messages_are_told_apart() {
        let cell = crate::geo::cell_of(31.25, 121.41).unwrap();
        let p = shard_of(cell, 64);
        let subject = format!("tg.events.{p}");
        let mut bytes = Vec::new();
        event_log::encode(T, &[smoke(cell)], &mut bytes);
        let later = Range {
            from: Some(T + 1),
            to: None,
        };
        let got = message(at(&subject), &bytes, "tg.events.", 64, later);
        assert!(
            matches!(
                got,
                Ok(Item::Passed {
                    unreadable: None,
                    ..
                })
            ),
            "{got:?}"
        );
        let got = message(at(&subject), &[3, 0], "tg.events.", 64, Range::default());
        assert!(
            matches!(&got, Ok(Item::Passed { unreadable: Some(why), .. }) if why.contains("format")),
            "{got:?}"
        );
        // The config says 32 partitions: the subject or the cell disagree.
        let wrong = message(
            at("tg.events.40"),
            &bytes,
            "tg.events.",
            32,
            Range::default(),
        );
        assert!(
            matches!(wrong, Err(StreamError::Partitions { .. })),
            "{wrong:?}"
        );
        let other = format!("tg.events.{}", (p + 1) % 64);
        let wrong = message(at(&other), &bytes, "tg.events.", 64, Range::default());
        assert!(
            matches!(wrong, Err(StreamError::Partitions { .. })),
            "{wrong:?}"
        );
    }
}
