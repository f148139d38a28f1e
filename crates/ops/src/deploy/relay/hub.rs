//! Who gets a bundle file from whom: the deploy host's picture of which hosts hold which
//! file (by sha256), shared by every host's connection during a setup run.
//!
//! Invariants:
//! * the deploy host sends a file directly while no healthy host holds it, at most
//!   `direct_slots` copies at once; once a host holds it, the others get it from holders
//!   (each serving at most `fanout` hosts at once) and wait for a free holder rather than
//!   asking the deploy host again;
//! * a holder whose copy failed a fetcher (died, stalled, sent other bytes) is never used
//!   again in this run; a fetcher that saw `max_peer_failures` failures gets the file from
//!   the deploy host, whatever the slots; so every wait ends (holders' transfers end in
//!   success or failure, each failure removes a holder).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// When relay is used and how wide the tree is (see [`Policy::default`] for the measured
/// values).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Files smaller than this go directly over SSH.
    pub min_size: u64,
    /// Relay only when a run has at least this many hosts.
    pub min_hosts: usize,
    /// Hosts one holder serves at once.
    pub fanout: usize,
    /// Copies of one file the deploy host sends at once while no host holds it.
    pub direct_slots: usize,
    /// After this many failed peers a host gets the file from the deploy host.
    pub max_peer_failures: usize,
    /// A peer that sends nothing for this long has failed.
    pub stall: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_size: 1 << 20,
            min_hosts: 3,
            fanout: 3,
            direct_slots: 1,
            max_peer_failures: 2,
            stall: Duration::from_secs(10),
        }
    }
}

/// Where a host gets a file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    Deploy,
    Peer {
        host: String,
        /// `address:port` of its agent.
        addr: String,
    },
}

impl From {
    pub fn name(&self) -> &str {
        match self {
            From::Deploy => "deploy",
            From::Peer { host, .. } => host,
        }
    }
}

#[derive(Debug)]
struct Holder {
    host: String,
    addr: String,
    active: usize,
}

#[derive(Debug, Default)]
struct FileState {
    holders: Vec<Holder>,
    direct: usize,
}

/// Plan mode's simulated tree: per file, holders with the round they got it and how many
/// hosts they were given.
#[derive(Debug, Default)]
struct PlanState {
    files: HashMap<String, Vec<(String, usize, usize)>>,
}

/// The run's relay state.
#[derive(Debug)]
pub struct Hub {
    pub policy: Policy,
    files: Mutex<HashMap<String, FileState>>,
    bad: Mutex<HashSet<String>>,
    plan: Mutex<PlanState>,
    notify: tokio::sync::Notify,
}

impl Hub {
    pub fn new(policy: Policy) -> Self {
        Hub {
            policy,
            files: Mutex::default(),
            bad: Mutex::default(),
            plan: Mutex::default(),
            notify: tokio::sync::Notify::new(),
        }
    }

    /// A source for `me` now, or None when it should wait (see the module invariants).
    /// `tried`: peers that already failed `me` for this file.
    pub fn try_pick(&self, sha: &str, me: &str, tried: &[String]) -> Option<From> {
        let bad = self.bad.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let f = files.entry(sha.to_string()).or_default();
        if tried.len() >= self.policy.max_peer_failures {
            f.direct += 1;
            return Some(From::Deploy);
        }
        let usable =
            |h: &&mut Holder| h.host != me && !bad.contains(&h.host) && !tried.contains(&h.host);
        let mut any_usable = false;
        let mut best: Option<&mut Holder> = None;
        for h in f.holders.iter_mut().filter(|h| usable(h)) {
            any_usable = true;
            if h.active < self.policy.fanout && best.as_ref().is_none_or(|b| h.active < b.active) {
                best = Some(h);
            }
        }
        if let Some(h) = best {
            h.active += 1;
            return Some(From::Peer {
                host: h.host.clone(),
                addr: h.addr.clone(),
            });
        }
        if !any_usable && f.direct < self.policy.direct_slots {
            f.direct += 1;
            return Some(From::Deploy);
        }
        None
    }

    /// Waits for a source (see [`Hub::try_pick`]).
    pub async fn pick(&self, sha: &str, me: &str, tried: &[String]) -> From {
        loop {
            let woken = self.notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(f) = self.try_pick(sha, me, tried) {
                return f;
            }
            // Woken by any change; the timeout only guards against a missed wake-up.
            let _ = tokio::time::timeout(Duration::from_millis(500), woken).await;
        }
    }

    /// An attempt from `from` ended; a peer at fault (`peer_failed`) is dropped for the run.
    pub fn finished(&self, sha: &str, from: &From, peer_failed: bool) {
        {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = files.get_mut(sha) {
                match from {
                    From::Deploy => f.direct = f.direct.saturating_sub(1),
                    From::Peer { host, .. } => {
                        if let Some(h) = f.holders.iter_mut().find(|h| h.host == *host) {
                            h.active = h.active.saturating_sub(1);
                        }
                    }
                }
            }
        }
        if peer_failed && let From::Peer { host, .. } = from {
            self.bad
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(host.clone());
        }
        self.notify.notify_waiters();
    }

