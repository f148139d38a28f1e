//! `ezctl conformance …`: run the CNCF conformance suite, report on its results, build and verify
//! a cncf/k8s-conformance submission. The library work is in `ez-conformance`; this module only
//! parses arguments, prints and picks exit codes.
//!
//! Exit codes: 0 success; 1 the results/submission fail a check; 2 unreadable input or usage.

pub use ez_ops::e2e_list;
mod images;
mod pipeline;
mod report;
mod run;
mod sonobuoy;
mod submission;
mod verify;

use crate::ctx::Ctx;

/// Exit code for unreadable input.
pub const EXIT_UNREADABLE: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    #[command(subcommand)]
    pub command: Option<ConformanceCommand>,
    /// Cluster the whole pipeline works on (used without a subcommand).
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Pipeline: start at this stage (earlier ones done by hand); without it, resume after the
    /// last stage that finished.
    #[arg(long)]
    pub from: Option<String>,
    /// Pipeline: stop after this stage (e.g. `workers`: install the cluster, then run the suite
    /// yourself with `ezctl conformance run`).
    #[arg(long)]
    pub until: Option<String>,
    /// Pipeline: the start-aio stage's options (--ip: the all-in-one host, default this host;
    /// --ssh-key, -e KEY=VALUE, --network), as `ezctl start-aio` takes them.
    #[command(flatten)]
    pub aio: crate::cmd::ops::StartAio,
    /// Pipeline: the product description for the submission stage (its `conformance:` section
    /// or top-level fields; default: the cluster's config.yml).
    #[arg(long)]
    pub product_config: Option<std::path::PathBuf>,
    /// Pipeline: a worker node to add (repeatable; the suite needs two untainted nodes).
    #[arg(long = "worker")]
    pub workers: Vec<String>,
    /// Pipeline: serve the bundle's images on ADDR (as `ezctl registry`) during the run, and
    /// point the nodes' registry.k8s.io at it (start-aio gets REGISTRY_MIRRORS for
    /// easzlab.io.local, the deploy host, unless -e sets it): what a spec pulls with policy
    /// Always (ImageVolume) comes from the bundle on an offline cluster. Without ADDR:
    /// 0.0.0.0:5000, kubeasz's registry port.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = run::DEFAULT_REGISTRY)]
    pub registry: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConformanceCommand {
    /// Summarise a run: counts, failures, required tests missing or failed.
    Report(report::ReportArgs),
    /// Check a submission folder against the verify-conformance bot's rules.
    Verify(verify::VerifyArgs),
    /// Write a vX.Y/<product>/ submission folder from a run's results.
    Submission(submission::SubmissionArgs),
    /// List every image the conformance run needs; remap them to a local registry.
    Images(images::ImagesArgs),
    /// Run the conformance suite in the cluster (Hydrophone's design).
    Run(run::RunArgs),
}

pub async fn run(ctx: &Ctx, args: ConformanceArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(ConformanceCommand::Report(a)) => Ok(report::run(ctx, a)),
        Some(ConformanceCommand::Verify(a)) => Ok(verify::run(ctx, a)),
        Some(ConformanceCommand::Submission(a)) => Ok(submission::run(ctx, a)),
        Some(ConformanceCommand::Images(a)) => Ok(images::run(ctx, a)),
        Some(ConformanceCommand::Run(a)) => run::run(ctx, a).await,
        None => {
            let hosts = pipeline::Hosts {
                aio: args.aio,
                product_config: args.product_config,
                workers: args.workers,
                registry: args.registry,
            };
            pipeline::run(
                ctx,
                &args.cluster,
                args.from.as_deref(),
                args.until.as_deref(),
                &hosts,
            )
            .await
        }
    }
}

/// Parses `--version v1.NN[.P]` for clap.
fn parse_version(s: &str) -> Result<ez_conformance::version::KubeVersion, String> {
    s.parse()
        .map_err(|e: ez_conformance::version::VersionParseError| e.to_string())
}

/// Prints an error with the next step, returns the exit code.
fn fail(what: &dyn std::fmt::Display, next: &str, code: u8) -> u8 {
    eprintln!("ezctl conformance: {what}");
    if !next.is_empty() {
        eprintln!("  next: {next}");
    }
    code
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_e2e_list;
#[cfg(test)]
mod tests_sonobuoy;
