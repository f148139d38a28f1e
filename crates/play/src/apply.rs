//! Carrying out one typed action on one host, or (in plan mode) telling what it would do.
//!
//! Invariant: an action reports `Changed` only when the host's state differed from the
//! desired state (content sha256, mode, unit state) — so a run on a converged cluster
//! reports nothing changed, and plan mode reports exactly what a run would change.

use crate::model::*;
use crate::prefetch::{PathState, guard_key, record_command, text_key, unit_key};
use crate::remote::{CmdResult, Remote, Source, sh_quote};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// What an action did (or, in plan mode, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Changed(String),
    Skipped(String),
}

/// Inputs an action needs besides its arguments.
pub struct ApplyCtx<'a> {
    pub remote: &'a dyn Remote,
    pub plan: bool,
    /// Something earlier in the same role changed on this host.
    pub role_changed: bool,
    /// A rendered role template, for `template` actions.
    pub rendered: Option<&'a [u8]>,
    /// Bytes moved so far on this host (file transfer accounting).
    pub transferred: &'a mut u64,
    /// Time spent placing files on this host.
    pub transfer_time: &'a mut std::time::Duration,
    /// Non-fatal notes (tolerated sysctl/modprobe failures).
    pub notes: &'a mut Vec<String>,
    /// What the host had at the paths this role manages (one round trip per role).
    pub cache: &'a mut crate::prefetch::StateCache,
    /// When set, files to put are collected here (the caller sends them together) instead
    /// of being sent one by one.
    pub batch: Option<&'a mut Vec<crate::remote::PutItem>>,
}

const QUICK: Duration = Duration::from_secs(60);

async fn run(ctx: &ApplyCtx<'_>, cmd: &str, timeout: Duration) -> Result<CmdResult, String> {
    Ok(ctx.remote.run(cmd, timeout).await?)
}

async fn run_ok(ctx: &ApplyCtx<'_>, cmd: &str, timeout: Duration) -> Result<CmdResult, String> {
    let r = run(ctx, cmd, timeout).await?;
    if r.ok() {
        Ok(r)
    } else {
        Err(format!("`{cmd}` exited {}: {}", r.status, r.tail()))
    }
}

fn parse_mode(mode: &str) -> Result<u32, String> {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8)
        .map_err(|_| format!("mode `{mode}` is not an octal number like 0644"))
}

/// Remote sha256 and octal mode of a file, or None when it does not exist. Answered from
/// the role's prefetched states when they know the path.
async fn remote_file_state(
    ctx: &ApplyCtx<'_>,
    path: &str,
) -> Result<Option<(String, u32)>, String> {
    match ctx.cache.get(path) {
        Some(PathState::File { sha256, mode }) => return Ok(Some((sha256.clone(), *mode))),
        Some(PathState::Missing) => return Ok(None),
        _ => {}
    }
    let q = sh_quote(path);
    let r = run(
        ctx,
        &format!("[ -f {q} ] && sha256sum {q} | cut -d' ' -f1 && stat -c %a {q} || true"),
        QUICK,
    )
    .await?;
    let mut lines = r.stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(sum), Some(mode)) if sum.len() == 64 => Ok(Some((
            sum.to_string(),
            u32::from_str_radix(mode.trim(), 8).unwrap_or(0),
        ))),
        _ => Ok(None),
    }
}

/// Puts `src` at `dest` unless the host already has that content and mode.
async fn place(
    ctx: &mut ApplyCtx<'_>,
    src: Source<'_>,
    local_sha: &str,
    dest: &str,
    mode: &str,
) -> Result<Outcome, String> {
    place_owned(ctx, src, local_sha, dest, mode, None).await
}

