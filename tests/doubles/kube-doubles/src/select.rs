//! Label and field selectors as `kubectl get -l … --field-selector …` sends them: equality
//! terms (`k=v`, `k==v`, `k!=v`), existence (`k`, `!k`) for labels, and `k in (a,b)` /
//! `k notin (a,b)`. Field paths are dotted (`spec.nodeName`, `metadata.name`, `status.phase`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(Vec<Term>);

/// Splits on commas outside parentheses.
fn terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn set(v: &str) -> Option<Vec<String>> {
    let inner = v.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|x| x.trim().to_string()).collect())
}

impl Selector {
    /// Parses a selector; an error names the term that is not understood.
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut out = Vec::new();
        for t in terms(s) {
            let term = if let Some((k, v)) = t.split_once("!=") {
                Term::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Term::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once(" notin ") {
                Term::NotIn(
                    k.trim().into(),
                    set(v).ok_or(format!("bad selector term `{t}`"))?,
                )
            } else if let Some((k, v)) = t.split_once(" in ") {
                Term::In(
                    k.trim().into(),
                    set(v).ok_or(format!("bad selector term `{t}`"))?,
                )
            } else if let Some(k) = t.strip_prefix('!') {
                Term::Absent(k.trim().into())
            } else if t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Term::Exists(t.into())
            } else {
                return Err(format!("bad selector term `{t}`"));
            };
            out.push(term);
        }
        Ok(Selector(out))
    }

    /// A label selector against `labels` (an object or null).
    pub fn matches_labels(&self, labels: &Value) -> bool {
        self.matches(|k| labels.get(k).and_then(Value::as_str).map(str::to_string))
    }

    /// A field selector against an object (dotted paths).
    pub fn matches_fields(&self, obj: &Value) -> bool {
        self.matches(|k| {
            let v = k.split('.').try_fold(obj, |v, p| v.get(p))?;
            Some(match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
        })
    }

    fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|t| match t {
            Term::Eq(k, v) => get(k).as_deref() == Some(v),
            Term::Ne(k, v) => get(k).as_deref() != Some(v),
            Term::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Term::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Term::Exists(k) => get(k).is_some(),
            Term::Absent(k) => get(k).is_none(),
        })
    }
}

/// A workload's `spec.selector` (`matchLabels` and `matchExpressions` with In/NotIn/Exists/
/// DoesNotExist) against labels. An empty selector matches nothing, as for workloads.
pub fn label_selector_matches(sel: &Value, labels: &Value) -> bool {
    let ml = sel["matchLabels"].as_object();
    let me = sel["matchExpressions"].as_array();
    if ml.is_none_or(|m| m.is_empty()) && me.is_none_or(|m| m.is_empty()) {
        return false;
    }
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let ok_labels = ml
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let ok_exprs = me.into_iter().flatten().all(|e| {
        let key = e["key"].as_str().unwrap_or("");
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e["operator"].as_str() {
            Some("In") => label(key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => label(key).is_some(),
            Some("DoesNotExist") => label(key).is_none(),
            _ => false,
        }
    });
    ok_labels && ok_exprs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors() {
        let labels = json!({"k8s-app": "calico-node", "tier": "net"});
        let s = Selector::parse("k8s-app=calico-node,tier!=web").unwrap();
        assert!(s.matches_labels(&labels));
        assert!(
            !Selector::parse("k8s-app==kube-dns")
                .unwrap()
                .matches_labels(&labels)
        );
        assert!(
            Selector::parse("tier in (net, web),!missing")
                .unwrap()
                .matches_labels(&labels)
        );
        assert!(
            !Selector::parse("tier notin (net)")
                .unwrap()
                .matches_labels(&labels)
        );
        assert!(Selector::parse("").unwrap().matches_labels(&labels));
        assert!(Selector::parse("a=(b").is_ok() && Selector::parse("bad term!").is_err());
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(
            Selector::parse("spec.nodeName=n1,status.phase=Running")
                .unwrap()
                .matches_fields(&pod)
        );
        assert!(
            !Selector::parse("spec.nodeName=n2")
                .unwrap()
                .matches_fields(&pod)
        );
        assert!(label_selector_matches(
            &json!({"matchLabels": {"tier": "net"}}),
            &labels
        ));
        assert!(!label_selector_matches(&json!({}), &labels));
        assert!(label_selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["net"]}]}),
            &labels
        ));
    }
}
