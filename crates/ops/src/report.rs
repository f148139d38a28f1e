//! Where a running operation reports what happens (the engine's events, each playbook's
//! summary): the CLI's display, which prints them for a person or as JSON lines. The library
//! itself decides nothing by what is printed.

use ez_play::{Event, Summary};
use std::sync::Arc;

/// Receives an operation's events and summaries; called from many hosts' tasks at once.
pub trait Report: Send + Sync {
    fn event(&self, e: &Event);
    fn summary(&self, s: &Summary);
    /// A phase of an operation started or ended (see [`crate::phase`]); ignored by default.
    fn phase(&self, _p: &crate::phase::PhaseEvent) {}
}

/// A shareable [`Report`]; the default reports nothing (tests, embedding callers that only
/// look at the returned summaries).
#[derive(Clone, Default)]
pub struct Reporter(Option<Arc<dyn Report>>);

impl Reporter {
    pub fn new(r: Arc<dyn Report>) -> Reporter {
        Reporter(Some(r))
    }

    pub fn event(&self, e: &Event) {
        if let Some(r) = &self.0 {
            r.event(e);
        }
    }

    pub fn summary(&self, s: &Summary) {
        if let Some(r) = &self.0 {
            r.summary(s);
        }
    }

    pub fn phase(&self, p: &crate::phase::PhaseEvent) {
        if let Some(r) = &self.0 {
            r.phase(p);
        }
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Reporter(set)"
        } else {
            "Reporter(none)"
        })
    }
}