/// [`place`], and when the file is changed (content or mode), its owner set to `owner`.
async fn place_owned(
    ctx: &mut ApplyCtx<'_>,
    src: Source<'_>,
    local_sha: &str,
    dest: &str,
    mode: &str,
    owner: Option<&str>,
) -> Result<Outcome, String> {
    let mode = parse_mode(mode)?;
    match remote_file_state(ctx, dest).await? {
        Some((sha, m)) if sha == local_sha && m == mode => Ok(Outcome::Ok),
        Some((sha, _)) if sha == local_sha => {
            if !ctx.plan {
                let q = sh_quote(dest);
                let chown = owner
                    .map(|o| format!(" && chown {} {q}", sh_quote(o)))
                    .unwrap_or_default();
                run_ok(ctx, &format!("chmod {mode:o} {q}{chown}"), QUICK).await?;
                ctx.cache.insert(
                    dest.to_string(),
                    PathState::File {
                        sha256: local_sha.to_string(),
                        mode,
                    },
                );
            }
            Ok(Outcome::Changed(format!("{dest}: mode {mode:o}")))
        }
        existing => {
            if !ctx.plan {
                let parent = Path::new(dest)
                    .parent()
                    .map(|p| p.to_string_lossy().to_string())
                    .unwrap_or_else(|| "/".into());
                if !matches!(ctx.cache.get(&parent), Some(PathState::Dir { .. })) {
                    run_ok(ctx, &format!("mkdir -p {}", sh_quote(&parent)), QUICK).await?;
                }
                // With the quick-check record: a re-run's prefetch trusts this sum while the
                // file's size and mtime stay as they are now.
                let item = crate::remote::PutItem {
                    src: src.into(),
                    dest: dest.to_string(),
                    mode,
                    owner: owner.map(str::to_string),
                    sha256: local_sha.to_string(),
                    then: Some(record_command(dest, local_sha)),
                };
                if let Some(batch) = ctx.batch.as_deref_mut() {
                    batch.push(item);
                } else {
                    let t0 = std::time::Instant::now();
                    let sent = ctx.remote.put_many(vec![item]).await;
                    *ctx.transfer_time += t0.elapsed();
                    *ctx.transferred += sent?;
                }
                ctx.cache.remove(&text_key(dest));
                ctx.cache.insert(
                    dest.to_string(),
                    PathState::File {
                        sha256: local_sha.to_string(),
                        mode,
                    },
                );
            }
            if ctx.plan
                && let Source::File(p) = src
            {
                ctx.remote.planned_put(p, local_sha, dest).await;
            }
            let what = if existing.is_some() {
                "updated"
            } else {
                "created"
            };
            Ok(Outcome::Changed(format!("{dest} {what}")))
        }
    }
}

/// Whether an `unless` guard succeeds: the prefetch's answer while it is valid, else asked.
async fn guard_holds(ctx: &ApplyCtx<'_>, guard: &str) -> Result<bool, String> {
    match ctx.cache.get(&guard_key(guard)) {
        Some(PathState::Guard(ok)) => Ok(*ok),
        _ => Ok(run(ctx, guard, QUICK).await?.ok()),
    }
}

/// After the engine wrote `text` to `path` itself, the next `block`/`line` task on the same
/// file needs no read (not in plan mode, where nothing was written).
fn remember_text(ctx: &mut ApplyCtx<'_>, path: &str, text: String) {
    if !ctx.plan {
        ctx.cache.insert(text_key(path), PathState::Text(text));
    }
}

fn sha_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Reads a remote text file; empty when absent.
async fn read_remote(ctx: &ApplyCtx<'_>, path: &str) -> Result<String, String> {
    if let Some(PathState::Text(t)) = ctx.cache.get(&text_key(path)) {
        return Ok(t.clone());
    }
    let q = sh_quote(path);
    Ok(run(ctx, &format!("cat {q} 2>/dev/null || true"), QUICK)
        .await?
        .stdout)
}

/// Carries out one action: one function per [`Action`] variant.
pub async fn apply(action: &Action, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    match action {
        Action::Dir(a) => dir(a, ctx).await,
        Action::Copy(a) => copy_file(a, ctx).await,
        Action::Template(a) => template(a, ctx).await,
        Action::Content(a) => content(a, ctx).await,
        Action::Command(a) => command(a, ctx).await,
        Action::Systemd(a) => systemd(a, ctx).await,
        Action::Sysctl(a) => sysctl(a, ctx).await,
        Action::Modprobe(a) => modprobe(a, ctx).await,
        Action::Block(a) => block(a, ctx).await,
        Action::Line(a) => line(a, ctx).await,
        Action::WaitFor(a) => wait_for(a, ctx).await,
        Action::Assert(a) => assert(a, ctx).await,
        Action::Fetch(a) => fetch(a, ctx).await,
    }
}

