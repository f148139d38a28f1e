//! `ezctl conformance images --version v1.NN.P [--list-file F | --from-image TAR]
//! [--test-repo-list F | --local-registry HOST:PORT] [--write-repo-list OUT]`.
//!
//! Without a list file, the embedded list of the version; when there is none (a release newer
//! than this build), the list its conformance image's e2e.test prints, read from the bundle
//! (`down/conformance_<version>.tar`, saved by `ezdown -X conformance`).

use super::{EXIT_UNREADABLE, fail, parse_version};
use crate::ctx::Ctx;
use ez_conformance::images;
use ez_conformance::version::KubeVersion;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Kubernetes version of the cluster, with its patch (the conformance image is per patch).
    #[arg(long, value_parser = parse_version)]
    pub version: KubeVersion,
    /// The full e2e image list (`e2e.test --list-images` output), one image a line.
    #[arg(long, conflicts_with = "from_image")]
    pub list_file: Option<PathBuf>,
    /// A conformance image tar (docker-archive, as ezdown saves it): its e2e.test is run here
    /// with --list-images (default, for a version with no embedded list: the bundle's).
    #[arg(long)]
    pub from_image: Option<PathBuf>,
    /// A KUBE_TEST_REPO_LIST file: print each image's name in that registry.
    #[arg(long, env = "KUBE_TEST_REPO_LIST", conflicts_with = "local_registry")]
    pub test_repo_list: Option<PathBuf>,
    /// Remap every registry to this one (e.g. easzlab.io.local:5000).
    #[arg(long)]
    pub local_registry: Option<String>,
    /// Write the repo list used to this file (give it to the run as KUBE_TEST_REPO_LIST).
    #[arg(long)]
    pub write_repo_list: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: ImagesArgs) -> u8 {
    let list_text = match list_source(ctx, &a) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut set = match images::image_set(
        a.version,
        list_text.as_ref().map(|(t, o)| (t.as_str(), o.as_str())),
    ) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                &e,
                "pass the server's full version, e.g. --version v1.33.4 (kubectl version)",
                EXIT_UNREADABLE,
            );
        }
    };
    let repo_list = match (&a.test_repo_list, &a.local_registry) {
        (Some(p), _) => match std::fs::read_to_string(p) {
            Ok(t) => match images::parse_repo_list(&t, &p.display().to_string()) {
                Ok(l) => Some(l),
                Err(e) => {
                    return fail(
                        &e,
                        "keys are the KUBE_TEST_REPO_LIST registry names",
                        EXIT_UNREADABLE,
                    );
                }
            },
            Err(e) => return fail(&format!("{}: {e}", p.display()), "", EXIT_UNREADABLE),
        },
        (None, Some(r)) => Some(images::repo_list_for(r)),
        (None, None) => None,
    };
    if let Some(l) = &repo_list {
        images::apply(&mut set, l);
        if let Some(out) = &a.write_repo_list
            && let Err(e) = std::fs::write(out, images::repo_list_yaml(l))
        {
            return fail(&format!("{}: {e}", out.display()), "", 1);
        }
    } else if a.write_repo_list.is_some() {
        return fail(
            &"--write-repo-list needs --local-registry or --test-repo-list",
            "",
            EXIT_UNREADABLE,
        );
    }
    if ctx.json {
        match serde_json::to_string_pretty(&set) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e, "", 1),
        }
    } else {
        for i in &set.images {
            match &i.remapped {
                Some(r) => println!("{}\t{}\t-> {r}", i.role, i.image),
                None => println!("{}\t{}", i.role, i.image),
            }
        }
        for n in &set.notes {
            println!("# {n}");
        }
        if let Some(out) = &a.write_repo_list {
            println!(
                "# repo list written to {} (KUBE_TEST_REPO_LIST)",
                out.display()
            );
        }
    }
    0
}

/// The list `e2e.test --list-images` of `tar` prints, with its origin; errors printed.
fn from_image(tar: &std::path::Path) -> Result<(String, String), u8> {
    super::e2e_list::list_from_image(tar)
        .map(|t| (t, format!("e2e.test --list-images of {}", tar.display())))
        .map_err(|e| {
            fail(
                &format!("{e:#}"),
                "or give the list with --list-file",
                EXIT_UNREADABLE,
            )
        })
}

/// The full e2e list to use, with its origin: `--list-file`, `--from-image`, else (for a
/// version with no embedded list) the bundle's conformance image when it is there; `None`:
/// the embedded list or floor. Errors are printed; `Err` holds the exit code.
pub(super) fn list_source(ctx: &Ctx, a: &ImagesArgs) -> Result<Option<(String, String)>, u8> {
    let l = match (&a.list_file, &a.from_image) {
        (Some(p), _) => match std::fs::read_to_string(p) {
            Ok(t) => Some((t, p.display().to_string())),
            Err(e) => return Err(fail(&format!("{}: {e}", p.display()), "", EXIT_UNREADABLE)),
        },
        (None, Some(tar)) => match from_image(tar) {
            Ok(l) => Some(l),
            Err(code) => return Err(code),
        },
        (None, None) => {
            let bundled = super::e2e_list::bundled_image(&ctx.base, &a.version.to_string());
            let embedded = images::image_set(a.version, None).is_ok_and(|s| s.complete);
            if !embedded && bundled.is_file() {
                match from_image(&bundled) {
                    Ok(l) => Some(l),
                    Err(code) => return Err(code),
                }
            } else {
                None
            }
        }
    };
    Ok(l)
}
