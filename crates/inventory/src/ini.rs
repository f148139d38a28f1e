//! The Ansible INI inventory (`clusters/<c>/hosts`), read the way people write it.
//!
//! Accepted: `[group]`, `[group:vars]`, `[group:children]` headers (a trailing `# comment` is
//! fine); host lines `addr k=v k2="a b" k3='c'`; var lines `key=value` or `key = "value"`;
//! blank lines; whole-line comments starting with `#` or `;`; inline comments starting with a
//! `#` that follows whitespace (outside quotes). Lines before the first header belong to the
//! `ungrouped` group, as in Ansible.
//!
//! Invariants of the result: groups are in order of first appearance and unique by name;
//! every value is unquoted (the quotes are recorded in [`Var::quoted`]); every span points at
//! the first character of the thing it describes.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Span};

/// `key=value`, with where the key and the value start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub key: String,
    pub value: String,
    pub span: Span,
    pub value_span: Span,
    /// The value was written in quotes (so `''` is an explicit empty string).
    pub quoted: bool,
}

/// One host line of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLine {
    /// The inventory name as written (kubeasz wants an IP address here).
    pub name: String,
    pub span: Span,
    pub vars: Vec<Var>,
}

/// A group with everything its sections said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub name: String,
    /// The first header of this group; `None` for `ungrouped` lines before any header.
    pub span: Option<Span>,
    pub hosts: Vec<HostLine>,
    /// From `[name:vars]`.
    pub vars: Vec<Var>,
    /// From `[name:children]`: group names with their spans.
    pub children: Vec<(String, Span)>,
}

/// A parsed inventory file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    pub file: PathBuf,
    pub groups: Vec<Group>,
}

