//! `ezctl exec`: one shell command on a cluster's hosts (or `--hosts`) in parallel, Ansible's
//! ad-hoc mode; the operation is `ez_ops::adhoc`'s. Here: the flags, the passphrase prompt
//! and the output, each line prefixed with its host (`host | ` for stdout, `host ! ` for
//! stderr). The exit status is 0 when every host succeeded, else 1 with the first failure on
//! the last line.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ez_executor::{ExecError, HostSpec, Outcome, PassphrasePrompt, StreamKind};
use ez_ops::adhoc::{HostOutput, Run, Targets};

use crate::ctx::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum ExecCommand {
    /// Run a shell command on a cluster's hosts in parallel: `ezctl exec <cluster> [--limit etcd] -- <command...>`.
    Exec(ExecArgs),
}

/// Arguments of `ezctl exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// Cluster name (its `clusters/<name>/known_hosts` is the cluster-local known_hosts file).
    pub cluster: String,
    /// Hosts to run on, comma-separated (`ip`, `name` or `user@ip:port`); default: every host
    /// of the cluster's inventory, with its ssh settings.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Only these of the hosts (comma-separated; with the inventory, group names work too).
    #[arg(long, value_delimiter = ',')]
    pub limit: Vec<String>,
    /// Login user (default root).
    #[arg(long)]
    pub user: Option<String>,
    /// SSH port (default 22).
    #[arg(long)]
    pub port: Option<u16>,
    /// Private key file (passphrase from EZ_SSH_KEY_PASSPHRASE, else asked once on the terminal).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Jump host, `[user@]host[:port]` (ProxyJump).
    #[arg(long)]
    pub jump: Option<String>,
    /// Name of an environment variable holding the login password.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Run the command through sudo as root (password from EZ_BECOME_PASS when sudo needs one).
    #[arg(long = "become")]
    pub become_root: bool,
    /// Per-host command timeout in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Cancel the other hosts at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Cluster-local known_hosts file (default `<base>/clusters/<cluster>/known_hosts`).
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// The command (after `--`).
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// The `--hosts` targets of the arguments (passwords read from the environment here).
fn targets(a: &ExecArgs) -> anyhow::Result<Targets> {
    let password = match &a.password_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| anyhow::anyhow!("--password-env {var}: variable is not set"))?,
        ),
        None => None,
    };
    Ok(Targets {
        hosts: a.hosts.clone(),
        limit: a.limit.clone(),
        user: a.user.clone(),
        port: a.port,
        key: a.key.clone(),
        jump: a.jump.clone(),
        password,
        become_root: a.become_root.then(|| {
            std::env::var("EZ_BECOME_PASS")
                .ok()
                .filter(|p| !p.is_empty())
        }),
    })
}

/// Build the host list from the arguments (`--limit` applied, order kept).
pub fn host_specs(a: &ExecArgs) -> anyhow::Result<Vec<HostSpec>> {
    ez_ops::adhoc::host_specs(&targets(a)?)
}

/// Prints complete lines with a host prefix; keeps partial lines until the next chunk.
struct LinePrinter {
    prefix_out: String,
    prefix_err: String,
    partial: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl LinePrinter {
    fn new(host: &str) -> Arc<Self> {
        Arc::new(LinePrinter {
            prefix_out: format!("{host} | "),
            prefix_err: format!("{host} ! "),
            partial: Mutex::new((Vec::new(), Vec::new())),
        })
    }

    fn feed(&self, kind: StreamKind, data: &[u8]) {
        let mut p = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        let (buf, prefix) = match kind {
            StreamKind::Stdout => (&mut p.0, &self.prefix_out),
            StreamKind::Stderr => (&mut p.1, &self.prefix_err),
        };
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            emit(kind, prefix, &line);
        }
    }

    fn flush(&self) {
        let mut guard = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        let (out, err) = &mut *guard;
        for (kind, buf, prefix) in [
            (StreamKind::Stdout, out, &self.prefix_out),
            (StreamKind::Stderr, err, &self.prefix_err),
        ] {
            if !buf.is_empty() {
                buf.push(b'\n');
                emit(kind, prefix, buf);
                buf.clear();
            }
        }
    }
}

