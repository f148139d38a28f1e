//! Helpers shared by the diagnostics tests.
#![allow(dead_code)]

use std::path::Path;

use ez_inventory::templates::render_new;
use ez_inventory::{Diagnostic, Severity, VersionTable, parse_cluster};

pub const DIR: &str = "/etc/kubeasz/clusters/demo";

pub fn base() -> (String, String) {
    let f = render_new("demo", &VersionTable::default(), true).expect("render");
    (f.hosts, f.config)
}

/// Every diagnostic for the two texts.
pub fn diags(hosts: &str, config: &str) -> Vec<Diagnostic> {
    let dir = Path::new(DIR);
    match parse_cluster(
        "demo",
        dir,
        &dir.join("hosts"),
        hosts,
        &dir.join("config.yml"),
        config,
    ) {
        Ok(c) => c.warnings,
        Err(d) => d.0,
    }
}

/// 1-based line and column of the first occurrence of `needle` in `text`.
pub fn pos(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    let line = text[..at].matches('\n').count() + 1;
    let col = text[..at]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    (line, col)
}

pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in text");
    text.replacen(from, to, 1)
}

/// The only diagnostic with `code`, checked for severity, file, position and hint.
#[track_caller]
pub fn one(
    ds: &[Diagnostic],
    code: &str,
    sev: Severity,
    file: &str,
    at: Option<(usize, usize)>,
) -> Diagnostic {
    let found: Vec<_> = ds.iter().filter(|d| d.code == code).collect();
    assert_eq!(found.len(), 1, "expected one `{code}`, got {ds:#?}");
    let d = found[0].clone();
    assert_eq!(d.severity, sev, "{d}");
    assert_eq!(d.file, Path::new(DIR).join(file), "{d}");
    assert_eq!(d.span.map(|s| (s.line, s.column)), at, "{d}");
    assert!(
        d.hint.as_deref().is_some_and(|h| !h.is_empty()),
        "no hint: {d}"
    );
    d
}
