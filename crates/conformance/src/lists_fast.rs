//! A reader for the exact shape of `conformance.yaml` (a sequence of flat mappings whose values
//! are plain or single-quoted scalars, possibly folded over indented lines), used because the
//! general YAML parser is the slowest part of a report.
//!
//! Invariant: it returns `None` for anything outside that shape (double quotes, block scalars,
//! tabs, flow collections), and the caller then uses the general parser; a unit test checks that
//! both give identical results on every embedded list.

use crate::lists::RequiredTest;

fn fold(lines: &[&str]) -> String {
    // Flow scalar folding: a line break becomes a space, an empty line a newline.
    let mut out = String::new();
    let mut pending_newlines = 0usize;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if t.is_empty() {
            pending_newlines += 1;
            continue;
        }
        if i > 0 {
            if pending_newlines > 0 {
                out.push_str(&"\n".repeat(pending_newlines));
            } else if !out.is_empty() {
                out.push(' ');
            }
        }
        pending_newlines = 0;
        out.push_str(t);
    }
    out
}

/// Value of one key from its first-line text and continuation lines; `None` if unsupported.
fn scalar(first: &str, cont: &[&str]) -> Option<String> {
    let first = first.trim();
    if first.starts_with(['"', '|', '>', '[', '{', '&', '*', '!']) {
        return None;
    }
    let mut all = vec![first];
    all.extend_from_slice(cont);
    if let Some(rest) = first.strip_prefix('\'') {
        all[0] = rest;
        let folded = fold(&all);
        let body = folded.strip_suffix('\'')?;
        // `''` is an escaped quote; a lone `'` inside would end the scalar early.
        if body.replace("''", "").contains('\'') {
            return None;
        }
        Some(body.replace("''", "'"))
    } else {
        let v = fold(&all);
        if v.contains(": ") || v.contains(" #") {
            return None;
        }
        Some(v)
    }
}

/// Parses `testname` and `codename` of every entry, or `None` when the text is outside the shape.
pub fn parse(yaml: &str) -> Option<Vec<RequiredTest>> {
    let mut out = Vec::new();
    let mut cur: Option<(Option<String>, Option<String>)> = None;
    let mut key: Option<(&str, &str)> = None;
    let mut cont: Vec<&str> = Vec::new();
    let flush_key = |key: &mut Option<(&str, &str)>,
                     cont: &mut Vec<&str>,
                     cur: &mut Option<(Option<String>, Option<String>)>|
     -> Option<()> {
        if let Some((k, v)) = key.take()
            && (k == "testname" || k == "codename")
        {
            let s = scalar(v, cont)?;
            let c = cur.as_mut()?;
            if k == "testname" {
                c.0 = Some(s);
            } else {
                c.1 = Some(s);
            }
        }
        cont.clear();
        Some(())
    };
    for line in yaml.lines() {
        if line.contains('\t') {
            return None;
        }
        if let Some(rest) = line.strip_prefix("- ") {
            flush_key(&mut key, &mut cont, &mut cur)?;
            if let Some((Some(t), Some(c))) = cur.take() {
                out.push(RequiredTest {
                    testname: t,
                    codename: c,
                });
            } else if cur.is_some() {
                return None;
            }
            cur = Some((None, None));
            let (k, v) = rest.split_once(':')?;
            key = Some((k.trim(), v));
        } else if line.starts_with("  ")
            && !line.starts_with("   ")
            && line.trim_start().contains(':')
            && !line.trim().starts_with('\'')
        {
            flush_key(&mut key, &mut cont, &mut cur)?;
            let (k, v) = line.trim_start().split_once(':')?;
            if k.contains(' ') {
                return None;
            }
            key = Some((k, v));
        } else if line.starts_with("   ") || line.trim().is_empty() {
            cont.push(line);
        } else {
            return None;
        }
    }
    flush_key(&mut key, &mut cont, &mut cur)?;
    match cur {
        Some((Some(t), Some(c))) => out.push(RequiredTest {
            testname: t,
            codename: c,
        }),
        Some(_) => return None,
        None => {}
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_to_the_general_parser_on_every_embedded_list() {
        for (minor, yaml) in crate::lists::EMBEDDED {
            let fast = parse(yaml).unwrap_or_else(|| panic!("v1.{minor}: fast reader gave up"));
            let slow: Vec<RequiredTest> = serde_yaml_ng::from_str(yaml).unwrap();
            assert_eq!(fast.len(), slow.len(), "v1.{minor}");
            for (a, b) in fast.iter().zip(&slow) {
                assert_eq!(a.codename, b.codename, "v1.{minor}");
                assert_eq!(a.testname, b.testname, "v1.{minor}");
            }
        }
    }

    #[test]
    fn gives_up_outside_its_shape() {
        assert!(parse("- testname: \"quoted\"\n  codename: 'x'\n").is_none());
        assert!(parse("- testname: a\n  codename: |\n    block\n").is_none());
        let ok = parse("- testname: a b\n  codename: '[x] it''s\n    folded'\n  release: v1.9\n")
            .unwrap();
        assert_eq!(ok[0].codename, "[x] it's folded");
        assert_eq!(ok[0].testname, "a b");
    }
}
