//! `ezctl conformance verify DIR [--pr-title "…"] [--latest-release v1.NN]`.

use super::{EXIT_UNREADABLE, fail, parse_version};
use crate::ctx::Ctx;
use ez_conformance::verify::{self, Severity, Verification, VerifyOptions};
use ez_conformance::version::KubeVersion;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The submission folder, `…/vX.Y/<product>`.
    pub dir: PathBuf,
    /// The pull request's title, checked against the bot's format.
    #[arg(long)]
    pub pr_title: Option<String>,
    /// Today's newest Kubernetes release (default: the newest list in this build); the bot
    /// accepts it and the two releases before it.
    #[arg(long, value_parser = parse_version)]
    pub latest_release: Option<KubeVersion>,
}

pub fn run(ctx: &Ctx, a: VerifyArgs) -> u8 {
    if !a.dir.is_dir() {
        return fail(
            &format!("{}: not a directory", a.dir.display()),
            "give the submission folder, e.g. ./submission/v1.33/kubeasz",
            EXIT_UNREADABLE,
        );
    }
    let v = verify::verify(
        &a.dir,
        &VerifyOptions {
            pr_title: a.pr_title,
            latest_release: a.latest_release,
        },
    );
    if ctx.json {
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e, "", EXIT_UNREADABLE),
        }
    } else {
        print!("{}", human(&v));
    }
    if v.rejected() { 1 } else { 0 }
}

pub(super) fn human(v: &Verification) -> String {
    let mut o = String::new();
    for f in &v.findings {
        let tag = match f.severity {
            Severity::Pass => "ok     ",
            Severity::Reject => "REJECT ",
            Severity::Warning => "warning",
            Severity::NotChecked => "n/a    ",
        };
        o.push_str(&format!("{tag} {}: {}\n", f.rule, f.message));
    }
    let n = v
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Reject)
        .count();
    if n == 0 {
        o.push_str("The bot's offline rules all pass.\n");
    } else {
        o.push_str(&format!(
            "The bot would reject this submission ({n} finding(s)).\n"
        ));
    }
    o
}
