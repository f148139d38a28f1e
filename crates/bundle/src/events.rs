//! Progress events. The library emits them; the command line turns them into progress bars,
//! plain log lines, or one JSON object per line (`--json`).

use crate::cause::Breaker;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One thing that happened. Serialised with an `event` tag, e.g.
/// `{"event":"done","id":"kubelet",...}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A transfer started (or resumed from `resumed_from` bytes).
    Start {
        id: String,
        url: String,
        total: Option<u64>,
        resumed_from: u64,
    },
    /// Bytes received so far for `id` (throttled).
    Progress {
        id: String,
        bytes: u64,
        total: Option<u64>,
    },
    /// A transient failure; the same source is tried again after `delay_ms`.
    Retry {
        id: String,
        url: String,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    /// A source failed for good for this artifact; the next one is tried.
    SourceFailed {
        id: String,
        url: String,
        error: String,
    },
    /// A checksum did not match; the file was deleted and is fetched once more.
    Mismatch {
        id: String,
        url: String,
        expected: String,
        actual: String,
    },
    /// A file is in the bundle, verified.
    Done {
        id: String,
        path: String,
        sha256: String,
        size: u64,
        source: String,
    },
    /// Already present and verified: nothing fetched.
    Skipped { id: String, path: String },
    /// An artifact failed.
    Failed { id: String, error: String },
    /// Every request failed the same way: the run stopped trying (said once, not per item).
    Stopped { reason: String, not_fetched: usize },
    /// End of a run.
    Summary {
        files: usize,
        failed: usize,
        bytes_fetched: u64,
        seconds: f64,
    },
}

/// Where events go, plus what every transfer reports to: the byte counter and the run's
/// [`Breaker`].
#[derive(Clone)]
pub struct Events {
    sink: Arc<dyn Fn(&Event) + Send + Sync>,
    fetched: Arc<AtomicU64>,
    breaker: Arc<Breaker>,
}

impl Events {
    pub fn new(sink: impl Fn(&Event) + Send + Sync + 'static) -> Events {
        Events {
            sink: Arc::new(sink),
            fetched: Arc::new(AtomicU64::new(0)),
            breaker: Arc::default(),
        }
    }

    /// The same sink with `b` as the run's breaker.
    pub fn with_breaker(mut self, b: Breaker) -> Events {
        self.breaker = Arc::new(b);
        self
    }

    /// The run's breaker: told of answers and network failures, tripped when all fail alike.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Drops every event (the counter still counts).
    pub fn silent() -> Events {
        Events::new(|_| {})
    }

    pub fn emit(&self, e: Event) {
        (self.sink)(&e)
    }

    /// Records `n` bytes received from the network.
    pub fn add_fetched(&self, n: u64) {
        self.fetched.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes received from the network since this sink was made.
    pub fn bytes_fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Events(fetched={})", self.bytes_fetched())
    }
}
