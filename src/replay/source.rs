//! Where a replay's batches come from, so that one pass (`pass.rs`)
//! runs a hub's recording (docs/RECORDING.md) and the cluster's events
//! stream (docs/CLUSTER.md) alike: each says how many shards the replay
//! runs on and hands its batches over, in order, with how far it is.
//!
//! The two differ in what a batch is. A recording holds a hub's device
//! batches whole, each run through every shard at its arrival as the
//! embedded hub's threads run it. The stream holds one partition's part
//! of a batch per message, and ticks (messages of no events) that its
//! owner wrote while the partition was quiet: the replay runs on as many
//! shards as the cluster has partitions, each message on its partition's
//! shard alone, so each partition keeps a watermark of its own moved by
//! its own log, as on whichever node owned it.

use crate::model::Event;
use crate::nats::stream_source::{Item, Opened, StreamError, StreamReader};
use crate::record::reader::{ReadError, ReadStats, Recording};
use serde::Serialize;
use std::path::Path;

/// What a pass reads.
pub enum Source<'a> {
    /// A recording directory, from `from` to `to` (arrival, Unix ms).
    Recording {
        /// The recording.
        recording: &'a Recording,
        /// From this arrival on.
        from: Option<i64>,
        /// Up to this arrival.
        to: Option<i64>,
    },
    /// The cluster's events stream, its range given when it was opened.
    Stream(StreamReader),
}

/// One batch a source hands over.
#[derive(Debug, Clone, Copy)]
pub enum Input<'e> {
    /// A hub's device batch, run through every shard at `arrival_ms`.
    Batch {
        /// The hub's clock at its arrival.
        arrival_ms: i64,
        /// Its events.
        events: &'e [Event],
    },
    /// One message of partition `partition`'s log; no events: a tick.
    Partition {
        /// Its partition (the replay's shard).
        partition: usize,
        /// The arrival time stamped on it.
        arrival_ms: i64,
        /// Its events.
        events: &'e [Event],
    },
}

/// How far a read is: bytes of a recording, messages of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of the range's segments.
    Bytes,
    /// Messages of the stream.
    Messages,
}

/// Where the messages of a stream read came from, and what they were.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStats {
    /// The stream's name.
    pub stream: String,
    /// The servers, comma-separated.
    pub servers: String,
    /// The stream's first sequence still held when the read began.
    pub first_seq: u64,
    /// Its last sequence then (where the read ends at the latest).
    pub last_seq: u64,
    /// Messages delivered (in the range or not).
    pub messages: u64,
    /// Ticks run (messages of no events, in the range).
    pub ticks: u64,
    /// Messages passed over: in a format this binary does not read.
    pub unreadable: u64,
    /// The first of them, said.
    pub first_unreadable: Option<String>,
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The recording.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The stream.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

impl Source<'_> {
    /// The shards the replay runs on: the recording hub's count (`None`:
    /// nothing recorded in the range), or the cluster's partitions.
    pub fn shards(&self) -> Result<Option<usize>, SourceError> {
        match self {
            Source::Recording {
                recording,
                from,
                to,
            } => match recording.in_range(*from, *to).first() {
                Some(first) => Ok(Some(crate::record::reader::partitions_of(&first.path)?)),
                None => Ok(None),
            },
            Source::Stream(reader) => Ok(Some(reader.opened().partitions.max(1))),
        }
    }

    /// The whole of the read, in its [`Unit`]: the range's bytes, or the
    /// messages up to the stream's last sequence.
    pub fn total(&self) -> (u64, Unit) {
        match self {
            Source::Recording {
                recording,
                from,
                to,
            } => (
                recording.in_range(*from, *to).iter().map(|s| s.bytes).sum(),
                Unit::Bytes,
            ),
            Source::Stream(reader) => {
                let o = reader.opened();
                (o.last_seq.saturating_sub(o.first_seq) + 1, Unit::Messages)
            }
        }
    }

    /// What the source is, for the report's title.
    pub fn describe(&self) -> String {
        match self {
            Source::Recording { recording, .. } => recording.dir().display().to_string(),
            Source::Stream(reader) => {
                let o = reader.opened();
                format!("events stream {} at {}", o.stream, o.servers)
            }
        }
    }

    /// The recording's directory, if it is one.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Source::Recording { recording, .. } => Some(recording.dir()),
            Source::Stream(_) => None,
        }
    }

    /// Hands every batch of the range to `each`, in order, with how far
    /// the read is (in [`Source::total`]'s unit).
    pub fn read(
        &mut self,
        mut each: impl FnMut(Input<'_>, u64),
    ) -> Result<(ReadStats, Option<StreamStats>), SourceError> {
        match self {
            Source::Recording {
                recording,
                from,
                to,
            } => {
                let stats = recording.read(*from, *to, |arrival_ms, events, done| {
                    each(Input::Batch { arrival_ms, events }, done)
                })?;
                Ok((stats, None))
            }
            Source::Stream(reader) => {
                let (read, stream) = read_stream(reader, each)?;
                Ok((read, Some(stream)))
            }
        }
    }
}

/// The stream's messages in the range, handed on one by one.
fn read_stream(
    reader: &mut StreamReader,
    mut each: impl FnMut(Input<'_>, u64),
) -> Result<(ReadStats, StreamStats), StreamError> {
    let o: Opened = reader.opened().clone();
    let mut read = ReadStats {
        partitions: o.partitions.min(usize::from(u16::MAX)) as u16,
        ..ReadStats::default()
    };
    let mut stats = StreamStats {
        stream: o.stream,
        servers: o.servers,
        first_seq: o.first_seq,
        last_seq: o.last_seq,
        ..StreamStats::default()
    };
    let done = |seq: u64| seq.saturating_sub(o.first_seq) + 1;
    while let Some(item) = reader.next_item() {
        stats.messages += 1;
        match item? {
            Item::Message(m) => {
                if m.events.is_empty() {
                    stats.ticks += 1;
                } else {
                    read.batches += 1;
                    read.events += m.events.len() as u64;
                }
                let input = Input::Partition {
                    partition: m.partition,
                    arrival_ms: m.arrival_ms,
                    events: &m.events,
                };
                each(input, done(m.seq));
            }
            Item::Passed { unreadable, .. } => {
                if let Some(why) = unreadable {
                    stats.unreadable += 1;
                    stats.first_unreadable.get_or_insert(why);
                }
            }
        }
    }
    Ok((read, stats))
}
