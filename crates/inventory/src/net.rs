//! CIDR arithmetic for the derived addresses (service IPs, the kube-ovn gateway).
//!
//! kubeasz adds to the last octet of the written network (`10.68.0.0/16` → `10.68.0.1`), which
//! breaks for networks whose last octet is not 0 in the add (e.g. `10.68.0.255/…` style
//! carries) and for IPv6. Here the offset is added to the whole address as an integer, for any
//! prefix, IPv4 and IPv6, and a result outside the network is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not a CIDR (expected address/prefix, e.g. 10.68.0.0/16)")]
    Syntax(String),
    #[error("`{given}` has host bits set; the network is {network}")]
    HostBits { given: String, network: IpNet },
}

/// Parses `addr/prefix` and requires it to be a network address (no host bits), because
/// kube-apiserver and the CNI plugins would silently use the truncated network otherwise.
pub fn parse_cidr(s: &str) -> Result<IpNet, CidrError> {
    let net: IpNet = s
        .trim()
        .parse()
        .map_err(|_| CidrError::Syntax(s.to_string()))?;
    if net.trunc() != net {
        return Err(CidrError::HostBits {
            given: s.to_string(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

/// The address `n` places after the network address of `net`, or `None` if it falls outside
/// `net` (or would overflow the address space).
///
/// `nth_addr(10.68.0.0/16, 1) == 10.68.0.1`, `nth_addr(10.68.0.0/16, 256) == 10.68.1.0`,
/// `nth_addr(fd00::/108, 2) == fd00::2`.
pub fn nth_addr(net: &IpNet, n: u128) -> Option<IpAddr> {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let size: Option<u128> = 1u128.checked_shl(host_bits);
    if let Some(size) = size
        && n >= size
    {
        return None;
    }
    match net.network() {
        IpAddr::V4(a) => {
            let v = u128::from(u32::from(a)).checked_add(n)?;
            u32::try_from(v).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v)))
        }
        IpAddr::V6(a) => u128::from(a)
            .checked_add(n)
            .map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    }
}

/// Whether two networks share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test net")
    }

    #[test]
    fn examples() {
        assert_eq!(
            nth_addr(&net("10.68.0.0/16"), 1),
            Some("10.68.0.1".parse().expect("ip"))
        );
        assert_eq!(
            nth_addr(&net("10.68.0.0/16"), 2),
            Some("10.68.0.2".parse().expect("ip"))
        );
        assert_eq!(
            nth_addr(&net("10.68.0.0/16"), 256),
            Some("10.68.1.0".parse().expect("ip"))
        );
        assert_eq!(
            nth_addr(&net("10.0.0.252/30"), 3),
            Some("10.0.0.255".parse().expect("ip"))
        );
        assert_eq!(nth_addr(&net("10.0.0.252/30"), 4), None);
        assert_eq!(nth_addr(&net("255.255.255.255/32"), 1), None);
        assert_eq!(
            nth_addr(&net("fd00:10:96::/108"), 1),
            Some("fd00:10:96::1".parse().expect("ip"))
        );
        assert_eq!(
            nth_addr(&net("::/0"), u128::MAX),
            Some(
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                    .parse()
                    .expect("ip")
            )
        );
        assert_eq!(nth_addr(&net("0.0.0.0/0"), 1 << 32), None);
        assert!(matches!(
            parse_cidr("10.68.0.1/16"),
            Err(CidrError::HostBits { .. })
        ));
        assert!(matches!(parse_cidr("10.68.0.0"), Err(CidrError::Syntax(_))));
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.68.0.0/16")));
        assert!(!overlaps(&net("10.68.0.0/16"), &net("172.20.0.0/16")));
    }

    proptest! {
        #[test]
        fn svc_ip_v4_is_network_plus_one_and_inside(addr in any::<u32>(), prefix in 0u8..=30) {
            let n = IpNet::new(IpAddr::V4(Ipv4Addr::from(addr)), prefix).expect("prefix").trunc();
            let svc = nth_addr(&n, 1).expect("a /30 or larger has room for +1");
            let dns = nth_addr(&n, 2).expect("a /30 or larger has room for +2");
            prop_assert!(n.contains(&svc) && n.contains(&dns));
            let base = match n.network() { IpAddr::V4(a) => u32::from(a), IpAddr::V6(_) => unreachable!() };
            prop_assert_eq!(svc, IpAddr::V4(Ipv4Addr::from(base + 1)));
            prop_assert_eq!(dns, IpAddr::V4(Ipv4Addr::from(base + 2)));
        }

        #[test]
        fn svc_ip_v6_is_network_plus_one_and_inside(addr in any::<u128>(), prefix in 0u8..=126) {
            let n = IpNet::new(IpAddr::V6(Ipv6Addr::from(addr)), prefix).expect("prefix").trunc();
            let svc = nth_addr(&n, 1).expect("room for +1");
            prop_assert!(n.contains(&svc));
            let base = match n.network() { IpAddr::V6(a) => u128::from(a), IpAddr::V4(_) => unreachable!() };
            prop_assert_eq!(svc, IpAddr::V6(Ipv6Addr::from(base + 1)));
        }

        #[test]
        fn nth_outside_is_refused(addr in any::<u32>(), prefix in 1u8..=32, extra in 0u128..1000) {
            let n = IpNet::new(IpAddr::V4(Ipv4Addr::from(addr)), prefix).expect("prefix").trunc();
            let size = 1u128 << (32 - u32::from(prefix));
            prop_assert_eq!(nth_addr(&n, size + extra), None);
            let last = nth_addr(&n, size - 1).expect("last address");
            prop_assert_eq!(last, n.broadcast());
        }
    }
}
