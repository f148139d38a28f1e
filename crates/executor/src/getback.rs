//! Copying a host's file back to the deploy host (`get`, via a local temporary file renamed on
//! success, its sha256 computed while it streams) and asking a host for a file's sha256.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::command::{StreamKind, TailBuffer};
use crate::error::{ExecError, Result, one_line};
use crate::exec::{Ctx, ExecFailure, RawCommand, exec_raw};
use crate::shell::{SudoMode, quote};
use crate::transfer::{GetReport, helper, rand_suffix, split_remote};

/// Download `remote` to `local` (via a local temp file in the same directory, then rename).
pub(crate) fn get(
    ctx: &mut Ctx<'_>,
    remote: &str,
    local: &Path,
    sudo: &SudoMode,
    timeout: Duration,
) -> Result<GetReport, ExecFailure> {
    let host = ctx.host.to_string();
    let early = |err: ExecError| ExecFailure {
        err,
        started: false,
    };
    split_remote(&host, remote).map_err(early)?;
    let dir = local
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fname = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let tmp = dir.join(format!(".{fname}.ez-tmp-{}", rand_suffix()));
    let io_err = |path: &Path, source: std::io::Error| ExecError::Io {
        host: host.clone(),
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(&tmp).map_err(|e| early(io_err(&tmp, e)))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    let mut errs = TailBuffer::new(8192);
    let (line, pre) = crate::shell::wrap(&format!("cat -- {}", quote(remote)), &[], sudo);
    let pieces: Vec<&[u8]> = pre.iter().map(|p| p.as_slice()).collect();
    let result = {
        let mut handler = |kind: StreamKind, data: &[u8]| -> Result<(), ExecError> {
            match kind {
                StreamKind::Stdout => {
                    h.update(data);
                    bytes += data.len() as u64;
                    w.write_all(data).map_err(|e| io_err(&tmp, e))
                }
                StreamKind::Stderr => {
                    errs.push(data);
                    Ok(())
                }
            }
        };
        let display = format!("get {remote}");
        let raw = RawCommand {
            cmdline: &line,
            display: &display,
            stdin: &pieces,
            timeout,
        };
        exec_raw(ctx, raw, None, &mut handler)
    };
    let finish = || -> Result<(), ExecError> {
        let f = w.into_inner().map_err(|e| io_err(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, local).map_err(|e| io_err(local, e))
    };
    let outcome = match result {
        Ok((status, _)) if status.success() => {
            finish().map_err(|err| ExecFailure { err, started: true })
        }
        Ok((status, _)) => {
            let (e, _) = errs.into_parts();
            Err(ExecFailure {
                err: ExecError::Transfer {
                    host: host.clone(),
                    path: remote.to_string(),
                    reason: format!(
                        "remote read failed ({status}): {}",
                        one_line(&String::from_utf8_lossy(&e), 300)
                    ),
                },
                started: true,
            })
        }
        Err(f) => Err(f),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome.map(|()| GetReport {
        bytes,
        sha256: hex::encode(h.finalize()),
    })
}

/// sha256 of a remote regular file, `None` if it does not exist.
pub(crate) fn remote_sha256(
    ctx: &mut Ctx<'_>,
    path: &str,
    sudo: &SudoMode,
) -> Result<Option<String>, ExecFailure> {
    let host = ctx.host.to_string();
    split_remote(&host, path).map_err(|err| ExecFailure {
        err,
        started: false,
    })?;
    let qp = quote(path);
    let out = helper(
        ctx,
        format!("if [ -f {qp} ]; then sha256sum -- {qp} | cut -d' ' -f1; fi"),
        sudo,
    )?;
    let s = out.trim();
    Ok(if s.len() == 64 {
        Some(s.to_string())
    } else {
        None
    })
}
