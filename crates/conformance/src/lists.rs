//! The required conformance tests of each release, embedded in the binary, and the name matching
//! the verify-conformance bot uses.
//!
//! Invariant: [`EMBEDDED`] is sorted by minor version, ascending, and every entry's text is the
//! unchanged `conformance.yaml` of that release (see `data/conformance-lists/README.md`).

use crate::version::KubeVersion;

/// `(minor, yaml)` for every embedded `v1.<minor>` list, ascending.
pub const EMBEDDED: &[(u32, &str)] = &[
    (20, include_str!("../data/conformance-lists/v1.20.yaml")),
    (22, include_str!("../data/conformance-lists/v1.22.yaml")),
    (24, include_str!("../data/conformance-lists/v1.24.yaml")),
    (26, include_str!("../data/conformance-lists/v1.26.yaml")),
    (27, include_str!("../data/conformance-lists/v1.27.yaml")),
    (30, include_str!("../data/conformance-lists/v1.30.yaml")),
    (32, include_str!("../data/conformance-lists/v1.32.yaml")),
    (33, include_str!("../data/conformance-lists/v1.33.yaml")),
    (34, include_str!("../data/conformance-lists/v1.34.yaml")),
    (35, include_str!("../data/conformance-lists/v1.35.yaml")),
    (36, include_str!("../data/conformance-lists/v1.36.yaml")),
];

/// Why no required list can be given for a version.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(
        "no conformance test list for {requested}: conformance submissions start at v1.20 and the \
         lists embedded here cover v1.20 to v1.{newest}"
    )]
    TooOld { requested: KubeVersion, newest: u32 },
    #[error(
        "no conformance test list for {requested}: it is newer than the newest list embedded here \
         (v1.{newest}); upgrade kubeasz-rs"
    )]
    TooNew { requested: KubeVersion, newest: u32 },
    #[error("Kubernetes major version {0} is unknown")]
    UnknownMajor(KubeVersion),
    #[error("embedded list v1.{minor} does not parse: {source}")]
    Corrupt {
        minor: u32,
        #[source]
        source: serde_yaml_ng::Error,
    },
}

/// One entry of `conformance.yaml` (only the fields this crate uses).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RequiredTest {
    pub testname: String,
    pub codename: String,
}

/// The list chosen for a version. `exact == false` means the version has no list of its own and
/// `list_version` is the nearest lower release that has one: callers must show [`Self::warning`].
#[derive(Debug, Clone)]
pub struct ListChoice {
    pub requested: KubeVersion,
    pub list_version: KubeVersion,
    pub exact: bool,
    pub tests: Vec<RequiredTest>,
}

impl ListChoice {
    /// The warning to print when the exact list is not embedded.
    pub fn warning(&self) -> Option<String> {
        (!self.exact).then(|| {
            format!(
                "the required-test list of {} is not embedded; using the nearest lower list, {} \
                 ({} tests) - the bot will check against the {} list",
                self.requested.release(),
                self.list_version,
                self.tests.len(),
                self.requested.release()
            )
        })
    }

    /// Normalised codenames, in list order.
    pub fn codenames(&self) -> Vec<String> {
        self.tests
            .iter()
            .map(|t| normalize_name(&t.codename))
            .collect()
    }
}

/// Releases that have an embedded list.
pub fn embedded_versions() -> impl Iterator<Item = KubeVersion> {
    EMBEDDED.iter().map(|(m, _)| KubeVersion {
        major: 1,
        minor: *m,
        patch: None,
    })
}

