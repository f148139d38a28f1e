//! What the day-2 playbooks need from the engine, run against a local double of a host
//! (commands through `sh`, files in a temporary directory): host patterns from values
//! (`hosts: ["{{ PICK }}"]`), play values rendered per host, and `fetch` back to the deploy host.

use ez_play::remote::{BoxFut, CmdResult, Remote, RemoteError, Source};
use ez_play::{Inventory, Library, RunOptions};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A "host" that is this machine: commands run with `sh -c`, files are written locally.
struct Local(String);

impl Remote for Local {
    fn host(&self) -> &str {
        &self.0
    }
    fn run<'a>(&'a self, cmd: &'a str, _t: Duration) -> BoxFut<'a, Result<CmdResult, RemoteError>> {
        Box::pin(async move {
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .output()
                .map_err(|e| e.to_string())?;
            Ok(CmdResult {
                status: o.status.code().unwrap_or(128),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            })
        })
    }
    /// `then` (the engine's quick-check record under /var/lib/kubeasz-rs) is not run: this
    /// double must not write outside its temporary directory.
    fn put<'a>(
        &'a self,
        src: Source<'a>,
        dest: &'a str,
        _m: u32,
        _sha256: &'a str,
        _then: Option<&'a str>,
    ) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            let bytes = match src {
                Source::Bytes(b) => b.to_vec(),
                Source::File(p) => std::fs::read(p).map_err(|e| e.to_string())?,
            };
            std::fs::write(dest, &bytes).map_err(|e| e.to_string())?;
            Ok(bytes.len() as u64)
        })
    }
    fn get<'a>(&'a self, src: &'a str, dest: &'a Path) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(
            async move { std::fs::copy(src, dest).map_err(|e| RemoteError::from(e.to_string())) },
        )
    }
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test]
async fn host_patterns_play_values_and_fetch() {
    let d = tempfile::tempdir().unwrap();
    let lib_dir = d.path().join("playbooks");
    let out = d.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    write(
        &lib_dir.join("10.pick.yml"),
        "name: pick\nplays:\n  - hosts: [\"{{ PICK }}\"]\n    vars: { greeting: \"hi {{ inventory_hostname }}\", units: [a, \"{{ inventory_hostname }}\"] }\n    roles: [r]\n",
    );
    write(
        &lib_dir.join("roles/r/tasks.yml"),
        "- name: file\n  content: { dest: \"{{ out }}/{{ inventory_hostname }}\", content: \"{{ greeting }} {{ units | join(sep=',') }}\" }\n\
- name: back\n  fetch: { src: \"{{ out }}/{{ inventory_hostname }}\", dest: \"{{ out }}/fetched/{{ inventory_hostname }}\" }\n",
    );
    let lib = Arc::new(Library::load(&lib_dir).unwrap());
    let mut inv = Inventory::default();
    inv.groups
        .insert("g".into(), vec!["h1".into(), "h2".into(), "h3".into()]);
    for h in ["h1", "h2", "h3"] {
        inv.host_vars.insert(h.into(), Default::default());
    }
    inv.vars.insert("out".into(), json!(out.to_string_lossy()));
    inv.vars.insert("PICK".into(), json!("h2:h3"));
    let remotes: BTreeMap<String, Arc<dyn Remote>> = ["h1", "h2", "h3"]
        .iter()
        .map(|h| {
            (
                h.to_string(),
                Arc::new(Local(h.to_string())) as Arc<dyn Remote>,
            )
        })
        .collect();
    let opts = RunOptions {
        forks: 2,
        ..Default::default()
    };
    let sink: Arc<dyn Fn(ez_play::Event) + Send + Sync> = Arc::new(|_| {});
    let s = ez_play::run_playbook(
        lib.clone(),
        "10.pick",
        Arc::new(inv.clone()),
        &remotes,
        &opts,
        sink.clone(),
    )
    .await
    .unwrap();
    assert!(s.failures().is_empty(), "{:?}", s.failures());
    assert!(!out.join("h1").exists(), "h1 is not in the pattern");
    for h in ["h2", "h3"] {
        assert_eq!(
            std::fs::read_to_string(out.join(h)).unwrap(),
            format!("hi {h} a,{h}")
        );
        assert_eq!(
            std::fs::read_to_string(out.join("fetched").join(h)).unwrap(),
            format!("hi {h} a,{h}")
        );
    }
    // A second run changes nothing: the fetched copies already match.
    let s = ez_play::run_playbook(lib, "10.pick", Arc::new(inv), &remotes, &opts, sink)
        .await
        .unwrap();
    assert_eq!(s.changed(), 0, "{s:?}");
}
