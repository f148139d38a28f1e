//! What every operation of one `ezdown` run shares: the base directory, the HTTP client and its
//! tuning, the sources, and the event sink.

use crate::error::{BundleError, Result};
use crate::events::Events;
use crate::fetch::{FetchConfig, client};
use crate::manifest::WORK_DIR;
use crate::mirrors::Sources;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Shared state of a run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bundle base (kubeasz's `/etc/kubeasz`).
    pub base: PathBuf,
    pub client: reqwest::Client,
    pub fetch: FetchConfig,
    pub events: Events,
    pub sources: Sources,
    /// Transfers in flight at once (`-j`), at least 1.
    pub jobs: usize,
    /// Auth files searched for registry logins, first entry wins
    /// ([`crate::oci::creds::default_auth_files`] unless `--registry-auth`).
    pub registry_auth: Vec<PathBuf>,
    /// One lock per key (a blob digest) so that images sharing a layer fetch it once.
    locks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Session {
    pub fn new(
        base: &Path,
        fetch: FetchConfig,
        sources: Sources,
        events: Events,
        jobs: usize,
    ) -> Result<Session> {
        Ok(Session {
            base: base.to_path_buf(),
            client: client(&fetch)?,
            fetch,
            events: events.with_breaker(crate::cause::Breaker::new(sources.sole_hosts())),
            sources,
            jobs: jobs.max(1),
            registry_auth: crate::oci::creds::default_auth_files(),
            locks: Arc::default(),
        })
    }

    /// The lock for `key`; hold its guard while fetching the thing `key` names.
    pub fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = match self.locks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        m.entry(key.to_string()).or_default().clone()
    }

    /// `<base>/.ezdown/partial/<name>.part`: where downloads grow until verified.
    pub fn part_path(&self, name: &str) -> PathBuf {
        self.base
            .join(WORK_DIR)
            .join("partial")
            .join(format!("{name}.part"))
    }

    /// Creates kubeasz's layout and the work directories.
    pub fn prepare_dirs(&self) -> Result<()> {
        let layout = ez_inventory::BundleLayout::new(&self.base);
        let work = layout.work();
        let all = layout
            .dirs()
            .into_iter()
            .chain([work.join("partial"), work.join("blobs")]);
        for p in all {
            std::fs::create_dir_all(&p).map_err(|e| BundleError::io("create directory", &p, e))?;
        }
        Ok(())
    }
}
