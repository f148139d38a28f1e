//! The engine's [`ez_play::Remote`] over an SSH connection of the executor.

use ez_executor::{Command, ExitStatus, HostHandle, RemoteFile, Upload};
use ez_play::remote::{BoxFut, CmdResult, OwnedSource, PutItem, Remote, Source};
use std::time::Duration;

/// One host reached over SSH. Commands run as root (through sudo when the inventory says so).
#[derive(Clone)]
pub struct SshRemote {
    pub name: String,
    pub handle: HostHandle,
}

impl Remote for SshRemote {
    fn host(&self) -> &str {
        &self.name
    }

    fn run<'a>(&'a self, cmd: &'a str, timeout: Duration) -> BoxFut<'a, Result<CmdResult, String>> {
        Box::pin(async move {
            let out = self
                .handle
                .run(Command::new(cmd).timeout(timeout))
                .await
                .map_err(|e| e.to_string())?;
            let status = match &out.status {
                ExitStatus::Code(c) => *c,
                ExitStatus::Signal(_) => 128,
            };
            Ok(CmdResult {
                status,
                stdout: out.stdout_str(),
                stderr: out.stderr_str(),
            })
        })
    }

    fn put<'a>(
        &'a self,
        src: Source<'a>,
        dest: &'a str,
        mode: u32,
        sha256: &'a str,
        then: Option<&'a str>,
    ) -> BoxFut<'a, Result<u64, String>> {
        Box::pin(async move {
            let mut file = RemoteFile::new(dest).mode(mode).known_stale(sha256);
            if let Some(cmd) = then {
                file = file.then(cmd);
            }
            let report = match src {
                Source::Bytes(b) => self.handle.put_bytes(b.to_vec(), file).await,
                Source::File(p) => self.handle.put_file(p, file).await,
            };
            report
                .map(|r| r.transferred_bytes)
                .map_err(|e| e.to_string())
        })
    }

    fn put_many<'a>(&'a self, items: Vec<PutItem>) -> BoxFut<'a, Result<u64, String>> {
        Box::pin(async move {
            let batch = items
                .into_iter()
                .map(|i| {
                    let mut file = RemoteFile::new(i.dest).mode(i.mode).known_stale(i.sha256);
                    if let Some(o) = i.owner {
                        file = file.owner(o);
                    }
                    if let Some(cmd) = i.then {
                        file = file.then(cmd);
                    }
                    let up = match i.src {
                        OwnedSource::Bytes(b) => Upload::Bytes(b),
                        OwnedSource::File(p) => Upload::File(p),
                    };
                    (up, file)
                })
                .collect();
            let reports = self
                .handle
                .put_batch(batch)
                .await
                .map_err(|e| e.to_string())?;
            Ok(reports.iter().map(|r| r.transferred_bytes).sum())
        })
    }

    fn get<'a>(
        &'a self,
        src: &'a str,
        dest: &'a std::path::Path,
    ) -> BoxFut<'a, Result<u64, String>> {
        Box::pin(async move {
            self.handle
                .get_file(src, dest)
                .await
                .map(|r| r.bytes)
                .map_err(|e| e.to_string())
        })
    }
}
