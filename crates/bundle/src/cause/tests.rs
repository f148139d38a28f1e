use super::*;

fn url(u: &str) -> reqwest::Url {
    reqwest::Url::parse(u).unwrap()
}

fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |n| {
        pairs
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn proxy_by_scheme_upper_case_first_and_no_proxy() {
    let e = [
        ("HTTPS_PROXY", "http://p:3128"),
        ("https_proxy", "http://lower:1"),
        ("http_proxy", "http://plain:8080"),
        ("NO_PROXY", "localhost, .lan,mirror.corp"),
    ];
    let p = |u: &str| proxy_from(&url(u), env(&e));
    assert_eq!(
        p("https://dl.k8s.io/x"),
        Some(("http://p:3128".into(), "HTTPS_PROXY".into()))
    );
    assert_eq!(
        p("http://example.org/x"),
        Some(("http://plain:8080".into(), "http_proxy".into()))
    );
    assert_eq!(p("https://harbor.lan/v2/"), None);
    assert_eq!(p("https://mirror.corp/x"), None);
    assert_eq!(p("https://a.mirror.corp/x"), None);
    assert_eq!(
        p("https://notmirror.corp/x").map(|x| x.1),
        Some("HTTPS_PROXY".into())
    );
    assert_eq!(
        proxy_from(
            &url("https://x/"),
            env(&[("NO_PROXY", "*"), ("ALL_PROXY", "socks5://s:1")])
        ),
        None
    );
    assert_eq!(
        proxy_from(&url("https://x/"), env(&[("ALL_PROXY", "socks5://s:1")])).map(|x| x.1),
        Some("ALL_PROXY".into())
    );
    assert_eq!(
        proxy_from(&url("https://x/"), env(&[("HTTPS_PROXY", " ")])),
        None
    );
}

/// A real refusal: a port bound then closed on loopback.
#[tokio::test]
async fn a_closed_loopback_port_is_a_refusal_with_its_root_cause() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let u = format!("http://127.0.0.1:{port}/x");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let e = client.get(&u).send().await.unwrap_err();
    let f = NetFailure::from_reqwest(&u, &e);
    assert_eq!(f.kind, NetKind::Refused, "{}", f.chain);
    assert_eq!(f.host, format!("127.0.0.1:{port}"));
    assert!(f.root().contains("refused"), "{}", f.root());
    assert!(f.chain.starts_with("error sending request"), "{}", f.chain);
}

fn fail(kind: NetKind, host: &str, proxy: Option<&str>) -> NetFailure {
    NetFailure {
        kind,
        proxy: proxy.map(|p| (p.to_string(), "HTTPS_PROXY".to_string())),
        host: host.into(),
        chain: "error sending request: Connection refused (os error 111)".into(),
    }
}

#[test]
fn trips_through_a_proxy_after_a_round_and_a_retry() {
    let b = Breaker::new(None);
    let f = fail(
        NetKind::Refused,
        "dl.k8s.io:443",
        Some("http://127.0.0.1:9"),
    );
    for i in 0..4 {
        assert!(b.failed(&format!("u{i}"), &f).is_none());
    }
    let t = b.failed("u0", &f).expect("trips on the fifth");
    assert_eq!(t.requests, 5);
    assert!(b.tripped().is_some());
    let m = t.message();
    assert!(
        m.contains("the proxy http://127.0.0.1:9 (from HTTPS_PROXY) refuses connections"),
        "{m}"
    );
    assert!(m.contains("(Connection refused (os error 111))"), "{m}");
    assert!(m.contains("unset it"), "{m}");
}

#[test]
fn one_host_refusing_is_not_the_network() {
    // a mirror that refuses while upstream may work: never trip on one host alone
    let b = Breaker::new(None);
    let f = fail(NetKind::Refused, "mirror.lan:80", None);
    for i in 0..20 {
        assert!(b.failed(&format!("u{i}"), &f).is_none());
    }
    // ... unless that host is all the run may contact (--mirror-only)
    let only = Breaker::new(Some(["mirror.lan:80".to_string()].into()));
    let hit = (0..5)
        .filter_map(|i| only.failed(&format!("u{i}"), &f))
        .count();
    assert_eq!(hit, 1);
}

#[test]
fn an_answer_or_a_second_cause_keeps_it_closed() {
    let b = Breaker::new(None);
    b.answered();
    for i in 0..10 {
        let f = fail(NetKind::Dns, &format!("h{i}:443"), None);
        assert!(b.failed(&format!("u{i}"), &f).is_none());
    }
    let b = Breaker::new(None);
    assert!(b.failed("a", &fail(NetKind::Dns, "a:443", None)).is_none());
    assert!(
        b.failed("b", &fail(NetKind::Timeout, "b:443", None))
            .is_none()
    );
    for i in 0..10 {
        assert!(
            b.failed(&format!("u{i}"), &fail(NetKind::Dns, "c:443", None))
                .is_none()
        );
    }
}

#[test]
fn two_hosts_failing_alike_trip_and_the_message_names_them() {
    let b = Breaker::new(None);
    let mut verdict = None;
    for i in 0..6 {
        let host = if i % 2 == 0 {
            "dl.k8s.io:443"
        } else {
            "github.com:443"
        };
        verdict = verdict.or(b.failed(&format!("u{i}"), &fail(NetKind::Tls, host, None)));
    }
    let m = verdict.unwrap().message();
    assert!(m.contains("dl.k8s.io:443, github.com:443"), "{m}");
    assert!(m.contains("--ca-cert"), "{m}");
}

#[tokio::test]
async fn a_pause_ends_when_the_breaker_trips() {
    let b = std::sync::Arc::new(Breaker::new(None));
    let b2 = b.clone();
    let waiter = tokio::spawn(async move { b2.pause(Duration::from_secs(3600)).await });
    tokio::task::yield_now().await;
    let f = fail(NetKind::Refused, "x:1", Some("http://p:1"));
    for i in 0..5 {
        b.failed(&format!("u{i}"), &f);
    }
    let r = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woken, not left sleeping an hour")
        .unwrap();
    assert!(r.is_err());
    assert!(b.pause(Duration::from_secs(3600)).await.is_err());
}
