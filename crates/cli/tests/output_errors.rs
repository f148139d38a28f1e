//! The built `ezctl` when its standard output cannot be written: a full disk (`/dev/full`)
//! is one line naming the cause and exit 1, a closed pipe ends it quietly; never a panic.

use std::process::{Command, Stdio};

fn ezctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ezctl"));
    c.args(["conformance", "images", "--version", "v1.36.3"]);
    c.env_remove("RUST_BACKTRACE");
    c
}

#[test]
fn a_full_disk_is_one_line_and_exit_1() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = ezctl().stdout(Stdio::from(full)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "ezctl: cannot write the output: No space left on device (os error 28)"
    );
    // the completion script too (it used to report success)
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ezctl"))
        .args(["completion", "bash"])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left on device"));
}

#[test]
fn a_closed_pipe_ends_it_quietly() {
    let mut child = ezctl()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // 141 when the pipe was closed before the first line, 0 when it all fit before
    assert!(
        matches!(out.status.code(), Some(0) | Some(141)),
        "{:?} {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}
