//! The engine: a playbook's plays run one after another; within a play every host works
//! through the roles' tasks on its own, up to `forks` hosts at once.
//!
//! Invariants: a host that fails stops there (its state saved for resume) while the other
//! hosts finish; a failed host takes no part in later plays; in plan mode nothing on any
//! host is changed.

use crate::apply::{ApplyCtx, Outcome, apply};
use crate::error::PlayError;
use crate::event::{Event, HostSummary, Summary, TaskStatus};
use crate::load::{Library, tera_message};
use crate::model::{Action, Task};
use crate::remote::Remote;
use crate::select::{loop_items, managed_paths, selected};
use crate::state::RunState;
use crate::vars::{Inventory, eval_condition, render_value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// How to run a playbook.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub forks: usize,
    /// Tell what would change; change nothing.
    pub plan: bool,
    /// Only tasks carrying one of these tags (empty: all).
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    /// Only these hosts (empty: all).
    pub limit: Vec<String>,
    /// Where per-host progress is recorded for resuming (`clusters/<c>/state`).
    pub state_dir: Option<PathBuf>,
}

type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// Runs playbook `stem` of `lib` over `inv` using `remotes` (one per host address).
pub async fn run_playbook(
    lib: Arc<Library>,
    stem: &str,
    inv: Arc<Inventory>,
    remotes: &BTreeMap<String, Arc<dyn Remote>>,
    opts: &RunOptions,
    sink: Sink,
) -> Result<Summary, PlayError> {
    let pb = lib
        .playbooks
        .get(stem)
        .ok_or_else(|| PlayError::Other(format!("no playbook `{stem}` in {}", lib.dir.display())))?
        .clone();
    if let Some(d) = &opts.state_dir {
        crate::localsum::load(d);
    }
    let state = Arc::new(Mutex::new(match (&opts.state_dir, opts.plan) {
        (Some(d), false) => RunState::load_for_resume(d, stem),
        _ => RunState {
            playbook: stem.to_string(),
            status: "running".into(),
            ..Default::default()
        },
    }));
    let mut summary = Summary {
        playbook: stem.to_string(),
        plan: opts.plan,
        hosts: BTreeMap::new(),
    };
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let sem = Arc::new(Semaphore::new(opts.forks.max(1)));
    let global_ctx = tera::Context::from_value(Json::Object(inv.vars.clone())).unwrap_or_default();

    for (pi, play) in pb.plays.iter().enumerate() {
        if let Some(cond) = &play.when {
            let ok = eval_condition(cond, &global_ctx).map_err(|m| PlayError::Parse {
                file: lib.dir.join(format!("{stem}.yml")),
                message: m,
            })?;
            if !ok {
                continue;
            }
        }
        let patterns = play
            .hosts
            .iter()
            .map(|h| crate::vars::render_str(h, &global_ctx))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| PlayError::Parse {
                file: lib.dir.join(format!("{stem}.yml")),
                message: m,
            })?;
        let hosts = play_hosts(&inv, &patterns, &play.exclude, &opts.limit, &failed);
        let play_vars: Arc<Vec<(String, Json)>> = Arc::new(
            play.vars
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Json::Null)))
                .collect(),
        );
        sink(Event::PlayStarted {
            playbook: stem.to_string(),
            play: pi,
            roles: play.roles.clone(),
            hosts: hosts.clone(),
        });
        let mut joins = Vec::new();
        for host in hosts {
            let Some(remote) = remotes.get(&host).cloned() else {
                return Err(PlayError::Other(format!(
                    "host {host} has no connection (is it in the inventory?)"
                )));
            };
            let (lib, inv, sink, state, sem) = (
                lib.clone(),
                inv.clone(),
                sink.clone(),
                state.clone(),
                sem.clone(),
            );
            let (roles, opts, stem) = (play.roles.clone(), opts.clone(), stem.to_string());
            let play_vars = play_vars.clone();
            joins.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let r = run_host(HostRun {
                    lib: &lib,
                    stem: &stem,
                    pi,
                    roles: &roles,
                    inv: &inv,
                    play_vars: &play_vars,
                    remote: remote.as_ref(),
                    opts: &opts,
                    sink: &sink,
                    state: &state,
                })
                .await;
                (host, r)
            }));
        }
        for j in joins {
            let (host, hs) = j
                .await
                .map_err(|e| PlayError::Other(format!("a host worker crashed: {e}")))?;
            if hs.failed.is_some() {
                failed.insert(host.clone());
            }
            let entry = summary.hosts.entry(host).or_default();
            entry.ok += hs.ok;
            entry.changed += hs.changed;
            entry.skipped += hs.skipped;
            entry.resumed += hs.resumed;
            entry.transferred += hs.transferred;
            entry.transfer_ms += hs.transfer_ms;
            entry.elapsed_ms += hs.elapsed_ms;
            if entry.failed.is_none() {
                entry.failed = hs.failed;
            }
        }
        save_state(
            &state,
            opts,
            if failed.is_empty() {
                "running"
            } else {
                "failed"
            },
        )?;
    }
    save_state(
        &state,
        opts,
        if failed.is_empty() { "done" } else { "failed" },
    )?;
    if let Some(d) = &opts.state_dir {
        crate::localsum::persist(d);
    }
    Ok(summary)
}

