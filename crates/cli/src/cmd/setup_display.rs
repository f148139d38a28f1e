//! How `ezctl setup` shows a run: on a terminal, one live line per host (its current role and
//! task, tasks done, changes); otherwise one plain line per change, failure and note; with
//! `--json`, one JSON event per line.

use ez_play::event::RelayOutcome;
use ez_play::{Event, Summary, TaskStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Where events go. Thread-safe: hosts report from many tasks at once.
pub struct Display {
    json: bool,
    live: Option<Live>,
}

struct Live {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, (ProgressBar, usize)>>,
}

impl ez_ops::report::Report for Display {
    fn event(&self, e: &Event) {
        Display::event(self, e);
    }

    fn summary(&self, s: &Summary) {
        Display::summary(self, s);
    }

    /// With `--json`, one `{"event":"phase",…}` line per phase start and end; a person sees
    /// the playbooks' output as before.
    fn phase(&self, p: &ez_ops::phase::PhaseEvent) {
        if !self.json {
            return;
        }
        let mut v = serde_json::json!(p);
        v["event"] = "phase".into();
        println!("{v}");
    }
}

impl Display {
    pub fn new(json: bool) -> Display {
        let live = (!json && std::io::stderr().is_terminal()).then(|| Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(BTreeMap::new()),
        });
        Display { json, live }
    }

    pub fn event(&self, e: &Event) {
        if self.json {
            if let Ok(line) = serde_json::to_string(e) {
                println!("{line}");
            }
            return;
        }
        match &self.live {
            Some(live) => live.event(e),
            None => plain(e),
        }
    }

    pub fn summary(&self, s: &Summary) {
        if let Some(live) = &self.live {
            live.finish();
        }
        if self.json {
            if let Ok(line) =
                serde_json::to_string(&serde_json::json!({"event": "summary", "summary": s}))
            {
                println!("{line}");
            }
            return;
        }
        let verb = if s.plan { "would change" } else { "changed" };
        println!("--- {}: {} task(s) {verb}", s.playbook, s.changed());
        for (host, h) in &s.hosts {
            let state = if h.failed.is_some() { "FAILED" } else { "ok" };
            println!(
                "  {host:<18} ok={:<4} {verb}={:<4} skipped={:<4} resumed={:<4} sent={}B in {:.1}s  {state}",
                h.ok,
                h.changed,
                h.skipped,
                h.resumed,
                h.transferred,
                h.elapsed_ms as f64 / 1000.0
            );
        }
    }
}

fn plain(e: &Event) {
    if let Some(line) = line_of(e) {
        println!("{line}");
    }
}

/// The line an event deserves outside the live area (None for routine progress).
fn line_of(e: &Event) -> Option<String> {
    match e {
        Event::PlayStarted {
            playbook,
            roles,
            hosts,
            ..
        } => Some(format!(
            "==> {playbook}: {} on {} host(s)",
            roles.join(", "),
            hosts.len()
        )),
        Event::Task {
            host,
            role,
            task,
            status: TaskStatus::Changed,
            detail,
        } => Some(format!("  [{host}] {role}: {task}: changed ({detail})")),
        Event::Task {
            host,
            role,
            task,
            status: TaskStatus::Failed,
            detail,
        } => Some(format!("  [{host}] {role}: {task}: FAILED: {detail}")),
        Event::Note { host, task, note } => Some(format!("  [{host}] {task}: note: {note}")),
        Event::Relay {
            host,
            file,
            from,
            outcome: RelayOutcome::Retry,
            detail,
            ..
        } => Some(format!(
            "  [{host}] relay: {file} from {from} failed, trying another source: {detail}"
        )),
        Event::Relay {
            host,
            file,
            from,
            bytes,
            outcome: RelayOutcome::Planned,
            ..
        } => Some(format!(
            "  [{host}] relay: {file} ({:.1} MB) would come from {from}",
            *bytes as f64 / 1e6
        )),
        _ => None,
    }
}

impl Live {
    fn event(&self, e: &Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match e {
            Event::PlayStarted { hosts, .. } => {
                let style =
                    ProgressStyle::with_template("{spinner} {prefix:<18} {pos:>3} done {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                for h in hosts {
                    let bar = self.multi.add(
                        ProgressBar::new_spinner()
                            .with_style(style.clone())
                            .with_prefix(h.clone()),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    bars.insert(h.clone(), (bar, 0));
                }
            }
            Event::Task {
                host,
                role,
                task,
                status,
                ..
            } => {
                if let Some((bar, changed)) = bars.get_mut(host) {
                    bar.inc(1);
                    if *status == TaskStatus::Changed {
                        *changed += 1;
                    }
                    if *status == TaskStatus::Failed {
                        bar.abandon_with_message(format!("FAILED at {role}: {task}"));
                    } else {
                        bar.set_message(format!("{changed} changed · {role}: {task}"));
                    }
                }
            }
            _ => {}
        }
        if let Some(line) = line_of(e) {
            let _ = self.multi.println(line);
        }
    }

    fn finish(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, (bar, _)) in std::mem::take(&mut *bars) {
                if !bar.is_finished() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
