//! Loading `playbooks/`: playbook files, roles and their templates, checked once at load time.

use crate::error::PlayError;
use crate::model::{ACTION_NAMES, LoopItems, Playbook, Role, Task};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every playbook and role of a `playbooks/` directory, and a tera instance holding the
/// role templates as `<role>/<file>`.
///
/// Invariant: every play names roles that exist, every task has exactly one known action,
/// and every template parses.
pub struct Library {
    pub dir: PathBuf,
    pub playbooks: BTreeMap<String, Playbook>,
    pub roles: BTreeMap<String, Role>,
    pub templates: tera::Tera,
}

impl Library {
    /// The numbered steps `setup <c> all` runs: playbooks whose stem starts with a number
    /// below 10 (`01.prepare` … `07.cluster-addon`), in stem order (a BTreeMap's keys).
    pub fn step_stems(&self) -> Vec<String> {
        self.playbooks
            .keys()
            .filter(|s| {
                s.split('.')
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n < 10)
            })
            .cloned()
            .collect()
    }

    /// Loads `dir/*.yml` (playbooks) and `dir/roles/<role>/{tasks.yml,templates/*}`.
    pub fn load(dir: &Path) -> Result<Library, PlayError> {
        let mut playbooks = BTreeMap::new();
        let mut roles = BTreeMap::new();
        let mut templates = tera::Tera::default();
        templates.autoescape_on(vec![]);
        let entries = read_dir_sorted(dir)?;
        for path in entries {
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                let text = read(&path)?;
                let pb: Playbook =
                    serde_yaml_ng::from_str(&text).map_err(|e| PlayError::Parse {
                        file: path.clone(),
                        message: e.to_string(),
                    })?;
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                playbooks.insert(stem, pb);
            }
        }
        let roles_dir = dir.join("roles");
        for role_dir in read_dir_sorted(&roles_dir)? {
            if !role_dir.is_dir() {
                continue;
            }
            let name = role_dir
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let tasks_file = role_dir.join("tasks.yml");
            let tasks = parse_tasks(&tasks_file, &read(&tasks_file)?)?;
            let tdir = role_dir.join("templates");
            if tdir.is_dir() {
                for t in read_dir_sorted(&tdir)? {
                    let fname = t
                        .file_name()
                        .map(|s| s.to_string_lossy().to_string())
                        .unwrap_or_default();
                    templates
                        .add_raw_template(&format!("{name}/{fname}"), &read(&t)?)
                        .map_err(|e| PlayError::Parse {
                            file: t.clone(),
                            message: tera_message(&e),
                        })?;
                }
            }
            roles.insert(name.clone(), Role { name, tasks });
        }
        let lib = Library {
            dir: dir.to_path_buf(),
            playbooks,
            roles,
            templates,
        };
        lib.check_references()?;
        Ok(lib)
    }

    fn check_references(&self) -> Result<(), PlayError> {
        for (file, pb) in &self.playbooks {
            for play in &pb.plays {
                for role in &play.roles {
                    if !self.roles.contains_key(role) {
                        return Err(PlayError::Parse {
                            file: self.dir.join(format!("{file}.yml")),
                            message: format!(
                                "play on {:?} names role `{role}`, which has no playbooks/roles/{role}/tasks.yml",
                                play.hosts
                            ),
                        });
                    }
                }
            }
        }
        for role in self.roles.values() {
            for task in &role.tasks {
                if task.action == "template"
                    && let Some(src) = task.args.get("src").and_then(Value::as_str)
                    && !src.contains("{{")
                    && !self
                        .templates
                        .get_template_names()
                        .any(|n| n == format!("{}/{}", role.name, src))
                {
                    return Err(PlayError::Parse {
                        file: self.dir.join("roles").join(&role.name).join("tasks.yml"),
                        message: format!(
                            "task `{}`: template `{src}` not found in roles/{}/templates/",
                            task.name, role.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The playbook `ezctl setup <c> <step>` means (`02`, `etcd`, or the file stem).
    pub fn playbook_for_step(&self, step: &str) -> Option<(&str, &Playbook)> {
        self.playbooks
            .iter()
            .find(|(stem, pb)| stem.as_str() == step || pb.steps.iter().any(|s| s == step))
            .map(|(s, pb)| (s.as_str(), pb))
    }
}

/// Parses a role's task list.
pub fn parse_tasks(file: &Path, text: &str) -> Result<Vec<Task>, PlayError> {
    let err = |message: String| PlayError::Parse {
        file: file.to_path_buf(),
        message,
    };
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| err(e.to_string()))?;
    let Value::Sequence(items) = value else {
        return Err(err("a role's tasks.yml must be a list of tasks".into()));
    };
    let mut tasks = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Mapping(map) = item else {
            return Err(err(format!("task #{} is not a mapping", i + 1)));
        };
        let mut name = None;
        let mut tags = Vec::new();
        let mut when = None;
        let mut loop_items = None;
        let mut ignore_errors = false;
        let mut action: Option<(String, Value)> = None;
        for (k, v) in map {
            let key = k.as_str().unwrap_or_default().to_string();
            match key.as_str() {
                "name" => name = v.as_str().map(str::to_string),
                "tags" => tags = string_list(&v),
                "when" => when = v.as_str().map(str::to_string),
                "ignore_errors" => ignore_errors = v.as_bool().unwrap_or(false),
                "loop" => {
                    loop_items = Some(match v {
                        Value::Sequence(s) => LoopItems::Literal(s),
                        Value::String(s) => LoopItems::Variable(s),
                        _ => {
                            return Err(err(format!(
                                "task #{}: `loop` must be a list or a variable name",
                                i + 1
                            )));
                        }
                    })
                }
                other if ACTION_NAMES.contains(&other) => {
                    if let Some((prev, _)) = &action {
                        return Err(err(format!(
                            "task #{}: two actions `{prev}` and `{other}`; a task has exactly one",
                            i + 1
                        )));
                    }
                    action = Some((other.to_string(), v));
                }
                other => {
                    return Err(err(format!(
                        "task #{}: unknown key `{other}` (actions: {}; keys: name, tags, when, loop, ignore_errors)",
                        i + 1,
                        ACTION_NAMES.join(", ")
                    )));
                }
            }
        }
        let name = name.ok_or_else(|| err(format!("task #{} has no `name`", i + 1)))?;
        let (action, args) = action.ok_or_else(|| {
            err(format!(
                "task `{name}` has no action ({})",
                ACTION_NAMES.join(", ")
            ))
        })?;
        check_shape(&action, &args).map_err(|m| err(format!("task `{name}`: {m}")))?;
        tasks.push(Task {
            name,
            tags,
            when,
            loop_items,
            action,
            args,
            ignore_errors,
        });
    }
    Ok(tasks)
}

/// Checks a task's arguments against the vocabulary when they hold no template (templated
/// values are checked per host after rendering).
fn check_shape(action: &str, args: &Value) -> Result<(), String> {
    let text = serde_yaml_ng::to_string(args).unwrap_or_default();
    if text.contains("{{") || text.contains("{%") {
        return Ok(());
    }
    let mut m = serde_yaml_ng::Mapping::new();
    m.insert(Value::String(action.to_string()), args.clone());
    crate::model::action_from_yaml(Value::Mapping(m)).map(|_| ())
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn read(path: &Path) -> Result<String, PlayError> {
    std::fs::read_to_string(path).map_err(|e| PlayError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, PlayError> {
    let rd = std::fs::read_dir(dir).map_err(|e| PlayError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

/// Tera's error with its causes, on one line.
pub fn tera_message(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_task_list() {
        let t = parse_tasks(
            Path::new("t.yml"),
            "- name: dirs\n  dir: { path: /opt/kube/bin }\n  tags: [a, b]\n- name: unit\n  systemd: { name: etcd, state: started, enabled: true }\n  when: \"x == 1\"\n",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].action, "dir");
        assert_eq!(t[0].tags, vec!["a", "b"]);
        assert_eq!(t[1].when.as_deref(), Some("x == 1"));
    }

    #[test]
    fn rejects_unknown_keys_two_actions_and_bad_args() {
        let e = parse_tasks(Path::new("t.yml"), "- name: x\n  shell: ls\n").unwrap_err();
        assert!(e.to_string().contains("unknown key `shell`"), "{e}");
        let e = parse_tasks(
            Path::new("t.yml"),
            "- name: x\n  dir: {path: /a}\n  copy: {src: a, dest: b}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("two actions"), "{e}");
        let e = parse_tasks(
            Path::new("t.yml"),
            "- name: x\n  systemd: {name: a, state: running}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("task `x`"), "{e}");
    }
}
