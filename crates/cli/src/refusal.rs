//! A command that stops on purpose (a bad argument, a host that failed, a cluster in the
//! wrong state): its exit code, one message and what to do next, printed once by
//! [`finish`] at the command's entry instead of by each branch.
//!
//! Invariant: what [`finish`] prints and returns is what the branches printed and returned
//! before (`ezctl: error: <message>`, each hint on its own line indented under it).

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

/// Prints a refusal the way ezctl always has and turns it into its exit code; other results
/// pass through unchanged.
pub fn finish(r: anyhow::Result<u8>) -> anyhow::Result<u8> {
    match r {
        Err(e) => match e.downcast::<Refusal>() {
            Ok(x) => {
                eprintln!("ezctl: error: {}", x.message);
                for h in &x.hints {
                    eprintln!("       {h}");
                }
                Ok(x.code)
            }
            Err(other) => Err(other),
        },
        ok => ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_becomes_its_code_and_other_errors_pass() {
        let r: anyhow::Result<u8> = Refusal::new(2, "Invalid ip add:x").hint("h").into_result();
        assert_eq!(finish(r).unwrap(), 2);
        assert_eq!(finish(Ok(0)).unwrap(), 0);
        assert!(finish(Err(anyhow::anyhow!("io"))).is_err());
    }
}
