//! `ez-relay serve --dir D --bind ADDR [--idle SECS] [--fault corrupt|stall|die]`
//! `ez-relay fetch --dir D --from ADDR:PORT --sha SHA256 --size N --out FILE [--stall-ms MS]`
//!
//! Placed on hosts by ezctl for one step and removed after it (see the library doc). The
//! arguments are parsed by hand to keep the uploaded binary small. Exit status of `fetch`:
//! 0 the file is complete and its sha256 is right, 10 the source failed, 11 writing here
//! failed, 2 bad arguments.

use ez_relay::{EXIT_LOCAL, EXIT_SOURCE, EXIT_USAGE, FetchError, FetchOptions, ServeOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

fn usage(why: &str) -> ! {
    eprintln!("ez-relay: {why}");
    eprintln!(
        "usage: ez-relay serve --dir D --bind ADDR [--idle SECS] [--fault corrupt|stall|die]\n       ez-relay fetch --dir D --from ADDR:PORT --sha SHA256 --size N --out FILE [--stall-ms MS]"
    );
    std::process::exit(EXIT_USAGE)
}

/// `--key value` pairs after the subcommand.
fn flags(args: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let Some(k) = k.strip_prefix("--") else {
            usage(&format!("unexpected argument {k}"));
        };
        let Some(v) = it.next() else {
            usage(&format!("--{k} needs a value"));
        };
        m.insert(k.to_string(), v.clone());
    }
    m
}

fn need<'a>(m: &'a HashMap<String, String>, k: &str) -> &'a str {
    m.get(k)
        .map(String::as_str)
        .unwrap_or_else(|| usage(&format!("--{k} is required")))
}

fn number(m: &HashMap<String, String>, k: &str, default: u64) -> u64 {
    match m.get(k) {
        None => default,
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| usage(&format!("--{k} must be a number"))),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        usage("a subcommand is required");
    };
    let m = flags(&args[1..]);
    let dir = PathBuf::from(need(&m, "dir"));
    match cmd.as_str() {
        "serve" => {
            let fault = m.get("fault").map(|f| {
                ez_relay::Fault::parse(f).unwrap_or_else(|| usage(&format!("unknown fault {f}")))
            });
            let opts = ServeOptions {
                dir,
                bind: need(&m, "bind").to_string(),
                idle: Duration::from_secs(number(&m, "idle", 300)),
                fault,
            };
            if let Err(e) = ez_relay::serve(&opts) {
                eprintln!("ez-relay serve: {e}");
                std::process::exit(1);
            }
        }
        "fetch" => {
            let token = match std::fs::read_to_string(dir.join("token")) {
                Ok(t) => t.trim().to_string(),
                Err(e) => {
                    eprintln!("ez-relay fetch: {}: {e}", dir.join("token").display());
                    std::process::exit(EXIT_LOCAL);
                }
            };
            let opts = FetchOptions {
                from: need(&m, "from").to_string(),
                token,
                sha256: need(&m, "sha").to_string(),
                size: number(&m, "size", u64::MAX),
                out: PathBuf::from(need(&m, "out")),
                stall: Duration::from_millis(number(&m, "stall-ms", 10_000)),
            };
            match ez_relay::fetch(&opts) {
                Ok(()) => {}
                Err(e) => {
                    eprintln!("ez-relay fetch: {e}");
                    std::process::exit(match e {
                        FetchError::Source(_) => EXIT_SOURCE,
                        FetchError::Local(_) => EXIT_LOCAL,
                    });
                }
            }
        }
        other => usage(&format!("unknown subcommand {other}")),
    }
}
