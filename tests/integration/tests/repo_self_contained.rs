//! The repository stands alone: no tracked file refers to data beside the checkout.
//!
//! A clone has nothing next to it, so a test, bench or script that reads the reading-material
//! folder beside the checkout (see [`sibling_patterns`]), an absolute path into the machine's
//! work folder or that folder's environment override works on one machine and fails
//! everywhere else. Fixtures belong in the repository (`tests/fixtures/`, see its README).
//!
//! Scans every tracked file (`git ls-files`; outside a git checkout, every file but `.git/` and
//! build output) and fails listing each offending line. The patterns are put together at run
//! time, so this file does not contain them and is scanned like any other.

use std::path::{Path, PathBuf};
use std::process::Command;

/// This file, relative to the repository root (it must be among the scanned files).
const SELF: &str = "tests/integration/tests/repo_self_contained.rs";

/// The machine's work folder, as it starts an absolute path (`/` + name + `/`).
const WORK: &str = concat!("/", "work", "/");

/// Substrings that always mean "a directory beside the checkout": the reading-material
/// folder next to the checkout, reached relatively or absolutely, and its environment
/// override.
fn sibling_patterns() -> [String; 3] {
    let dir = "shared";
    [
        format!("../{dir}"),
        format!("{WORK}{dir}"),
        format!("EZ_{}_DIR", dir.to_uppercase()),
    ]
}

/// Why `line` refers to something outside the checkout, if it does.
fn outside_reference(line: &str) -> Option<String> {
    if let Some(p) = sibling_patterns().into_iter().find(|p| line.contains(p)) {
        return Some(p);
    }
    // An absolute path into the work folder: at the start of a path, i.e. not preceded by a
    // character that continues a name (`$h/work/…`, `upper/work/…` are relative and fine).
    let continues_a_name = |c: u8| c.is_ascii_alphanumeric() || b"_-.$}/".contains(&c);
    let b = line.as_bytes();
    let absolute = line
        .match_indices(WORK)
        .any(|(i, _)| i == 0 || !continues_a_name(b[i - 1]));
    absolute.then(|| format!("an absolute {WORK} path"))
}

fn root() -> PathBuf {
    let r = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    r.canonicalize().unwrap_or(r)
}

/// The tracked files, relative to `root`; every regular file but `.git` and build output when
/// this is not a git checkout (a source archive).
fn files(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output();
    if let Ok(o) = out
        && o.status.success()
    {
        return o
            .stdout
            .split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
            .collect();
    }
    eprintln!("not a git checkout (or no git): scanning the directory tree instead");
    let mut found = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let child = rel.join(&name);
            // `.git` is a directory in a clone and a file naming the real one in a worktree.
            if name == ".git" {
                continue;
            }
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                let skip = name == "target"
                    || child == Path::new("fuzz/corpus")
                    || child == Path::new("fuzz/artifacts");
                if !skip {
                    todo.push(child);
                }
            } else if t.is_file() {
                found.push(child);
            }
        }
    }
    found
}

#[test]
fn no_tracked_file_reads_outside_the_checkout() {
    let root = root();
    let files = files(&root);
    assert!(
        files.iter().any(|f| f == Path::new("Cargo.toml")),
        "the scan found no Cargo.toml under {}: wrong root?",
        root.display()
    );
    assert!(
        files.iter().any(|f| f == Path::new(SELF)),
        "{SELF} is not among the scanned files: was it moved? Update SELF."
    );
    let mut bad = Vec::new();
    for rel in &files {
        // A tracked file gone from the work tree (deleted, not committed yet) has nothing to say.
        let Ok(bytes) = std::fs::read(root.join(rel)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            if let Some(why) = outside_reference(line) {
                let shown: String = line.trim().chars().take(160).collect();
                bad.push(format!("{}:{}: {why}: {shown}", rel.display(), n + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} line(s) refer to files outside the checkout; put the data under tests/fixtures/ \
         (with its source and licence in tests/fixtures/README.md) and read it from there:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_patterns_catch_what_they_are_for_and_nothing_else() {
    let [rel, abs, env] = sibling_patterns();
    for hit in [
        format!(r#"    .join("../../{rel}"));"#),
        format!(r#"SHARED="${{{env}:-$(pwd)/{rel}}}""#),
        format!("see {abs}/data/conformance"),
        format!(r#"let p = "{WORK}main/target";"#),
        format!("{WORK}x at the start of a line"),
        format!("cd '{WORK}wt'"),
    ] {
        assert!(outside_reference(&hit).is_some(), "missed: {hit}");
    }
    for fine in [
        r#"rm -rf --one-file-system "$h/work" "$h/root""#,
        "workdir=$h/work/x",
        "upper/work/file",
        "${TB_ROOT}/work/",
        "a shared rootfs, shared by every host",
        r#"include_str!("../../../example/config.yml")"#,
        "../data/conformance-lists/v1.20.yaml",
    ] {
        assert_eq!(outside_reference(fine), None, "flagged: {fine}");
    }
}
