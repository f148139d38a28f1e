//! Resolution of Jinja-style references between variables, e.g.
//! `cluster_dir="{{ base_dir }}/clusters/x"`.
//!
//! Only plain references `{{ name }}` are resolved here; any other expression (filters,
//! subscripts, `{% if %}` blocks) is left verbatim for the playbook engine, which has the full
//! template language. Invariant: resolution terminates; a reference cycle is reported once and
//! the values on it are left unresolved.

use std::collections::BTreeMap;

/// A problem met while resolving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveIssue {
    /// `key` refers (directly or not) to itself; `path` is the cycle, starting and ending at `key`.
    Cycle { key: String, path: Vec<String> },
    /// `key` refers to `name`, which is not defined anywhere.
    Undefined { key: String, name: String },
}

/// The parts of a string: literal text and `{{ … }}` expressions (inner text, trimmed).
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Text(&'a str),
    Expr { raw: &'a str, inner: &'a str },
}

fn parts(s: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}").map(|c| c + open + 2) else {
            break;
        };
        if open > 0 {
            out.push(Part::Text(&rest[..open]));
        }
        out.push(Part::Expr {
            raw: &rest[open..close + 2],
            inner: rest[open + 2..close].trim(),
        });
        rest = &rest[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest));
    }
    out
}

/// Whether `s` is a plain variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Whether the value still holds a template expression after resolution.
pub fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The plain references `{{ name }}` in `s`, in order.
pub fn references(s: &str) -> Vec<&str> {
    parts(s)
        .into_iter()
        .filter_map(|p| match p {
            Part::Expr { inner, .. } if is_identifier(inner) => Some(inner),
            _ => None,
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Visiting,
    Done,
}

struct Resolver<'a> {
    input: &'a BTreeMap<String, String>,
    out: BTreeMap<String, String>,
    state: BTreeMap<String, State>,
    stack: Vec<String>,
    issues: Vec<ResolveIssue>,
}

impl Resolver<'_> {
    fn visit(&mut self, key: &str) -> Option<String> {
        match self.state.get(key) {
            Some(State::Done) => return self.out.get(key).cloned(),
            Some(State::Visiting) => {
                let from = self.stack.iter().position(|k| k == key).unwrap_or(0);
                let mut path: Vec<String> = self.stack[from..].to_vec();
                path.push(key.to_string());
                self.issues.push(ResolveIssue::Cycle {
                    key: key.to_string(),
                    path,
                });
                return None;
            }
            None => {}
        }
        let raw = self.input.get(key)?.clone();
        self.state.insert(key.to_string(), State::Visiting);
        self.stack.push(key.to_string());
        let mut value = String::with_capacity(raw.len());
        for p in parts(&raw) {
            match p {
                Part::Text(t) => value.push_str(t),
                Part::Expr { raw, inner } if is_identifier(inner) => {
                    if self.input.contains_key(inner) {
                        match self.visit(inner) {
                            Some(v) => value.push_str(&v),
                            None => value.push_str(raw),
                        }
                    } else {
                        self.issues.push(ResolveIssue::Undefined {
                            key: key.to_string(),
                            name: inner.to_string(),
                        });
                        value.push_str(raw);
                    }
                }
                Part::Expr { raw, .. } => value.push_str(raw),
            }
        }
        self.stack.pop();
        self.state.insert(key.to_string(), State::Done);
        self.out.insert(key.to_string(), value.clone());
        Some(value)
    }
}

/// Resolves every plain reference in `vars` against `vars` itself.
///
/// Returns the resolved map (same keys) and the issues, each reported once.
pub fn resolve(vars: &BTreeMap<String, String>) -> (BTreeMap<String, String>, Vec<ResolveIssue>) {
    let mut r = Resolver {
        input: vars,
        out: BTreeMap::new(),
        state: BTreeMap::new(),
        stack: Vec::new(),
        issues: Vec::new(),
    };
    for k in vars.keys() {
        if r.visit(k).is_none() {
            // On a cycle: keep the raw value.
            r.out.insert(k.clone(), vars[k].clone());
            r.state.insert(k.clone(), State::Done);
        }
    }
    // Cycles are found once per entry point; keep one report per distinct cycle.
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut issues = Vec::new();
    for i in r.issues {
        if let ResolveIssue::Cycle { path, .. } = &i {
            let mut norm: Vec<String> = path[..path.len().saturating_sub(1)].to_vec();
            norm.sort();
            if seen.contains(&norm) {
                continue;
            }
            seen.push(norm);
        }
        if !issues.contains(&i) {
            issues.push(i);
        }
    }
    (r.out, issues)
}

/// Substitutes plain references in one string from an already-resolved map; unknown names
/// and other expressions are left as they are.
pub fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    for p in parts(s) {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Expr { raw, inner } => match vars.get(inner) {
                Some(v) if is_identifier(inner) => out.push_str(v),
                _ => out.push_str(raw),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn resolves_chains() {
        let (out, issues) = resolve(&map(&[
            ("base_dir", "/etc/kubeasz"),
            ("cluster_dir", "{{ base_dir }}/clusters/x"),
            ("ssl", "{{cluster_dir}}/ssl"),
            ("complex", "{{ groups['kube_master'][0] }}"),
        ]));
        assert!(issues.is_empty());
        assert_eq!(out["ssl"], "/etc/kubeasz/clusters/x/ssl");
        assert_eq!(out["complex"], "{{ groups['kube_master'][0] }}");
    }

    #[test]
    fn reports_cycles_once_and_terminates() {
        let (out, issues) = resolve(&map(&[
            ("a", "{{ b }}"),
            ("b", "x{{ c }}"),
            ("c", "{{ a }}"),
            ("d", "{{ d }}"),
        ]));
        let cycles: Vec<_> = issues
            .iter()
            .filter(|i| matches!(i, ResolveIssue::Cycle { .. }))
            .collect();
        assert_eq!(cycles.len(), 2, "{issues:?}");
        assert!(has_template(&out["a"]));
        assert_eq!(
            issues[0],
            ResolveIssue::Cycle {
                key: "a".into(),
                path: vec!["a".into(), "b".into(), "c".into(), "a".into()]
            }
        );
    }

    #[test]
    fn reports_undefined_names() {
        let (out, issues) = resolve(&map(&[("a", "{{ nope }}/x")]));
        assert_eq!(out["a"], "{{ nope }}/x");
        assert_eq!(
            issues,
            vec![ResolveIssue::Undefined {
                key: "a".into(),
                name: "nope".into()
            }]
        );
        assert_eq!(references("{{ a }} {{ b|lower }} {{c}}"), ["a", "c"]);
        assert_eq!(
            substitute("{{ a }}-{{ z }}", &map(&[("a", "1")])),
            "1-{{ z }}"
        );
    }
}
