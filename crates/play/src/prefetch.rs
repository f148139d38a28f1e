//! One round trip per role and host for the state of every file and directory the role's
//! tasks manage, instead of one per task. On a converged cluster most tasks are then decided
//! without talking to the host again, which is what makes an idempotent re-run cheap.
//!
//! Invariant: the cache only ever holds what the host had at fetch time, updated by the
//! engine's own writes; a path not in the cache is asked for as before.

use crate::remote::{Remote, sh_quote};
use std::collections::HashMap;
use std::time::Duration;

/// What a path (or, under a [`unit_key`], a systemd unit) was on the host.
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
    /// Something else (a socket, a device): never trusted, always re-checked.
    Other,
    /// A systemd unit's `is-enabled` / `is-active` answers.
    Unit {
        enabled: bool,
        active: bool,
    },
}

/// States on one host: paths by absolute path, units by [`unit_key`].
pub type StateCache = HashMap<String, PathState>;

/// The cache key of a systemd unit (paths are absolute, so they never collide with it).
pub fn unit_key(unit: &str) -> String {
    format!("systemd:{unit}")
}

/// On each host: `<sha256> <size> <mtime> <path>` of files whose content was hashed (or
/// placed) by the engine, for the quick check. Losing it only costs hashing.
pub const RECORD: &str = "/var/lib/kubeasz-rs/placed";

/// The command that records `path` (just placed, with content `sha256`) in [`RECORD`]: one
/// line appended (one `stat`, no rewrite). The newest line for a size and mtime wins; lines of
/// older versions stay harmless, as they name a size and mtime the file no longer has.
pub fn record_command(path: &str, sha256: &str) -> String {
    let q = sh_quote(path);
    format!(
        "sm=$(stat -c '%s %Y' {q}) && {{ echo \"{sha256} $sm \"{q} >> {RECORD}; }} 2>/dev/null \\
         || {{ mkdir -p /var/lib/kubeasz-rs && echo \"{sha256} $sm \"{q} >> {RECORD}; }}"
    )
}

/// Classifies `stat -L -c '%F|%a|%s|%Y|%n'` lines against the record: `d`, `f` (sum from a
/// matching record), `o`, or `h mode size mtime path` (to be hashed).
const CLASSIFY: &str = r#"BEGIN { while ((getline l < rec) > 0) { n = split(l, a, " "); if (n < 4) continue;
  k = substr(l, length(a[1]) + 2); sum[k] = a[1] } }
{ path = $5; for (i = 6; i <= NF; i++) path = path "|" $i
  if ($1 == "directory") print "d", $2, "-", path
  else if ($1 ~ /^regular/) { k = $3 " " $4 " " path; if (k in sum) print "f", $2, sum[k], path; else print "h", $2, $3, $4, path }
  else print "o", "-", "-", path }"#;

/// The one command that reports `paths` and `units` (see [`fetch`]).
pub fn script(paths: &[String], units: &[String], record: bool) -> String {
    let list: Vec<String> = paths.iter().map(|p| sh_quote(p)).collect();
    let remember = if record {
        "[ $((now - mtime)) -ge 2 ] && { mkdir -p /var/lib/kubeasz-rs; echo \"$sum $size $mtime $path\" >> \"$rec\"; }; "
    } else {
        ""
    };
    let mut s = format!("rec={RECORD}; now=$(date +%s); ");
    if !list.is_empty() {
        s += &format!(
            "out=$(stat -L -c '%F|%a|%s|%Y|%n' -- {} 2>/dev/null | awk -F'|' -v rec=\"$rec\" '{}'); \
             printf '%s\\n' \"$out\" | grep -v '^h ' | grep -v '^$'; \
             printf '%s\\n' \"$out\" | grep '^h ' | while read -r _ mode size mtime path; do \
             sum=$(sha256sum \"$path\" | cut -d' ' -f1); echo \"f $mode $sum $path\"; {remember}done; ",
            list.join(" "),
            CLASSIFY.replace('\'', r"'\''"),
        );
    }
    for u in units {
        let q = sh_quote(u);
        s += &format!(
            "echo \"u $(systemctl is-enabled {q} 2>/dev/null | head -n 1 || true) $(systemctl is-active {q} 2>/dev/null | head -n 1 || true) {u}\"; "
        );
    }
    s + "echo end"
}

/// Asks the host for the state of `paths` and `units` in one command. A file whose size and
/// mtime match its record is not hashed again (rsync's quick check). With `record`, a file
/// that had to be hashed gets a record line, so the next run does not hash it again; only
/// files whose mtime is at least two seconds old are recorded (a write within the same
/// second could keep size and mtime). Without `record` (plan mode) nothing is written.
/// An asked path the host does not report is missing; when the answer is incomplete (no
/// `end` line) nothing is cached.
pub async fn fetch(
    remote: &dyn Remote,
    paths: &[String],
    units: &[String],
    record: bool,
) -> StateCache {
    if paths.is_empty() && units.is_empty() {
        return StateCache::new();
    }
    let Ok(out) = remote
        .run(&script(paths, units, record), Duration::from_secs(120))
        .await
    else {
        return StateCache::new();
    };
    parse(&out.stdout, paths, units)
}