    /// `host` now holds `sha` and serves it at `addr`.
    pub fn add_holder(&self, sha: &str, host: &str, addr: &str) {
        {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let f = files.entry(sha.to_string()).or_default();
            if !f.holders.iter().any(|h| h.host == host) {
                f.holders.push(Holder {
                    host: host.to_string(),
                    addr: addr.to_string(),
                    active: 0,
                });
            }
        }
        self.notify.notify_waiters();
    }

    /// Plan mode: where `me` would get `sha` from in a run where every host starts at once
    /// (the deploy host sends the first copy; each holder then serves `fanout` hosts per
    /// round, hosts going to the holder that finishes them earliest). Records `me` as a
    /// holder.
    pub fn plan_pick(&self, sha: &str, me: &str) -> From {
        let mut p = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        let holders = p.files.entry(sha.to_string()).or_default();
        let fanout = self.policy.fanout.max(1);
        let best = holders
            .iter_mut()
            .filter(|(h, _, _)| h != me)
            .min_by_key(|(_, round, given)| round + 1 + *given / fanout);
        let (from, round) = match best {
            Some((host, round, given)) => {
                let r = *round + 1 + *given / fanout;
                *given += 1;
                (
                    From::Peer {
                        host: host.clone(),
                        addr: String::new(),
                    },
                    r,
                )
            }
            None => (From::Deploy, 1),
        };
        holders.push((me.to_string(), round, 0));
        from
    }

    /// Plan mode: the files' trees as `holder -> [hosts]`, for tests and summaries.
    pub fn plan_rounds(&self, sha: &str) -> BTreeMap<String, usize> {
        let p = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        p.files
            .get(sha)
            .map(|v| v.iter().map(|(h, r, _)| (h.clone(), *r)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub::new(Policy::default())
    }

    #[test]
    fn first_copy_direct_then_from_holders_within_fanout() {
        let h = hub();
        assert_eq!(h.try_pick("s", "a", &[]), Some(From::Deploy));
        // One direct copy at a time while nobody holds the file.
        assert_eq!(h.try_pick("s", "b", &[]), None);
        h.finished("s", &From::Deploy, false);
        h.add_holder("s", "a", "a:1");
        for who in ["b", "c", "d"] {
            assert_eq!(
                h.try_pick("s", who, &[]).map(|f| f.name().to_string()),
                Some("a".into())
            );
        }
        // The holder is full and healthy: wait for it, do not ask the deploy host.
        assert_eq!(h.try_pick("s", "e", &[]), None);
        let a = From::Peer {
            host: "a".into(),
            addr: "a:1".into(),
        };
        h.finished("s", &a, false);
        h.add_holder("s", "b", "b:1");
        assert_eq!(
            h.try_pick("s", "e", &[]).map(|f| f.name().to_string()),
            Some("b".into())
        );
    }

    #[test]
    fn a_failed_peer_is_dropped_and_failures_end_at_the_deploy_host() {
        let h = hub();
        h.add_holder("s", "a", "a:1");
        h.add_holder("s", "b", "b:1");
        let first = h.try_pick("s", "c", &[]).unwrap();
        h.finished("s", &first, true);
        let second = h.try_pick("s", "c", &[first.name().to_string()]).unwrap();
        assert_ne!(first, second);
        assert_ne!(second, From::Deploy);
        h.finished("s", &second, true);
        // Every holder failed: the deploy host, even though nobody else asked it.
        let tried = vec![first.name().to_string(), second.name().to_string()];
        assert_eq!(h.try_pick("s", "c", &tried), Some(From::Deploy));
        // A bad holder is not offered to anyone else either: with no good holder left, the
        // deploy host once its copy to c is done.
        assert_eq!(h.try_pick("s", "d", &[]), None);
        h.finished("s", &From::Deploy, false);
        assert_eq!(h.try_pick("s", "d", &[]), Some(From::Deploy));
    }

    #[tokio::test]
    async fn a_waiter_is_woken_by_a_new_holder() {
        let h = std::sync::Arc::new(hub());
        assert_eq!(h.try_pick("s", "a", &[]), Some(From::Deploy));
        let h2 = h.clone();
        let waiter = tokio::spawn(async move { h2.pick("s", "b", &[]).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        h.finished("s", &From::Deploy, false);
        h.add_holder("s", "a", "a:1");
        let got = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.name(), "a");
    }

    #[test]
    fn the_plan_is_a_tree_of_logarithmic_depth() {
        let h = hub();
        let mut from_deploy = 0;
        for i in 0..30 {
            if h.plan_pick("s", &format!("h{i}")) == From::Deploy {
                from_deploy += 1;
            }
        }
        assert_eq!(from_deploy, 1);
        let rounds = h.plan_rounds("s");
        let depth = rounds.values().max().copied().unwrap_or(0);
        // 1, then ×(1+fanout) per round: 30 hosts within 4 rounds.
        assert!(depth <= 4, "{rounds:?}");
    }
}
