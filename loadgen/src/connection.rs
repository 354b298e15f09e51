//! 每连接一线程 / A thread per device connection, pinned to a core where
//! the OS allows, with a single-threaded tokio runtime of its own: the
//! connection's QUIC endpoint, its ack reader and its sender all run on
//! it, so a connection's work never hops between threads and no
//! connection waits behind another's.
//!
//! The thread connects, says it is ready, and waits for the run's common
//! start time, so every connection's schedule begins at the same instant
//! after all of them are connected.

use crate::sender::Sender;
use anyhow::{Context, Result};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tongguan::client::{ClientOptions, DeviceClient};

/// What a connection's thread needs besides its client options.
pub type MakeSender = Box<dyn FnOnce(DeviceClient) -> Sender + Send>;

/// A started connection thread.
pub struct Connection {
    start: oneshot::Sender<Instant>,
    thread: std::thread::JoinHandle<Result<()>>,
}

impl Connection {
    /// Starts connection `index`'s thread; it reports on `ready` once
    /// connected (or why not).
    pub fn spawn(
        index: usize,
        opts: ClientOptions,
        make: MakeSender,
        ready: mpsc::UnboundedSender<Result<()>>,
    ) -> Result<Connection> {
        let (start, started) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("sender-{index}"))
            .spawn(move || {
                pin(index);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting a sender's runtime")?;
                runtime.block_on(async move {
                    let client = match DeviceClient::connect(&opts).await {
                        Ok(c) => c,
                        Err(e) => {
                            let e = anyhow::Error::new(e).context("connecting a device");
                            let _ = ready.send(Err(anyhow::anyhow!("{e:#}")));
                            return Err(e);
                        }
                    };
                    let _ = ready.send(Ok(()));
                    let Ok(at) = started.await else {
                        return Ok(()); // the run ended before it started
                    };
                    make(client).run(at).await
                })
            })
            .context("starting a sender thread")?;
        Ok(Connection { start, thread })
    }

    /// Lets the connection send from `at`; returns a handle to join.
    pub fn go(self, at: Instant) -> std::thread::JoinHandle<Result<()>> {
        let _ = self.start.send(at);
        self.thread
    }
}

/// Pins the calling thread to core `index` modulo the cores this process
/// may use; where the OS does not allow it the thread just runs unpinned.
fn pin(index: usize) {
    let Some(cores) = core_affinity::get_core_ids().filter(|c| !c.is_empty()) else {
        return;
    };
    let core = cores[index % cores.len()];
    if !core_affinity::set_for_current(core) {
        tracing::debug!(index, "sender thread not pinned");
    }
}
