//! The playbook format: playbooks (plays over host groups) → roles → tasks, as YAML data.
//!
//! A task is stored as raw YAML and only becomes a typed [`Action`] per host, after every
//! string in it has been rendered with that host's variables. Loading still checks each task
//! against the vocabulary once (with templates unrendered), so a typo fails before any host
//! is touched.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One `playbooks/NN.name.yml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    /// Human name, e.g. `etcd`.
    pub name: String,
    /// The step numbers and names `ezctl setup <c> <step>` accepts for it, e.g. `["02", "etcd"]`.
    #[serde(default)]
    pub steps: Vec<String>,
    #[serde(default)]
    pub description: String,
    pub plays: Vec<Play>,
}

/// Roles run on the hosts of some inventory groups.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Play {
    /// Group names (`etcd`, `kube_master`, `kube_node`, …) or `localhost` (the deploy host).
    pub hosts: Vec<String>,
    /// Hosts to leave out: members of these groups.
    #[serde(default)]
    pub exclude: Vec<String>,
    pub roles: Vec<String>,
    /// A condition on cluster values (tera expression); the play is skipped when false.
    #[serde(default)]
    pub when: Option<String>,
    /// Values set for this play's hosts only (they win over inventory values), e.g.
    /// `CLUSTER_STATE: existing` for a joining etcd member.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_yaml_ng::Value>,
}

/// A role: an ordered task list in `playbooks/roles/<role>/tasks.yml`, templates beside it.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub tasks: Vec<Task>,
}

/// One task as written: common keys plus exactly one action, kept as raw YAML.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    /// kubeasz tag names (`restart_etcd`, `set_hosts`, `change_cert`, …).
    pub tags: Vec<String>,
    /// Tera expression; the task is skipped on a host where it is false.
    pub when: Option<String>,
    /// Literal items, or the name of a list variable; the task runs once per item (`item`).
    pub loop_items: Option<LoopItems>,
    /// Name of the action (`copy`, `template`, `systemd`, …).
    pub action: String,
    /// The action's arguments, templates unrendered.
    pub args: serde_yaml_ng::Value,
    /// Failure is reported but does not stop the host.
    pub ignore_errors: bool,
}

/// What a task loops over.
#[derive(Debug, Clone, PartialEq)]
pub enum LoopItems {
    Literal(Vec<serde_yaml_ng::Value>),
    Variable(String),
}

/// The typed task vocabulary. Every action knows how to tell whether it would change anything.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A directory with a mode (created when missing).
    Dir(DirArgs),
    /// A file from the deploy host (bundle binary, certificate) placed on the host.
    Copy(CopyArgs),
    /// A role template rendered with the host's variables and placed on the host.
    Template(TemplateArgs),
    /// Literal content (rendered) placed on the host.
    Content(ContentArgs),
    /// A shell command.
    Command(CommandArgs),
    /// A systemd unit's enablement and state.
    Systemd(SystemdArgs),
    /// sysctl values persisted in a file and applied.
    Sysctl(SysctlArgs),
    /// Kernel modules loaded now and at boot.
    Modprobe(ModprobeArgs),
    /// A managed block between markers in a file.
    Block(BlockArgs),
    /// One line in a file, replacing the line that matches `regexp`.
    Line(LineArgs),
    /// Poll a command until it succeeds.
    WaitFor(WaitForArgs),
    /// A condition that must hold (tera expression on values, or a remote command).
    Assert(AssertArgs),
    /// A file copied from the host to the deploy host (etcd snapshots).
    Fetch(FetchArgs),
}

impl Action {
    /// Name as written in a task.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Dir(_) => "dir",
            Action::Copy(_) => "copy",
            Action::Template(_) => "template",
            Action::Content(_) => "content",
            Action::Command(_) => "command",
            Action::Systemd(_) => "systemd",
            Action::Sysctl(_) => "sysctl",
            Action::Modprobe(_) => "modprobe",
            Action::Block(_) => "block",
            Action::Line(_) => "line",
            Action::WaitFor(_) => "wait_for",
            Action::Assert(_) => "assert",
            Action::Fetch(_) => "fetch",
        }
    }
}

