//! Small pieces shared by the API server double's handlers: Status responses, timestamps,
//! JSON merge patches, and who is asking.

use crate::http::Response;
use serde_json::{Value, json};

/// The client identity from its certificate.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: String,
    pub groups: Vec<String>,
}

impl Who {
    pub fn admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }

    /// `Some(node)` for a kubelet identity (`system:node:<node>` in group `system:nodes`).
    pub fn node(&self) -> Option<&str> {
        self.user
            .strip_prefix("system:node:")
            .filter(|_| self.groups.iter().any(|g| g == "system:nodes"))
    }
}

/// A `Status` failure response.
pub fn status(code: u16, reason: &str, msg: &str) -> Response {
    Response::json(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": msg, "reason": reason, "code": code}),
    )
}

/// 404 for a path the double does not serve.
pub fn not_served(method: &str, path: &str) -> Response {
    status(
        404,
        "NotFound",
        &format!("the server could not find the requested resource ({method} {path})"),
    )
}

/// Now, RFC 3339 in whole seconds.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A fresh uid / resourceVersion source (nanoseconds since the epoch, hex).
pub fn unique() -> String {
    format!(
        "{:x}",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    )
}

/// Seconds since an RFC 3339 time (0 when it does not parse).
pub fn age_secs(t: &str) -> i64 {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds())
        .unwrap_or(0)
}

/// RFC 7386 JSON merge patch (also used for strategic merge patches of maps, e.g. labels,
/// and for server-side apply: lists are replaced, maps merged).
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch() {
        let mut n =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "status": {"conditions": [1]}});
        merge(
            &mut n,
            &json!({"metadata": {"labels": {"b": null, "c": "3"}}, "status": {"conditions": [2]}}),
        );
        assert_eq!(
            n,
            json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "status": {"conditions": [2]}})
        );
        let w = Who {
            user: "system:node:n1".into(),
            groups: vec!["system:nodes".into()],
        };
        assert_eq!(w.node(), Some("n1"));
        assert!(!w.admin());
    }
}
