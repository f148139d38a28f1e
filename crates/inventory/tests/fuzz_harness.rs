//! Stable-toolchain fuzzing: proptest feeds random and grammar-shaped inputs to the same entry
//! points as the cargo-fuzz targets (`ez_inventory::fuzzing`). `PROPTEST_CASES` scales it
//! (bench/fuzz-inventory.sh runs it long).

use ez_inventory::fuzzing;
use proptest::prelude::*;

/// Lines that look like an inventory: headers, hosts with vars, vars, comments, junk.
fn inventory_line() -> impl Strategy<Value = String> {
    let ip = prop_oneof![
        (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("192.168.{a}.{b}")),
        Just("fd00::1".to_string()),
        "[a-z0-9.:]{0,12}",
    ];
    prop_oneof![
        prop::sample::select(vec![
            "[etcd]",
            "[kube_master]",
            "[kube_node]",
            "[ex_lb]",
            "[all:vars]",
            "[x:children]",
            "[bad",
            "[]"
        ])
        .prop_map(String::from),
        (ip.clone(), "[a-z_]{1,10}", "[ -~]{0,12}").prop_map(|(h, k, v)| format!("{h} {k}='{v}'")),
        ip.prop_map(|h| h.to_string()),
        (
            prop::sample::select(vec![
                "SERVICE_CIDR",
                "CLUSTER_CIDR",
                "PROXY_MODE",
                "NODE_PORT_RANGE",
                "base_dir",
                "cluster_dir"
            ]),
            "[ -~]{0,20}"
        )
            .prop_map(|(k, v)| format!("{k}=\"{v}\"")),
        "[a-z_]{1,8}=\"\\{\\{ [a-z_]{1,8} \\}\\}\"",
        "[ -~]{0,40}",
        Just(String::new()),
    ]
}

fn config_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(vec![
                "MAX_PODS",
                "NODE_CIDR_LEN",
                "OS_HARDEN",
                "K8S_VER",
                "INSECURE_REG",
                "HARBOR_TLS_PORT",
                "x"
            ]),
            "[ -~]{0,16}"
        )
            .prop_map(|(k, v)| format!("{k}: {v}")),
        "[ -~]{0,40}",
        Just("  - a".to_string()),
    ]
}

/// `PROPTEST_CASES` if set, else a number that keeps `cargo test` quick.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn inventory_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::inventory(&data);
    }

    #[test]
    fn inventory_shaped(lines in prop::collection::vec(inventory_line(), 0..40)) {
        fuzzing::inventory(lines.join("\n").as_bytes());
    }

    #[test]
    fn config_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::config(&data);
    }

    #[test]
    fn config_shaped(lines in prop::collection::vec(config_line(), 0..30)) {
        fuzzing::config(lines.join("\n").as_bytes());
    }

    #[test]
    fn both_files(h in prop::collection::vec(inventory_line(), 0..30), c in prop::collection::vec(config_line(), 0..10)) {
        let mut data = h.join("\n").into_bytes();
        data.push(0);
        data.extend(c.join("\n").into_bytes());
        fuzzing::both(&data);
    }
}
