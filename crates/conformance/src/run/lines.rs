//! Lines out of a log read in chunks, with the unfinished last line kept visible.
//!
//! Ginkgo's succinct reporter prints one `•` per finished spec on a line that ends only at the
//! next failure or at the end of the suite: a certified run that passes writes its whole
//! progress on one unfinished line for hours. So the log is read in chunks, complete lines go
//! out as they come, and the pending tail is there to count progress from.
//!
//! Invariant: bytes are split at `\n` before decoding, so a UTF-8 character cut by a chunk
//! boundary is never mangled in a complete line; the pending tail is decoded up to its last
//! complete character.

/// Splits chunks into lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk; returns the lines it completed (without their `\n`).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let Some(last_nl) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let rest = self.pending.split_off(last_nl + 1);
        let done = std::mem::replace(&mut self.pending, rest);
        done[..done.len() - 1]
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// The unfinished last line, up to its last complete character.
    pub fn pending(&self) -> &str {
        match std::str::from_utf8(&self.pending) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&self.pending[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// The unfinished last line, as a line, when the stream ended.
    pub fn finish(self) -> Option<String> {
        (!self.pending.is_empty()).then(|| String::from_utf8_lossy(&self.pending).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_a_pending_run_of_dots_across_chunks() {
        let mut s = LineSplitter::new();
        assert!(s.push(b"Will run 3 of 9 specs\n").len() == 1);
        let dot = "•".as_bytes();
        assert!(s.push(&dot[..2]).is_empty());
        assert_eq!(s.pending(), "", "half a character is not shown");
        assert!(s.push(&dot[2..]).is_empty());
        assert!(s.push("S•".as_bytes()).is_empty());
        assert_eq!(s.pending(), "•S•");
        let l = s.push("•\nRan 3 of 9\nSUCC".as_bytes());
        assert_eq!(l, vec!["•S••".to_string(), "Ran 3 of 9".to_string()]);
        assert_eq!(s.finish().as_deref(), Some("SUCC"));
    }
}
