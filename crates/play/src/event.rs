//! Progress events of a run (printed live, or as JSON lines with `--json`) and the summary.

use serde::Serialize;
use std::collections::BTreeMap;

/// How a task ended on a host.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Ok,
    Changed,
    Skipped,
    Resumed,
    Failed,
}

/// How one relay attempt ended.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RelayOutcome {
    /// The file is in place, every byte checked against the deploy host's sha256.
    Ok,
    /// This source failed (nothing was placed); the file is tried from another source.
    Retry,
    /// `--plan`: where the file would come from.
    Planned,
}

/// One event of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlayStarted {
        playbook: String,
        play: usize,
        roles: Vec<String>,
        hosts: Vec<String>,
    },
    Task {
        host: String,
        role: String,
        task: String,
        status: TaskStatus,
        detail: String,
    },
    Note {
        host: String,
        task: String,
        note: String,
    },
    /// A bundle file that travelled by relay (or was planned to): which host got it from
    /// where (`from`: `deploy` or a peer host), and how that attempt ended.
    Relay {
        host: String,
        file: String,
        sha256: String,
        bytes: u64,
        from: String,
        outcome: RelayOutcome,
        detail: String,
        ms: u64,
    },
    HostFailed {
        host: String,
        step: String,
        role: String,
        task: String,
        message: String,
    },
}

/// Totals of one host.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HostSummary {
    pub ok: usize,
    pub changed: usize,
    pub skipped: usize,
    pub resumed: usize,
    /// Bytes of files transferred to this host.
    pub transferred: u64,
    /// Milliseconds spent placing files on this host.
    pub transfer_ms: u64,
    /// Milliseconds this host spent in the playbook's plays.
    pub elapsed_ms: u64,
    /// The failure that stopped this host, already phrased for a human.
    pub failed: Option<String>,
}

/// Totals of a run, per host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub playbook: String,
    pub plan: bool,
    pub hosts: BTreeMap<String, HostSummary>,
}

impl Summary {
    pub fn changed(&self) -> usize {
        self.hosts.values().map(|h| h.changed).sum()
    }
    pub fn failures(&self) -> Vec<(&str, &str)> {
        self.hosts
            .iter()
            .filter_map(|(h, s)| s.failed.as_deref().map(|f| (h.as_str(), f)))
            .collect()
    }
    pub fn transferred(&self) -> u64 {
        self.hosts.values().map(|h| h.transferred).sum()
    }
}
