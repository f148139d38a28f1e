//! Editing the hosts file text the way ezctl's sed/awk do, without touching the file: the
//! caller writes the result only once the change has been carried out on the hosts.

/// Whether a line of a hosts file names `ip` as its host (first token, comments ignored).
fn names(line: &str, ip: &str) -> bool {
    let l = line.split('#').next().unwrap_or("").trim();
    l.split_whitespace().next() == Some(ip)
}

/// The section header a line opens, e.g. `kube_node` for `[kube_node]`.
fn header(line: &str) -> Option<&str> {
    let l = line.trim();
    l.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
}

/// Inserts `lines` right after the `[kube_node]` header (kubeasz `sed -i "/\[kube_node/a …"`).
/// `None` when the file has no `[kube_node]` section.
pub fn insert_nodes(text: &str, lines: &[String]) -> Option<String> {
    insert_in(text, "kube_node", lines)
}

/// Inserts `lines` right after the `[group]` header. `None` when there is no such section.
pub fn insert_in(text: &str, group: &str, lines: &[String]) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut done = false;
    for l in text.split_inclusive('\n') {
        out.push_str(l);
        if !done && header(l) == Some(group) {
            if !l.ends_with('\n') {
                out.push('\n');
            }
            for n in lines {
                out.push_str(n);
                out.push('\n');
            }
            done = true;
        }
    }
    done.then_some(out)
}

/// Removes the host lines of `ip` from the `[kube_node]` section only (kubeasz's sed range
/// `[kube_node` … `[harbor`); other sections keep it (an etcd member stays one).
pub fn remove_node(text: &str, ip: &str) -> String {
    remove_from(text, "kube_node", ip)
}

/// Removes the host lines of `ip` from the `[group]` section only.
pub fn remove_from(text: &str, group: &str, ip: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_nodes = false;
    for l in text.split_inclusive('\n') {
        if let Some(h) = header(l) {
            in_nodes = h == group;
        } else if in_nodes && names(l, ip) {
            continue;
        }
        out.push_str(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "[etcd]\n10.0.0.1\n\n[kube_master]\n10.0.0.1\n\n[kube_node]\n10.0.0.1 k8s_nodename=''\n\n[harbor]\n#10.0.0.9\n";

    #[test]
    fn insert_after_the_header_and_remove_only_there() {
        let t = insert_nodes(HOSTS, &["10.0.0.2 k8s_nodename='w1'".into()]).unwrap();
        assert!(
            t.contains("[kube_node]\n10.0.0.2 k8s_nodename='w1'\n10.0.0.1 k8s_nodename=''\n"),
            "{t}"
        );
        assert_eq!(remove_node(&t, "10.0.0.2"), HOSTS);
        let gone = remove_node(HOSTS, "10.0.0.1");
        assert!(
            gone.contains("[etcd]\n10.0.0.1\n") && gone.contains("[kube_master]\n10.0.0.1\n"),
            "{gone}"
        );
        assert!(!gone.contains("10.0.0.1 k8s_nodename"), "{gone}");
        assert!(insert_nodes("[etcd]\n1.2.3.4\n", &["x".into()]).is_none());
        let e = insert_in(HOSTS, "etcd", &["10.0.0.7".into()]).unwrap();
        assert!(e.starts_with("[etcd]\n10.0.0.7\n10.0.0.1\n"), "{e}");
        assert_eq!(remove_from(&e, "etcd", "10.0.0.7"), HOSTS);
        assert!(
            remove_from(HOSTS, "etcd", "10.0.0.1").contains("[kube_master]\n10.0.0.1\n"),
            "only [etcd] loses it"
        );
        // a prefix of another address is not that address
        assert_eq!(
            remove_node("[kube_node]\n10.0.0.11\n", "10.0.0.1"),
            "[kube_node]\n10.0.0.11\n"
        );
    }
}
