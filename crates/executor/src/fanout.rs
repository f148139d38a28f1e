//! Running one async operation over many hosts with bounded concurrency.

use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::error::ExecError;
use crate::{HostHandle, HostSpec};

/// What to do with the other hosts when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Let every host finish (default).
    #[default]
    RunAll,
    /// Cancel in-flight operations and start no new ones after the first failure.
    FailFast,
}

/// Fan-out settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// At most this many hosts in flight (min 1; default 30).
    pub forks: usize,
    /// Failure handling.
    pub mode: FailMode,
}

impl Default for FanOut {
    fn default() -> Self {
        FanOut {
            forks: 30,
            mode: FailMode::RunAll,
        }
    }
}

/// Something with a host name, for reports.
pub trait HostLabel {
    /// The name used in reports.
    fn host_label(&self) -> String;
}

impl HostLabel for HostHandle {
    fn host_label(&self) -> String {
        self.name().to_string()
    }
}
impl HostLabel for HostSpec {
    fn host_label(&self) -> String {
        self.name.clone()
    }
}
impl HostLabel for String {
    fn host_label(&self) -> String {
        self.clone()
    }
}
impl HostLabel for &str {
    fn host_label(&self) -> String {
        (*self).to_string()
    }
}

/// One host's outcome.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The operation succeeded.
    Ok(T),
    /// The operation failed.
    Failed(ExecError),
    /// Cancelled or never started (fail-fast after another host failed).
    Cancelled,
}

/// One host's result, in input order.
#[derive(Debug)]
pub struct HostResult<T> {
    /// Host name.
    pub host: String,
    /// What happened.
    pub outcome: Outcome<T>,
}

/// Results of a fan-out, ordered like the input.
#[derive(Debug)]
pub struct FanOutReport<T> {
    /// One entry per input host, same order.
    pub results: Vec<HostResult<T>>,
    /// Index (into `results`) of the failure that happened first in time.
    pub first_failure: Option<usize>,
}

impl<T> FanOutReport<T> {
    /// The first failure (in time), if any.
    pub fn first_error(&self) -> Option<&ExecError> {
        self.first_failure
            .and_then(|i| match &self.results[i].outcome {
                Outcome::Failed(e) => Some(e),
                _ => None,
            })
    }

    /// True when every host succeeded.
    pub fn all_ok(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Ok(_)))
    }

    /// All values, or the first failure.
    pub fn into_result(self) -> Result<Vec<T>, ExecError> {
        let first = self.first_failure;
        let mut vals = Vec::with_capacity(self.results.len());
        let mut err = None;
        for (i, r) in self.results.into_iter().enumerate() {
            match r.outcome {
                Outcome::Ok(v) => vals.push(v),
                Outcome::Failed(e) if Some(i) == first => err = Some(e),
                Outcome::Failed(_) => {}
                Outcome::Cancelled => {}
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(vals),
        }
    }
}