/// The action names [`Action`] accepts.
pub const ACTION_NAMES: &[&str] = &[
    "dir", "copy", "template", "content", "command", "systemd", "sysctl", "modprobe", "block",
    "line", "wait_for", "assert", "fetch",
];

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirArgs {
    pub path: String,
    #[serde(default = "mode_dir")]
    pub mode: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CopyArgs {
    /// Path on the deploy host.
    pub src: String,
    pub dest: String,
    #[serde(default = "mode_file")]
    pub mode: String,
    #[serde(default)]
    pub owner: Option<String>,
    /// A private key: never shown by `ezctl render`.
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    /// Template file name under the role's `templates/`.
    pub src: String,
    pub dest: String,
    #[serde(default = "mode_file")]
    pub mode: String,
    /// Leave the file alone when this remote command succeeds (e.g. a later step replaced it).
    #[serde(default)]
    pub unless: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContentArgs {
    pub dest: String,
    pub content: String,
    #[serde(default = "mode_file")]
    pub mode: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandArgs {
    pub cmd: String,
    /// Skip when this remote path exists.
    #[serde(default)]
    pub creates: Option<String>,
    /// Skip when this remote command succeeds (the state is already reached).
    #[serde(default)]
    pub unless: Option<String>,
    /// Whether running the command counts as a change (default true; false for read-only checks).
    #[serde(default = "yes")]
    pub changes: bool,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

/// Desired unit state.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnitState {
    Started,
    Stopped,
    Restarted,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SystemdArgs {
    pub name: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub state: Option<UnitState>,
    /// Restart the unit when an earlier task of the same role changed something on this host.
    #[serde(default)]
    pub restart_on_change: bool,
    /// Start without waiting for the unit to be ready (members of a cluster started together).
    #[serde(default)]
    pub no_block: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SysctlArgs {
    pub file: String,
    pub values: BTreeMap<String, String>,
    /// Keys the host's kernel refuses (read-only in containers, absent modules) are reported, not fatal.
    #[serde(default = "yes")]
    pub tolerate_unsupported: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModprobeArgs {
    pub names: Vec<String>,
    /// `/etc/modules-load.d/<file>` listing the modules for boot.
    pub file: String,
    /// Modules that cannot be loaded (no /lib/modules in a container) are reported, not fatal.
    #[serde(default = "yes")]
    pub tolerate_missing: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlockArgs {
    pub path: String,
    /// Text after `### BEGIN ` / `### END ` on the marker lines.
    pub marker: String,
    pub content: String,
    #[serde(default = "mode_file")]
    pub mode: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineArgs {
    pub path: String,
    /// Lines matching this regex are replaced by `line` (else it is appended).
    pub regexp: String,
    pub line: String,
    #[serde(default)]
    pub absent: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaitForArgs {
    pub cmd: String,
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds between tries at most: the first gaps are shorter, the whole wait is still
    /// `(retries - 1) × delay` (see [`crate::wait`]).
    #[serde(default = "default_delay")]
    pub delay: u64,
    #[serde(default)]
    pub msg: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssertArgs {
    /// A template on the host's values that must render to `true` (`"{{ x in ['a'] }}"`);
    /// a rendered `true`/`false` arrives as a boolean.
    #[serde(default)]
    pub that: Option<serde_json::Value>,
    /// Or a remote command that must succeed.
    #[serde(default)]
    pub cmd: Option<String>,
    pub msg: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// Path on the host.
    pub src: String,
    /// Path on the deploy host (its directory is created).
    pub dest: String,
}

fn mode_dir() -> String {
    "0755".into()
}
fn mode_file() -> String {
    "0644".into()
}
fn yes() -> bool {
    true
}
fn default_timeout() -> u64 {
    300
}
fn default_retries() -> u32 {
    30
}
fn default_delay() -> u64 {
    2
}

/// Turns `{action_name: args}` into a typed [`Action`] (through JSON, whose externally tagged
/// enum form is exactly a one-key map).
pub fn action_from_yaml(v: serde_yaml_ng::Value) -> Result<Action, String> {
    let json = serde_json::to_value(&v).map_err(|e| e.to_string())?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}
