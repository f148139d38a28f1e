//! `ezdown -D --arch amd64,arm64`: the same action for each architecture, the first into the
//! base, each other into its own bundle under the base (`ez_bundle::arches`).

use super::EzdownCli;
use ez_bundle::catalog::Arch;

/// Runs the action once per architecture; the worst exit code wins (130 stops at once).
pub(super) async fn run_each(cli: &EzdownCli, list: &[Arch]) -> anyhow::Result<u8> {
    let mut worst = 0;
    for (i, a) in list.iter().enumerate() {
        let mut one = cli.clone();
        one.arch = Some(a.as_str().to_string());
        if i > 0 {
            one.base = ez_bundle::arches::sub_base(&cli.base, *a);
        }
        if !cli.json && !cli.list_urls {
            eprintln!("ezdown: {} bundle in {}", a.as_str(), one.base.display());
        }
        // a refusal for one architecture is said, and the next one still runs
        let code = crate::refusal::finish_as("ezdown:", Box::pin(super::run_one(one)).await)?;
        if code == 130 {
            return Ok(130);
        }
        worst = worst.max(code);
    }
    Ok(worst)
}
