//! One round trip per role and host for the state of every file and directory the role's
//! tasks manage, instead of one per task. On a converged cluster most tasks are then decided
//! without talking to the host again, which is what makes an idempotent re-run cheap.
//!
//! Invariant: the cache only ever holds what the host had at fetch time, updated by the
//! engine's own writes; a path not in the cache is asked for as before.

use crate::remote::{Remote, sh_quote};
use std::collections::HashMap;
use std::time::Duration;

/// What a path was on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathState {
    Missing,
    File {
        sha256: String,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    /// Something else (a socket, a symlink to nowhere): never trusted, always re-checked.
    Other,
}

/// States of paths on one host, by absolute path.
pub type StateCache = HashMap<String, PathState>;

/// On each host: `<sha256> <size> <mtime> <path>` of every file the engine placed, for the
/// quick check. Losing it only costs hashing.
pub const RECORD: &str = "/var/lib/kubeasz-rs/placed";

/// The command that records `path` (just placed, with content `sha256`) in [`RECORD`].
pub fn record_command(path: &str, sha256: &str) -> String {
    let q = sh_quote(path);
    format!(
        "mkdir -p /var/lib/kubeasz-rs && sm=$(stat -c '%s %Y' {q}) && \\
         {{ awk -v p={q} '{{ l = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, \"\", l); if (l != p) print }}' {RECORD} 2>/dev/null; \\
         echo \"{sha256} $sm \"{q}; }} > {RECORD}.tmp && mv {RECORD}.tmp {RECORD}"
    )
}

/// Asks the host for the state of `paths` in one command.
pub async fn fetch(remote: &dyn Remote, paths: &[String]) -> StateCache {
    let mut cache = StateCache::new();
    if paths.is_empty() {
        return cache;
    }
    let list: Vec<String> = paths.iter().map(|p| sh_quote(p)).collect();
    // A file placed by the engine whose size and mtime still match its record is not hashed
    // again (rsync's quick check); anything else is hashed.
    let script = format!(
        "rec={RECORD}; for f in {}; do if [ -d \"$f\" ]; then echo \"d $(stat -c %a \"$f\") - $f\"; \
         elif [ -f \"$f\" ]; then st=$(stat -c '%a %s %Y' \"$f\"); sm=${{st#* }}; \
         line=$(grep -F -- \" $sm $f\" \"$rec\" 2>/dev/null | tail -n 1); \
         if [ -n \"$line\" ] && [ \"${{line#* }}\" = \"$sm $f\" ]; then sum=${{line%% *}}; \
         else sum=$(sha256sum \"$f\" | cut -d' ' -f1); fi; echo \"f ${{st%% *}} $sum $f\"; \
         elif [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"o - - $f\"; else echo \"m - - $f\"; fi; done",
        list.join(" ")
    );
    let Ok(out) = remote.run(&script, Duration::from_secs(120)).await else {
        return cache;
    };
    if !out.ok() {
        return cache;
    }
    for line in out.stdout.lines() {
        let mut parts = line.splitn(4, ' ');
        let (Some(kind), Some(mode), Some(sum), Some(path)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let mode = u32::from_str_radix(mode, 8).ok();
        let state = match (kind, mode) {
            ("m", _) => PathState::Missing,
            ("d", Some(mode)) => PathState::Dir { mode },
            ("f", Some(mode)) if sum.len() == 64 => PathState::File {
                sha256: sum.to_string(),
                mode,
            },
            _ => PathState::Other,
        };
        if paths.iter().any(|p| p == path) {
            cache.insert(path.to_string(), state);
        }
    }
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record command keeps one line per path, replacing only that path's line (run
    /// with a real shell against a temporary record).
    #[test]
    fn record_replaces_exactly_its_own_line() {
        let d = tempfile::tempdir().unwrap();
        let rec = d.path().join("placed");
        let f1 = d.path().join("bridge");
        let f2 = d.path().join("bridge-extra");
        std::fs::write(&f1, b"one").unwrap();
        std::fs::write(&f2, b"two").unwrap();
        let cmd = |p: &std::path::Path, sum: &str| {
            record_command(p.to_str().unwrap(), sum)
                .replace(RECORD, rec.to_str().unwrap())
                .replace("mkdir -p /var/lib/kubeasz-rs && ", "")
        };
        for (p, sum) in [(&f1, "aaa"), (&f2, "bbb"), (&f1, "ccc")] {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd(p, sum))
                .status()
                .unwrap();
            assert!(st.success());
        }
        let text = std::fs::read_to_string(&rec).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("bbb ") && l.ends_with("bridge-extra")),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("ccc 3 ") && l.ends_with("/bridge")),
            "{text}"
        );
    }
    use crate::remote::{BoxFut, CmdResult, Source};

    /// A double answering the prefetch script with canned lines: checks the parsing only.
    struct Canned(String);
    impl Remote for Canned {
        fn host(&self) -> &str {
            "h"
        }
        fn run<'a>(&'a self, _cmd: &'a str, _t: Duration) -> BoxFut<'a, Result<CmdResult, String>> {
            Box::pin(async move {
                Ok(CmdResult {
                    status: 0,
                    stdout: self.0.clone(),
                    stderr: String::new(),
                })
            })
        }
        fn put<'a>(
            &'a self,
            _s: Source<'a>,
            _d: &'a str,
            _m: u32,
        ) -> BoxFut<'a, Result<u64, String>> {
            Box::pin(async { Ok(0) })
        }
    }

    #[tokio::test]
    async fn parses_every_kind_and_ignores_paths_not_asked_for() {
        let sum = "a".repeat(64);
        let r = Canned(format!(
            "d 755 - /opt/kube/bin\nf 644 {sum} /etc/a b.conf\nm - - /etc/x\no - - /run/sock\nf 644 {sum} /not/asked\n"
        ));
        let paths: Vec<String> = ["/opt/kube/bin", "/etc/a b.conf", "/etc/x", "/run/sock"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = fetch(&r, &paths).await;
        assert_eq!(c["/opt/kube/bin"], PathState::Dir { mode: 0o755 });
        assert_eq!(
            c["/etc/a b.conf"],
            PathState::File {
                sha256: sum.clone(),
                mode: 0o644
            }
        );
        assert_eq!(c["/etc/x"], PathState::Missing);
        assert_eq!(c["/run/sock"], PathState::Other);
        assert!(!c.contains_key("/not/asked"));
    }
}
