//! Per-host variables and the rendering of a task's arguments with them.

use crate::load::tera_message;
use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;

/// A flat map of values visible to templates.
pub type Vars = Map<String, Json>;

/// The hosts and values a playbook runs with: groups of host addresses, per-host variables
/// and cluster-wide variables (config.yml + derived values).
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub groups: BTreeMap<String, Vec<String>>,
    pub host_vars: BTreeMap<String, Vars>,
    pub vars: Vars,
}

impl Inventory {
    /// The tera context of one host: cluster vars, then host vars, then `inventory_hostname`
    /// and `groups` (host vars win over cluster vars, as in Ansible).
    pub fn context_for(&self, host: &str) -> tera::Context {
        let mut all = self.vars.clone();
        if let Some(hv) = self.host_vars.get(host) {
            for (k, v) in hv {
                all.insert(k.clone(), v.clone());
            }
        }
        all.insert("inventory_hostname".into(), Json::String(host.to_string()));
        let groups: Map<String, Json> = self
            .groups
            .iter()
            .map(|(g, hs)| {
                (
                    g.clone(),
                    Json::Array(hs.iter().map(|h| Json::String(h.clone())).collect()),
                )
            })
            .collect();
        all.insert("groups".into(), Json::Object(groups));
        tera::Context::from_value(Json::Object(all)).unwrap_or_default()
    }
}

/// Renders one template string.
pub fn render_str(s: &str, ctx: &tera::Context) -> Result<String, String> {
    if !s.contains("{{") && !s.contains("{%") {
        return Ok(s.to_string());
    }
    tera::Tera::one_off(s, ctx, false).map_err(|e| format!("template `{s}`: {}", tera_message(&e)))
}

/// Evaluates a condition (a tera expression) to a boolean.
pub fn eval_condition(expr: &str, ctx: &tera::Context) -> Result<bool, String> {
    let out = render_str(
        &format!("{{% if {expr} %}}true{{% else %}}false{{% endif %}}"),
        ctx,
    )?;
    Ok(out == "true")
}

/// Renders every string inside a YAML value. A templated string rendering to `true`/`false`
/// becomes a boolean, so `enabled: "{{ flag }}"` works.
pub fn render_value(v: &Yaml, ctx: &tera::Context) -> Result<Yaml, String> {
    Ok(match v {
        Yaml::String(s) => {
            let templated = s.contains("{{") || s.contains("{%");
            let r = render_str(s, ctx)?;
            match (templated, r.as_str()) {
                (true, "true") => Yaml::Bool(true),
                (true, "false") => Yaml::Bool(false),
                _ => Yaml::String(r),
            }
        }
        Yaml::Sequence(items) => Yaml::Sequence(
            items
                .iter()
                .map(|i| render_value(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(m) => {
            let mut out = serde_yaml_ng::Mapping::new();
            for (k, val) in m {
                out.insert(render_value(k, ctx)?, render_value(val, ctx)?);
            }
            Yaml::Mapping(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let mut i = Inventory::default();
        i.groups
            .insert("etcd".into(), vec!["10.0.0.1".into(), "10.0.0.2".into()]);
        i.vars
            .insert("bin_dir".into(), Json::String("/opt/kube/bin".into()));
        i.vars.insert("flag".into(), Json::Bool(true));
        let mut hv = Vars::new();
        hv.insert("bin_dir".into(), Json::String("/usr/local/bin".into()));
        i.host_vars.insert("10.0.0.2".into(), hv);
        i
    }

    #[test]
    fn host_vars_override_cluster_vars() {
        let i = inv();
        assert_eq!(
            render_str("{{ bin_dir }}", &i.context_for("10.0.0.1")).unwrap(),
            "/opt/kube/bin"
        );
        assert_eq!(
            render_str("{{ bin_dir }}", &i.context_for("10.0.0.2")).unwrap(),
            "/usr/local/bin"
        );
        assert_eq!(
            render_str(
                "{{ groups.etcd | length }} {{ inventory_hostname }}",
                &i.context_for("10.0.0.1")
            )
            .unwrap(),
            "2 10.0.0.1"
        );
    }

    #[test]
    fn conditions_and_booleans() {
        let ctx = inv().context_for("10.0.0.1");
        assert!(eval_condition("flag", &ctx).unwrap());
        assert!(!eval_condition("groups.etcd | length > 5", &ctx).unwrap());
        let v: Yaml =
            serde_yaml_ng::from_str("{enabled: '{{ flag }}', path: '{{ bin_dir }}/x'}").unwrap();
        let r = render_value(&v, &ctx).unwrap();
        assert_eq!(r.get("enabled"), Some(&Yaml::Bool(true)));
        assert_eq!(
            r.get("path").and_then(Yaml::as_str),
            Some("/opt/kube/bin/x")
        );
    }

    #[test]
    fn unknown_variable_is_an_error_naming_the_template() {
        let e = render_str("{{ nope }}", &inv().context_for("10.0.0.1")).unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }
}
