//! Shell completion scripts (clap_complete) and man pages (clap_mangen) of `ezctl` and
//! `ezdown`, generated from their clap definitions at run time, so they always match the
//! binary that prints them; and `install-shell-extras`, which writes both tools' completions
//! and man pages where shells and `man` look for them ([`install`]).
//!
//! The same three subcommands exist in both binaries: `completion SHELL`, `man --out DIR`,
//! `install-shell-extras [--prefix DIR]`.

pub mod install;

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The two command lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ezctl,
    Ezdown,
}

impl Tool {
    pub const ALL: [Tool; 2] = [Tool::Ezctl, Tool::Ezdown];

    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ezctl => "ezctl",
            Tool::Ezdown => "ezdown",
        }
    }

    /// Its clap definition.
    pub fn command(self) -> clap::Command {
        match self {
            Tool::Ezctl => crate::EzctlCli::command(),
            Tool::Ezdown => crate::ezdown::EzdownCli::command(),
        }
    }
}

/// The shell-extras commands, in both binaries.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ShellCommand {
    /// Print the completion script for SHELL on stdout (install-shell-extras installs them).
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the man pages (the command's and one per subcommand, section 1) into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Install the bash, zsh and fish completions and the man pages of ezctl and ezdown for
    /// this user (~/.local/share/..., ~/.config/fish/...), or under --prefix.
    InstallShellExtras {
        /// Install under DIR/share/... instead (e.g. /usr/local as root, or a package's root).
        #[arg(long, value_name = "DIR")]
        prefix: Option<PathBuf>,
    },
}

/// The completion script of `tool` for `shell`.
pub fn completion(tool: Tool, shell: Shell) -> Vec<u8> {
    let mut cmd = tool.command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, tool.name(), &mut out);
    out
}

/// The man pages of `tool`: `(file name, roff)` for the command and every visible
/// subcommand (`ezctl.1`, `ezctl-start-aio.1`, …).
pub fn man_pages(tool: Tool) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub.clone(), out)?;
        }
        let man = clap_mangen::Man::new(cmd);
        let mut roff = Vec::new();
        man.render(&mut roff)?;
        out.push((man.get_filename(), roff));
        Ok(())
    }
    // As clap_mangen::generate_to: built once, so subcommands are named `ezctl-<sub>`.
    let mut cmd = tool.command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    walk(cmd, &mut pages)?;
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pages)
}

/// Writes the man pages of `tool` into `dir` (created when missing); returns their paths.
pub fn write_man_pages(tool: Tool, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, roff) in man_pages(tool).context("rendering the man pages")? {
        let p = dir.join(name);
        ez_inventory::write_atomic_mode(&p, &roff, Some(0o644))
            .with_context(|| format!("cannot write {}", p.display()))?;
        written.push(p);
    }
    Ok(written)
}

/// Runs a shell-extras command of `tool`; `home` is the deploy host's home (EZ_HOME/HOME).
pub fn run(tool: Tool, cmd: ShellCommand, home: Option<&Path>) -> anyhow::Result<u8> {
    match cmd {
        ShellCommand::Completion { shell } => {
            // A closed stdout (`| head`) just stops the output; a full disk is an error.
            crate::output::write_stdout(&completion(tool, shell))
                .context("cannot write the completion script")?;
            Ok(0)
        }
        ShellCommand::Man { out } => {
            let pages = write_man_pages(tool, &out)?;
            println!("{} man page(s) written to {}", pages.len(), out.display());
            Ok(0)
        }
        ShellCommand::InstallShellExtras { prefix } => {
            let layout = match (prefix, home) {
                (Some(p), _) => install::Layout::prefix(&p),
                (None, Some(h)) if h.is_dir() => install::Layout::user_from_env(h),
                (None, Some(h)) => anyhow::bail!(
                    "home directory {} does not exist: set HOME (or EZ_HOME), or install under --prefix DIR",
                    h.display()
                ),
                (None, None) => anyhow::bail!(
                    "HOME is not set: set HOME (or EZ_HOME), or install under --prefix DIR"
                ),
            };
            let report = install::install(&layout)?;
            print!("{}", report.describe(&layout));
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).expect("utf-8")
    }

    #[test]
    fn bash_completion_knows_the_commands() {
        let bash = text(completion(Tool::Ezctl, Shell::Bash));
        for cmd in ["start-aio", "add-node", "checkout", "install-shell-extras"] {
            assert!(bash.contains(cmd), "bash completion lacks {cmd}");
        }
        let bash = text(completion(Tool::Ezdown, Shell::Bash));
        assert!(bash.contains("--verify") && bash.contains("completion"));
        for shell in [Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            assert!(text(completion(Tool::Ezctl, shell)).contains("start-aio"));
        }
    }

    #[test]
    fn man_pages_for_both_tools_mention_their_flags() {
        let ezctl = man_pages(Tool::Ezctl).expect("ezctl pages");
        let names: Vec<&str> = ezctl.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "ezctl.1",
            "ezctl-start-aio.1",
            "ezctl-add-node.1",
            "ezctl-setup.1",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let aio = ezctl
            .iter()
            .find(|(n, _)| n == "ezctl-start-aio.1")
            .map(|(_, r)| String::from_utf8_lossy(r).into_owned())
            .unwrap_or_default();
        // roff escapes '-' as '\-'.
        assert!(aio.contains(r"\-\-network"), "{aio}");
        let ezdown = man_pages(Tool::Ezdown).expect("ezdown pages");
        let main = ezdown
            .iter()
            .find(|(n, _)| n == "ezdown.1")
            .map(|(_, r)| String::from_utf8_lossy(r).into_owned())
            .unwrap_or_default();
        assert!(
            main.contains(r"\-\-verify") && main.contains(r"\-D"),
            "{main}"
        );
        assert!(ezdown.iter().any(|(n, _)| n == "ezdown-completion.1"));
    }

    #[test]
    fn man_writes_the_pages_into_a_directory() {
        let t = tempfile::tempdir().expect("tmp");
        let out = t.path().join("man");
        let written = write_man_pages(Tool::Ezdown, &out).expect("write");
        assert!(written.iter().all(|p| p.starts_with(&out) && p.is_file()));
        assert!(out.join("ezdown.1").is_file());
    }

    #[test]
    fn both_binaries_parse_the_shell_commands() {
        use clap::Parser;
        let cli = crate::EzctlCli::try_parse_from(["ezctl", "completion", "bash"]).expect("ezctl");
        assert!(matches!(
            cli.command,
            crate::EzctlCommand::Shell(ShellCommand::Completion { shell: Shell::Bash })
        ));
        let cli = crate::ezdown::EzdownCli::try_parse_from(["ezdown", "completion", "zsh"])
            .expect("ezdown");
        assert!(matches!(
            cli.command,
            Some(ShellCommand::Completion { shell: Shell::Zsh })
        ));
        let cli = crate::ezdown::EzdownCli::try_parse_from(["ezdown", "-D"]).expect("-D");
        assert!(cli.command.is_none() && cli.download);
        assert!(crate::EzctlCli::try_parse_from(["ezctl", "completion", "tcsh"]).is_err());
        let cli =
            crate::EzctlCli::try_parse_from(["ezctl", "install-shell-extras", "--prefix", "/p"])
                .expect("install");
        assert!(matches!(
            cli.command,
            crate::EzctlCommand::Shell(ShellCommand::InstallShellExtras { prefix: Some(_) })
        ));
    }
}