/// [`Action::Dir`].
async fn dir(a: &DirArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let mode = parse_mode(&a.mode)?;
    let q = sh_quote(&a.path);
    match ctx.cache.get(&a.path) {
        Some(PathState::Dir { mode: m }) if *m == mode => return Ok(Outcome::Ok),
        // Known from the prefetch: missing, or a directory with another mode.
        Some(PathState::Missing | PathState::Dir { .. }) => {
            if !ctx.plan {
                run_ok(ctx, &format!("mkdir -p {q} && chmod {mode:o} {q}"), QUICK).await?;
                ctx.cache.insert(a.path.clone(), PathState::Dir { mode });
            }
            return Ok(Outcome::Changed(format!("{} directory", a.path)));
        }
        _ => {}
    }
    let r = run(
        ctx,
        &format!("stat -c %a {q} 2>/dev/null && [ -d {q} ]"),
        QUICK,
    )
    .await?;
    if r.ok() && u32::from_str_radix(r.stdout.trim(), 8).ok() == Some(mode) {
        return Ok(Outcome::Ok);
    }
    if !ctx.plan {
        run_ok(ctx, &format!("mkdir -p {q} && chmod {mode:o} {q}"), QUICK).await?;
        ctx.cache.insert(a.path.clone(), PathState::Dir { mode });
    }
    Ok(Outcome::Changed(format!("{} directory", a.path)))
}

/// [`Action::Copy`].
async fn copy_file(a: &CopyArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let path = Path::new(&a.src);
    let sha = crate::localsum::sha256(path).await?;
    place_owned(
        ctx,
        Source::File(path),
        &sha,
        &a.dest,
        &a.mode,
        a.owner.as_deref(),
    )
    .await
}

/// [`Action::Template`].
async fn template(a: &TemplateArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    if let Some(u) = &a.unless
        && guard_holds(ctx, u).await?
    {
        return Ok(Outcome::Ok);
    }
    let bytes = ctx.rendered.ok_or("template was not rendered")?.to_vec();
    let sha = sha_bytes(&bytes);
    place(ctx, Source::Bytes(&bytes), &sha, &a.dest, &a.mode).await
}

/// [`Action::Content`].
async fn content(a: &ContentArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let sha = sha_bytes(a.content.as_bytes());
    place(
        ctx,
        Source::Bytes(a.content.as_bytes()),
        &sha,
        &a.dest,
        &a.mode,
    )
    .await
}

/// [`Action::Command`].
async fn command(a: &CommandArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    if let Some(p) = &a.creates
        && run(ctx, &format!("test -e {}", sh_quote(p)), QUICK)
            .await?
            .ok()
    {
        return Ok(Outcome::Skipped(format!("{p} exists")));
    }
    if let Some(u) = &a.unless
        && guard_holds(ctx, u).await?
    {
        return Ok(Outcome::Ok);
    }
    if ctx.plan {
        return Ok(if a.changes {
            Outcome::Changed(format!("would run: {}", a.cmd))
        } else {
            Outcome::Skipped("check".into())
        });
    }
    // A command may change any file: what was prefetched is no longer known.
    ctx.cache.clear();
    run_ok(ctx, &a.cmd, Duration::from_secs(a.timeout)).await?;
    Ok(if a.changes {
        Outcome::Changed(format!("ran: {}", a.cmd))
    } else {
        Outcome::Ok
    })
}

