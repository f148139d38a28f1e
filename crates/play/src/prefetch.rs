//! One round trip per role and host for the state of every file and directory the role's
//! tasks manage, instead of one per task. On a converged cluster most tasks are then decided
//! without talking to the host again, which is what makes an idempotent re-run cheap.
//!
//! Besides paths and units, the same round trip reads the text files that `block`/`line`
//! tasks edit and runs the `unless` guards of `command` tasks.
//!
//! Invariants: the cache only ever holds what the host had at fetch time, updated by the
//! engine's own writes; a path not in the cache is asked for as before. A guard's answer is
//! only valid while nothing changed on the host: the engine drops every guard answer at the
//! first change ([`forget_guards`]), and a command task clears the whole cache.

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
    /// Under a [`text_key`]: the file's content as `cat` gives it (empty when missing).
    Text(String),
    /// Under a [`guard_key`]: whether the guard command succeeded.
    Guard(bool),
}

/// States on one host: paths by absolute path, units by [`unit_key`].
pub type StateCache = HashMap<String, PathState>;

/// The cache key of a systemd unit (paths are absolute, so they never collide with it).
pub fn unit_key(unit: &str) -> String {
    format!("systemd:{unit}")
}

/// The cache key of a text file's content.
pub fn text_key(path: &str) -> String {
    format!("text:{path}")
}

/// The cache key of a guard command's answer.
pub fn guard_key(cmd: &str) -> String {
    format!("guard:{cmd}")
}

/// Drops every guard answer (something changed on the host since they were asked).
pub fn forget_guards(cache: &mut StateCache) {
    cache.retain(|k, _| !k.starts_with("guard:"));
}

/// What one prefetch asks a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Absolute paths whose kind, mode and content sum are wanted.
    pub paths: Vec<String>,
    /// systemd units whose enabled/active state is wanted.
    pub units: Vec<String>,
    /// Text files whose content is wanted.
    pub texts: Vec<String>,
    /// Commands whose success is wanted (run with no stdin, output discarded).
    pub guards: Vec<String>,
}

impl Wanted {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.units.is_empty()
            && self.texts.is_empty()
            && self.guards.is_empty()
    }
}

/// On each host: `<sha256> <size> <mtime> <path>` of files whose content was hashed (or
/// placed) by the engine, for the quick check. Losing it only costs hashing.
pub const RECORD: &str = "/var/lib/kubeasz-rs/placed";

