//! Pure text edits used by the `block` and `line` actions.

/// Replaces (or appends) the block between `### BEGIN <marker>` and `### END <marker>`.
/// An empty `content` removes the block. Idempotent: applying twice gives the same text.
pub fn replace_block(current: &str, marker: &str, content: &str) -> String {
    let begin = format!("### BEGIN {marker}");
    let end = format!("### END {marker}");
    let mut out = String::new();
    let mut inside = false;
    let mut placed = false;
    let block = if content.trim().is_empty() {
        String::new()
    } else {
        format!("{begin}\n{}\n{end}\n", content.trim_end_matches('\n'))
    };
    for line in current.lines() {
        if line.trim() == begin {
            inside = true;
            continue;
        }
        if inside {
            if line.trim() == end {
                inside = false;
                if !placed {
                    out.push_str(&block);
                    placed = true;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !placed {
        out.push_str(&block);
    }
    out
}

/// Makes `line` the only line matching `regexp` (or removes matches when `absent`).
pub fn replace_line(
    current: &str,
    regexp: &str,
    line: &str,
    absent: bool,
) -> Result<String, String> {
    let re = regex_lite(regexp)?;
    let mut out = String::new();
    let mut placed = false;
    for l in current.lines() {
        if re(l) {
            if !absent && !placed {
                out.push_str(line);
                out.push('\n');
                placed = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !absent && !placed {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// A small matcher: `^prefix` anchors at the start, otherwise a substring test. Enough for
/// the managed lines kubeasz writes (`^export PATH=`, `easzlab.io.local`).
fn regex_lite(pattern: &str) -> Result<impl Fn(&str) -> bool, String> {
    if pattern.is_empty() {
        return Err("empty line regexp".into());
    }
    let anchored = pattern.starts_with('^');
    let needle = pattern.trim_start_matches('^').to_string();
    Ok(move |l: &str| {
        if anchored {
            l.starts_with(&needle)
        } else {
            l.contains(&needle)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_added_replaced_and_idempotent() {
        let base = "127.0.0.1 localhost\n";
        let one = replace_block(base, "KUBEASZ MANAGED BLOCK", "10.0.0.1 k8s-1");
        assert_eq!(
            one,
            "127.0.0.1 localhost\n### BEGIN KUBEASZ MANAGED BLOCK\n10.0.0.1 k8s-1\n### END KUBEASZ MANAGED BLOCK\n"
        );
        assert_eq!(
            replace_block(&one, "KUBEASZ MANAGED BLOCK", "10.0.0.1 k8s-1"),
            one
        );
        let two = replace_block(
            &one,
            "KUBEASZ MANAGED BLOCK",
            "10.0.0.1 k8s-1\n10.0.0.2 k8s-2\n",
        );
        assert!(two.contains("k8s-2") && two.matches("### BEGIN").count() == 1);
        assert_eq!(replace_block(&two, "KUBEASZ MANAGED BLOCK", ""), base);
    }

    #[test]
    fn line_replaces_the_match_or_appends() {
        let t = "a\nexport PATH=/old\nb\n";
        assert_eq!(
            replace_line(t, "^export PATH=", "export PATH=/new", false).unwrap(),
            "a\nexport PATH=/new\nb\n"
        );
        assert_eq!(replace_line("a\n", "^x", "x=1", false).unwrap(), "a\nx=1\n");
        assert_eq!(
            replace_line(t, "^export PATH=", "", true).unwrap(),
            "a\nb\n"
        );
    }
}