/// Records the run's progress with `status` (nothing in plan mode or without a state dir).
fn save_state(state: &Mutex<RunState>, opts: &RunOptions, status: &str) -> Result<(), PlayError> {
    let (Some(dir), false) = (&opts.state_dir, opts.plan) else {
        return Ok(());
    };
    let mut s = state
        .lock()
        .map_err(|_| PlayError::Other("state lock poisoned".into()))?;
    s.status = status.to_string();
    s.save(dir)
}

/// Hosts of the named groups, in inventory order, without duplicates, excluded groups,
/// hosts outside the limit and hosts that already failed. A pattern is a group name or a
/// host of the inventory; `a:b` and `a,b` name several (as Ansible's host patterns).
fn play_hosts(
    inv: &Inventory,
    patterns: &[String],
    exclude: &[String],
    limit: &[String],
    failed: &BTreeSet<String>,
) -> Vec<String> {
    let groups: Vec<String> = patterns
        .iter()
        .flat_map(|p| p.split([':', ',']))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let singles: BTreeMap<String, Vec<String>> = groups
        .iter()
        .filter(|g| !inv.groups.contains_key(*g) && inv.host_vars.contains_key(*g))
        .map(|h| (h.clone(), vec![h.clone()]))
        .collect();
    let excluded: BTreeSet<&String> = exclude
        .iter()
        .filter_map(|g| inv.groups.get(g))
        .flatten()
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for g in &groups {
        for h in inv
            .groups
            .get(g)
            .or_else(|| singles.get(g))
            .into_iter()
            .flatten()
        {
            if excluded.contains(h)
                || failed.contains(h)
                || (!limit.is_empty() && !limit.contains(h))
            {
                continue;
            }
            if seen.insert(h.clone()) {
                out.push(h.clone());
            }
        }
    }
    out
}

/// One host's share of one play: what [`run_host`] needs.
#[derive(Clone, Copy)]
struct HostRun<'a> {
    lib: &'a Library,
    stem: &'a str,
    /// The play's index in the playbook.
    pi: usize,
    roles: &'a [String],
    inv: &'a Inventory,
    play_vars: &'a [(String, Json)],
    remote: &'a dyn Remote,
    opts: &'a RunOptions,
    sink: &'a Sink,
    state: &'a Mutex<RunState>,
}

async fn run_host(job: HostRun<'_>) -> HostSummary {
    let host = job.remote.host().to_string();
    let started = std::time::Instant::now();
    let mut hs = run_host_tasks(job, &host).await;
    hs.elapsed_ms = started.elapsed().as_millis() as u64;
    hs
}

