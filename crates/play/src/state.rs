//! Run state under `clusters/<c>/state/`, so a failed run resumes where it failed, and the
//! cluster lock, so two ezctl never work on one cluster at once.

use crate::error::PlayError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Per-playbook record of what each host completed.
///
/// Invariant: a task key is recorded only after the task succeeded on that host; the record
/// is used for resuming only while `status` is `failed` (a finished run starts afresh).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    pub playbook: String,
    pub status: String,
    pub hosts: BTreeMap<String, HostState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostState {
    /// Keys `play/role/task/item` of completed tasks.
    pub done: BTreeSet<String>,
    /// Roles (`play/role`) in which something changed (drives restart_on_change on resume).
    pub changed_roles: BTreeSet<String>,
}

impl RunState {
    pub fn path(state_dir: &Path, playbook: &str) -> PathBuf {
        state_dir.join(format!("{playbook}.json"))
    }

    /// The state to resume from: the previous run's record if it failed, else empty.
    pub fn load_for_resume(state_dir: &Path, playbook: &str) -> RunState {
        let fresh = RunState {
            playbook: playbook.to_string(),
            status: "running".into(),
            hosts: BTreeMap::new(),
        };
        let Ok(text) = std::fs::read_to_string(Self::path(state_dir, playbook)) else {
            return fresh;
        };
        match serde_json::from_str::<RunState>(&text) {
            Ok(s) if s.status == "failed" && s.playbook == playbook => RunState {
                status: "running".into(),
                ..s
            },
            _ => fresh,
        }
    }

    /// Writes the state atomically.
    pub fn save(&self, state_dir: &Path) -> Result<(), PlayError> {
        let io = |e: std::io::Error| PlayError::Io {
            path: state_dir.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let path = Self::path(state_dir, &self.playbook);
        let tmp = path.with_extension("json.tmp");
        let text =
            serde_json::to_string_pretty(self).map_err(|e| PlayError::Other(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// An exclusive lock on a cluster, held for the life of this value. The kernel releases it
/// when the holder dies, so a lock left by a dead process never blocks anyone.
pub struct ClusterLock {
    _file: File,
}

impl ClusterLock {
    /// Takes `clusters/<c>/.lock`; refuses, naming the holder, when another process has it.
    pub fn acquire(
        cluster_dir: &Path,
        cluster: &str,
        what: &str,
    ) -> Result<ClusterLock, PlayError> {
        let path = cluster_dir.join(".lock");
        let io = |e: std::io::Error| PlayError::Io {
            path: path.clone(),
            source: e,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = if holder.trim().is_empty() {
                    "another ezctl".to_string()
                } else {
                    holder.trim().to_string()
                };
                return Err(PlayError::Locked {
                    cluster: cluster.to_string(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        write!(
            file,
            "pid {} on {} running `{what}`",
            std::process::id(),
            host.trim()
        )
        .map_err(io)?;
        Ok(ClusterLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_only_after_a_failed_run() {
        let d = tempfile::tempdir().unwrap();
        let mut s = RunState::load_for_resume(d.path(), "02.etcd");
        s.hosts
            .entry("h".into())
            .or_default()
            .done
            .insert("0/etcd/1/0".into());
        s.status = "failed".into();
        s.save(d.path()).unwrap();
        assert!(
            RunState::load_for_resume(d.path(), "02.etcd").hosts["h"]
                .done
                .contains("0/etcd/1/0")
        );
        s.status = "done".into();
        s.save(d.path()).unwrap();
        assert!(
            RunState::load_for_resume(d.path(), "02.etcd")
                .hosts
                .is_empty()
        );
    }

    #[test]
    fn second_lock_is_refused_naming_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let first = ClusterLock::acquire(d.path(), "c1", "setup c1 02").unwrap();
        let err = ClusterLock::acquire(d.path(), "c1", "setup c1 03")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("setup c1 02") && err.contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        assert!(ClusterLock::acquire(d.path(), "c1", "again").is_ok());
    }
}