impl Inventory {
    /// Parses `text`; syntax problems are returned as diagnostics (all of them) next to the
    /// part that could be read.
    pub fn parse(file: &Path, text: &str) -> (Inventory, Vec<Diagnostic>) {
        let text = crate::diag::normalize_newlines(text);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        Parser {
            inv: Inventory {
                file: file.to_path_buf(),
                groups: Vec::new(),
            },
            diags: Vec::new(),
        }
        .run(text)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Host lines of a group (empty when the group does not exist).
    pub fn hosts(&self, group: &str) -> &[HostLine] {
        self.group(group).map_or(&[], |g| g.hosts.as_slice())
    }

    /// `[all:vars]`.
    pub fn all_vars(&self) -> &[Var] {
        self.group("all").map_or(&[], |g| g.vars.as_slice())
    }

    /// A var of `[all:vars]` by key (the last one wins, as in Ansible).
    pub fn all_var(&self, key: &str) -> Option<&Var> {
        self.all_vars().iter().rev().find(|v| v.key == key)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Hosts(usize),
    Vars(usize),
    Children(usize),
}

struct Parser {
    inv: Inventory,
    diags: Vec<Diagnostic>,
}

/// A whitespace-separated token, quotes removed.
struct Token {
    text: String,
    col: usize,
    /// Column and quotedness of the part after the first unquoted `=`, if any.
    eq: Option<(usize, String, String, usize, bool)>,
}

impl Parser {
    fn run(mut self, text: &str) -> (Inventory, Vec<Diagnostic>) {
        let mut section = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line: Vec<char> = raw.chars().collect();
            let start = line.iter().position(|c| !c.is_whitespace());
            let Some(start) = start else { continue };
            match line[start] {
                '#' | ';' => continue,
                '[' => section = self.header(&line, start, line_no).or(section),
                _ => {
                    let sec = match section {
                        Some(s) => s,
                        None => {
                            let g = self.group_index("ungrouped", None);
                            section = Some(Section::Hosts(g));
                            Section::Hosts(g)
                        }
                    };
                    match sec {
                        Section::Hosts(g) => self.host_line(&line, start, line_no, g),
                        Section::Vars(g) => self.var_line(&line, start, line_no, g),
                        Section::Children(g) => self.child_line(&line, start, line_no, g),
                    }
                }
            }
        }
        (self.inv, self.diags)
    }

    fn err(&mut self, code: &'static str, span: Span, msg: String, hint: &str) {
        self.diags
            .push(Diagnostic::error(code, &self.inv.file, Some(span), msg).with_hint(hint));
    }

    fn group_index(&mut self, name: &str, span: Option<Span>) -> usize {
        if let Some(i) = self.inv.groups.iter().position(|g| g.name == name) {
            if self.inv.groups[i].span.is_none() {
                self.inv.groups[i].span = span;
            }
            return i;
        }
        self.inv.groups.push(Group {
            name: name.to_string(),
            span,
            ..Group::default()
        });
        self.inv.groups.len() - 1
    }

    fn header(&mut self, line: &[char], start: usize, line_no: usize) -> Option<Section> {
        let span = Span::new(line_no, start + 1);
        let Some(close) = line[start..]
            .iter()
            .position(|&c| c == ']')
            .map(|p| p + start)
        else {
            self.err(
                "ini-syntax",
                span,
                "group header without a closing `]`".into(),
                "write it as `[group]`",
            );
            return None;
        };
        let rest: String = line[close + 1..].iter().collect();
        let rest = rest.trim();
        if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
            let col = close
                + 2
                + line[close + 1..]
                    .iter()
                    .take_while(|c| c.is_whitespace())
                    .count();
            self.err(
                "ini-syntax",
                Span::new(line_no, col),
                format!("unexpected text after the group header: `{rest}`"),
                "only a comment may follow `]`",
            );
        }
        let inner: String = line[start + 1..close].iter().collect();
        let inner = inner.trim();
        let (name, kind) = match inner.split_once(':') {
            Some((n, k)) => (n.trim(), Some(k.trim())),
            None => (inner, None),
        };
        if name.is_empty()
            || name
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            self.err(
                "ini-syntax",
                span,
                format!("invalid group name `{name}`"),
                "group names are letters, digits and `_`, e.g. `[kube_node]`",
            );
            return None;
        }
        let g = self.group_index(name, Some(span));
        match kind {
            None => Some(Section::Hosts(g)),
            Some("vars") => Some(Section::Vars(g)),
            Some("children") => Some(Section::Children(g)),
            Some(other) => {
                self.err(
                    "ini-syntax",
                    span,
                    format!("unknown section kind `:{other}`"),
                    "use `[group]`, `[group:vars]` or `[group:children]`",
                );
                None
            }
        }
    }

    fn host_line(&mut self, line: &[char], start: usize, line_no: usize, g: usize) {
        let Some(tokens) = self.tokens(line, start, line_no) else {
            return;
        };
        let mut it = tokens.into_iter();
        let Some(first) = it.next() else { return };
        let mut host = HostLine {
            name: first.text,
            span: Span::new(line_no, first.col),
            vars: Vec::new(),
        };
        for t in it {
            match t.eq {
                Some((kcol, key, value, vcol, quoted)) if !key.is_empty() => host.vars.push(Var {
                    key,
                    value,
                    span: Span::new(line_no, kcol),
                    value_span: Span::new(line_no, vcol),
                    quoted,
                }),
                _ => self.err(
                    "ini-syntax",
                    Span::new(line_no, t.col),
                    format!("expected `key=value` after the host, found `{}`", t.text),
                    "host vars are written `192.168.1.1 k8s_nodename='node-1'`",
                ),
            }
        }
        self.inv.groups[g].hosts.push(host);
    }

    fn var_line(&mut self, line: &[char], start: usize, line_no: usize, g: usize) {
        let Some(eq) = line[start..]
            .iter()
            .position(|&c| c == '=')
            .map(|p| p + start)
        else {
            let text: String = line[start..].iter().collect();
            self.err(
                "ini-syntax",
                Span::new(line_no, start + 1),
                format!(
                    "expected `key=value` in a vars section, found `{}`",
                    text.trim()
                ),
                "write variables as `NAME=\"value\"`",
            );
            return;
        };
        let key: String = line[start..eq]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            self.err(
                "ini-syntax",
                Span::new(line_no, start + 1),
                format!("invalid variable name `{key}`"),
                "variable names are one word, e.g. `SERVICE_CIDR`",
            );
            return;
        }
        let vstart = eq
            + 1
            + line[eq + 1..]
                .iter()
                .take_while(|c| c.is_whitespace())
                .count();
        let Some((value, quoted, end)) = self.value(line, vstart, line_no) else {
            return;
        };
        let tail: String = line[end..].iter().collect();
        let tail = tail.trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            self.err(
                "ini-syntax",
                Span::new(
                    line_no,
                    end + 1 + line[end..].iter().take_while(|c| c.is_whitespace()).count(),
                ),
                format!("unexpected text after the quoted value: `{tail}`"),
                "put the whole value inside the quotes",
            );
        }
        self.inv.groups[g].vars.push(Var {
            key,
            value,
            span: Span::new(line_no, start + 1),
            value_span: Span::new(line_no, vstart + 1),
            quoted,
        });
    }

    /// Reads a var value starting at `i`: a quoted string, or everything up to an inline
    /// comment. Returns the value, whether it was quoted and the index after it.
    fn value(&mut self, line: &[char], i: usize, line_no: usize) -> Option<(String, bool, usize)> {
        match line.get(i) {
            Some(&q @ ('"' | '\'')) => {
                let mut out = String::new();
                let mut j = i + 1;
                while j < line.len() {
                    let c = line[j];
                    if c == q {
                        return Some((out, true, j + 1));
                    }
                    if c == '\\' && q == '"' && j + 1 < line.len() {
                        j += 1;
                    }
                    out.push(line[j]);
                    j += 1;
                }
                self.err(
                    "ini-syntax",
                    Span::new(line_no, i + 1),
                    "unterminated quoted value".into(),
                    &format!("close the value with {q}"),
                );
                None
            }
            _ => {
                let mut end = i;
                while end < line.len()
                    && !(line[end] == '#' && end > i && line[end - 1].is_whitespace())
                {
                    end += 1;
                }
                let v: String = line[i..end].iter().collect();
                Some((v.trim_end().to_string(), false, end))
            }
        }
    }

    fn child_line(&mut self, line: &[char], start: usize, line_no: usize, g: usize) {
        let Some(tokens) = self.tokens(line, start, line_no) else {
            return;
        };
        for t in tokens {
            self.inv.groups[g]
                .children
                .push((t.text, Span::new(line_no, t.col)));
        }
    }

    /// Splits a host or children line into tokens; `None` after reporting a syntax error.
    fn tokens(&mut self, line: &[char], start: usize, line_no: usize) -> Option<Vec<Token>> {
        let mut out = Vec::new();
        let mut i = start;
        while i < line.len() {
            if line[i].is_whitespace() {
                i += 1;
                continue;
            }
            if line[i] == '#' {
                break;
            }
            let col = i + 1;
            let mut text = String::new();
            let mut eq: Option<(usize, String, usize)> = None; // (key col, key, value col)
            let mut value_quoted = false;
            while i < line.len() && !line[i].is_whitespace() {
                let c = line[i];
                if c == '"' || c == '\'' {
                    if let Some((_, ref k, vcol)) = eq
                        && text.len() == k.len() + 1
                        && vcol == i + 1
                    {
                        value_quoted = true;
                    }
                    let open = i;
                    i += 1;
                    loop {
                        if i >= line.len() {
                            self.err(
                                "ini-syntax",
                                Span::new(line_no, open + 1),
                                "unterminated quoted value".into(),
                                &format!("close the value with {c}"),
                            );
                            return None;
                        }
                        if line[i] == c {
                            i += 1;
                            break;
                        }
                        if line[i] == '\\' && c == '"' && i + 1 < line.len() {
                            i += 1;
                        }
                        text.push(line[i]);
                        i += 1;
                    }
                    continue;
                }
                if c == '=' && eq.is_none() {
                    eq = Some((col, text.clone(), i + 2));
                }
                text.push(c);
                i += 1;
            }
            let eq = eq.map(|(kcol, key, vcol)| {
                let value = text[key.len() + 1..].to_string();
                (kcol, key, value, vcol, value_quoted)
            });
            out.push(Token { text, col, eq });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Inventory, Vec<Diagnostic>) {
        Inventory::parse(Path::new("hosts"), text)
    }

    #[test]
    fn reads_groups_hosts_and_vars() {
        let (inv, d) = parse(
            "# top\n[etcd]   # odd\n192.168.1.1\n\n[kube_master]\n192.168.1.1 k8s_nodename='master-01' x=\"a b\" y=z\n\
             ; semicolon comment\n[all:vars]\nA=\"1\"   # c\nB = two words # c\nC=''\n[new:children]\netcd\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let names: Vec<_> = inv.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["etcd", "kube_master", "all", "new"]);
        let m = &inv.hosts("kube_master")[0];
        assert_eq!(m.name, "192.168.1.1");
        assert_eq!(m.span, Span::new(6, 1));
        assert_eq!(m.vars[0].key, "k8s_nodename");
        assert_eq!(m.vars[0].value, "master-01");
        assert!(m.vars[0].quoted);
        assert_eq!(m.vars[0].span, Span::new(6, 13));
        assert_eq!(m.vars[0].value_span, Span::new(6, 26));
        assert_eq!(m.vars[1].value, "a b");
        assert_eq!(m.vars[2].value, "z");
        assert!(!m.vars[2].quoted);
        assert_eq!(inv.all_var("A").map(|v| v.value.as_str()), Some("1"));
        assert_eq!(
            inv.all_var("B").map(|v| v.value.as_str()),
            Some("two words")
        );
        let c = inv.all_var("C").expect("C");
        assert!(c.quoted && c.value.is_empty());
        assert_eq!(inv.group("new").map(|g| g.children.len()), Some(1));
        assert_eq!(
            inv.group("etcd").and_then(|g| g.span),
            Some(Span::new(2, 1))
        );
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_accepted() {
        let (inv, d) = parse("\u{feff}[etcd]\r\n10.0.0.1 a=\"b\"\r\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(inv.hosts("etcd")[0].vars[0].value, "b");
    }

    #[test]
    fn lines_before_a_header_are_ungrouped() {
        let (inv, d) = parse("10.0.0.1\n[etcd]\n10.0.0.2\n");
        assert!(d.is_empty());
        assert_eq!(inv.hosts("ungrouped").len(), 1);
    }

    #[test]
    fn reports_every_syntax_error_with_position() {
        let (_, d) = parse(
            "[etcd\n[ok]\n1.1.1.1 novalue\n1.1.1.2 a='open\n[all:vars]\nNOEQUALS\nK=\"x\" junk\n[g:weird]\n",
        );
        let pos: Vec<_> = d.iter().map(|d| (d.line(), d.column())).collect();
        assert_eq!(pos, [(1, 1), (3, 9), (4, 11), (6, 1), (7, 7), (8, 1)]);
        assert!(d.iter().all(|d| d.code == "ini-syntax" && d.hint.is_some()));
    }
}