async fn run_host_tasks(job: HostRun<'_>, host: &str) -> HostSummary {
    let HostRun {
        lib,
        stem,
        pi,
        roles,
        inv,
        play_vars,
        remote,
        opts,
        sink,
        state,
    } = job;
    let host = host.to_string();
    let mut hs = HostSummary::default();
    let mut base_ctx = inv.context_for(&host);
    // Play values may be templates of the host's values (`"{{ CONTAINERD_SERVICE_NAME }}"`).
    let host_ctx = base_ctx.clone();
    for (k, v) in play_vars {
        let rendered = serde_yaml_ng::to_value(v)
            .map_err(|e| e.to_string())
            .and_then(|y| render_value(&y, &host_ctx))
            .and_then(|y| serde_json::to_value(y).map_err(|e| e.to_string()));
        match rendered {
            Ok(v) => base_ctx.insert(k.as_str(), &v),
            Err(m) => {
                let msg = format!("play value `{k}`: {m}");
                return fail(&mut hs, sink, &host, stem, "-", "play values", msg);
            }
        }
    }
    let (done, changed_roles) = match state.lock() {
        Ok(s) => s
            .hosts
            .get(&host)
            .map(|h| (h.done.clone(), h.changed_roles.clone()))
            .unwrap_or_default(),
        Err(_) => Default::default(),
    };
    for role_name in roles {
        let Some(role) = lib.roles.get(role_name) else {
            continue;
        };
        let role_key = format!("{pi}/{role_name}");
        let mut role_changed = changed_roles.contains(&role_key);
        let wanted = managed_paths(lib, role_name, &base_ctx, opts);
        let mut cache = crate::prefetch::fetch(remote, &wanted, !opts.plan).await;
        // Files placed by consecutive file tasks go to the host together, in one round trip,
        // before the next task of another kind and at the end of the role; those tasks'
        // items count as done only once the files are in place.
        let mut deferred = Deferred::default();
        for (ti, task) in role.tasks.iter().enumerate() {
            if !selected(task, opts) {
                continue;
            }
            let items = match loop_items(task, &base_ctx) {
                Ok(items) => items,
                Err(m) => return fail(&mut hs, sink, &host, stem, role_name, &task.name, m),
            };
            let deferring =
                !opts.plan && !task.ignore_errors && DEFERRABLE.contains(&task.action.as_str());
            if !deferring {
                let at = Place {
                    host: &host,
                    role: role_name,
                    role_key: &role_key,
                    role_changed,
                };
                if let Err((t, m)) =
                    settle(&mut deferred, remote, &mut hs, state, at, opts, sink).await
                {
                    return fail(&mut hs, sink, &host, stem, role_name, &t, m);
                }
            }
            for (ii, item) in items.iter().enumerate() {
                let key = format!("{role_key}/{ti}/{ii}");
                if done.contains(&key) && !opts.plan {
                    hs.resumed += 1;
                    sink(Event::Task {
                        host: host.clone(),
                        role: role_name.clone(),
                        task: task.name.clone(),
                        status: TaskStatus::Resumed,
                        detail: String::new(),
                    });
                    continue;
                }
                let mut ctx = base_ctx.clone();
                if let Some(it) = item {
                    ctx.insert("item", it);
                }
                let res = run_task(TaskRun {
                    lib,
                    role: role_name,
                    task,
                    ctx: &ctx,
                    remote,
                    plan: opts.plan,
                    role_changed,
                    hs: &mut hs,
                    sink,
                    cache: &mut cache,
                    batch: deferring.then_some(&mut deferred.puts),
                })
                .await;
                let (status, detail) = match res {
                    Ok(Outcome::Ok) => (TaskStatus::Ok, String::new()),
                    Ok(Outcome::Changed(d)) => (TaskStatus::Changed, d),
                    Ok(Outcome::Skipped(d)) => (TaskStatus::Skipped, d),
                    Err(m) if task.ignore_errors => {
                        (TaskStatus::Skipped, format!("ignored error: {m}"))
                    }
                    Err(m) => return fail(&mut hs, sink, &host, stem, role_name, &task.name, m),
                };
                if status == TaskStatus::Changed {
                    role_changed = true;
                    // Guards were answered before this change.
                    crate::prefetch::forget_guards(&mut cache);
                }
                let f = Finished {
                    key,
                    task: task.name.clone(),
                    status,
                    detail,
                };
                if deferring {
                    deferred.held.push(f);
                } else {
                    let at = Place {
                        host: &host,
                        role: role_name,
                        role_key: &role_key,
                        role_changed,
                    };
                    commit(&mut hs, state, at, opts, sink, f);
                }
            }
        }
        let at = Place {
            host: &host,
            role: role_name,
            role_key: &role_key,
            role_changed,
        };
        if let Err((t, m)) = settle(&mut deferred, remote, &mut hs, state, at, opts, sink).await {
            return fail(&mut hs, sink, &host, stem, role_name, &t, m);
        }
    }
    hs
}

/// Actions whose files may wait to be sent with those of the next tasks.
const DEFERRABLE: &[&str] = &["copy", "template", "content", "block", "line"];

/// A task item that ran, waiting to be counted, recorded as done and reported.
struct Finished {
    key: String,
    task: String,
    status: TaskStatus,
    detail: String,
}

/// Files not yet sent, and the items that wait for them.
#[derive(Default)]
struct Deferred {
    puts: Vec<crate::remote::PutItem>,
    held: Vec<Finished>,
}

/// Where on the run a finished item belongs.
#[derive(Clone, Copy)]
struct Place<'a> {
    host: &'a str,
    role: &'a str,
    role_key: &'a str,
    role_changed: bool,
}

