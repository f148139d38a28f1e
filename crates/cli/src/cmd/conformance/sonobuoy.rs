//! `ezctl conformance run --runner sonobuoy`: the run is `ez_conformance::run::sonobuoy`'s
//! (its steps and invariant); here, the options it gets from the command line and what is
//! printed.

use super::fail;
use super::run::RunArgs;
use crate::ctx::Ctx;
use ez_conformance::run::sonobuoy::{Event, SonobuoyRun};

/// The run the command line asks for: the bundle's `bin/sonobuoy` unless `--sonobuoy`, the
/// cluster's kubeconfig unless `--kubeconfig`.
fn sonobuoy_run(ctx: &Ctx, a: &RunArgs) -> SonobuoyRun {
    SonobuoyRun {
        bin: a
            .sonobuoy
            .clone()
            .unwrap_or_else(|| ez_inventory::BundleLayout::new(&ctx.base).bin_file("sonobuoy")),
        kubeconfig: a
            .kubeconfig
            .clone()
            .unwrap_or_else(|| ctx.cluster_dir(&a.cluster).join("kubectl.kubeconfig")),
        output_dir: a.output_dir.clone(),
        conformance_image: a.conformance_image.clone(),
        test_repo_list: a.test_repo_list.clone(),
        timeout: a.timeout,
        cleanup: a.cleanup,
        continue_run: a.continue_run,
        keep: a.keep,
        command: super::run::command_text(a),
    }
}

/// Runs (or waits for) the Sonobuoy run and collects its results; `Ok(exit code of the
/// suite)` (1 when a test failed), or the error already printed as `Err(code)`.
pub async fn execute(ctx: &Ctx, a: &RunArgs) -> Result<i32, u8> {
    let on = |e: Event| match e {
        Event::Waiting => eprintln!("[conformance] waiting for the Sonobuoy run in progress"),
        Event::Results { dir, tarball } => eprintln!(
            "[conformance] results in {} (from {})",
            dir.display(),
            tarball.display()
        ),
    };
    sonobuoy_run(ctx, a)
        .execute(on)
        .await
        .map_err(|s| fail(&s.message, &s.next, s.code))
}
