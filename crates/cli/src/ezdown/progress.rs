//! How `ezdown` shows events: progress bars (per file + total) when stderr is a terminal,
//! plain lines when not, or one JSON object per line on stdout with `--json`.

use ez_bundle::events::{Event, Events};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// Output mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Json,
    Bars,
    Plain,
}

impl Mode {
    pub fn pick(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        }
    }
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    files: HashMap<String, ProgressBar>,
}

/// Builds the event sink for `mode`; `jobs_total` sizes the total bar.
pub fn sink(mode: Mode, jobs_total: u64) -> Events {
    match mode {
        Mode::Json => Events::new(|e| {
            if let Ok(line) = serde_json::to_string(e) {
                println!("{line}");
            }
        }),
        Mode::Plain => Events::new(plain),
        Mode::Bars => {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(jobs_total));
            total.set_style(
                ProgressStyle::with_template("{spinner} total [{bar:30}] {pos}/{len} items {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let bars = Arc::new(Mutex::new(Bars {
                multi,
                total,
                files: HashMap::new(),
            }));
            Events::new(move |e| {
                if let Ok(mut b) = bars.lock() {
                    bar_event(&mut b, e);
                }
            })
        }
    }
}

/// Whether a retry is worth a line for a person: the first one of an item is quiet, so a run
/// that fails the same way everywhere (which the breaker stops before any second retry) reads
/// as its summary and one verdict, and a one-off hiccup that the retry cures says nothing.
/// `--json` still reports every retry.
fn said_aloud(attempt: u32) -> bool {
    attempt >= 2
}

fn plain(e: &Event) {
    match e {
        Event::Start {
            id,
            url,
            resumed_from,
            ..
        } if *resumed_from > 0 => {
            eprintln!("ezdown: {id}: resuming {url} at {resumed_from} bytes")
        }
        Event::Start { id, url, .. } => eprintln!("ezdown: {id}: fetching {url}"),
        Event::Retry {
            id,
            attempt,
            delay_ms,
            reason,
            ..
        } if said_aloud(*attempt) => {
            eprintln!("ezdown: {id}: retry {attempt} in {delay_ms} ms ({reason})")
        }
        Event::SourceFailed { id, url, error } => {
            eprintln!("ezdown: {id}: source {url} failed ({error}); trying the next one")
        }
        Event::Mismatch {
            id,
            expected,
            actual,
            ..
        } => {
            eprintln!(
                "ezdown: {id}: sha256 mismatch (expected {expected}, got {actual}); fetching once more"
            )
        }
        Event::Done { id, path, size, .. } => {
            eprintln!("ezdown: {id}: ok {path} ({size} bytes, sha256 verified)")
        }
        Event::Skipped { id, path } => {
            eprintln!("ezdown: {id}: already in the bundle ({path}), verified")
        }
        Event::Failed { id, error } => eprintln!("ezdown: {id}: FAILED: {error}"),
        // the command line says why once, after the summary
        Event::Stopped { .. } => {}
        Event::Summary {
            files,
            failed,
            bytes_fetched,
            seconds,
        } => eprintln!(
            "ezdown: {files} files in the bundle, {failed} failed, {bytes_fetched} bytes fetched in {seconds:.1} s"
        ),
        Event::Progress { .. } | Event::Retry { .. } => {}
    }
}

fn bar_event(b: &mut Bars, e: &Event) {
    let style = || {
        ProgressStyle::with_template(
            "  {prefix:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    match e {
        Event::Start {
            id,
            total,
            resumed_from,
            ..
        } => {
            let pb = b
                .files
                .entry(id.clone())
                .or_insert_with(|| b.multi.add(ProgressBar::new(0)))
                .clone();
            pb.set_style(style());
            pb.set_prefix(short(id));
            pb.set_length(total.unwrap_or(0));
            pb.set_position(*resumed_from);
        }
        Event::Progress { id, bytes, total } => {
            if let Some(pb) = b.files.get(id) {
                if let Some(t) = total {
                    pb.set_length(*t);
                }
                pb.set_position(*bytes);
            }
        }
        Event::Done { id, .. } | Event::Skipped { id, .. } => {
            if let Some(pb) = b.files.remove(id) {
                pb.finish_and_clear();
            }
            b.total.inc(1);
        }
        Event::Stopped { .. } => {
            for (_, pb) in b.files.drain() {
                pb.finish_and_clear();
            }
        }
        Event::Failed { id, error } => {
            if let Some(pb) = b.files.remove(id) {
                pb.abandon();
            }
            let _ = b.multi.println(format!("ezdown: {id}: FAILED: {error}"));
            b.total.inc(1);
        }
        Event::Retry {
            id,
            attempt,
            reason,
            ..
        } if said_aloud(*attempt) => {
            let _ = b
                .multi
                .println(format!("ezdown: {id}: retry {attempt} ({reason})"));
        }
        Event::Retry { .. } => {}
        Event::SourceFailed { id, url, error } => {
            let _ = b
                .multi
                .println(format!("ezdown: {id}: {url} failed ({error}); next source"));
        }
        Event::Mismatch { id, .. } => {
            let _ = b
                .multi
                .println(format!("ezdown: {id}: sha256 mismatch; fetching once more"));
        }
        Event::Summary {
            files,
            failed,
            bytes_fetched,
            seconds,
        } => {
            b.total.finish_and_clear();
            let _ = b.multi.clear();
            eprintln!(
                "ezdown: {files} files in the bundle, {failed} failed, {bytes_fetched} bytes fetched in {seconds:.1} s"
            );
        }
    }
}

fn short(id: &str) -> String {
    let s = id.rsplit('/').next().unwrap_or(id);
    s.chars().take(24).collect()
}
