//! An operation as a list of phases run in order by one [`Manager`] (the shape of k0sctl's
//! phase manager): each phase has a title and its work; the manager reports when each starts
//! and how it ended, and the operation stops at the first phase that fails.
//!
//! Invariant: a phase's work is what its title says and nothing else, so an operation reads
//! top to bottom as its list of `manager.run("title", work)` calls.

use crate::report::Reporter;
use std::future::Future;
use std::time::Instant;

/// How a phase ended (or that it started), as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseState {
    Started,
    Done,
    Failed,
}

/// One report about a phase: the operation (`del-node default 10.0.0.5`), the phase's title,
/// its state and, once ended, how long it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseEvent {
    pub operation: String,
    pub phase: String,
    pub state: PhaseState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

/// Runs an operation's phases in order and reports each (see the module).
pub struct Manager {
    operation: String,
    reporter: Reporter,
    done: Vec<String>,
}

impl Manager {
    pub fn new(operation: impl Into<String>, reporter: Reporter) -> Manager {
        Manager {
            operation: operation.into(),
            reporter,
            done: Vec::new(),
        }
    }

    /// Runs one phase: reports it started, awaits `work`, reports how it ended.
    pub async fn run<T, E>(
        &mut self,
        title: &str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.report(title, PhaseState::Started, None);
        let t0 = Instant::now();
        let r = work.await;
        let ms = Some(t0.elapsed().as_millis() as u64);
        match &r {
            Ok(_) => {
                self.report(title, PhaseState::Done, ms);
                self.done.push(title.to_string());
            }
            Err(_) => self.report(title, PhaseState::Failed, ms),
        }
        r
    }

    /// The titles of the phases that ended well, in order.
    pub fn done(&self) -> &[String] {
        &self.done
    }

    fn report(&self, phase: &str, state: PhaseState, ms: Option<u64>) {
        tracing::debug!(operation = %self.operation, phase, ?state, ?ms, "phase");
        self.reporter.phase(&PhaseEvent {
            operation: self.operation.clone(),
            phase: phase.to_string(),
            state,
            ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use std::sync::{Arc, Mutex};

    struct Seen(Mutex<Vec<(String, PhaseState)>>);
    impl Report for Seen {
        fn event(&self, _: &ez_play::Event) {}
        fn summary(&self, _: &ez_play::Summary) {}
        fn phase(&self, p: &PhaseEvent) {
            self.0.lock().unwrap().push((p.phase.clone(), p.state));
        }
    }

    #[tokio::test]
    async fn phases_run_in_order_and_the_first_failure_stops_the_operation() {
        let seen = Arc::new(Seen(Mutex::default()));
        let mut m = Manager::new("op", Reporter::new(seen.clone()));
        let run = async {
            let a = m.run("one", async { Ok::<_, String>(1) }).await?;
            m.run("two", async { Err::<u8, _>(format!("broke after {a}")) })
                .await?;
            m.run("three", async { Ok::<_, String>(3) }).await
        };
        assert_eq!(run.await, Err("broke after 1".to_string()));
        assert_eq!(m.done(), ["one"]);
        let got = seen.0.lock().unwrap().clone();
        use PhaseState::*;
        let want = [
            ("one", Started),
            ("one", Done),
            ("two", Started),
            ("two", Failed),
        ];
        assert_eq!(
            got,
            want.map(|(p, s)| (p.to_string(), s)).to_vec(),
            "three never started"
        );
    }
}