/// The command that records `path` (just placed, with content `sha256`) in [`RECORD`]: one
/// line appended (no rewrite; no `stat` when the executor's placing shell already set
/// `$ez_size`/`$ez_mtime`). The newest line for a size and mtime wins; lines of older
/// versions stay harmless, as they name a size and mtime the file no longer has.
pub fn record_command(path: &str, sha256: &str) -> String {
    let q = sh_quote(path);
    format!(
        "if [ -n \"${{ez_size:-}}\" ]; then sm=\"$ez_size $ez_mtime\"; else sm=$(stat -c '%s %Y' {q}); fi \\
         && {{ echo \"{sha256} $sm \"{q} >> {RECORD}; }} 2>/dev/null \\
         || {{ mkdir -p /var/lib/kubeasz-rs && echo \"{sha256} $sm \"{q} >> {RECORD}; }}"
    )
}

/// Classifies `stat -L -c '%F|%a|%s|%Y|%n'` lines against the record, five fields each:
/// `d mode - - path`, `f mode sum - path` (sum from a matching record), `o - - - path`, or
/// `h mode size mtime path` (to be hashed).
const CLASSIFY: &str = r#"BEGIN { while ((getline l < rec) > 0) { n = split(l, a, " "); if (n < 4) continue;
  k = substr(l, length(a[1]) + 2); sum[k] = a[1] } }
{ path = $5; for (i = 6; i <= NF; i++) path = path "|" $i
  if ($1 == "directory") print "d", $2, "-", "-", path
  else if ($1 ~ /^regular/) { k = $3 " " $4 " " path; if (k in sum) print "f", $2, sum[k], "-", path; else print "h", $2, $3, $4, path }
  else print "o", "-", "-", "-", path }"#;

/// The line that ends a text file's content in the answer (after a newline the script adds).
const TEXT_END: &str = "ez-prefetch-text-end-7f3a9c";

/// The one command that reports everything `w` asks for (see [`fetch`]). Processes: `stat`
/// and `awk` for the paths, one `sha256sum` per file that must be hashed, one `systemctl` for
/// all units, one `cat` per text, and whatever the guards start.
pub fn script(w: &Wanted, record: bool) -> String {
    let remember = if record {
        "[ -n \"$now\" ] || now=$(date +%s); \
         [ $((now - mtime)) -ge 2 ] && { mkdir -p /var/lib/kubeasz-rs; echo \"$sum $size $mtime $path\" >> \"$rec\"; }; "
    } else {
        ""
    };
    let mut s = format!("rec={RECORD}; now=; ");
    if !w.paths.is_empty() {
        let list: Vec<String> = w.paths.iter().map(|p| sh_quote(p)).collect();
        s += &format!(
            "stat -L -c '%F|%a|%s|%Y|%n' -- {} 2>/dev/null | awk -F'|' -v rec=\"$rec\" '{}' \
             | while read -r t mode size mtime path; do \
             if [ \"$t\" = h ]; then sum=$(sha256sum \"$path\" | cut -d' ' -f1); echo \"f $mode $sum - $path\"; {remember}\
             else echo \"$t $mode $size $mtime $path\"; fi; done; ",
            list.join(" "),
            CLASSIFY.replace('\'', r"'\''"),
        );
    }
    if !w.units.is_empty() {
        let list: Vec<String> = w.units.iter().map(|u| sh_quote(u)).collect();
        // One `systemctl show` for every unit: blocks in the order asked, a blank line after
        // each. No answer at all (no systemd) reports every unit as neither enabled nor active.
        s += &format!(
            "systemctl show -p UnitFileState -p ActiveState -- {l} 2>/dev/null | {{ for u in {l}; do e=; a=; \
             while IFS='=' read -r k v; do case $k in UnitFileState) e=$v;; ActiveState) a=$v;; '') break;; esac; done; \
             echo \"u ${{e:--}} ${{a:--}} $u\"; done; }}; ",
            l = list.join(" ")
        );
    }
    for t in &w.texts {
        s += &format!(
            "printf 't %s\\n' {q}; cat -- {q} 2>/dev/null; printf '\\n%s\\n' {TEXT_END}; ",
            q = sh_quote(t)
        );
    }
    for (i, g) in w.guards.iter().enumerate() {
        s += &format!("( {g}\n) </dev/null >/dev/null 2>&1; echo \"g $? {i}\"; ");
    }
    s + "echo end"
}

/// Asks the host for everything `w` names in one command. A file whose size and mtime match
/// its record is not hashed again (rsync's quick check). With `record`, a file that had to be
/// hashed gets a record line, so the next run does not hash it again; only files whose mtime
/// is at least two seconds old are recorded (a write within the same second could keep size
/// and mtime). Without `record` (plan mode) nothing is written. An asked path the host does
/// not report is missing; when the answer is incomplete (no `end` line) nothing is cached.
pub async fn fetch(remote: &dyn Remote, w: &Wanted, record: bool) -> StateCache {
    if w.is_empty() {
        return StateCache::new();
    }
    let Ok(out) = remote
        .run(&script(w, record), Duration::from_secs(120))
        .await
    else {
        return StateCache::new();
    };
    parse(&out.stdout, w)
}

/// Reads the answer of [`script`].
pub fn parse(stdout: &str, w: &Wanted) -> StateCache {
    let mut cache = StateCache::new();
    if stdout.lines().last() != Some("end") {
        return cache;
    }
    for p in &w.paths {
        cache.insert(p.clone(), PathState::Missing);
    }
    let mut rest = stdout;
    while let Some((line, after)) = rest.split_once('\n') {
        rest = after;
        if let Some(path) = line.strip_prefix("t ") {
            // content, then "\n" + TEXT_END + "\n"
            let end = format!("\n{TEXT_END}\n");
            let Some(at) = rest.find(&end) else {
                return StateCache::new();
            };
            if w.texts.iter().any(|t| t == path) {
                cache.insert(text_key(path), PathState::Text(rest[..at].to_string()));
            }
            rest = &rest[at + end.len()..];
            continue;
        }
        let mut parts = line.splitn(5, ' ');
        let (Some(kind), Some(a), Some(b)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "u" => {
                let Some(name) = parts.next() else { continue };
                if w.units.iter().any(|u| u == name) {
                    cache.insert(
                        unit_key(name),
                        PathState::Unit {
                            enabled: a == "enabled",
                            active: b == "active",
                        },
                    );
                }
            }
            "g" => {
                if let Some(g) = b.parse::<usize>().ok().and_then(|i| w.guards.get(i)) {
                    cache.insert(guard_key(g), PathState::Guard(a == "0"));
                }
            }
            _ => {
                let (Some(_), Some(name)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let mode = u32::from_str_radix(a, 8).ok();
                let state = match (kind, mode) {
                    ("d", Some(mode)) => PathState::Dir { mode },
                    ("f", Some(mode)) if b.len() == 64 => PathState::File {
                        sha256: b.to_string(),
                        mode,
                    },
                    _ => PathState::Other,
                };
                if w.paths.iter().any(|p| p == name) {
                    cache.insert(name.to_string(), state);
                }
            }
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
        let w = Wanted {
            paths: paths.clone(),
            ..Default::default()
        };
        let script = script(&w, false).replace(RECORD, rec.to_str().unwrap());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let c = parse(&String::from_utf8_lossy(&out.stdout), &w);
        assert!(
            matches!(&c[&paths[0]], PathState::File { sha256, .. } if *sha256 == "c".repeat(64))
        );
        assert!(
            matches!(&c[&paths[1]], PathState::File { sha256, .. } if *sha256 == "b".repeat(64))
        );
        // Inside the executor's placing shell, size and mtime come from its variables.
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ez_size=999 ez_mtime=42; {}",
                cmd(&f2, &"d".repeat(64))
            ))
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(&rec).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(last, format!("{} 999 42 {}", "d".repeat(64), f2.display()));
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
        let w = Wanted {
            paths: paths.clone(),
            units: units.clone(),
            ..Default::default()
        };
        let script = script(&w, true)
            .replace(RECORD, rec.to_str().unwrap())
            .replace("mkdir -p /var/lib/kubeasz-rs; ", "");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let c = parse(&stdout, &w);
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
        let w = Wanted {
            paths: vec!["/etc/x".to_string()],
            ..Default::default()
        };
        assert!(parse("d 755 - - /etc/x\n", &w).is_empty());
        let c = parse("end\n", &w);
        assert_eq!(c["/etc/x"], PathState::Missing);
        // a text whose end marker never came
        let t = Wanted {
            texts: vec!["/etc/hosts".to_string()],
            ..Default::default()
        };
        assert!(parse("t /etc/hosts\n127.0.0.1 localhost\nend\n", &t).is_empty());
    }

    /// Texts and guards, run by a real shell: contents byte for byte (no final newline, a
    /// line that looks like the answer's own lines, a missing file), guard answers by index.
    #[test]
    fn script_reads_texts_and_runs_guards() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("hosts");
        let b = d.path().join("odd name");
        std::fs::write(&a, "127.0.0.1 localhost\nend\ng 0 0\n").unwrap();
        std::fs::write(&b, "no newline at the end").unwrap();
        let texts: Vec<String> = [&a, &b, &d.path().join("absent")]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let w = Wanted {
            texts: texts.clone(),
            guards: vec![
                format!("[ -f {} ]", sh_quote(&texts[0])),
                "false # a comment".to_string(),
                "grep -q nothing-like-this /dev/null".to_string(),
            ],
            ..Default::default()
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(&w, false))
            .output()
            .unwrap();
        let c = parse(&String::from_utf8_lossy(&out.stdout), &w);
        let text = |p: &str| match &c[&text_key(p)] {
            PathState::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(&texts[0]), "127.0.0.1 localhost\nend\ng 0 0\n");
        assert_eq!(text(&texts[1]), "no newline at the end");
        assert_eq!(text(&texts[2]), "");
        assert_eq!(c[&guard_key(&w.guards[0])], PathState::Guard(true));
        assert_eq!(c[&guard_key(&w.guards[1])], PathState::Guard(false));
        assert_eq!(c[&guard_key(&w.guards[2])], PathState::Guard(false));
        let mut c = c;
        forget_guards(&mut c);
        assert!(!c.contains_key(&guard_key(&w.guards[0])));
        assert!(c.contains_key(&text_key(&texts[0])));
    }
}
