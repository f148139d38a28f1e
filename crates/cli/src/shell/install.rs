//! `install-shell-extras`: both tools' completions and man pages, in one command.
//!
//! Where (a [`Layout`]):
//!
//! | what | for this user (default) | `--prefix P` |
//! |---|---|---|
//! | bash | `$XDG_DATA_HOME/bash-completion/completions/ezctl` | `P/share/bash-completion/completions/ezctl` |
//! | zsh | `$XDG_DATA_HOME/zsh/site-functions/_ezctl` | `P/share/zsh/site-functions/_ezctl` |
//! | fish | `$XDG_CONFIG_HOME/fish/completions/ezctl.fish` | `P/share/fish/vendor_completions.d/ezctl.fish` |
//! | man | `$XDG_DATA_HOME/man/man1/ezctl*.1` | `P/share/man/man1/ezctl*.1` |
//!
//! with `XDG_DATA_HOME` = `~/.local/share` and `XDG_CONFIG_HOME` = `~/.config` unless set to
//! an absolute path. bash-completion and fish load these by themselves; zsh needs the
//! directory on `fpath` (the report says so); `man` finds `~/.local/share/man` when
//! `~/.local/bin` is on PATH.
//!
//! Invariants: every file is written atomically (mode 0644) and replaced on a re-run, so
//! installing twice gives the same tree; nothing outside the layout's four directories is
//! touched (no rc file is edited).

use super::{Tool, completion, man_pages};
use anyhow::Context as _;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The four directories written into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub bash: PathBuf,
    pub zsh: PathBuf,
    pub fish: PathBuf,
    pub man1: PathBuf,
    /// Whether this is the per-user layout (the report then gives the zsh hint for it).
    pub user: bool,
}

impl Layout {
    /// The per-user directories under `home`, with the XDG base directories when given.
    pub fn user(home: &Path, xdg_data: Option<&Path>, xdg_config: Option<&Path>) -> Layout {
        let data = xdg_data
            .filter(|p| p.is_absolute())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join(".local/share"));
        let config = xdg_config
            .filter(|p| p.is_absolute())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join(".config"));
        Layout {
            bash: data.join("bash-completion/completions"),
            zsh: data.join("zsh/site-functions"),
            fish: config.join("fish/completions"),
            man1: data.join("man/man1"),
            user: true,
        }
    }

    /// [`Layout::user`] with `$XDG_DATA_HOME` and `$XDG_CONFIG_HOME`.
    pub fn user_from_env(home: &Path) -> Layout {
        let data = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
        let config = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        Layout::user(home, data.as_deref(), config.as_deref())
    }

    /// The system-wide layout under `prefix` (`/usr/local`, a package root).
    pub fn prefix(prefix: &Path) -> Layout {
        let share = prefix.join("share");
        Layout {
            bash: share.join("bash-completion/completions"),
            zsh: share.join("zsh/site-functions"),
            fish: share.join("fish/vendor_completions.d"),
            man1: share.join("man/man1"),
            user: false,
        }
    }
}

/// The files [`install`] wrote.
#[derive(Debug, Default)]
pub struct Report {
    pub completions: Vec<PathBuf>,
    pub man_pages: Vec<PathBuf>,
}

