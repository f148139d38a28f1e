//! `ezctl conformance submission --results PATH --out DIR [--product-config FILE]`.

use super::{EXIT_UNREADABLE, fail, parse_version};
use crate::ctx::Ctx;
use ez_conformance::product::Product;
use ez_conformance::submission::{self, ReadmeFacts};
use ez_conformance::verify::{self, VerifyOptions};
use ez_conformance::version::KubeVersion;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SubmissionArgs {
    /// The run's results: a directory, a tarball, or e2e.log and junit_01.xml.
    #[arg(long, required = true, num_args = 1..=2)]
    pub results: Vec<PathBuf>,
    /// Where `vX.Y/<product>/` is written.
    #[arg(long)]
    pub out: PathBuf,
    /// The product description (PRODUCT.yaml fields), default: the `conformance:` section of
    /// clusters/<cluster>/config.yml.
    #[arg(long)]
    pub product_config: Option<PathBuf>,
    /// Cluster whose config.yml holds the `conformance:` section.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Kubernetes version, when the results do not state it.
    #[arg(long, value_parser = parse_version)]
    pub version: Option<KubeVersion>,
}

pub fn run(ctx: &Ctx, a: SubmissionArgs) -> u8 {
    if let [d] = a.results.as_slice()
        && let Some(focus) = submission::recorded_focus(d)
    {
        return fail(
            &format!(
                "{} holds a check run of --focus '{focus}', not the certified suite",
                d.display()
            ),
            "run `ezctl conformance run` without --focus for results a submission can use",
            1,
        );
    }
    let cfg = a
        .product_config
        .clone()
        .unwrap_or_else(|| ctx.cluster_dir(&a.cluster).join("config.yml"));
    let product = match Product::load(&cfg) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                &e,
                "add a `conformance:` section (vendor, name, version, website_url, documentation_url, \
                 repo_url, product_logo_url, contact_email_address, description) to the cluster's \
                 config.yml, or pass --product-config FILE",
                EXIT_UNREADABLE,
            );
        }
    };
    let files = match ez_conformance::source::load(&a.results) {
        Ok(f) => f,
        Err(e) => return fail(&e, "point --results at the run's results", EXIT_UNREADABLE),
    };
    let report = match ez_conformance::report::build(&files, a.version) {
        Ok(r) => r,
        Err(e) => return fail(&e, "", EXIT_UNREADABLE),
    };
    let recorded = match a.results.as_slice() {
        [d] if d.is_dir() => submission::recorded_commands(d),
        _ => Vec::new(),
    };
    let facts = ReadmeFacts {
        cluster: a.cluster.clone(),
        recorded_commands: recorded,
    };
    let dir = match submission::write(&a.out, &files, &report, &product, &facts) {
        Ok(d) => d,
        Err(e) => return fail(&e, "", 1),
    };
    println!("wrote {}", dir.display());
    let title = format!(
        "Conformance results for {}/{}",
        dir.parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        product.get("name").unwrap_or("")
    );
    let v = verify::verify(
        &dir,
        &VerifyOptions {
            pr_title: Some(title.clone()),
            latest_release: None,
        },
    );
    if !ctx.json {
        print!("{}", super::verify::human(&v));
        println!("PR title to use: {title}");
    }
    if v.rejected() { 1 } else { 0 }
}
