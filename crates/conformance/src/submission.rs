//! Writes a cncf/k8s-conformance submission folder `vX.Y/<product>/`: PRODUCT.yaml, README.md
//! (the commands written out, as the PR template asks), and the run's e2e.log and junit_01.xml,
//! copied byte for byte.
//!
//! Invariant: nothing is written unless both result files are present and the release is known;
//! an existing non-empty target folder is never overwritten.

use crate::product::Product;
use crate::report::Report;
use crate::source::ResultFiles;
use crate::version::KubeVersion;
use std::path::{Path, PathBuf};

/// Written by `ezctl conformance run` beside the results: the commands of that run.
pub const RUN_RECORD: &str = "ezctl-run.json";

#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    #[error("the results have no {0}; a submission needs both e2e.log and junit_01.xml")]
    MissingFile(&'static str),
    #[error("the Kubernetes version of the run is unknown; pass --version v1.NN")]
    UnknownVersion,
    #[error("{0} already exists and is not empty; remove it or choose another --out")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the commands in the README refer to.
#[derive(Debug, Clone)]
pub struct ReadmeFacts {
    pub cluster: String,
    /// Commands recorded by the run, when there is a record; else the standard procedure is written.
    pub recorded_commands: Vec<String>,
}

/// The standard kubeasz-rs procedure for `version`, one shell line each (comments start with `#`).
pub fn standard_commands(
    version: KubeVersion,
    product: &Product,
    cluster: &str,
    slug: &str,
) -> Vec<String> {
    let rel = version.release();
    let pv = product.get("version").unwrap_or("<version>");
    vec![
        format!("# 1. Get kubeasz-rs {pv} and everything it installs, for Kubernetes {version}"),
        format!("./ezdown -D -k {version}"),
        "# the conformance image and the e2e test images (air-gapped clusters)".to_string(),
        format!("./ezdown -X conformance -k {version}"),
        "# 2. Three nodes (1 master, 2 workers, 4 CPU / 16 GB), calico as the CNI".to_string(),
        format!("./ezctl new {cluster}"),
        format!(
            "# list the master and the two workers in clusters/{cluster}/hosts, CLUSTER_NETWORK=\"calico\""
        ),
        format!("./ezctl setup {cluster} all"),
        "# 3. Run the suite (focus \\[Conformance\\], no skip, serial) and collect the results"
            .to_string(),
        format!("./ezctl conformance run --cluster {cluster} --output-dir ./results"),
        "./ezctl conformance report ./results".to_string(),
        "# 4. Build and check this folder".to_string(),
        "./ezctl conformance submission --results ./results --out ./submission".to_string(),
        format!(
            "./ezctl conformance verify ./submission/{rel}/{slug} --pr-title \"Conformance results for {rel}/{slug}\""
        ),
    ]
}

/// README.md text.
pub fn readme(
    product: &Product,
    report: &Report,
    version: KubeVersion,
    commands: &[String],
) -> String {
    let name = product.get("name").unwrap_or("product");
    let pv = product.get("version").unwrap_or("");
    let mut s = format!("# Conformance results for {name} {pv}, Kubernetes {version}\n\n");
    if let Some(d) = product.get("description") {
        s.push_str(&format!("{d}\n\n"));
    }
    if let Some(u) = product.get("documentation_url") {
        s.push_str(&format!("Documentation: {u}\n\n"));
    }
    s.push_str(
        "## How to reproduce\n\nThe commands that produced these results, in order:\n\n```sh\n",
    );
    for c in commands {
        s.push_str(c);
        s.push('\n');
    }
    s.push_str("```\n\n## Results\n\n");
    let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    s.push_str(&format!(
        "Ran {} of {} specs: {} passed, {} failed. Files: e2e.log and junit_01.xml as written by the \
         conformance image (`registry.k8s.io/conformance:{version}`).\n",
        n(report.ran),
        n(report.specs_total),
        n(report.passed),
        n(report.failed)
    ));
    s
}

/// Reads the commands recorded by `ezctl conformance run` in a results directory, if any.
pub fn recorded_commands(results_dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(results_dir.join(RUN_RECORD)) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    v.get("commands")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The focus of a check run (`ezctl conformance run --focus`) recorded in a results directory:
/// such results are not a certification.
pub fn recorded_focus(results_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(results_dir.join(RUN_RECORD)).ok()?;
    let v = serde_json::from_str::<serde_json::Value>(&text).ok()?;
    v.get("focus")?.as_str().map(str::to_string)
}

/// Writes `out/vX.Y/<slug>/` and returns its path.
pub fn write(
    out: &Path,
    files: &ResultFiles,
    report: &Report,
    product: &Product,
    facts: &ReadmeFacts,
) -> Result<PathBuf, SubmissionError> {
    let log = files
        .e2e_log
        .as_deref()
        .ok_or(SubmissionError::MissingFile("e2e.log"))?;
    let junit = files
        .junit
        .as_deref()
        .ok_or(SubmissionError::MissingFile("junit_01.xml"))?;
    let version: KubeVersion = report
        .kubernetes_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or(SubmissionError::UnknownVersion)?;
    let slug = product.slug();
    let dir = out.join(version.release_string()).join(&slug);
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(SubmissionError::Exists(dir));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SubmissionError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let commands = if facts.recorded_commands.is_empty() {
        standard_commands(version, product, &facts.cluster, &slug)
    } else {
        facts.recorded_commands.clone()
    };
    let w = |name: &str, data: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, data).map_err(io(&p))
    };
    w("PRODUCT.yaml", product.to_yaml().as_bytes())?;
    w(
        "README.md",
        readme(product, report, version, &commands).as_bytes(),
    )?;
    w("e2e.log", log)?;
    w("junit_01.xml", junit)?;
    Ok(dir)
}
