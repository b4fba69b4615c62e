//! The SSRF guard: which addresses a crawl may connect to, enforced inside
//! DNS resolution so the addresses checked are the addresses connected to
//! (no time-of-check/time-of-use gap, no DNS rebinding between the two).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Internal ranges: loopback, private, link-local (cloud metadata lives at
/// 169.254.169.254), CGNAT (100.100.100.200 is another metadata address),
/// unique-local, multicast, unspecified, reserved, documentation.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    // Addresses that embed an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[0] == 0x64 && s[1] == 0xff9b {
        return is_internal_v4(embedded(s[6], s[7])); // NAT64
    }
    if s[0] == 0x2002 {
        return is_internal_v4(embedded(s[1], s[2])); // 6to4
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        return is_internal_v4(embedded(s[6], s[7])); // deprecated IPv4-compatible
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo tunnels reach arbitrary IPv4
}

/// Which addresses a crawl may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub allow_private: bool,
    pub allow: Vec<IpAddr>,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || !is_internal(ip) || self.allow.contains(&ip)
    }
}

/// The error a resolver returns when every address of a name is refused; the
/// fetcher finds it in reqwest's error chain to report `blocked_address`.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to blocked addresses")]
pub struct BlockedAddress {
    pub host: String,
}

/// A reqwest resolver that applies an [`AddressPolicy`] and static overrides.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    overrides: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl GuardedResolver {
    pub fn new(policy: AddressPolicy, overrides: HashMap<String, Vec<IpAddr>>) -> Self {
        let overrides = overrides.into_iter().map(|(k, v)| (normalise_host(&k), v)).collect();
        GuardedResolver { policy: Arc::new(policy), overrides: Arc::new(overrides) }
    }

    /// The permitted addresses of `host` (port 0: reqwest fills in the URL's).
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let host = normalise_host(host);
        let all: Vec<IpAddr> = if let Some(ips) = self.overrides.get(&host) {
            ips.clone()
        } else if host == "localhost" || host.ends_with(".localhost") {
            // Never ask DNS about these: they are loopback by definition.
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]
        } else {
            tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()
        };
        let ok: Vec<SocketAddr> =
            all.into_iter().filter(|ip| self.policy.permits(*ip)).map(|ip| SocketAddr::new(ip, 0)).collect();
        if ok.is_empty() {
            return Err(Box::new(BlockedAddress { host }));
        }
        Ok(ok)
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = this.lookup(&host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(is_internal(ip(s)), "{s} should be internal");
        }
        for s in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn policy_exceptions() {
        let p = AddressPolicy { allow_private: false, allow: vec![ip("127.0.0.1")] };
        assert!(p.permits(ip("127.0.0.1")));
        assert!(!p.permits(ip("127.0.0.2")));
        assert!(AddressPolicy { allow_private: true, allow: vec![] }.permits(ip("10.0.0.1")));
    }

    #[tokio::test]
    async fn resolver_refuses_localhost_and_filters_overrides() {
        let overrides = HashMap::from([("Mixed.Test".to_string(), vec![ip("10.0.0.1"), ip("93.184.216.34")])]);
        let r = GuardedResolver::new(AddressPolicy::default(), overrides);
        let err = r.lookup("localhost").await.unwrap_err();
        assert!(err.downcast_ref::<BlockedAddress>().is_some());
        assert!(r.lookup("a.localhost.").await.is_err());
        let ok = r.lookup("mixed.test").await.unwrap();
        assert_eq!(ok, vec![SocketAddr::new(ip("93.184.216.34"), 0)]);
    }
}
