//! Building the remote command line: POSIX quoting, `export` prefix, `sudo` wrapping.
//!
//! Invariant: secrets never appear on the command line; a become password is written to the
//! channel's stdin, where `sudo -S -p ''` reads its first line.

/// How `sudo` is used on one connection (decided once per connection by a probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SudoMode {
    /// Commands run as the login user.
    None,
    /// `sudo -n` works (NOPASSWD).
    Passwordless { user: String },
    /// `sudo -S` with this password fed on stdin.
    WithPassword { user: String, password: String },
}

/// Quote `s` for a POSIX shell (the `shlex` crate's quoting; unquoted when nothing needs it).
/// A NUL byte cannot be in a shell word: it is dropped.
pub fn quote(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => quote(&s.replace('\0', "")),
    }
}

/// True for a valid environment variable name.
pub(crate) fn valid_env_name(k: &str) -> bool {
    let mut bytes = k.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The full remote command line for `script` with `env` exported first, wrapped for `sudo`.
/// Returns the command line and the bytes to write to stdin before the caller's own input.
pub(crate) fn wrap(
    script: &str,
    env: &[(String, String)],
    sudo: &SudoMode,
) -> (String, Option<Vec<u8>>) {
    let mut inner = String::new();
    if !env.is_empty() {
        inner.push_str("export");
        for (k, v) in env {
            inner.push(' ');
            inner.push_str(k);
            inner.push('=');
            inner.push_str(&quote(v));
        }
        inner.push_str("; ");
    }
    inner.push_str(script);
    match sudo {
        SudoMode::None => (inner, None),
        SudoMode::Passwordless { user } => (
            format!(
                "sudo -n -H -u {} -- /bin/sh -c {}",
                quote(user),
                quote(&inner)
            ),
            None,
        ),
        SudoMode::WithPassword { user, password } => {
            let mut line = password.clone().into_bytes();
            line.push(b'\n');
            (
                format!(
                    "sudo -k -S -p '' -H -u {} -- /bin/sh -c {}",
                    quote(user),
                    quote(&inner)
                ),
                Some(line),
            )
        }
    }
}

/// True when stderr shows sudo itself refused (as opposed to the command failing).
pub(crate) fn sudo_refused(stderr: &str) -> Option<String> {
    let markers = [
        "incorrect password",
        "a password is required",
        "is not in the sudoers file",
        "is not allowed to execute",
        "no tty present",
        "a terminal is required",
        "sudo: command not found",
    ];
    stderr
        .lines()
        .find(|l| markers.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("abc/def-1.2"), "abc/def-1.2");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        // what a real shell makes of the quoted word is the string itself
        for s in [
            "it's",
            "a'b\"c$d`e\\f",
            "\n\t *?[x]",
            "~user",
            "-n",
            "a=b",
            "x\0y",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s)))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                s.replace('\0', ""),
                "{s:?}"
            );
        }
    }

    #[test]
    fn env_names() {
        assert!(valid_env_name("PATH") && valid_env_name("_x1"));
        assert!(!valid_env_name("1X") && !valid_env_name("A-B") && !valid_env_name(""));
    }

    #[test]
    fn wrap_plain_with_env() {
        let (cmd, stdin) = wrap("echo $A", &[("A".into(), "x y".into())], &SudoMode::None);
        assert_eq!(cmd, "export A='x y'; echo $A");
        assert!(stdin.is_none());
    }

    #[test]
    fn wrap_sudo_modes() {
        let (cmd, stdin) = wrap(
            "id -u",
            &[],
            &SudoMode::Passwordless {
                user: "root".into(),
            },
        );
        assert_eq!(cmd, "sudo -n -H -u root -- /bin/sh -c 'id -u'");
        assert!(stdin.is_none());
        let (cmd, stdin) = wrap(
            "id -u",
            &[],
            &SudoMode::WithPassword {
                user: "root".into(),
                password: "p'w".into(),
            },
        );
        assert_eq!(cmd, "sudo -k -S -p '' -H -u root -- /bin/sh -c 'id -u'");
        assert!(!cmd.contains("p'w"));
        assert_eq!(stdin.unwrap(), b"p'w\n");
    }

    #[test]
    fn detects_sudo_refusal() {
        assert!(sudo_refused("sudo: 1 incorrect password attempt\n").is_some());
        assert!(sudo_refused("sudo: a password is required\n").is_some());
        assert!(sudo_refused("ls: cannot access\n").is_none());
    }
}