/// The list for `v`: its own, or the nearest lower one (`exact == false`); an error for v1.19 and
/// older, versions newer than the newest list, and majors other than 1.
pub fn required_list(v: KubeVersion) -> Result<ListChoice, ListError> {
    let newest = EMBEDDED.last().map(|(m, _)| *m).unwrap_or(0);
    if v.major != 1 {
        return Err(ListError::UnknownMajor(v));
    }
    if v.minor > newest {
        return Err(ListError::TooNew {
            requested: v,
            newest,
        });
    }
    let Some((minor, yaml)) = EMBEDDED.iter().rev().find(|(m, _)| *m <= v.minor) else {
        return Err(ListError::TooOld {
            requested: v,
            newest,
        });
    };
    let tests: Vec<RequiredTest> = match crate::lists_fast::parse(yaml) {
        Some(t) => t,
        None => serde_yaml_ng::from_str(yaml).map_err(|source| ListError::Corrupt {
            minor: *minor,
            source,
        })?,
    };
    Ok(ListChoice {
        requested: v,
        list_version: KubeVersion {
            major: 1,
            minor: *minor,
            patch: None,
        },
        exact: *minor == v.minor,
        tests,
    })
}

/// The bot's name matching: strip a leading `[It] `, unescape XML entities, collapse every run of
/// whitespace to one space, trim.
pub fn normalize_name(s: &str) -> String {
    let s = s.trim_start();
    let s = s.strip_prefix("[It]").unwrap_or(s);
    // Fast path: nothing to unescape and whitespace already single spaces.
    let t = s.trim();
    if !t.contains('&') && !t.contains("  ") && !t.contains(|c: char| c.is_whitespace() && c != ' ')
    {
        return t.to_string();
    }
    let unescaped = unescape_entities(s);
    let mut out = String::with_capacity(unescaped.len());
    for word in unescaped.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Replaces `&amp; &lt; &gt; &quot; &apos; &#NN; &#xHH;`; anything else is kept as it is.
pub fn unescape_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let decoded = tail.find(';').filter(|&e| e <= 10).and_then(|end| {
            let ent = &tail[1..end];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let num = if let Some(h) = ent.strip_prefix("#x").or(ent.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else {
                        ent.strip_prefix('#').and_then(|d| d.parse().ok())
                    };
                    num.and_then(char::from_u32)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn every_embedded_list_parses_with_its_known_size() {
        let expected = [
            (20, 311),
            (22, 346),
            (24, 354),
            (26, 368),
            (27, 378),
            (30, 402),
            (32, 411),
            (33, 419),
            (34, 424),
            (35, 441),
            (36, 446),
        ];
        for (minor, n) in expected {
            let c = required_list(v(&format!("v1.{minor}"))).unwrap();
            assert!(c.exact);
            assert_eq!(c.tests.len(), n, "v1.{minor}");
            let names = c.codenames();
            let unique: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), n, "duplicate codenames in v1.{minor}");
        }
    }

    #[test]
    fn missing_versions_fall_back_with_a_warning() {
        for (req, got) in [
            ("v1.21.3", 20),
            ("v1.23", 22),
            ("v1.25", 24),
            ("v1.28", 27),
            ("v1.29", 27),
            ("v1.31", 30),
        ] {
            let c = required_list(v(req)).unwrap();
            assert!(!c.exact, "{req}");
            assert_eq!(c.list_version.minor, got, "{req}");
            let w = c.warning().unwrap();
            assert!(w.contains("not embedded"), "{w}");
        }
        assert!(required_list(v("v1.26.6")).unwrap().warning().is_none());
    }

    #[test]
    fn old_new_and_foreign_versions_are_errors() {
        let e = required_list(v("v1.19")).unwrap_err();
        assert!(matches!(e, ListError::TooOld { .. }), "{e}");
        assert!(e.to_string().contains("v1.20"));
        assert!(matches!(
            required_list(v("v1.8.4")),
            Err(ListError::TooOld { .. })
        ));
        assert!(matches!(
            required_list(v("v1.37")),
            Err(ListError::TooNew { .. })
        ));
        assert!(matches!(
            required_list(v("v2.0")),
            Err(ListError::UnknownMajor(_))
        ));
    }

    #[test]
    fn normalize_matches_the_bot() {
        assert_eq!(
            normalize_name("[It] [sig-apps]  Daemon set\n   should  rollback &#39;x&#39; &amp; y"),
            "[sig-apps] Daemon set should rollback 'x' & y"
        );
        assert_eq!(normalize_name("  plain  "), "plain");
        assert_eq!(unescape_entities("a &#x41; &bogus; & b"), "a A &bogus; & b");
    }
}
