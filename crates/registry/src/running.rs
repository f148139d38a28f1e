//! The registry as a background task of another command (`ezctl conformance run --registry`):
//! started on a bundle, stopped when that command is done with it.

use crate::error::Result;
use crate::serve::{Observer, bind, serve};
use crate::store::Store;
use ez_inventory::BundleLayout;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The image directories of the bundle in `base` (ezdown's layout, `BundleLayout`): `down/`,
/// then each other architecture's `arch/<arch>/down/`.
pub fn image_dirs(base: &Path) -> Vec<PathBuf> {
    let layout = BundleLayout::new(base);
    let mut dirs = vec![layout.down()];
    if let Ok(rd) = std::fs::read_dir(base.join(ez_inventory::layout::ARCH)) {
        let mut more: Vec<PathBuf> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .map(|arch| layout.for_arch(&arch).down())
            .filter(|d| d.is_dir())
            .collect();
        more.sort();
        dirs.extend(more);
    }
    dirs
}

/// A registry serving in the background. Invariant: it listens from `start` until `stop`
/// (or until dropped, when its task is aborted).
pub struct Running {
    /// The address it listens on (the port resolved when `:0` was asked for).
    pub addr: String,
    /// Images served, as `registry/path:tag`.
    pub images: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Indexes the bundle in `base` and listens on `listen`.
    pub async fn start(base: &Path, listen: &str, observer: Observer) -> Result<Running> {
        let store = Store::scan(&image_dirs(base))?;
        let images = store.images();
        let listener = bind(listen).await?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| listen.to_string());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::new(store), observer, async {
            let _ = rx.await;
        }));
        Ok(Running {
            addr,
            images,
            stop: Some(tx),
            task,
        })
    }

    /// Stops listening and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}