/// Sends the deferred files in one round trip, then commits the items that waited for them.
/// On failure: the first waiting task's name and the message (nothing is committed).
async fn settle(
    d: &mut Deferred,
    remote: &dyn Remote,
    hs: &mut HostSummary,
    state: &Mutex<RunState>,
    at: Place<'_>,
    opts: &RunOptions,
    sink: &Sink,
) -> Result<(), (String, String)> {
    if !d.puts.is_empty() {
        let t0 = std::time::Instant::now();
        let sent = remote.put_many(std::mem::take(&mut d.puts)).await;
        hs.transfer_ms += t0.elapsed().as_millis() as u64;
        match sent {
            Ok(n) => hs.transferred += n,
            Err(m) => {
                let task = d.held.first().map(|f| f.task.clone()).unwrap_or_default();
                return Err((task, m.into()));
            }
        }
    }
    for f in std::mem::take(&mut d.held) {
        commit(hs, state, at, opts, sink, f);
    }
    Ok(())
}

/// Counts a finished item, records it as done (so a resumed run skips it) and reports it.
fn commit(
    hs: &mut HostSummary,
    state: &Mutex<RunState>,
    at: Place<'_>,
    opts: &RunOptions,
    sink: &Sink,
    f: Finished,
) {
    match f.status {
        TaskStatus::Changed => hs.changed += 1,
        TaskStatus::Skipped => hs.skipped += 1,
        _ => hs.ok += 1,
    }
    if !opts.plan
        && let Ok(mut s) = state.lock()
    {
        let h = s.hosts.entry(at.host.to_string()).or_default();
        h.done.insert(f.key);
        if at.role_changed {
            h.changed_roles.insert(at.role_key.to_string());
        }
    }
    sink(Event::Task {
        host: at.host.to_string(),
        role: at.role.to_string(),
        task: f.task,
        status: f.status,
        detail: f.detail,
    });
}

fn fail(
    hs: &mut HostSummary,
    sink: &Sink,
    host: &str,
    stem: &str,
    role: &str,
    task: &str,
    message: String,
) -> HostSummary {
    sink(Event::Task {
        host: host.into(),
        role: role.into(),
        task: task.into(),
        status: TaskStatus::Failed,
        detail: message.clone(),
    });
    sink(Event::HostFailed {
        host: host.into(),
        step: stem.into(),
        role: role.into(),
        task: task.into(),
        message: message.clone(),
    });
    hs.failed = Some(format!(
        "host {host}, step {stem}, role {role}, task `{task}`: {message}"
    ));
    std::mem::take(hs)
}

/// One task on one host: what [`run_task`] needs.
struct TaskRun<'a, 'b> {
    lib: &'a Library,
    role: &'a str,
    task: &'a Task,
    ctx: &'a tera::Context,
    remote: &'a dyn Remote,
    plan: bool,
    /// An earlier task of the role changed something (handlers, `when: changed`).
    role_changed: bool,
    hs: &'b mut HostSummary,
    sink: &'a Sink,
    cache: &'b mut crate::prefetch::StateCache,
    /// Where a file task defers its file, when consecutive file tasks travel together.
    batch: Option<&'b mut Vec<crate::remote::PutItem>>,
}

async fn run_task(t: TaskRun<'_, '_>) -> Result<Outcome, String> {
    let TaskRun {
        lib,
        role,
        task,
        ctx,
        remote,
        plan,
        role_changed,
        hs,
        sink,
        cache,
        batch,
    } = t;
    if let Some(cond) = &task.when
        && !eval_condition(cond, ctx)?
    {
        return Ok(Outcome::Skipped("condition false".into()));
    }
    let args = render_value(&task.args, ctx)?;
    let mut m = serde_yaml_ng::Mapping::new();
    m.insert(serde_yaml_ng::Value::String(task.action.clone()), args);
    let action: Action = crate::model::action_from_yaml(serde_yaml_ng::Value::Mapping(m))
        .map_err(|e| format!("bad arguments after rendering: {e}"))?;
    let rendered = match &action {
        Action::Template(t) => Some(
            lib.templates
                .render(&format!("{role}/{}", t.src), ctx)
                .map_err(|e| format!("template {role}/{}: {}", t.src, tera_message(&e)))?
                .into_bytes(),
        ),
        _ => None,
    };
    let mut notes = Vec::new();
    let mut transferred = 0u64;
    let mut transfer_time = std::time::Duration::ZERO;
    let out = {
        let mut actx = ApplyCtx {
            remote,
            plan,
            role_changed,
            rendered: rendered.as_deref(),
            transferred: &mut transferred,
            transfer_time: &mut transfer_time,
            notes: &mut notes,
            cache,
            batch,
        };
        apply(&action, &mut actx).await
    };
    hs.transferred += transferred;
    hs.transfer_ms += transfer_time.as_millis() as u64;
    for note in notes {
        sink(Event::Note {
            host: remote.host().to_string(),
            task: task.name.clone(),
            note,
        });
    }
    out
}
