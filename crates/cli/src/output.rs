//! Standard output that cannot be written: `ezctl … | head` closing the pipe, or stdout
//! redirected to a full disk. `println!` panics then (exit 101 and a backtrace); this makes it
//! what Unix tools do: a closed pipe ends the command quietly, any other failure is one line
//! naming the cause, exit 1.
//!
//! Invariant: only the standard library's "failed printing to stdout/stderr" panics are taken
//! over; every other panic keeps the default hook.

use std::io::Write;

/// The exit code of a command killed by SIGPIPE, as shells report it (128 + 13).
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// Installs the hook for `tool` (`ezctl`, `ezdown`). Call once, first thing in `main`.
pub fn install_guard(tool: &'static str) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        match classify(msg) {
            Some(Failure::ClosedPipe) => std::process::exit(BROKEN_PIPE_EXIT),
            Some(Failure::Other(cause)) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "{tool}: cannot write the output: {cause}"
                );
                std::process::exit(1)
            }
            None => default(info),
        }
    }));
}

#[derive(Debug, PartialEq, Eq)]
enum Failure<'a> {
    ClosedPipe,
    Other(&'a str),
}

/// The standard library's message for an output failure is its only sign: `failed printing
/// to stdout: <io error>` (std gives the panic no typed payload).
fn classify(msg: &str) -> Option<Failure<'_>> {
    let cause = msg
        .strip_prefix("failed printing to stdout: ")
        .or_else(|| msg.strip_prefix("failed printing to stderr: "))?;
    if cause.contains("os error 32") {
        Some(Failure::ClosedPipe)
    } else {
        Some(Failure::Other(cause))
    }
}

/// Writes `bytes` to stdout: a closed pipe stops quietly (Ok), another failure (a full disk)
/// is returned.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_output_failures_are_taken_over() {
        assert_eq!(
            classify("failed printing to stdout: Broken pipe (os error 32)"),
            Some(Failure::ClosedPipe)
        );
        assert_eq!(
            classify("failed printing to stdout: No space left on device (os error 28)"),
            Some(Failure::Other("No space left on device (os error 28)"))
        );
        assert_eq!(classify("index out of bounds"), None);
    }
}
