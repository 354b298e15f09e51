//! The recording thread: takes batches off the bounded queue, keeps the
//! sampled devices' events, encodes each batch as one record, appends it
//! to the current segment and its time index, begins a new segment past
//! `record.segment_bytes` (deleting the oldest past the retention), and
//! hands what it buffered to the file system whenever the queue is empty.
//! A write that fails is counted and closes the segment; the next batch
//! begins a new one.

use super::sample::DeviceSample;
use super::segments::{self, segment_name};
use super::Msg;
use crate::config::record::{RecordConfig, RecordMode};
use crate::metrics::RecordMetrics;
use crate::model::Event;
use crossbeam_channel::Receiver;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use tongguan_core::replay::format::{encode_index_entry, encode_record, SegmentHeader, HEADER_LEN};

/// The segment being written.
struct Open {
    path: PathBuf,
    file: BufWriter<File>,
    index: BufWriter<File>,
    written: u64,
}

/// The recording thread's state.
pub(super) struct Writer {
    dir: PathBuf,
    partitions: u16,
    sample: Option<DeviceSample>,
    segment_bytes: u64,
    max_bytes: u64,
    max_age_ms: i64,
    metrics: RecordMetrics,
    current: Option<Open>,
    buf: Vec<u8>,
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        config: &RecordConfig,
        partitions: usize,
        metrics: RecordMetrics,
    ) -> Writer {
        Writer {
            dir,
            partitions: partitions.min(u16::MAX as usize) as u16,
            sample: (config.mode == RecordMode::Sample).then(|| DeviceSample::new(config.sample)),
            segment_bytes: config.segment_bytes,
            max_bytes: config.max_bytes,
            max_age_ms: config.max_age.as_millis().min(i64::MAX as u128) as i64,
            metrics,
            current: None,
            buf: Vec::with_capacity(1 << 20),
        }
    }

    /// Runs until every sender is gone, then writes out the rest.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Batch { arrival_ms, events } => self.append(arrival_ms, events),
                Msg::Flush(done) => {
                    self.flush();
                    let _ = done.send(());
                }
            }
            if rx.is_empty() {
                self.flush();
            }
        }
        self.flush();
    }

    fn append(&mut self, arrival_ms: i64, mut events: Vec<Event>) {
        if let Some(s) = self.sample {
            events.retain(|e| s.keeps(e.device));
        }
        if events.is_empty() {
            return;
        }
        self.buf.clear();
        encode_record(&mut self.buf, arrival_ms, &events);
        if self
            .current
            .as_ref()
            .is_none_or(|c| c.written >= self.segment_bytes)
        {
            self.begin(arrival_ms);
        }
        let Some(open) = &mut self.current else {
            return;
        };
        let offset = open.written;
        let wrote = open.file.write_all(&self.buf).and_then(|()| {
            open.index
                .write_all(&encode_index_entry(arrival_ms, offset))
        });
        match wrote {
            Ok(()) => {
                open.written += self.buf.len() as u64;
                self.metrics.batches.inc();
                self.metrics.events.inc_by(events.len() as u64);
                self.metrics.bytes.inc_by(self.buf.len() as u64);
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Closes the current segment and begins one at `arrival_ms`, then
    /// deletes what the retention says.
    fn begin(&mut self, arrival_ms: i64) {
        self.flush();
        self.current = None;
        match self.create(arrival_ms) {
            Ok(open) => self.current = Some(open),
            Err(e) => {
                self.failed(&e);
                return;
            }
        }
        let current = self.current.as_ref().map(|c| c.path.clone());
        match segments::retain(
            &self.dir,
            self.max_bytes,
            self.max_age_ms,
            arrival_ms,
            current.as_deref(),
        ) {
            Ok(n) => self.metrics.segments_deleted.inc_by(n as u64),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "recording retention failed")
            }
        }
    }

    fn create(&self, arrival_ms: i64) -> std::io::Result<Open> {
        let mut n = 0;
        let path = loop {
            let p = self.dir.join(segment_name(arrival_ms, n));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let mut file = BufWriter::with_capacity(1 << 20, File::create_new(&path)?);
        let header = SegmentHeader {
            partitions: self.partitions,
            created_ms: arrival_ms,
        };
        file.write_all(&header.encode())?;
        let index = BufWriter::new(File::create(path.with_extension(segments::INDEX_EXT))?);
        Ok(Open {
            path,
            file,
            index,
            written: HEADER_LEN as u64,
        })
    }

    fn flush(&mut self) {
        if let Some(open) = &mut self.current {
            if let Err(e) = open.file.flush().and_then(|()| open.index.flush()) {
                self.failed(&e);
            }
        }
    }

    fn failed(&mut self, e: &std::io::Error) {
        self.metrics.write_errors.inc();
        let path = self.current.take().map(|c| c.path);
        tracing::error!(
            segment = ?path,
            error = %e,
            "recording write failed: the segment is closed, the next batch begins a new one"
        );
    }
}
