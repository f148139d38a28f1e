//! Several files placed in one round trip: a tar stream on the stdin of one command, which
//! unpacks them under temporary names, then checks, renames and records each in turn.
//!
//! Invariants (those of a single put, plus order):
//! * each destination is only replaced by `mv -f` of a complete, size-checked temporary in
//!   its own directory; every directory must exist already (checked before unpacking, so
//!   `tar` never creates one);
//! * files are placed in the order given (two for the same destination: the later wins);
//!   leftovers of interrupted uploads are removed before unpacking; a failure stops there: the files before it are in
//!   place, it and the ones after are not, and every temporary of the batch is removed;
//! * only files the caller knows are stale (`known_stale`) go in a batch, and only without
//!   sudo; anything else is placed one put at a time, as [`crate::transfer`] does;
//! * memory is one `transfer_buffer`-sized copy at a time, whatever the sizes.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::TransferMethod;
use crate::error::ExecError;
use crate::exec::{Ctx, ExecFailure, run_command_fed};
use crate::shell::{SudoMode, quote};
use crate::transfer::{
    DigestCache, PutReport, RemoteFile, Source, chown_part, destination, placing_failed, put,
    rand_suffix, remove_leftovers, size_vars, then_part,
};

/// One file of a batch, as the caller gives it.
#[derive(Debug, Clone)]
pub enum Upload {
    /// A file on the deploy host.
    File(PathBuf),
    /// Bytes (a rendered template).
    Bytes(Vec<u8>),
}

struct Planned<'a> {
    src: &'a Source,
    dest: &'a RemoteFile,
    size: u64,
    dir: String,
    tmp: String,
    stale: String,
    mode: String,
}

/// Places `items` in order (see the module invariants); one report per item.
pub(crate) fn put_batch(
    ctx: &mut Ctx<'_>,
    items: &[(Source, RemoteFile)],
    sudo: &SudoMode,
    method: TransferMethod,
    cache: &DigestCache,
) -> Result<Vec<PutReport>, ExecFailure> {
    let batchable = items.len() > 1
        && matches!(sudo, SudoMode::None)
        && items.iter().all(|(_, d)| d.known_stale.is_some());
    if !batchable {
        return items
            .iter()
            .map(|(src, dest)| put(ctx, src, dest, sudo, method, cache))
            .collect();
    }
    let host = ctx.host.to_string();
    let early = |err: ExecError| ExecFailure {
        err,
        started: false,
    };
    let mut plan = Vec::with_capacity(items.len());
    for (src, dest) in items {
        let (dir, stale) = destination(&host, dest).map_err(early)?;
        plan.push(Planned {
            src,
            dest,
            size: src.len(&host).map_err(early)?,
            dir,
            tmp: format!("{stale}{}", rand_suffix()),
            stale,
            mode: format!("{:o}", dest.mode),
        });
    }
    let mut reports = Vec::with_capacity(plan.len());
    for chunk in chunks(&plan) {
        reports.extend(place_chunk(ctx, &host, chunk, sudo)?);
    }
    Ok(reports)
}

/// An exec request travels in one SSH packet, which libssh2 caps at about 32 KiB (it fails
/// with "Unable to send channel request" above); the placing script grows with each file,
/// so a batch is placed in consecutive chunks whose scripts stay under this.
const MAX_SCRIPT_BYTES: usize = 24 * 1024;

/// Consecutive runs of `plan` whose scripts stay under [`MAX_SCRIPT_BYTES`] (a single file
/// longer than that still forms a chunk of its own). Order is kept, so the invariants hold
/// across chunks: a failure in one leaves the earlier chunks' files in place.
fn chunks<'p, 'a>(plan: &'p [Planned<'a>]) -> Vec<&'p [Planned<'a>]> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in 1..=plan.len() {
        if end - start > 1 && script(&plan[start..end]).len() > MAX_SCRIPT_BYTES {
            out.push(&plan[start..end - 1]);
            start = end - 1;
        }
    }
    if start < plan.len() {
        out.push(&plan[start..]);
    }
    out
}