impl Report {
    /// What was installed and what the user may still have to do, one item per line.
    pub fn describe(&self, l: &Layout) -> String {
        let mut s = format!(
            "installed the completions and man pages of ezctl and ezdown:\n  \
             bash  {}/{{ezctl,ezdown}}  (bash-completion loads them in new shells)\n  \
             zsh   {}/{{_ezctl,_ezdown}}\n  \
             fish  {}/{{ezctl,ezdown}}.fish\n  \
             man   {}/ ({} pages: man ezctl, man ezctl-start-aio, man ezdown)\n",
            l.bash.display(),
            l.zsh.display(),
            l.fish.display(),
            l.man1.display(),
            self.man_pages.len()
        );
        if l.user {
            s.push_str(&format!(
                "zsh: if that directory is not on fpath yet, add `fpath=({} $fpath)` before `compinit` in ~/.zshrc\n",
                l.zsh.display()
            ));
            s.push_str("man: found when ~/.local/bin is on PATH; otherwise add ");
            s.push_str(&format!(
                "{} to MANPATH\n",
                l.man1.parent().unwrap_or(&l.man1).display()
            ));
        }
        s
    }
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    ez_inventory::write_atomic_mode(path, bytes, Some(0o644))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes bash, zsh and fish completions and the man pages of both tools into `layout`.
pub fn install(layout: &Layout) -> anyhow::Result<Report> {
    let mut r = Report::default();
    for tool in Tool::ALL {
        let n = tool.name();
        for (shell, path) in [
            (Shell::Bash, layout.bash.join(n)),
            (Shell::Zsh, layout.zsh.join(format!("_{n}"))),
            (Shell::Fish, layout.fish.join(format!("{n}.fish"))),
        ] {
            write(&path, &completion(tool, shell))?;
            r.completions.push(path);
        }
        for (name, roff) in man_pages(tool).context("rendering the man pages")? {
            let path = layout.man1.join(name);
            write(&path, &roff)?;
            r.man_pages.push(path);
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let home = Path::new("/home/u");
        let l = Layout::user(home, None, None);
        assert_eq!(
            l.bash,
            Path::new("/home/u/.local/share/bash-completion/completions")
        );
        assert_eq!(l.fish, Path::new("/home/u/.config/fish/completions"));
        assert_eq!(l.man1, Path::new("/home/u/.local/share/man/man1"));
        let l = Layout::user(home, Some(Path::new("/d")), Some(Path::new("relative")));
        assert_eq!(l.zsh, Path::new("/d/zsh/site-functions"));
        assert_eq!(l.fish, Path::new("/home/u/.config/fish/completions"));
        let p = Layout::prefix(Path::new("/usr/local"));
        assert_eq!(
            p.fish,
            Path::new("/usr/local/share/fish/vendor_completions.d")
        );
        assert!(!p.user);
    }

    #[test]
    fn one_command_installs_everything_and_again_changes_nothing() {
        let t = tempfile::tempdir().expect("tmp");
        let layout = Layout::user(t.path(), None, None);
        let r = install(&layout).expect("install");
        assert_eq!(r.completions.len(), 6);
        for f in [
            ".local/share/bash-completion/completions/ezctl",
            ".local/share/bash-completion/completions/ezdown",
            ".local/share/zsh/site-functions/_ezctl",
            ".config/fish/completions/ezdown.fish",
            ".local/share/man/man1/ezctl.1",
            ".local/share/man/man1/ezctl-start-aio.1",
            ".local/share/man/man1/ezdown.1",
        ] {
            assert!(t.path().join(f).is_file(), "{f} missing");
        }
        let bash = std::fs::read_to_string(layout.bash.join("ezctl")).expect("bash");
        assert!(bash.contains("start-aio") && bash.contains("add-node"));
        let before = std::fs::read(layout.man1.join("ezctl.1")).expect("man");
        let r2 = install(&layout).expect("again");
        assert_eq!(r2.man_pages, r.man_pages);
        assert_eq!(
            std::fs::read(layout.man1.join("ezctl.1")).expect("man"),
            before
        );
        let text = r.describe(&layout);
        assert!(
            text.contains("fpath=(") && text.contains("MANPATH"),
            "{text}"
        );
    }

    #[test]
    fn the_prefix_layout() {
        let t = tempfile::tempdir().expect("tmp");
        install(&Layout::prefix(t.path())).expect("install");
        assert!(t.path().join("share/man/man1/ezdown.1").is_file());
        assert!(
            t.path()
                .join("share/fish/vendor_completions.d/ezctl.fish")
                .is_file()
        );
    }
}
