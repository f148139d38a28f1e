//! `PRODUCT.yaml`: the product description a submission carries, and where its values come from
//! (a `conformance:` section of `clusters/<c>/config.yml`, or a file of its own).
//!
//! Invariant: [`Product`] keeps every value as a string, whatever YAML type the user wrote
//! (`version: 3.0` stays `"3.0"`), and [`Product::to_yaml`] writes the fields in [`FIELDS`] order.

use std::collections::BTreeMap;
use std::path::Path;

/// Every field, in the order the instructions list them.
pub const FIELDS: &[&str] = &[
    "vendor",
    "name",
    "version",
    "website_url",
    "repo_url",
    "documentation_url",
    "product_logo_url",
    "type",
    "description",
    "contact_email_address",
];

/// Fields the bot requires non-empty.
pub const REQUIRED: &[&str] = &[
    "vendor",
    "name",
    "version",
    "type",
    "description",
    "website_url",
    "documentation_url",
    "contact_email_address",
];

/// URL-typed fields, validated when present.
pub const URL_FIELDS: &[&str] = &[
    "website_url",
    "repo_url",
    "documentation_url",
    "product_logo_url",
];

/// Allowed values of `type`.
pub const TYPES: &[&str] = &["distribution", "hosted platform", "installer"];

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid YAML: {source}")]
    Yaml {
        path: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{0}: the product description must be a YAML mapping")]
    NotMapping(String),
    #[error("{0}: no `conformance:` section with the product's vendor, name, version, … ")]
    NoSection(String),
}

/// Field name → value, strings only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product(pub BTreeMap<String, String>);

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Product {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// From a YAML mapping (`PRODUCT.yaml` itself, or a `conformance:` section).
    pub fn from_mapping(m: &serde_yaml_ng::Mapping) -> Product {
        let mut out = BTreeMap::new();
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                out.insert(k.to_string(), v);
            }
        }
        Product(out)
    }

    /// Parses `PRODUCT.yaml` text.
    pub fn parse(text: &str, origin: &str) -> Result<Product, ProductError> {
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|source| ProductError::Yaml {
                path: origin.to_string(),
                source,
            })?;
        match v.as_mapping() {
            Some(m) => Ok(Product::from_mapping(m)),
            None => Err(ProductError::NotMapping(origin.to_string())),
        }
    }

    /// Reads the product from a file: either a `conformance:` section in it (a cluster
    /// `config.yml`) or, when there is none, the file's own top-level fields.
    pub fn load(path: &Path) -> Result<Product, ProductError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProductError::Io {
            path: origin.clone(),
            source,
        })?;
        // config.yml may be a tera template rendered already; it is plain YAML by now.
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|source| ProductError::Yaml {
                path: origin.clone(),
                source,
            })?;
        let m = v
            .as_mapping()
            .ok_or_else(|| ProductError::NotMapping(origin.clone()))?;
        if let Some(sec) = m.get("conformance") {
            let sec = sec
                .as_mapping()
                .ok_or_else(|| ProductError::NoSection(origin.clone()))?;
            return Ok(Product::from_mapping(sec));
        }
        let p = Product::from_mapping(m);
        if REQUIRED.iter().all(|f| p.get(f).is_none()) {
            return Err(ProductError::NoSection(origin));
        }
        Ok(p)
    }

    /// `PRODUCT.yaml` text; `type` defaults to `installer` (kubeasz-rs is one).
    pub fn to_yaml(&self) -> String {
        let mut m = serde_yaml_ng::Mapping::new();
        for f in FIELDS {
            let v = match (self.get(f), *f) {
                (Some(v), _) => v.to_string(),
                (None, "type") => "installer".to_string(),
                (None, _) => continue,
            };
            m.insert((*f).into(), v.into());
        }
        serde_yaml_ng::to_string(&m).unwrap_or_default()
    }

    /// Folder name for the product: its name, lower-cased, runs of other characters as `-`.
    pub fn slug(&self) -> String {
        let name = self.get("name").unwrap_or("product").to_lowercase();
        let mut s = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                s.push(c);
            } else if !s.ends_with('-') {
                s.push('-');
            }
        }
        let s = s.trim_matches('-').to_string();
        if s.is_empty() {
            "product".to_string()
        } else {
            s
        }
    }
}

/// `http(s)://host[:port][/…]` with a host that has a dot (or is `localhost`) and no blanks.
pub fn valid_url(s: &str) -> bool {
    let s = s.trim();
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let host = host.split(':').next().unwrap_or("");
    !host.is_empty()
        && (host.contains('.') || host == "localhost")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with('.')
        && !host.ends_with('.')
}

/// `local@domain.tld`: one `@`, no blanks, a dot in the domain.
pub fn valid_email(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_emails() {
        assert!(valid_url("https://github.com/easzlab/kubeasz"));
        assert!(valid_url("http://localhost:8080/x"));
        assert!(!valid_url("github.com/easzlab"));
        assert!(!valid_url("https://exa mple.com"));
        assert!(!valid_url("https://"));
        assert!(!valid_url("ftp://x.org"));
        assert!(valid_email("aojea@google.com"));
        assert!(!valid_email("aojea@google"));
        assert!(!valid_email("a@b@c.com"));
        assert!(!valid_email("no-at.example.com"));
    }

    #[test]
    fn load_from_config_section_keeps_numbers_as_strings() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.yml");
        std::fs::write(
            &p,
            "INSTALL_SOURCE: online\nconformance:\n  vendor: easzlab\n  name: Kube ASZ rs\n  version: 3.0\n",
        )
        .unwrap();
        let pr = Product::load(&p).unwrap();
        assert_eq!(pr.get("version"), Some("3.0"));
        assert_eq!(pr.slug(), "kube-asz-rs");
        let y = pr.to_yaml();
        assert!(y.contains("type: installer"), "{y}");
        assert!(y.find("vendor").unwrap() < y.find("name").unwrap());
        std::fs::write(&p, "INSTALL_SOURCE: online\n").unwrap();
        assert!(matches!(Product::load(&p), Err(ProductError::NoSection(_))));
    }
}