fn emit(kind: StreamKind, prefix: &str, line: &[u8]) {
    let text = format!("{prefix}{}", String::from_utf8_lossy(line));
    // Printing is best effort: a closed pipe must not abort the remote work.
    let _ = match kind {
        StreamKind::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
        StreamKind::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}

impl HostOutput for LinePrinter {
    fn chunk(&self, kind: StreamKind, data: &[u8]) {
        self.feed(kind, data);
    }
    fn done(&self) {
        self.flush();
    }
}

/// `ezctl exec` (`ez_ops::adhoc`): each host's lines printed as they come, then the counts.
pub async fn run(ctx: &Ctx, cmd: ExecCommand) -> anyhow::Result<u8> {
    let ExecCommand::Exec(args) = cmd;
    let specs = if args.hosts.is_empty() {
        ez_ops::adhoc::inventory_specs(ctx, &args.cluster, &args.limit)?
    } else {
        host_specs(&args)?
    };
    let r = Run {
        script: args.command.join(" "),
        timeout: Duration::from_secs(args.timeout.max(1)),
        fail_fast: args.fail_fast,
        known_hosts: args
            .known_hosts
            .clone()
            .unwrap_or_else(|| ctx.cluster_dir(&args.cluster).join("known_hosts")),
        passphrase_prompt: tty_passphrase_prompt(),
    };
    let report = ez_ops::adhoc::run(ctx, specs, r, |name| {
        LinePrinter::new(name) as Arc<dyn HostOutput>
    })
    .await;
    let (mut ok, mut failed, mut cancelled) = (0, 0, 0);
    for r in &report.results {
        match &r.outcome {
            Outcome::Ok(()) => ok += 1,
            Outcome::Failed(_) => failed += 1,
            Outcome::Cancelled => cancelled += 1,
        }
    }
    eprintln!("ezctl exec: {ok} ok, {failed} failed, {cancelled} cancelled");
    match report.first_error() {
        None => Ok(0),
        Some(e) => {
            eprintln!("ezctl exec: error: {}", first_line(e));
            Ok(1)
        }
    }
}

/// When stdin is a terminal and `EZ_SSH_KEY_PASSPHRASE` is unset, ask on `/dev/tty` (echo
/// off) once per key file; hosts connecting at the same time wait for the one prompt.
fn tty_passphrase_prompt() -> Option<PassphrasePrompt> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let asked: Arc<Mutex<HashMap<PathBuf, Option<String>>>> = Arc::default();
    Some(Arc::new(move |key: &Path| {
        let mut asked = asked.lock().unwrap_or_else(|e| e.into_inner());
        asked
            .entry(key.to_path_buf())
            .or_insert_with(|| {
                read_secret(&format!("Enter passphrase for key {}: ", key.display()))
            })
            .clone()
    }))
}

fn read_secret(prompt: &str) -> Option<String> {
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let stty = |arg: &str, tty: &std::fs::File| {
        tty.try_clone().ok().and_then(|t| {
            std::process::Command::new("stty")
                .arg(arg)
                .stdin(t)
                .status()
                .ok()
        })
    };
    tty.write_all(prompt.as_bytes()).ok()?;
    stty("-echo", &tty);
    let mut line = String::new();
    let read = std::io::BufReader::new(tty.try_clone().ok()?).read_line(&mut line);
    stty("echo", &tty);
    let _ = tty.write_all(b"\n");
    read.ok()?;
    let pass = line.trim_end_matches(['\r', '\n']).to_string();
    (!pass.is_empty()).then_some(pass)
}

fn first_line(e: &ExecError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        c: ExecCommand,
    }

    fn parse(args: &[&str]) -> ExecArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        let ExecCommand::Exec(a) = T::parse_from(v).c;
        a
    }

    #[test]
    fn parses_hosts_limit_and_command() {
        let a = parse(&[
            "exec",
            "c1",
            "--hosts",
            "10.0.0.1,ops@10.0.0.2:2222,10.0.0.3",
            "--limit",
            "10.0.0.2,10.0.0.3",
            "--user",
            "u",
            "--key",
            "/k",
            "--timeout",
            "5",
            "--",
            "uname",
            "-r",
        ]);
        assert_eq!(a.command, vec!["uname", "-r"]);
        let specs = host_specs(&a).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            (
                specs[0].user.as_str(),
                specs[0].address.as_str(),
                specs[0].port
            ),
            ("ops", "10.0.0.2", 2222)
        );
        assert_eq!((specs[1].user.as_str(), specs[1].port), ("u", 22));
        assert_eq!(
            specs[1].key_file.as_deref(),
            Some(std::path::Path::new("/k"))
        );
    }

    #[test]
    fn jump_and_errors() {
        let a = parse(&[
            "exec",
            "c",
            "--hosts",
            "10.0.0.5",
            "--jump",
            "j@10.0.0.1:2200",
            "--",
            "true",
        ]);
        let s = host_specs(&a).unwrap();
        let j = s[0].jump.as_ref().unwrap();
        assert_eq!(
            (j.user.as_str(), j.address.as_str(), j.port),
            ("j", "10.0.0.1", 2200)
        );
        let a = parse(&[
            "exec", "c", "--hosts", "10.0.0.5", "--limit", "x", "--", "true",
        ]);
        assert!(
            host_specs(&a)
                .unwrap_err()
                .to_string()
                .contains("no host left")
        );
        let a = parse(&["exec", "c", "--hosts", "u@h:bad", "--", "true"]);
        assert!(host_specs(&a).is_err());
    }

    #[test]
    fn line_printer_keeps_partial_lines() {
        let p = LinePrinter::new("h");
        p.feed(StreamKind::Stdout, b"ab");
        assert_eq!(p.partial.lock().unwrap().0, b"ab");
        p.feed(StreamKind::Stdout, b"c\nd");
        assert_eq!(p.partial.lock().unwrap().0, b"d");
        p.flush();
        assert!(p.partial.lock().unwrap().0.is_empty());
    }
}