/// [`Action::Sysctl`].
async fn sysctl(a: &SysctlArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let content: String = a
        .values
        .iter()
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect();
    let out = place(
        ctx,
        Source::Bytes(content.as_bytes()),
        &sha_bytes(content.as_bytes()),
        &a.file,
        "0644",
    )
    .await?;
    if matches!(out, Outcome::Changed(_)) && !ctx.plan {
        let values: Vec<(String, String)> = a
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let script = crate::kernel::sysctl_script("/proc/sys", &values);
        let r = run(ctx, &script, QUICK).await?;
        if !r.ok() {
            return Err(format!("applying {} failed: {}", a.file, r.tail()));
        }
        for (k, why) in crate::kernel::failures(&r.stdout) {
            if !a.tolerate_unsupported {
                let v = a.values.get(&k).map(String::as_str).unwrap_or("");
                return Err(format!("sysctl {k}={v}: {why}"));
            }
            ctx.notes.push(format!("sysctl {k} not applied: {why}"));
        }
    }
    Ok(out)
}

/// [`Action::Modprobe`].
async fn modprobe(a: &ModprobeArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let content: String = a.names.iter().map(|m| format!("{m}\n")).collect();
    let file = format!("/etc/modules-load.d/{}", a.file);
    let out = place(
        ctx,
        Source::Bytes(content.as_bytes()),
        &sha_bytes(content.as_bytes()),
        &file,
        "0644",
    )
    .await?;
    if matches!(out, Outcome::Changed(_)) && !ctx.plan {
        let script = crate::kernel::modprobe_script(&a.names);
        let r = run(ctx, &script, QUICK).await?;
        if !r.ok() {
            return Err(format!(
                "loading the modules of {file} failed: {}",
                r.tail()
            ));
        }
        for (m, why) in crate::kernel::failures(&r.stdout) {
            if !a.tolerate_missing {
                return Err(format!("modprobe {m}: {why}"));
            }
            ctx.notes.push(format!("module {m} not loaded: {why}"));
        }
    }
    Ok(out)
}

/// [`Action::Block`].
async fn block(a: &BlockArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let current = read_remote(ctx, &a.path).await?;
    let next = crate::text::replace_block(&current, &a.marker, &a.content);
    if next == current {
        return Ok(Outcome::Ok);
    }
    let out = place(
        ctx,
        Source::Bytes(next.as_bytes()),
        &sha_bytes(next.as_bytes()),
        &a.path,
        &a.mode,
    )
    .await?;
    remember_text(ctx, &a.path, next);
    Ok(out)
}

/// [`Action::Line`].
async fn line(a: &LineArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let current = read_remote(ctx, &a.path).await?;
    let next = crate::text::replace_line(&current, &a.regexp, &a.line, a.absent)?;
    if next == current {
        return Ok(Outcome::Ok);
    }
    let mode = remote_file_state(ctx, &a.path)
        .await?
        .map(|(_, m)| format!("{m:o}"))
        .unwrap_or_else(|| "644".into());
    let out = place(
        ctx,
        Source::Bytes(next.as_bytes()),
        &sha_bytes(next.as_bytes()),
        &a.path,
        &mode,
    )
    .await?;
    remember_text(ctx, &a.path, next);
    Ok(out)
}

/// [`Action::WaitFor`].
async fn wait_for(a: &WaitForArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    if ctx.plan {
        return Ok(Outcome::Skipped("wait".into()));
    }
    let started = std::time::Instant::now();
    let mut gaps = crate::wait::gaps(a.retries, a.delay).into_iter();
    let mut tries = 0u32;
    let last = loop {
        tries += 1;
        let r = run(ctx, &a.cmd, QUICK).await?;
        if r.ok() {
            return Ok(Outcome::Ok);
        }
        match gaps.next() {
            Some(gap) => tokio::time::sleep(gap).await,
            None => break r,
        }
    };
    let what = a
        .msg
        .clone()
        .unwrap_or_else(|| format!("`{}` never succeeded", a.cmd));
    Err(format!(
        "{what} after {tries} tries in {} s: {}",
        started.elapsed().as_secs(),
        last.tail()
    ))
}

/// [`Action::Assert`].
async fn assert(a: &AssertArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    if let Some(cmd) = &a.cmd {
        let r = run(ctx, cmd, QUICK).await?;
        if !r.ok() {
            return Err(format!("{}: {}", a.msg, r.tail()));
        }
    }
    let holds = |v: &serde_json::Value| {
        v.as_bool() == Some(true) || v.as_str().is_some_and(|s| s.trim() == "true")
    };
    if let Some(that) = &a.that
        && !holds(that)
    {
        return Err(a.msg.clone());
    }
    Ok(Outcome::Ok)
}