/// Places one chunk with one command: the tar stream on its stdin, [`script`] as the command.
fn place_chunk(
    ctx: &mut Ctx<'_>,
    host: &str,
    plan: &[Planned<'_>],
    sudo: &SudoMode,
) -> Result<Vec<PutReport>, ExecFailure> {
    let script = script(plan);
    // The stream needs only the cancel flag (not `ctx`, which the command borrows).
    let cancel = ctx.cancel;
    let (io_timeout, buffer) = (ctx.cfg.io_timeout, ctx.cfg.transfer_buffer);
    let mut feed = |w: &mut dyn Write| stream(host, cancel, io_timeout, buffer, plan, w);
    let t = ctx.cfg.command_timeout;
    let out = run_command_fed(ctx, &crate::Command::new(script), sudo, t, Some(&mut feed))?;
    let first = plan.first().map(|p| p.dest.path.as_str()).unwrap_or("");
    out.check().map_err(|e| ExecFailure {
        err: placing_failed(e, first),
        started: true,
    })?;
    Ok(plan
        .iter()
        .map(|p| PutReport {
            transferred_bytes: p.size,
            sha256: p.dest.known_stale.clone().unwrap_or_default(),
            changed: true,
        })
        .collect())
}

/// The placing command: directories checked, the stream unpacked, then per file the size
/// check, mode, owner, rename and the caller's `then`.
fn script(plan: &[Planned<'_>]) -> String {
    let temps: Vec<String> = plan.iter().map(|p| quote(&p.tmp)).collect();
    let mut s = String::from("umask 077; ");
    let mut dirs: Vec<&str> = Vec::new();
    for p in plan {
        if !dirs.contains(&p.dir.as_str()) {
            dirs.push(&p.dir);
            s += &format!(
                "[ -d {q} ] || {{ echo {msg} >&2; exit 3; }}; ",
                q = quote(&p.dir),
                msg = quote(&format!("directory {} does not exist", p.dir))
            );
        }
    }
    // Leftovers of interrupted uploads go before unpacking: afterwards the pattern would
    // also match this batch's own temporaries (two files may share a destination).
    let mut cleaned: Vec<&str> = Vec::new();
    for p in plan {
        if !cleaned.contains(&p.stale.as_str()) {
            cleaned.push(&p.stale);
            s += &remove_leftovers(&p.stale);
            s += "; ";
        }
    }
    s += &format!(
        "tar -xmof - -C / || {{ rm -f -- {}; exit 3; }}; ",
        temps.join(" ")
    );
    for (i, p) in plan.iter().enumerate() {
        let (qt, qp) = (&temps[i], quote(&p.dest.path));
        let rest = temps[i..].join(" ");
        let later = temps[i + 1..].join(" ");
        let chown = chown_part(p.dest, qt);
        let after = then_part(p.dest);
        let mismatch = quote(&format!("size mismatch after upload: {}", p.dest.path));
        s += &format!(
            "{vars}[ \"$ez_size\" = {size} ] || {{ echo {mismatch} >&2; rm -f -- {rest}; exit 3; }}; \
             chmod {mode} -- {qt}{chown} && mv -f -- {qt} {qp} || {{ rc=$?; rm -f -- {rest}; exit $rc; }}; \
             rc=0{after}; [ $rc = 0 ] || {{ rm -f -- {later} ''; exit $rc; }}; ",
            vars = size_vars(qt),
            size = p.size,
            mode = p.mode,
        );
    }
    s + "exit 0"
}

/// Writes the tar stream of `plan` to `w`: each file under its temporary name (relative to
/// `/`), mode 0600, exactly its planned size.
fn stream(
    host: &str,
    cancel: &AtomicBool,
    io_timeout: std::time::Duration,
    buffer: usize,
    plan: &[Planned<'_>],
    w: &mut dyn Write,
) -> Result<(), ExecFailure> {
    let failed = |err| ExecFailure { err, started: true };
    let mut out = Sink { w, err: None };
    // Large writes: each becomes full-size SSH packets (the tar crate copies in 8 KiB steps).
    let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(buffer, &mut out));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for p in plan {
        let reader = p.src.open(host).map_err(failed)?;
        let mut exact = Exact {
            inner: reader,
            left: p.size,
            cancel,
            host,
            err: None,
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(p.size);
        h.set_mode(0o600);
        h.set_mtime(now);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        let rel = p.tmp.trim_start_matches('/');
        if let Err(e) = b.append_data(&mut h, rel, &mut exact) {
            if let Some(err) = exact.err.take() {
                return Err(failed(err));
            }
            drop(b);
            if let Some((kind, reason)) = out.err {
                return Err(lost_or_timeout(host, io_timeout, kind, reason));
            }
            return Err(failed(ExecError::Transfer {
                host: host.to_string(),
                path: p.dest.path.clone(),
                reason: format!("sending the file failed: {e}"),
            }));
        }
    }
    let finished = b
        .into_inner()
        .and_then(|mut w| w.flush().map(|_| w))
        .map(|_| ());
    match (out.err, finished) {
        (Some((kind, reason)), _) => Err(lost_or_timeout(host, io_timeout, kind, reason)),
        (None, Err(e)) => Err(lost_or_timeout(host, io_timeout, e.kind(), e.to_string())),
        (None, Ok(())) => Ok(()),
    }
}

/// A failed write to the channel: a timeout when the write timed out, a lost connection
/// otherwise.
fn lost_or_timeout(
    host: &str,
    io_timeout: std::time::Duration,
    kind: std::io::ErrorKind,
    reason: String,
) -> ExecFailure {
    let err = if kind == std::io::ErrorKind::TimedOut {
        ExecError::Timeout {
            host: host.to_string(),
            command: "upload".into(),
            after: io_timeout,
        }
    } else {
        ExecError::ConnectionLost {
            host: host.to_string(),
            command: "upload".into(),
            reason,
        }
    };
    ExecFailure { err, started: true }
}

/// Gives exactly `left` bytes of `inner`, refusing when cancelled; remembers why it failed.
struct Exact<'a> {
    inner: Box<dyn Read + Send>,
    left: u64,
    cancel: &'a AtomicBool,
    host: &'a str,
    err: Option<ExecError>,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::SeqCst) {
            self.err = Some(ExecError::Cancelled {
                host: self.host.to_string(),
                command: "upload".into(),
            });
            return Err(std::io::Error::other("cancelled"));
        }
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            let e = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "local file shrank while uploading",
            );
            return Err(e);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The channel, remembering the first write error (a lost connection or a timeout).
struct Sink<'w> {
    w: &'w mut dyn Write,
    err: Option<(std::io::ErrorKind, String)>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.w.write(buf).inspect_err(|e| {
            self.err.get_or_insert_with(|| (e.kind(), e.to_string()));
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_batch_is_placed_in_chunks_under_the_packet_limit_in_order() {
        let dests: Vec<RemoteFile> = (0..60)
            .map(|i| {
                RemoteFile::new(format!("/opt/cni/bin/a-rather-long-plugin-name-number-{i}"))
                    .known_stale("00")
            })
            .collect();
        let src = Source::Bytes(vec![0; 4].into());
        let plan: Vec<Planned<'_>> = dests
            .iter()
            .map(|d| {
                let (dir, stale) = destination("h", d).unwrap();
                Planned {
                    src: &src,
                    dest: d,
                    size: 4,
                    dir,
                    tmp: format!("{stale}{}", rand_suffix()),
                    stale,
                    mode: "755".into(),
                }
            })
            .collect();
        assert!(
            script(&plan).len() > MAX_SCRIPT_BYTES,
            "the test needs a long batch"
        );
        let parts = chunks(&plan);
        assert!(parts.len() > 1);
        let mut seen = Vec::new();
        for part in &parts {
            assert!(script(part).len() <= MAX_SCRIPT_BYTES);
            seen.extend(part.iter().map(|p| p.dest.path.clone()));
        }
        let want: Vec<String> = dests.iter().map(|d| d.path.clone()).collect();
        assert_eq!(seen, want);
        assert_eq!(chunks(&plan[..3]).len(), 1);
    }
}
