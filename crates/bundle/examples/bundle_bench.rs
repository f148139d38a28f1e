//! Driver for `bench/bundle-bench.sh` (not a user tool): builds the upstream-shaped test tree
//! from real Debian binaries, and runs the library's `-D` and `--verify` code paths with
//! release-mode timing, without depending on the rest of the workspace.
//!
//!   bundle_bench tree DIR                 write DIR/<host>/<path> + DIR/urls.txt
//!   bundle_bench fetch BASE MIRROR JOBS   ezdown -D --no-images --binary-mirror MIRROR --mirror-only
//!   bundle_bench verify BASE JOBS         ezdown --verify

#[path = "../tests/support/mod.rs"]
mod support;

use ez_bundle::bundle::{Request, download};
use ez_bundle::catalog::{self, Arch};
use ez_bundle::checksum::ChecksumTable;
use ez_bundle::events::Events;
use ez_bundle::fetch::FetchConfig;
use ez_bundle::mirrors::Sources;
use ez_bundle::session::Session;
use std::path::PathBuf;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tree") => {
            let dir = PathBuf::from(&args[1]);
            let mut urls = String::new();
            for (p, b) in support::upstream_tree(false) {
                let f = dir.join(&p);
                std::fs::create_dir_all(f.parent().ok_or("no parent")?)?;
                std::fs::write(&f, b)?;
                urls.push_str(&p);
                urls.push('\n');
            }
            std::fs::write(dir.join("urls.txt"), urls)?;
        }
        Some("fetch") => {
            let v = ez_inventory::VersionTable::default();
            let req = Request {
                artifacts: catalog::binaries(&v, Arch::Amd64)?,
                versions: v,
                arch: Arch::Amd64,
                images: vec![],
                extra_files: vec![],
                // The mirror serves synthetic files under the real URLs: the repository
                // table (real upstream values) would rightly refuse them.
                table: ChecksumTable::default(),
                selection: Default::default(),
            };
            let sources = Sources {
                binary_mirrors: vec![args[2].clone()],
                registry_mirrors: vec![],
                mirror_only: true,
            };
            let s = Session::new(
                &PathBuf::from(&args[1]),
                FetchConfig::default(),
                sources,
                Events::silent(),
                args[3].parse()?,
            )?;
            let t = Instant::now();
            let r = download(&s, &req).await?;
            if !r.failures.is_empty() {
                return Err(format!("{:?}", r.failures).into());
            }
            println!("{:.3} {}", t.elapsed().as_secs_f64(), r.bytes_fetched);
        }
        Some("verify") => {
            let t = Instant::now();
            let r = ez_bundle::verify::verify(&PathBuf::from(&args[1]), args[2].parse()?).await?;
            if !r.ok() {
                return Err(format!("{r:?}").into());
            }
            println!("{:.3} {}", t.elapsed().as_secs_f64(), r.bytes);
        }
        _ => {
            return Err(
                "usage: bundle_bench tree DIR | fetch BASE MIRROR JOBS | verify BASE JOBS".into(),
            );
        }
    }
    Ok(())
}
