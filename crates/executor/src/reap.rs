//! Commands that time out or are cancelled do not keep running on the host.
//!
//! sshd starts every exec channel's shell in a new session (`setsid`), so that shell's pid is
//! the process group of everything the command starts (non-interactive shells do no job
//! control). The command line first prints `\x1eEZPID <pid>\x1e` on stderr; [`PidMarker`]
//! takes it out of the stream the caller sees, and [`kill_group`] signals the group when the
//! command has to be abandoned: TERM, then KILL a moment later.
//!
//! Invariant: the caller's stderr is passed through byte for byte apart from the marker;
//! when no marker shows up in the first [`SCAN_LIMIT`] bytes, nothing is removed.

use std::time::Duration;

const START: u8 = 0x1e;
const TAG: &[u8] = b"EZPID ";
/// How much of stderr is searched for the marker (rc-file noise may precede it).
pub(crate) const SCAN_LIMIT: usize = 4096;

/// Prefix for a command line: prints the marker.
pub(crate) const PRINT_PID: &str = "printf '\\036EZPID %s\\036' \"$$\" >&2; ";

/// Finds and strips the marker from the start of a stderr stream.
#[derive(Debug, Default)]
pub(crate) struct PidMarker {
    held: Vec<u8>,
    done: bool,
    pub(crate) pid: Option<u32>,
}

impl PidMarker {
    /// Feeds stderr bytes; returns the bytes to pass on (possibly none yet).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        if self.done {
            return data.to_vec();
        }
        self.held.extend_from_slice(data);
        if let Some(start) = self.held.iter().position(|b| *b == START)
            && let Some(len) = self.held[start + 1..].iter().position(|b| *b == START)
        {
            let body = &self.held[start + 1..start + 1 + len];
            if let Some(num) = body.strip_prefix(TAG) {
                self.pid = std::str::from_utf8(num).ok().and_then(|s| s.parse().ok());
                let mut out = self.held[..start].to_vec();
                out.extend_from_slice(&self.held[start + 2 + len..]);
                self.done = true;
                self.held.clear();
                return out;
            }
        }
        if self.held.len() > SCAN_LIMIT {
            self.done = true;
            return std::mem::take(&mut self.held);
        }
        Vec::new()
    }

    /// Whatever is still held back (the stream ended without a complete marker).
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.done = true;
        std::mem::take(&mut self.held)
    }
}

/// The command that ends process group `pid` on the host.
pub(crate) fn kill_command(pid: u32) -> String {
    format!(
        "kill -TERM -- -{pid} 2>/dev/null || exit 0; sleep 1; kill -KILL -- -{pid} 2>/dev/null; exit 0"
    )
}

/// How long the kill itself may take.
pub(crate) const KILL_BUDGET: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_removed_even_when_split_and_preceded() {
        let mut m = PidMarker::default();
        let mut out = m.feed(b"rc noise\n\x1eEZP");
        assert!(out.is_empty());
        out.extend(m.feed(b"ID 4242\x1ereal stderr"));
        out.extend(m.feed(b" more"));
        assert_eq!(m.pid, Some(4242));
        assert_eq!(out, b"rc noise\nreal stderr more");
    }

    #[test]
    fn without_a_marker_nothing_is_lost() {
        let mut m = PidMarker::default();
        let big = vec![b'x'; SCAN_LIMIT + 1];
        assert_eq!(m.feed(&big), big);
        assert_eq!(m.feed(b"\x1eEZPID 1\x1e"), b"\x1eEZPID 1\x1e");
        let mut m = PidMarker::default();
        assert!(m.feed(b"short").is_empty());
        assert_eq!(m.finish(), b"short");
        assert_eq!(m.pid, None);
    }

    #[test]
    fn the_prefix_prints_what_the_parser_reads() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{PRINT_PID}echo hi >&2"))
            .output()
            .unwrap();
        let mut m = PidMarker::default();
        let mut passed = m.feed(&out.stderr);
        passed.extend(m.finish());
        assert_eq!(passed, b"hi\n");
        assert!(m.pid.is_some_and(|p| p > 1));
    }
}
