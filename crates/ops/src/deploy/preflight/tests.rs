use super::*;

fn good() -> Facts {
    Facts {
        os_id: "debian".into(),
        os_version: "12".into(),
        arch: "x86_64".into(),
        kernel: "6.1.0-18-amd64".into(),
        cgroup_fs: "cgroup2fs".into(),
        cpus: 4,
        mem_mib: 8192,
        var_free_mib: 50_000,
        hostname: "a".into(),
        ..Default::default()
    }
}
fn settings() -> Settings {
    Settings {
        k8s_minor: 36,
        proxy_mode: "nftables".into(),
        bin_dir: "/opt/kube/bin".into(),
        secure_port: 6443,
        setting_hostname: true,
        fail_cgroup_v1: true,
        restrict_oom_score_adj: false,
        images_mib: 0,
        bundle_arches: vec![],
    }
}

#[test]
fn a_bundle_for_another_architecture_is_refused() {
    let s = Settings {
        bundle_arches: vec!["aarch64".into()],
        ..settings()
    };
    let found = check_host("h", &good(), &master(), &s);
    let a = found
        .iter()
        .find(|x| x.check == "arch")
        .expect("arch finding");
    assert!(
        !a.warning && a.message.contains("bundle holds only aarch64"),
        "{a:?}"
    );
    assert!(a.fix.contains("--arch arm64,amd64"), "{a:?}");
    let both = Settings {
        bundle_arches: vec!["aarch64".into(), "x86_64".into()],
        ..settings()
    };
    assert!(
        !check_host("h", &good(), &master(), &both)
            .iter()
            .any(|x| x.check == "arch")
    );
}

#[test]
fn a_disk_too_small_for_the_bundles_images_is_refused() {
    let s = Settings {
        images_mib: 1500,
        ..settings()
    };
    let mut f = good();
    f.var_free_mib = 5_000;
    let found = check_host("h", &f, &master(), &s);
    let d = found
        .iter()
        .find(|x| x.check == "disk")
        .expect("disk finding");
    assert!(!d.warning, "{d:?}");
    assert!(d.message.contains("1500 MiB of archives"), "{}", d.message);
    f.var_free_mib = 50_000;
    assert!(
        !check_host("h", &f, &master(), &s)
            .iter()
            .any(|x| x.check == "disk")
    );
}

fn master() -> Roles {
    Roles {
        master: true,
        node: true,
        etcd: true,
    }
}
fn checks(f: &Facts, s: &Settings) -> Vec<&'static str> {
    check_host("h", f, &master(), s)
        .into_iter()
        .filter(|x| !x.warning)
        .map(|x| x.check)
        .collect()
}

#[test]
fn a_good_host_passes() {
    assert!(check_host("h", &good(), &master(), &settings()).is_empty());
}

#[test]
fn cgroup_v1_says_which_setting_lets_kubelet_run() {
    let v1 = Facts {
        cgroup_fs: "tmpfs".into(),
        ..good()
    };
    let refused = check_host("h", &v1, &master(), &settings());
    assert_eq!(refused.len(), 1);
    assert!(!refused[0].warning);
    assert!(refused[0].fix.contains("KUBELET_FAIL_CGROUP_V1: false"));
    let allowed = Settings {
        fail_cgroup_v1: false,
        ..settings()
    };
    let found = check_host("h", &v1, &master(), &allowed);
    assert_eq!(found.len(), 1);
    assert!(found[0].warning, "{found:?}");
}

#[test]
fn a_host_that_cannot_lower_oom_scores_needs_containerd_to_restrict_them() {
    let host = Facts {
        no_cap_sys_resource: true,
        ..good()
    };
    let found = check_host("h", &host, &master(), &settings());
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .fix
            .contains("CONTAINERD_RESTRICT_OOM_SCORE_ADJ: true")
    );
    let restricted = Settings {
        restrict_oom_score_adj: true,
        ..settings()
    };
    assert!(check_host("h", &host, &master(), &restricted).is_empty());
}

#[test]
fn each_rule_fires() {
    let s = settings();
    assert_eq!(
        checks(
            &Facts {
                cgroup_fs: "tmpfs".into(),
                ..good()
            },
            &s
        ),
        ["cgroup-v2"]
    );
    assert!(
        checks(
            &Facts {
                cgroup_fs: "tmpfs".into(),
                ..good()
            },
            &Settings {
                k8s_minor: 34,
                ..s.clone()
            }
        )
        .is_empty()
    );
    assert_eq!(
        checks(
            &Facts {
                kernel: "5.10.0".into(),
                ..good()
            },
            &s
        ),
        ["kernel"]
    );
    assert!(
        checks(
            &Facts {
                kernel: "5.10.0".into(),
                ..good()
            },
            &Settings {
                proxy_mode: "iptables".into(),
                ..s.clone()
            }
        )
        .is_empty()
    );
    assert_eq!(
        checks(
            &Facts {
                arch: "riscv64".into(),
                ..good()
            },
            &s
        ),
        ["arch"]
    );
    assert_eq!(
        checks(
            &Facts {
                missing_modules: vec!["br_netfilter".into()],
                ..good()
            },
            &s
        ),
        ["modules"]
    );
    assert_eq!(
        checks(
            &Facts {
                missing_tools: vec!["tar".into()],
                ..good()
            },
            &s
        ),
        ["tools"]
    );
    // settings() has PROXY_MODE=nftables: nft is required, iptables is not.
    assert_eq!(
        checks(
            &Facts {
                missing_tools: vec!["nft".into()],
                ..good()
            },
            &s
        ),
        ["tools"]
    );
    assert!(
        checks(
            &Facts {
                missing_tools: vec!["iptables".into()],
                ..good()
            },
            &s
        )
        .is_empty()
    );
    assert_eq!(
        checks(
            &Facts {
                clock_skew: 7.5,
                ..good()
            },
            &s
        ),
        ["clock"]
    );
    assert_eq!(checks(&Facts { cpus: 1, ..good() }, &s), ["resources"]);
    assert_eq!(
        checks(
            &Facts {
                leftovers: vec!["/var/lib/k0s".into()],
                ..good()
            },
            &s
        ),
        ["leftovers"]
    );
    let mut busy = good();
    busy.listening.insert(2379, "/usr/bin/etcd".into());
    assert_eq!(checks(&busy, &s), ["ports"]);
    busy.listening.insert(2379, "/opt/kube/bin/etcd".into());
    assert!(
        checks(&busy, &s).is_empty(),
        "our own etcd holding its port is fine on a re-run"
    );
    let w = check_host(
        "h",
        &Facts {
            swap_devices: 1,
            ..good()
        },
        &master(),
        &s,
    );
    assert!(w.len() == 1 && w[0].warning && w[0].check == "swap");
}

#[test]
fn every_finding_carries_a_name_skip_preflight_takes() {
    let names = check_names();
    let mut f = good();
    f.os_id = "plan9".into();
    f.arch = "mips".into();
    f.kernel = "4.4.0".into();
    f.swap_devices = 1;
    f.clock_skew = 9.0;
    f.cpus = 1;
    f.var_free_mib = 100;
    f.leftovers = vec!["/etc/kubernetes/admin.conf".into()];
    let s = Settings {
        images_mib: 1500,
        ..settings()
    };
    let found = check_host("h", &f, &master(), &s);
    assert!(found.len() >= 8, "{found:#?}");
    for x in &found {
        assert!(names.contains(&x.check), "{} is not a check name", x.check);
    }
    assert!(names.contains(&"disk") && names.contains(&"bundle") && names.contains(&"hostname"));
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "names are unique");
}