/// Reads the answer of [`script`].
pub fn parse(stdout: &str, paths: &[String], units: &[String]) -> StateCache {
    let mut cache = StateCache::new();
    if stdout.lines().last() != Some("end") {
        return cache;
    }
    for p in paths {
        cache.insert(p.clone(), PathState::Missing);
    }
    for line in stdout.lines() {
        let mut parts = line.splitn(4, ' ');
        let (Some(kind), Some(a), Some(b), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if kind == "u" {
            if units.iter().any(|u| u == name) {
                cache.insert(
                    unit_key(name),
                    PathState::Unit {
                        enabled: a == "enabled",
                        active: b == "active",
                    },
                );
            }
            continue;
        }
        let mode = u32::from_str_radix(a, 8).ok();
        let state = match (kind, mode) {
            ("d", Some(mode)) => PathState::Dir { mode },
            ("f", Some(mode)) if b.len() == 64 => PathState::File {
                sha256: b.to_string(),
                mode,
            },
            _ => PathState::Other,
        };
        if paths.iter().any(|p| p == name) {
            cache.insert(name.to_string(), state);
        }
    }
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record command appends one line per placement, and the prefetch script trusts
    /// the newest line of a path while size and mtime match (run with a real shell).
    #[test]
    fn record_appends_and_the_newest_line_wins() {
        let d = tempfile::tempdir().unwrap();
        let rec = d.path().join("placed");
        let f1 = d.path().join("bridge");
        let f2 = d.path().join("bridge-extra");
        std::fs::write(&f1, b"one").unwrap();
        std::fs::write(&f2, b"two").unwrap();
        let cmd = |p: &std::path::Path, sum: &str| {
            record_command(p.to_str().unwrap(), sum).replace(RECORD, rec.to_str().unwrap())
        };
        for (p, sum) in [
            (&f1, "a".repeat(64)),
            (&f2, "b".repeat(64)),
            (&f1, "c".repeat(64)),
        ] {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd(p, &sum))
                .status()
                .unwrap();
            assert!(st.success());
        }
        let text = std::fs::read_to_string(&rec).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let paths = vec![f1.display().to_string(), f2.display().to_string()];
        let script = script(&paths, &[], false).replace(RECORD, rec.to_str().unwrap());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let c = parse(&String::from_utf8_lossy(&out.stdout), &paths, &[]);
        assert!(
            matches!(&c[&paths[0]], PathState::File { sha256, .. } if *sha256 == "c".repeat(64))
        );
        assert!(
            matches!(&c[&paths[1]], PathState::File { sha256, .. } if *sha256 == "b".repeat(64))
        );
    }

    /// The whole script run by a real shell on real files: kinds, the quick check against
    /// the record, hashing what has no record (and recording it), missing paths, units.
    #[test]
    fn script_reports_states_and_records_hashed_files() {
        let d = tempfile::tempdir().unwrap();
        let rec = d.path().join("placed");
        let old = d.path().join("old file");
        let fresh = d.path().join("fresh");
        let recorded = d.path().join("recorded");
        std::fs::write(&old, b"old").unwrap();
        std::fs::write(&fresh, b"fresh").unwrap();
        std::fs::write(&recorded, b"whatever").unwrap();
        // an old mtime for `old file` and `recorded` (so the record may be written)
        for f in [&old, &recorded] {
            let st = std::process::Command::new("touch")
                .args(["-d", "2020-01-01 00:00:00"])
                .arg(f)
                .status()
                .unwrap();
            assert!(st.success());
        }
        let md = std::fs::metadata(&recorded).unwrap();
        use std::os::unix::fs::MetadataExt;
        let fake = "e".repeat(64);
        std::fs::write(
            &rec,
            format!(
                "{fake} {} {} {}\n",
                md.size(),
                md.mtime(),
                recorded.display()
            ),
        )
        .unwrap();
        let paths: Vec<String> = [&old, &fresh, &recorded]
            .iter()
            .map(|p| p.display().to_string())
            .chain([
                d.path().display().to_string(),
                d.path().join("absent").display().to_string(),
            ])
            .collect();
        let units = vec!["no-such-unit-kubeasz-rs.service".to_string()];
        let script = script(&paths, &units, true)
            .replace(RECORD, rec.to_str().unwrap())
            .replace("mkdir -p /var/lib/kubeasz-rs; ", "");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let c = parse(&stdout, &paths, &units);
        let sum = |b: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b));
        assert_eq!(
            c[&paths[0]],
            PathState::File {
                sha256: sum(b"old"),
                mode: 0o644
            },
            "{stdout}"
        );
        assert!(
            matches!(&c[&paths[1]], PathState::File { sha256, .. } if *sha256 == sum(b"fresh"))
        );
        // the record's sum is trusted while size and mtime match (quick check)
        assert!(matches!(&c[&paths[2]], PathState::File { sha256, .. } if *sha256 == fake));
        assert!(matches!(c[&paths[3]], PathState::Dir { .. }));
        assert_eq!(c[&paths[4]], PathState::Missing);
        assert_eq!(
            c[&unit_key(&units[0])],
            PathState::Unit {
                enabled: false,
                active: false
            }
        );
        // `old file` was hashed and recorded; `fresh` (written just now) was not
        let text = std::fs::read_to_string(&rec).unwrap();
        assert!(text.contains(&format!("{} 3 ", sum(b"old"))), "{text}");
        assert!(!text.contains(&sum(b"fresh")), "{text}");
    }

    #[test]
    fn an_incomplete_answer_caches_nothing() {
        let paths = vec!["/etc/x".to_string()];
        assert!(parse("d 755 - /etc/x\n", &paths, &[]).is_empty());
        let c = parse("end\n", &paths, &[]);
        assert_eq!(c["/etc/x"], PathState::Missing);
    }
}
