//! etcd members joining and leaving a cluster: `ezctl add-etcd` and `del-etcd` (kubeasz
//! 21.addetcd.yml, 31.deletcd.yml, then `02 -t restart_etcd` and `04 -t restart_master`),
//! each as its phases.
//!
//! Invariants: `clusters/<c>/hosts` is written only when every step succeeded; refusals
//! happen before any host is contacted, with kubeasz's messages. A new member that never
//! becomes healthy is removed from the etcd cluster again (quorum is not left weakened).

use crate::ctx::Ctx;
use crate::deploy;
use crate::inventory_change::{ETCD_MEMBERS, EVEN, with_host_added, with_host_removed};
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Session, Step, Stopped, first_failure, refuse_unless_done, run_steps};
use anyhow::Context;
use ez_inventory::{Cluster, load};
use ez_play::state::ClusterLock;
use std::path::{Path, PathBuf};

/// Inventory names of etcd members and masters, without duplicates.
fn etcd_and_masters(c: &Cluster) -> Vec<String> {
    session::unique_names(c.etcd().into_iter().chain(c.kube_master()))
}

/// The steps that make every member and apiserver agree with the membership of the cluster
/// the session was opened with: etcd certificate and unit (`--initial-cluster`), then the
/// apiservers' `--etcd-servers`.
fn converge_steps(c: &Cluster) -> Vec<Step> {
    // Fresh: what an earlier failed run recorded as done was done for another membership.
    let mut steps = vec![Step::new("02.etcd", &["change_cert", "restart_etcd"], &[]).fresh()];
    if !c.kube_master().is_empty() {
        steps.push(Step::new("04.kube-master", &["restart_master"], &[]).fresh());
    }
    steps
}

/// A host failed a step: the refusal that says so, what happened before (`before`), and
/// what to run again.
fn failed(msg: String, before: &[String], host: &str, hosts_path: &Path, again: &str) -> Refusal {
    let mut r = Refusal::new(1, msg);
    for b in before {
        r = r.hint(b.clone());
    }
    r.hint(format!(
        "{} was not changed: fix the cause on {host}, then run `{again}` again",
        hosts_path.display()
    ))
}

/// The first healthy member among `members`, or the refusal saying there is none.
async fn healthy(session: &Session, c: &Cluster, members: &[String]) -> anyhow::Result<String> {
    match session.healthy_etcd(c, members).await {
        Some(h) => Ok(h),
        None => Refusal::new(
            1,
            format!(
                "no healthy etcd member among {}; nothing was changed",
                members.join(", ")
            ),
        )
        .into_result(),
    }
}

/// `add-etcd <c> <ip> [k=v…]`: `notice(healthy)` is told the member the new one joins
/// through, before it does.
pub async fn add_etcd(
    ctx: &Ctx,
    name: &str,
    ip: &str,
    vars: &[String],
    notice: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let dir = ctx.cluster_dir(name);
    let hosts_path = load::hosts_path(&dir);
    let again = format!("ezctl add-etcd {name} {ip}");
    let mut m = Manager::new(format!("add-etcd {name} {ip}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster_allowing(&dir, name, EVEN)
        })
        .await?;
    let (new_text, new) = m
        .run("the inventory with the new member", async {
            with_host_added(name, &dir, &cluster, "etcd", "etcd", ip, vars)
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl add-etcd {name} {ip}"))
        })
        .await?;
    let old_members: Vec<String> = cluster.etcd().iter().map(|h| h.name.clone()).collect();
    // As add-node: an unknown host key of the new member is recorded on first contact.
    let ctx = Ctx {
        accept_new_host_keys: true,
        ..ctx.clone()
    };
    // The certificate before the change, put back when the new member cannot join.
    let saved = saved_etcd_certificate(&dir);
    let session = m
        .run(
            "connect to the members and masters (etcd certificate with the new address)",
            async {
                let hint = format!("{} was not changed", hosts_path.display());
                session::open_or_refuse(&ctx, &new, &etcd_and_masters(&new), true, Some(&hint))
                    .await
            },
        )
        .await?;
    let work = async {
        let through = m
            .run(
                "find a healthy member",
                healthy(&session, &new, &old_members),
            )
            .await?;
        notice(&through);
        m.run("join the new member (01.prepare, 21.addetcd)", async {
            let join = [
                Step::new("01.prepare", &[], &[ip.to_string()]),
                Step::new("21.addetcd", &[], &[])
                    .var("ETCD_HEALTHY", through.clone())
                    .var("NODE_TO_ADD", ip)
                    .fresh(),
            ];
            let Some((host, msg)) = first_failure(&session.run_all(&join).await?) else {
                return anyhow::Ok(());
            };
            let mut before = vec![
                "the new member did not join; removing it from the etcd cluster again".to_string(),
            ];
            let undo = Step::new("31.deletcd", &[], &[])
                .var("ETCD_HEALTHY", through.clone())
                .var("ETCD_TO_DEL", ip)
                .fresh();
            before.push(
                match session.run(&undo).await.map(|s| first_failure(&[s])) {
                    Ok(None) => format!("member {ip} removed again; the etcd cluster is as before"),
                    Ok(Some((_, m))) => format!("removing member {ip} again failed too: {m}"),
                    Err(e) => format!("removing member {ip} again failed too: {e}"),
                },
            );
            for (p, b) in &saved {
                let _ = load::write_atomic(p, b);
            }
            Err(failed(msg, &before, &host, &hosts_path, &again).into())
        })
        .await?;
        m.run(
            "every member and apiserver with the new membership (02, 04)",
            async {
                match first_failure(&session.run_all(&converge_steps(&new)).await?) {
                    None => anyhow::Ok(()),
                    Some((host, msg)) => {
                        let before = [format!(
                            "(member {ip} has joined etcd; a re-run finishes the change)"
                        )];
                        Err(failed(msg, &before, &host, &hosts_path, &again).into())
                    }
                }
            },
        )
        .await
    };
    let done = work.await;
    session.close().await;
    done?;
    m.run("add it to [etcd]", async {
        load::write_atomic(&hosts_path, new_text.as_bytes())
            .with_context(|| format!("writing {}", hosts_path.display()))
    })
    .await
}

