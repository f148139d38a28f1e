//! A command that stops on purpose (a bad argument, a host that failed, a cluster in the
//! wrong state): its exit code, one message and what to do next. The CLI prints it once, at
//! the command's entry (`ez_cli::refusal::finish`), instead of each branch printing.

/// See the module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The exit code (kubeasz's: 1 for a failure, 2 for a bad argument).
    pub code: u8,
    pub message: String,
    /// What to do next, one line each.
    pub hints: Vec<String>,
}

impl Refusal {
    pub fn new(code: u8, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// A refusal whose reasons were printed already (one line each, as `ezctl: error:`
    /// lines): only its exit code is left to give.
    pub fn already_said(code: u8) -> Refusal {
        Refusal::new(code, "")
    }

    /// The same refusal with one more line of what to do next.
    pub fn hint(mut self, line: impl Into<String>) -> Refusal {
        self.hints.push(line.into());
        self
    }

    /// As the result of a command body (`return refuse(2, "…")`).
    pub fn into_result<T>(self) -> anyhow::Result<T> {
        Err(self.into())
    }
}
