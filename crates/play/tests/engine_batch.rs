//! How the engine sends files, observed with a recording double of a host: the files of
//! consecutive file tasks go in one `put_many`, sent before the next task of another kind; an
//! owner is set by the placing command itself (after the file is in place); a failed batch
//! fails the task that waited for it, and its items are not recorded as done.

use ez_play::remote::{BoxFut, CmdResult, PutItem, Remote, RemoteError, Source};
use ez_play::{Inventory, Library, RunOptions};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records what the engine asks; every command succeeds with no output (so nothing is known
/// about the host and every file is sent); `put_many` fails when `refuse` is set.
struct Recorder {
    log: Mutex<Vec<String>>,
    refuse: bool,
}

impl Recorder {
    fn log(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

impl Remote for Recorder {
    fn host(&self) -> &str {
        "h1"
    }
    fn run<'a>(&'a self, cmd: &'a str, _t: Duration) -> BoxFut<'a, Result<CmdResult, RemoteError>> {
        Box::pin(async move {
            self.log(format!("run {cmd}"));
            Ok(CmdResult::default())
        })
    }
    fn put<'a>(
        &'a self,
        _src: Source<'a>,
        dest: &'a str,
        _m: u32,
        _sha256: &'a str,
        _then: Option<&'a str>,
    ) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            self.log(format!("put {dest}"));
            Ok(1)
        })
    }
    fn put_many<'a>(&'a self, items: Vec<PutItem>) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            let names: Vec<String> = items
                .iter()
                .map(|i| {
                    let chown = if i.owner.is_some() { " +chown" } else { "" };
                    format!("{}{chown}", i.dest)
                })
                .collect();
            self.log(format!("batch {}", names.join(" ")));
            if self.refuse {
                return Err("h1: transfer failed: disk full".into());
            }
            Ok(items.len() as u64)
        })
    }
}

fn write(p: &std::path::Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

async fn run(refuse: bool) -> (Vec<String>, ez_play::Summary, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let lib_dir = d.path().join("playbooks");
    let src = d.path().join("src");
    write(&src.join("a"), "a");
    write(&src.join("b"), "b");
    write(
        &lib_dir.join("10.files.yml"),
        "name: files\nplays:\n  - hosts: [g]\n    roles: [r]\n",
    );
    write(
        &lib_dir.join("roles/r/tasks.yml"),
        "- name: binaries\n  copy: { src: \"{{ src }}/{{ item }}\", dest: \"/x/{{ item }}\" }\n  loop: [a, b]\n\
- name: owned\n  copy: { src: \"{{ src }}/a\", dest: /x/owned, owner: nobody }\n\
- name: config\n  content: { dest: /x/c.conf, content: \"c\" }\n\
- name: use them\n  command: { cmd: \"echo uses /x\" }\n\
- name: after\n  content: { dest: /x/d.conf, content: \"d\" }\n",
    );
    let lib = Arc::new(Library::load(&lib_dir).unwrap());
    let mut inv = Inventory::default();
    inv.groups.insert("g".into(), vec!["h1".into()]);
    inv.host_vars.insert("h1".into(), Default::default());
    inv.vars.insert("src".into(), json!(src.to_string_lossy()));
    let rec = Arc::new(Recorder {
        log: Mutex::new(Vec::new()),
        refuse,
    });
    let remotes: BTreeMap<String, Arc<dyn Remote>> =
        [("h1".to_string(), rec.clone() as Arc<dyn Remote>)].into();
    let state = d.path().join("state");
    let opts = RunOptions {
        state_dir: Some(state.clone()),
        ..Default::default()
    };
    let sink: Arc<dyn Fn(ez_play::Event) + Send + Sync> = Arc::new(|_| {});
    let s = ez_play::run_playbook(lib, "10.files", Arc::new(inv), &remotes, &opts, sink)
        .await
        .unwrap();
    let log = rec
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| {
            l.starts_with("batch")
                || l.starts_with("put")
                || l.contains("uses /x")
                || l.contains("chown")
        })
        .cloned()
        .collect();
    // keep the state file's text for the caller
    let text = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let keep =
        std::env::temp_dir().join(format!("ez-engine-batch-{}-{refuse}", std::process::id()));
    std::fs::write(&keep, text).unwrap();
    (log, s, keep)
}

#[tokio::test]
async fn consecutive_files_go_together_before_the_next_command() {
    let (log, s, state) = run(false).await;
    assert!(s.failures().is_empty(), "{:?}", s.failures());
    assert_eq!(
        log,
        vec![
            "batch /x/a /x/b /x/owned +chown /x/c.conf".to_string(),
            "run echo uses /x".to_string(),
            "batch /x/d.conf".to_string(),
        ],
        "the owner is set in the placing command, never before the file is there"
    );
    // the batched items are recorded as done once placed (what the failure case checks)
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        text.contains("0/r/0/0") && text.contains("0/r/2/0"),
        "{text}"
    );
    let _ = std::fs::remove_file(state);
}

#[tokio::test]
async fn a_failed_batch_fails_its_first_task_and_nothing_counts_as_done() {
    let (log, s, state) = run(true).await;
    let failures = s.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].1.contains("disk full"), "{failures:?}");
    assert!(failures[0].1.contains("binaries"), "{failures:?}");
    assert_eq!(
        log,
        vec!["batch /x/a /x/b /x/owned +chown /x/c.conf".to_string()]
    );
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        !text.contains("0/r/0/0"),
        "a batched item was recorded as done: {text}"
    );
    let _ = std::fs::remove_file(state);
}
