//! `-X conformance`: which e2e test images to save for the Kubernetes version (an embedded
//! list, a list file, or — for a version with no embedded list — the list the saved
//! conformance image's own e2e.test prints, asked after a first pass saved the image).

use super::EzdownCli;
use ez_bundle::bundle::Request;

/// The e2e images to save for `version`: from `list` (text, origin) when given, else the
/// embedded list (its tag or nearest patch, else the observed floor); the results sidecar
/// included, the images no mirror can hold left out; notes go to stderr. The flag says
/// whether the list is complete.
pub(super) fn e2e_images(version: &str, list: Option<(&str, &str)>) -> (Vec<String>, bool) {
    use ez_conformance::images::image_set;
    let set = version
        .parse()
        .map_err(|e: ez_conformance::version::VersionParseError| e.to_string())
        .and_then(|v| image_set(v, list).map_err(|e| e.to_string()));
    match set {
        Ok(set) => {
            if set.complete || list.is_some() {
                for n in &set.notes {
                    eprintln!("ezdown: -X conformance: {n}");
                }
            } else {
                eprintln!(
                    "ezdown: -X conformance: no e2e image list embedded for {version}: it is asked of the conformance image's e2e.test once that is saved"
                );
            }
            let images = set
                .images
                .into_iter()
                .filter(|i| i.role == "e2e" || i.role == "sidecar")
                .map(|i| i.image)
                .collect();
            (images, set.complete)
        }
        Err(e) => {
            eprintln!("ezdown: -X conformance: {e}; only the conformance image itself is saved");
            (Vec::new(), false)
        }
    }
}

/// The Kubernetes version whose e2e list must be asked of its conformance image once that is
/// saved: `-X conformance` without `--e2e-images` for a version with no embedded list.
pub(super) fn list_from_saved_image(cli: &EzdownCli, req: &Request) -> Option<String> {
    let embedded = req
        .versions
        .kubernetes
        .parse()
        .ok()
        .and_then(|v| ez_conformance::images::image_set(v, None).ok())
        .is_some_and(|s| s.complete);
    (cli.extra.iter().any(|x| x == "conformance") && cli.e2e_images.is_none() && !embedded)
        .then(|| req.versions.kubernetes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> EzdownCli {
        EzdownCli::parse_from(std::iter::once("ezdown").chain(args.iter().copied()))
    }

    #[test]
    fn a_version_without_an_embedded_list_asks_the_saved_conformance_image() {
        let want = |args: &[&str]| {
            let c = cli(args);
            let r = crate::ezdown::build_request(&c).unwrap();
            list_from_saved_image(&c, &r)
        };
        // the default v1.36.3 has no embedded list: ask its image once saved
        assert_eq!(
            want(&["-D", "--no-images", "-X", "conformance"]).as_deref(),
            Some("v1.36.3")
        );
        // an embedded list, a list file, or no conformance set: nothing to ask
        assert_eq!(
            want(&["-D", "--no-images", "-X", "conformance", "-k", "v1.35.4"]),
            None
        );
        assert_eq!(
            want(&[
                "-D",
                "--no-images",
                "-X",
                "conformance",
                "--e2e-images",
                "/dev/null"
            ]),
            None
        );
        assert_eq!(want(&["-D", "--no-images"]), None);
    }
}
