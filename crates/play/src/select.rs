//! Which tasks and items run on a host, and what a role's tasks will look at there (for the
//! prefetch).

use crate::engine::RunOptions;
use crate::load::Library;
use crate::model::{Action, LoopItems, Task};
use crate::vars::{eval_condition, render_value};
use serde_json::Value as Json;

/// Whether `task` runs under the tag filters. A task tagged `never` (Ansible's special tag)
/// runs only when one of its other tags is asked for.
pub(crate) fn selected(task: &Task, opts: &RunOptions) -> bool {
    let asked = task
        .tags
        .iter()
        .any(|t| t != "never" && opts.tags.contains(t));
    if task.tags.iter().any(|t| t == "never") {
        return asked && !task.tags.iter().any(|t| opts.skip_tags.contains(t));
    }
    let tagged = opts.tags.is_empty() || asked;
    let skipped = task.tags.iter().any(|t| opts.skip_tags.contains(t));
    tagged && !skipped
}

pub(crate) fn loop_items(task: &Task, ctx: &tera::Context) -> Result<Vec<Option<Json>>, String> {
    match &task.loop_items {
        None => Ok(vec![None]),
        Some(LoopItems::Literal(items)) => items
            .iter()
            .map(|v| {
                let rendered = crate::vars::render_value(v, ctx)?;
                serde_json::to_value(&rendered)
                    .map(Some)
                    .map_err(|e| e.to_string())
            })
            .collect(),
        Some(LoopItems::Variable(name)) => match ctx.get(name) {
            Some(Json::Array(a)) => Ok(a.iter().cloned().map(Some).collect()),
            Some(_) => Err(format!("loop variable `{name}` is not a list")),
            None => Err(format!("loop variable `{name}` is not defined")),
        },
    }
}

/// What the role's tasks will look at on this host, for one prefetch round trip: paths they
/// manage (destinations of file tasks, directories, files `block`/`line` edit), the systemd
/// units they handle, the texts `block`/`line` read and the `unless` guards of commands.
/// Tasks that fail to render are left out: they report their own error when they run.
pub(crate) fn managed_paths(
    lib: &Library,
    role: &str,
    base_ctx: &tera::Context,
    opts: &RunOptions,
) -> crate::prefetch::Wanted {
    let mut w = crate::prefetch::Wanted::default();
    let Some(role) = lib.roles.get(role) else {
        return w;
    };
    let mut out = Vec::new();
    let mut units = Vec::new();
    let add = |v: &mut Vec<String>, x: String| {
        if !v.contains(&x) {
            v.push(x);
        }
    };
    for task in role.tasks.iter().filter(|t| selected(t, opts)) {
        let Ok(items) = loop_items(task, base_ctx) else {
            continue;
        };
        for item in items {
            let mut ctx = base_ctx.clone();
            if let Some(it) = &item {
                ctx.insert("item", it);
            }
            if let Some(c) = &task.when
                && !eval_condition(c, &ctx).unwrap_or(false)
            {
                continue;
            }
            let Ok(args) = render_value(&task.args, &ctx) else {
                continue;
            };
            let mut m = serde_yaml_ng::Mapping::new();
            m.insert(serde_yaml_ng::Value::String(task.action.clone()), args);
            let path = match crate::model::action_from_yaml(serde_yaml_ng::Value::Mapping(m)) {
                Ok(Action::Dir(a)) => a.path,
                Ok(Action::Copy(a)) => a.dest,
                Ok(Action::Content(a)) => a.dest,
                Ok(Action::Sysctl(a)) => a.file,
                Ok(Action::Modprobe(a)) => format!("/etc/modules-load.d/{}", a.file),
                Ok(Action::Systemd(a)) => {
                    add(&mut units, a.name);
                    continue;
                }
                Ok(Action::Block(a)) => {
                    add(&mut w.texts, a.path.clone());
                    a.path
                }
                Ok(Action::Line(a)) => {
                    add(&mut w.texts, a.path.clone());
                    a.path
                }
                Ok(Action::Command(a)) => {
                    if let Some(u) = a.unless {
                        add(&mut w.guards, u);
                    }
                    continue;
                }
                Ok(Action::Template(a)) => {
                    if let Some(u) = a.unless {
                        add(&mut w.guards, u);
                    }
                    a.dest
                }
                _ => continue,
            };
            add(&mut out, path);
        }
    }
    w.paths = out;
    w.units = units;
    w
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    fn task(tags: &[&str]) -> Task {
        Task {
            name: "t".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            when: None,
            loop_items: None,
            action: "command".into(),
            args: serde_yaml_ng::Value::Null,
            ignore_errors: false,
        }
    }

    fn opts(tags: &[&str], skip: &[&str]) -> RunOptions {
        RunOptions {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            skip_tags: skip.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn never_runs_only_when_one_of_its_tags_is_asked_for() {
        let plain = task(&["change_cert"]);
        let never = task(&["never", "restart_network"]);
        assert!(selected(&plain, &opts(&[], &[])));
        assert!(!selected(&never, &opts(&[], &[])));
        assert!(!selected(&never, &opts(&["change_cert"], &[])));
        assert!(!selected(&never, &opts(&["never"], &[])));
        assert!(selected(
            &never,
            &opts(&["change_cert", "restart_network"], &[])
        ));
        assert!(!selected(
            &never,
            &opts(&["restart_network"], &["restart_network"])
        ));
        assert!(!selected(&plain, &opts(&["restart_network"], &[])));
        assert!(!selected(&plain, &opts(&[], &["change_cert"])));
    }
}
