//! The flat map of values handed to the playbook templates (tera), kubeasz's variable names.
//!
//! Precedence, low → high (as Ansible with `-e @config.yml`): inventory vars, config.yml keys,
//! then the values kubeasz derives (`CLUSTER_KUBERNETES_SVC_IP`, `ETCD_ENDPOINTS`, …) and the
//! resolved forms of config templates (`CONTEXT_NAME`, `calico_ver_main`, …). Per host, the
//! host's own vars, `inventory_hostname` and `K8S_NODENAME` come on top.

use std::collections::BTreeMap;

use tera::Value;

use crate::model::{Cluster, Host};

impl Cluster {
    /// Every cluster-wide value, by kubeasz name.
    pub fn values(&self) -> BTreeMap<String, Value> {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in &self.vars {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        let typed = crate::Config {
            extra: BTreeMap::new(),
            ..self.config.clone()
        };
        if let Ok(Value::Object(cfg)) = tera::to_value(&typed) {
            m.extend(cfg);
        }
        // Extras one by one, so one that JSON cannot hold (a non-string key) loses only itself.
        for (k, v) in &self.config.extra {
            if let Ok(v) = tera::to_value(v) {
                m.insert(k.clone(), v);
            }
        }
        for (k, v) in &self.vars {
            if crate::config::INVENTORY_KEYS.contains(&k.as_str()) {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
        let d = &self.derived;
        let s = |x: String| Value::String(x);
        let derived = [
            ("CLUSTER", s(self.name.clone())),
            (
                "CLUSTER_KUBERNETES_SVC_IP",
                s(d.kubernetes_svc_ip.to_string()),
            ),
            ("CLUSTER_DNS_SVC_IP", s(d.dns_svc_ip.to_string())),
            ("CLUSTER_CIDR_GW", s(d.cluster_cidr_gw.to_string())),
            ("ETCD_ENDPOINTS", s(self.etcd_endpoints())),
            ("ETCD_INITIAL_CLUSTER", s(self.etcd_initial_cluster())),
            ("KUBE_APISERVER", s(self.kube_apiserver())),
            ("CONTEXT_NAME", s(self.context_name())),
            ("calico_ver_main", s(self.calico_ver_main())),
            ("HARBOR_REGISTRY", s(self.harbor_registry())),
            ("IP_AUTODETECTION_METHOD", s(self.ip_autodetection_method())),
            ("SECURE_PORT", s(d.secure_port.to_string())),
            ("NODE_PORT_RANGE_FIRST", Value::from(d.node_port_range.0)),
            ("NODE_PORT_RANGE_LAST", Value::from(d.node_port_range.1)),
        ];
        for (k, v) in derived {
            m.insert(k.to_string(), v);
        }
        let mut groups = serde_json_map();
        for g in &self.inventory.groups {
            let names: Vec<Value> = self
                .group(&g.name)
                .iter()
                .map(|h| Value::String(h.name.clone()))
                .collect();
            groups.insert(g.name.clone(), Value::Array(names));
        }
        groups.insert(
            "all".into(),
            Value::Array(
                self.hosts
                    .iter()
                    .map(|h| Value::String(h.name.clone()))
                    .collect(),
            ),
        );
        m.insert("groups".into(), Value::Object(groups));
        // hostvars[<name>]: each host's own vars plus K8S_NODENAME (e.g. for the /etc/hosts block).
        let mut hostvars = serde_json_map();
        for h in &self.hosts {
            let mut hv: tera::Map<String, Value> = h
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            hv.insert("K8S_NODENAME".into(), Value::String(h.node_name.clone()));
            hv.insert("inventory_hostname".into(), Value::String(h.name.clone()));
            hostvars.insert(h.name.clone(), Value::Object(hv));
        }
        m.insert("hostvars".into(), Value::Object(hostvars));
        m
    }

    /// [`Cluster::values`] as a tera context.
    pub fn template_context(&self) -> tera::Context {
        to_context(self.values())
    }

    /// Values for templates rendered for one host: the cluster values plus the host's vars,
    /// `inventory_hostname`, `K8S_NODENAME` and `group_names`.
    pub fn host_values(&self, host: &Host) -> BTreeMap<String, Value> {
        let mut m = self.values();
        for (k, v) in &host.vars {
            // config.yml (extra vars) still wins over host vars, except for inventory keys.
            if !self.config.spans.contains_key(k)
                || crate::config::INVENTORY_KEYS.contains(&k.as_str())
            {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
        m.insert(
            "inventory_hostname".into(),
            Value::String(host.name.clone()),
        );
        m.insert("K8S_NODENAME".into(), Value::String(host.node_name.clone()));
        m.insert(
            "group_names".into(),
            Value::Array(host.groups.iter().cloned().map(Value::String).collect()),
        );
        m
    }

    /// [`Cluster::host_values`] as a tera context.
    pub fn host_context(&self, host: &Host) -> tera::Context {
        to_context(self.host_values(host))
    }
}

fn serde_json_map() -> tera::Map<String, Value> {
    tera::Map::new()
}

fn to_context(m: BTreeMap<String, Value>) -> tera::Context {
    let mut c = tera::Context::new();
    for (k, v) in m {
        c.insert(k, &v);
    }
    c
}