/// Copies a host's file to the deploy host, unless `dest` already has the same content.
async fn fetch(a: &FetchArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let dest = Path::new(&a.dest);
    let remote_sha = match remote_file_state(ctx, &a.src).await? {
        Some((sha, _)) => sha,
        None if ctx.plan => return Ok(Outcome::Changed(format!("would fetch {}", a.src))),
        None => return Err(format!("{} does not exist on the host", a.src)),
    };
    if dest.is_file()
        && crate::localsum::sha256(dest).await.ok().as_deref() == Some(remote_sha.as_str())
    {
        return Ok(Outcome::Ok);
    }
    if ctx.plan {
        return Ok(Outcome::Changed(format!(
            "would fetch {} to {}",
            a.src, a.dest
        )));
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let t0 = std::time::Instant::now();
    let got = ctx.remote.get(&a.src, dest).await?;
    *ctx.transfer_time += t0.elapsed();
    *ctx.transferred += got;
    let local = crate::localsum::sha256(dest).await?;
    if local != remote_sha {
        let _ = std::fs::remove_file(dest);
        return Err(format!(
            "{} changed while it was copied (sha256 {local} != {remote_sha})",
            a.src
        ));
    }
    Ok(Outcome::Changed(format!("{} fetched to {}", a.src, a.dest)))
}

async fn systemd(a: &SystemdArgs, ctx: &mut ApplyCtx<'_>) -> Result<Outcome, String> {
    let unit = sh_quote(&a.name);
    let key = unit_key(&a.name);
    // The prefetched state holds until a command runs (the cache is then cleared) or this
    // unit is acted on (its entry is then removed); placing files changes neither answer.
    let (enabled, active) = match ctx.cache.get(&key) {
        Some(PathState::Unit { enabled, active }) => (*enabled, *active),
        _ => {
            let r = run(
                ctx,
                &format!(
                    "systemctl is-enabled {unit} 2>/dev/null; systemctl is-active {unit} 2>/dev/null; true"
                ),
                QUICK,
            )
            .await?;
            let mut lines = r.stdout.lines();
            (
                lines.next().unwrap_or("") == "enabled",
                lines.next().unwrap_or("") == "active",
            )
        }
    };
    let mut ops: Vec<String> = Vec::new();
    if ctx.role_changed {
        ops.push("systemctl daemon-reload".into());
    }
    if let Some(want) = a.enabled
        && want != enabled
    {
        ops.push(format!(
            "systemctl {} {unit}",
            if want { "enable" } else { "disable" }
        ));
    }
    let nb = if a.no_block { " --no-block" } else { "" };
    match a.state {
        Some(UnitState::Started) if !active => ops.push(format!("systemctl start{nb} {unit}")),
        Some(UnitState::Started) if a.restart_on_change && ctx.role_changed => {
            ops.push(format!("systemctl restart{nb} {unit}"))
        }
        Some(UnitState::Stopped) if active => ops.push(format!("systemctl stop {unit}")),
        Some(UnitState::Restarted) => ops.push(format!("systemctl restart{nb} {unit}")),
        _ => {}
    }
    let changes: Vec<&String> = ops
        .iter()
        .filter(|o| !o.ends_with("daemon-reload"))
        .collect();
    if changes.is_empty() {
        return Ok(Outcome::Ok);
    }
    let summary = changes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if !ctx.plan {
        ctx.cache.remove(&key);
        let r = run(ctx, &ops.join(" && "), Duration::from_secs(180)).await?;
        if !r.ok() {
            let journal = run(
                ctx,
                &format!("journalctl -u {unit} -n 8 --no-pager 2>/dev/null || true"),
                QUICK,
            )
            .await?;
            return Err(format!(
                "{summary} failed: {} | journal: {}",
                r.tail(),
                CmdResult {
                    stdout: journal.stdout,
                    ..Default::default()
                }
                .tail()
            ));
        }
    }
    Ok(Outcome::Changed(summary))
}
