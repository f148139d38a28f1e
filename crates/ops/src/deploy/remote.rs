//! The engine's [`ez_play::Remote`] over an SSH connection of the executor.

use ez_executor::ExecError;
use ez_executor::{Command, ExitStatus, HostHandle, RemoteFile, Upload};
use ez_play::remote::{
    BoxFut, CmdResult, OwnedSource, PutItem, Remote, RemoteError, RemoteErrorKind, Source,
};
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

    fn run<'a>(
        &'a self,
        cmd: &'a str,
        timeout: Duration,
    ) -> BoxFut<'a, Result<CmdResult, RemoteError>> {
        Box::pin(async move {
            let out = self
                .handle
                .run(Command::new(cmd).timeout(timeout))
                .await
                .map_err(remote_error)?;
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
    ) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            let mut file = RemoteFile::new(dest).mode(mode).known_stale(sha256);
            if let Some(cmd) = then {
                file = file.then(cmd);
            }
            let report = match src {
                Source::Bytes(b) => self.handle.put_bytes(b.to_vec(), file).await,
                Source::File(p) => self.handle.put_file(p, file).await,
            };
            report.map(|r| r.transferred_bytes).map_err(remote_error)
        })
    }

    fn put_many<'a>(&'a self, items: Vec<PutItem>) -> BoxFut<'a, Result<u64, RemoteError>> {
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
            let reports = self.handle.put_batch(batch).await.map_err(remote_error)?;
            Ok(reports.iter().map(|r| r.transferred_bytes).sum())
        })
    }

    fn get<'a>(
        &'a self,
        src: &'a str,
        dest: &'a std::path::Path,
    ) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            self.handle
                .get_file(src, dest)
                .await
                .map(|r| r.bytes)
                .map_err(remote_error)
        })
    }
}

/// The executor's typed error as the engine's: its kind from the variant, its message as is.
pub fn remote_error(e: ExecError) -> RemoteError {
    let kind = match &e {
        ExecError::Unreachable { .. } => RemoteErrorKind::Unreachable,
        ExecError::AuthRefused { .. }
        | ExecError::BecomeFailed { .. }
        | ExecError::UnknownHostKey { .. }
        | ExecError::HostKeyChanged { .. } => RemoteErrorKind::AuthRefused,
        ExecError::Timeout { .. } => RemoteErrorKind::Timeout,
        ExecError::ConnectionLost { .. } | ExecError::Cancelled { .. } => {
            RemoteErrorKind::ConnectionLost
        }
        ExecError::Transfer { .. } => RemoteErrorKind::Transfer,
        ExecError::Io { .. } => RemoteErrorKind::Local,
        ExecError::CommandFailed { .. } | ExecError::Ssh { .. } | ExecError::Invalid { .. } => {
            RemoteErrorKind::Other
        }
    };
    RemoteError::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executors_variants_become_kinds() {
        let e = remote_error(ExecError::AuthRefused {
            host: "h".into(),
            user: "root".into(),
            methods_tried: vec!["publickey".into()],
            detail: String::new(),
        });
        assert_eq!(e.kind, RemoteErrorKind::AuthRefused);
        assert!(
            e.message.starts_with("h: authentication as 'root' refused"),
            "{e}"
        );
        let t = remote_error(ExecError::Timeout {
            host: "h".into(),
            command: "sleep 9".into(),
            after: Duration::from_secs(1),
        });
        assert_eq!(t.kind, RemoteErrorKind::Timeout);
        assert_eq!(
            String::from(t.clone()),
            t.message,
            "the engine keeps the message"
        );
    }
}
