//! Diagnostics: one problem, where it is (`file:line:column`) and what to do about it.
//!
//! Everything that reads or checks a cluster reports through [`Diagnostic`] and never stops at
//! the first problem: callers get the whole list at once, errors and warnings mixed, in the
//! order they were found (which is file order for each file).

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is. Only [`Severity::Error`] makes a cluster unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A 1-based position in a text file. Columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

impl Span {
    pub const fn new(line: usize, column: usize) -> Self {
        Span { line, column }
    }
}

/// One problem found in a cluster's files.
///
/// Invariant: `code` is a stable, kebab-case identifier of the rule that produced it (listed
/// in `docs/en/cluster-model.md`); `message` is one sentence without a trailing period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub file: PathBuf,
    /// `None` when the problem is the file as a whole (missing, unreadable).
    pub span: Option<Span>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        file: &Path,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.to_path_buf(),
            span,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(
        code: &'static str,
        file: &Path,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            code,
            file: file.to_path_buf(),
            span,
            message: message.into(),
            hint: None,
        }
    }

    /// The same diagnostic with a hint attached.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `line` of the span, 0 when there is none (handy in tests).
    pub fn line(&self) -> usize {
        self.span.map_or(0, |s| s.line)
    }

    /// `column` of the span, 0 when there is none.
    pub fn column(&self) -> usize {
        self.span.map_or(0, |s| s.column)
    }
}

/// rustc/clippy style:
///
/// ```text
/// error[etcd-even]: the etcd group has 2 members; etcd needs an odd number
///   --> clusters/c/hosts:1:1
///    = hint: add or remove one member
/// ```
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        match self.span {
            Some(s) => write!(f, "  --> {}:{}:{}", self.file.display(), s.line, s.column)?,
            None => write!(f, "  --> {}", self.file.display())?,
        }
        if let Some(h) = &self.hint {
            write!(f, "\n   = hint: {h}")?;
        }
        Ok(())
    }
}

/// The text with `\r\n` and lone `\r` turned into `\n`, so that every reader (the YAML
/// parser, the INI parser, span search) counts lines the same way.
pub fn normalize_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Whether any diagnostic in the list is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// A list of diagnostics that contains at least one error, as a `std::error::Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The diagnostics of one rule, by code.
    pub fn by_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Diagnostic> + 'a {
        self.0.iter().filter(move |d| d.code == code)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{d}")?;
        }
        let n = self.errors().count();
        let w = self.0.len() - n;
        write!(f, "\n\n{n} error(s), {w} warning(s)")
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_are_normalized() {
        assert_eq!(normalize_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
        assert!(matches!(
            normalize_newlines("a\nb"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn display_is_rustc_like() {
        let d = Diagnostic::error(
            "etcd-even",
            Path::new("hosts"),
            Some(Span::new(3, 7)),
            "bad",
        )
        .with_hint("fix it");
        assert_eq!(
            d.to_string(),
            "error[etcd-even]: bad\n  --> hosts:3:7\n   = hint: fix it"
        );
        let w = Diagnostic::warning("x", Path::new("f"), None, "m");
        assert_eq!(w.to_string(), "warning[x]: m\n  --> f");
        assert!(!has_errors(&[w]));
    }
}
