//! `ezctl render`: every file the playbooks would lay down on each host, computed on the
//! deploy host without touching any host.

use crate::engine::RunOptions;
use crate::error::PlayError;
use crate::load::{Library, tera_message};
use crate::model::{Action, action_from_yaml};
use crate::select::{loop_items, selected};
use crate::vars::{Inventory, eval_condition, render_value};
use std::path::PathBuf;

/// One file as a host would receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Absolute path on the host.
    pub path: String,
    pub mode: String,
    pub content: FileContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    Bytes(Vec<u8>),
    /// A deploy-host file copied as is (bundle binary, certificate).
    Copy(PathBuf),
    /// A private key: its place is shown, its content never.
    Secret(PathBuf),
    /// An edit of an existing file (`block`, `line`): the text that will be kept in it.
    Edit(String),
}

/// Files of playbook `stem` for `host`, in task order. Tasks whose condition is false on the
/// host, or that the tag filters leave out, contribute nothing.
pub fn render_host(
    lib: &Library,
    stem: &str,
    inv: &Inventory,
    host: &str,
    opts: &RunOptions,
) -> Result<Vec<RenderedFile>, PlayError> {
    let pb = lib
        .playbooks
        .get(stem)
        .ok_or_else(|| PlayError::Other(format!("no playbook `{stem}`")))?;
    let global =
        tera::Context::from_value(serde_json::Value::Object(inv.vars.clone())).unwrap_or_default();
    let host_ctx = inv.context_for(host);
    let mut out = Vec::new();
    for play in &pb.plays {
        if let Some(c) = &play.when
            && !eval_condition(c, &global).map_err(PlayError::Other)?
        {
            continue;
        }
        let in_play = play.hosts.iter().any(|g| {
            inv.groups
                .get(g)
                .is_some_and(|hs| hs.iter().any(|h| h == host))
        });
        let excluded = play.exclude.iter().any(|g| {
            inv.groups
                .get(g)
                .is_some_and(|hs| hs.iter().any(|h| h == host))
        });
        if !in_play || excluded {
            continue;
        }
        let mut base_ctx = host_ctx.clone();
        for (k, v) in &play.vars {
            base_ctx.insert(k.as_str(), &serde_json::to_value(v).unwrap_or_default());
        }
        for role_name in &play.roles {
            let Some(role) = lib.roles.get(role_name) else {
                continue;
            };
            for task in role.tasks.iter().filter(|t| selected(t, opts)) {
                let err = |message: String| PlayError::Template {
                    host: host.to_string(),
                    task: task.name.clone(),
                    message,
                };
                for item in loop_items(task, &base_ctx).map_err(err)? {
                    let mut ctx = base_ctx.clone();
                    if let Some(it) = &item {
                        ctx.insert("item", it);
                    }
                    if let Some(c) = &task.when
                        && !eval_condition(c, &ctx).map_err(err)?
                    {
                        continue;
                    }
                    let args = render_value(&task.args, &ctx).map_err(err)?;
                    let mut m = serde_yaml_ng::Mapping::new();
                    m.insert(serde_yaml_ng::Value::String(task.action.clone()), args);
                    let action = action_from_yaml(serde_yaml_ng::Value::Mapping(m)).map_err(err)?;
                    if let Some(f) = file_of(lib, role_name, &action, &ctx).map_err(err)? {
                        out.push(f);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn file_of(
    lib: &Library,
    role: &str,
    action: &Action,
    ctx: &tera::Context,
) -> Result<Option<RenderedFile>, String> {
    let f = |path: &str, mode: &str, content| {
        Some(RenderedFile {
            path: path.to_string(),
            mode: mode.to_string(),
            content,
        })
    };
    Ok(match action {
        Action::Template(t) => {
            let text = lib
                .templates
                .render(&format!("{role}/{}", t.src), ctx)
                .map_err(|e| tera_message(&e))?;
            f(&t.dest, &t.mode, FileContent::Bytes(text.into_bytes()))
        }
        Action::Content(c) => f(
            &c.dest,
            &c.mode,
            FileContent::Bytes(c.content.clone().into_bytes()),
        ),
        Action::Copy(c) if c.secret => {
            f(&c.dest, &c.mode, FileContent::Secret(c.src.clone().into()))
        }
        Action::Copy(c) => f(&c.dest, &c.mode, FileContent::Copy(c.src.clone().into())),
        Action::Sysctl(s) => {
            let text: String = s
                .values
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect();
            f(&s.file, "0644", FileContent::Bytes(text.into_bytes()))
        }
        Action::Modprobe(m) => {
            let text: String = m.names.iter().map(|n| format!("{n}\n")).collect();
            f(
                &format!("/etc/modules-load.d/{}", m.file),
                "0644",
                FileContent::Bytes(text.into_bytes()),
            )
        }
        Action::Block(b) => f(
            &b.path,
            &b.mode,
            FileContent::Edit(crate::text::replace_block("", &b.marker, &b.content)),
        ),
        Action::Line(l) if !l.absent => f(&l.path, "", FileContent::Edit(format!("{}\n", l.line))),
        _ => None,
    })
}