/// Run `op` for every host with at most `opts.forks` in flight; results come back in input
/// order. In [`FailMode::FailFast`], the first failure drops (cancels) all in-flight
/// operations — a [`HostHandle`] operation is cancelled on the host within ~200 ms — and the
/// hosts not yet started are reported as [`Outcome::Cancelled`].
pub async fn fan_out<H, T, F, Fut>(hosts: Vec<H>, opts: FanOut, op: F) -> FanOutReport<T>
where
    H: HostLabel,
    F: Fn(H) -> Fut,
    Fut: Future<Output = Result<T, ExecError>>,
{
    let forks = opts.forks.max(1);
    let labels: Vec<String> = hosts.iter().map(HostLabel::host_label).collect();
    let mut slots: Vec<Option<Outcome<T>>> = (0..hosts.len()).map(|_| None).collect();
    let mut first_failure = None;
    {
        let mut pending = hosts.into_iter().enumerate();
        let mut running = FuturesUnordered::new();
        let op = &op;
        let start = |(i, h): (usize, H)| async move { (i, op(h).await) };
        for item in pending.by_ref().take(forks) {
            running.push(start(item));
        }
        while let Some((i, r)) = running.next().await {
            match r {
                Ok(v) => slots[i] = Some(Outcome::Ok(v)),
                Err(e) => {
                    slots[i] = Some(Outcome::Failed(e));
                    if first_failure.is_none() {
                        first_failure = Some(i);
                    }
                    if opts.mode == FailMode::FailFast {
                        break; // dropping `running` cancels the rest
                    }
                }
            }
            if let Some(item) = pending.next() {
                running.push(start(item));
            }
        }
    }
    let results = labels
        .into_iter()
        .zip(slots)
        .map(|(host, o)| HostResult {
            host,
            outcome: o.unwrap_or(Outcome::Cancelled),
        })
        .collect();
    FanOutReport {
        results,
        first_failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fail(host: &str) -> ExecError {
        ExecError::CommandFailed {
            host: host.into(),
            command: "false".into(),
            status: crate::ExitStatus::Code(1),
            stderr_tail: "boom".into(),
        }
    }

    #[tokio::test]
    async fn concurrency_never_exceeds_forks_and_order_is_kept() {
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let hosts: Vec<String> = (0..50).map(|i| format!("h{i}")).collect();
        let report = fan_out(
            hosts,
            FanOut {
                forks: 7,
                mode: FailMode::RunAll,
            },
            |h| {
                let (now, max) = (now.clone(), max.clone());
                async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ExecError>(h.len())
                }
            },
        )
        .await;
        assert_eq!(max.load(Ordering::SeqCst), 7);
        assert!(report.all_ok());
        assert_eq!(report.results.len(), 50);
        for (i, r) in report.results.iter().enumerate() {
            assert_eq!(r.host, format!("h{i}"));
        }
    }

    #[tokio::test]
    async fn run_all_reports_every_host_and_first_failure() {
        let hosts = vec!["a", "b", "c", "d"];
        let report = fan_out(
            hosts,
            FanOut {
                forks: 2,
                mode: FailMode::RunAll,
            },
            |h| async move {
                if h == "b" || h == "d" {
                    Err(fail(h))
                } else {
                    Ok(h)
                }
            },
        )
        .await;
        assert_eq!(report.first_failure, Some(1));
        assert!(matches!(report.results[0].outcome, Outcome::Ok("a")));
        assert!(matches!(report.results[2].outcome, Outcome::Ok("c")));
        assert!(matches!(report.results[3].outcome, Outcome::Failed(_)));
        let msg = report.first_error().unwrap().to_string();
        assert!(
            msg.contains("b:") && msg.contains("false") && msg.contains("boom"),
            "{msg}"
        );
        assert!(report.into_result().is_err());
    }

    #[tokio::test]
    async fn fail_fast_cancels_the_rest() {
        let started = Arc::new(AtomicUsize::new(0));
        let hosts: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
        let report = fan_out(
            hosts,
            FanOut {
                forks: 2,
                mode: FailMode::FailFast,
            },
            |h| {
                let started = started.clone();
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    if h == "h0" {
                        return Err(fail(&h));
                    }
                    // never finishes unless cancelled
                    std::future::pending::<()>().await;
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(report.first_failure, Some(0));
        // at most the first batch (forks = 2) was ever started
        assert!(started.load(Ordering::SeqCst) <= 2);
        assert!(
            report.results[1..]
                .iter()
                .all(|r| matches!(r.outcome, Outcome::Cancelled))
        );
    }

    #[tokio::test]
    async fn empty_input() {
        let r = fan_out(Vec::<String>::new(), FanOut::default(), |_| async {
            Ok::<_, ExecError>(())
        })
        .await;
        assert!(r.results.is_empty() && r.first_failure.is_none());
    }
}