/// The cluster's etcd certificate and key as they are now.
fn saved_etcd_certificate(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let ssl = dir.join("ssl");
    ["etcd.pem", "etcd-key.pem"]
        .iter()
        .filter_map(|f| std::fs::read(ssl.join(f)).ok().map(|b| (ssl.join(f), b)))
        .collect()
}

/// `del-etcd <c> <ip>`: `warn` is told when the member cannot be reached (it is removed
/// without its cleanup), `notice(healthy)` the member the removal goes through.
pub async fn del_etcd(
    ctx: &Ctx,
    name: &str,
    ip: &str,
    warn: impl FnOnce(&str),
    notice: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let dir = ctx.cluster_dir(name);
    let hosts_path = load::hosts_path(&dir);
    let again = format!("ezctl del-etcd {name} {ip}");
    let mut m = Manager::new(format!("del-etcd {name} {ip}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster_allowing(&dir, name, EVEN)
        })
        .await?;
    let (new_text, new) = m
        .run("the inventory without the member", async {
            with_host_removed(name, &dir, &cluster, &ETCD_MEMBERS, ip)
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl del-etcd {name} {ip}"))
        })
        .await?;
    let remaining: Vec<String> = new.etcd().iter().map(|h| h.name.clone()).collect();
    let (session, limit) = m
        .run(
            "connect to the members and masters",
            connect_without_dead_member(ctx, &cluster, ip, &hosts_path, warn),
        )
        .await?;
    let work = async {
        let through = m
            .run(
                "find a healthy member",
                healthy(&session, &cluster, &remaining),
            )
            .await?;
        notice(&through);
        m.run("remove the member (31.deletcd)", async {
            let step = Step::new("31.deletcd", &[], &limit)
                .var("ETCD_HEALTHY", through.clone())
                .var("ETCD_TO_DEL", ip)
                .fresh();
            match first_failure(&session.run_all(std::slice::from_ref(&step)).await?) {
                None => anyhow::Ok(()),
                Some((host, msg)) => Err(failed(msg, &[], &host, &hosts_path, &again).into()),
            }
        })
        .await
    };
    let done = work.await;
    session.close().await;
    done?;
    m.run(
        "every member and apiserver with the new membership (02, 04)",
        async {
            let hosts = etcd_and_masters(&new);
            refuse_unless_done(
                run_steps(ctx, &new, &converge_steps(&new), &hosts, true).await?,
                |r, _| {
                    r.hint(format!(
                        "member {ip} is removed from etcd but {} still lists it; run `{again}` again",
                        hosts_path.display()
                    ))
                },
                |r, host| {
                    let before =
                        [format!("(member {ip} is removed from etcd; a re-run finishes the change)")];
                    failed(r.message, &before, host, &hosts_path, &again)
                },
            )
        },
    )
    .await?;
    m.run("remove it from [etcd]", async {
        load::write_atomic(&hosts_path, new_text.as_bytes())
            .with_context(|| format!("writing {}", hosts_path.display()))
    })
    .await
}

/// A session on the members and masters, with the member itself when it answers; a dead
/// member is left out (`warn` is told), and the step then runs on the others only (the
/// returned limit).
async fn connect_without_dead_member(
    ctx: &Ctx,
    cluster: &Cluster,
    ip: &str,
    hosts_path: &Path,
    warn: impl FnOnce(&str),
) -> anyhow::Result<(Session, Vec<String>)> {
    let all = etcd_and_masters(cluster);
    let msg = match Session::open(ctx, cluster, &all, false).await? {
        Ok(s) => return Ok((s, Vec::new())),
        Err(Stopped::Connect(msg)) => msg,
    };
    let others: Vec<String> = all.into_iter().filter(|h| h != ip).collect();
    match Session::open(ctx, cluster, &others, false).await? {
        Ok(s) => {
            warn(&format!(
                "{ip} cannot be reached; its member is removed, its files stay:\n  {msg}"
            ));
            Ok((s, others))
        }
        Err(Stopped::Connect(msg)) => Refusal::new(1, msg.to_string())
            .hint(format!("{} was not changed", hosts_path.display()))
            .into_result(),
    }
}
