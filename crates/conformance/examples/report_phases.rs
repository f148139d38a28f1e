//! Times each phase of a report (used by bench/conformance-report.sh to explain its figure):
//! `cargo run --release --example report_phases -- E2E_LOG JUNIT`.

use std::time::Instant;

fn main() {
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let t = Instant::now();
    let files = match ez_conformance::source::load(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let read = t.elapsed();
    let t = Instant::now();
    let junit = files.junit.as_deref().map(ez_conformance::junit::parse);
    let junit_t = t.elapsed();
    let t = Instant::now();
    let log = files.e2e_log.as_deref().map(ez_conformance::e2elog::scan);
    let log_t = t.elapsed();
    let t = Instant::now();
    let v = log.as_ref().and_then(|l| l.version).map(|(v, _)| v);
    let list = v.map(ez_conformance::lists::required_list);
    let list_t = t.elapsed();
    let t = Instant::now();
    let r = ez_conformance::report::build(&files, None);
    let all_t = t.elapsed();
    println!(
        "read {read:?}  junit {junit_t:?}  e2e.log {log_t:?}  list {list_t:?}  whole report {all_t:?}  (ok: {} {} {} {})",
        junit.is_some_and(|j| j.is_ok()),
        log.is_some(),
        list.is_some_and(|l| l.is_ok()),
        r.is_ok()
    );
}
