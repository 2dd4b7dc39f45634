//! Which targets deliveries may reach.
//!
//! A webhook target is a URL an admin typed, fetched by the server: without a policy it is a
//! way into the server's own network (the cloud metadata address, an internal admin port). So
//! targets must be `https` (plain `http` only with `DOWNWATCH_WEBHOOK_ALLOW_HTTP`), and must not
//! resolve to loopback, private, link-local, shared, multicast or otherwise special addresses
//! (allowed only with `DOWNWATCH_WEBHOOK_ALLOW_PRIVATE`, for local testing). The check runs when
//! a subscription is created or changed, and again inside the connector of every delivery: the
//! addresses it connects to are the ones it checked, so a name that re-resolves elsewhere (DNS
//! rebinding) gets nowhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_tls::connect::Resolve;
use futures_util::future::LocalBoxFuture;
use url::Url;

/// Why a target's host cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The name did not resolve (DNS down, a typo): worth retrying.
    #[error("{0}")]
    Unresolved(String),
    /// It resolves to an address the policy forbids: retrying will not help.
    #[error("{0}")]
    Refused(String),
}

/// The rules for targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetPolicy {
    /// Plain `http` targets are allowed.
    pub allow_http: bool,
    /// Targets on private and loopback addresses are allowed.
    pub allow_private: bool,
}

fn v4_is_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24; benchmarking, 198.18.0.0/15.
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn v6_is_public(ip: Ipv6Addr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() {
        return false;
    }
    // IPv4-mapped ::ffff:a.b.c.d and the deprecated IPv4-compatible ::a.b.c.d.
    if let Some(v4) = ip.to_ipv4() {
        return v4_is_public(v4);
    }
    let [first, second, ..] = ip.segments();
    !(ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, the old site-local fec0::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && second == 0x0db8)
        // Tunnels that can lead to any IPv4 address, private ones included: Teredo 2001::/32,
        // 6to4 2002::/16, NAT64 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
        || (first == 0x2001 && second == 0)
        || first == 0x2002
        || (first == 0x0064 && second == 0xff9b))
}

/// Whether `ip` is an ordinary public address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_public(v4),
        IpAddr::V6(v6) => v6_is_public(v6),
    }
}

impl TargetPolicy {
    /// Whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks the URL's scheme, and its host when it is an address.
    pub fn check_url(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(
                    "must be https (plain http needs DOWNWATCH_WEBHOOK_ALLOW_HTTP=true)".to_owned(),
                );
            }
            other => return Err(format!("must be https, not {other}")),
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => return Err("must name a host".to_owned()),
        };
        if let Some(ip) = literal.filter(|ip| !self.allows(*ip)) {
            return Err(refusal(ip));
        }
        Ok(url)
    }

    /// Checks the URL and every address its host resolves to now.
    pub async fn check_target(&self, raw: &str) -> Result<Url, String> {
        let url = self.check_url(raw)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        self.resolve(&host, port).await.map_err(|e| e.to_string())?;
        Ok(url)
    }

    /// The host's addresses, all of which must be allowed.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| TargetError::Unresolved(format!("{host} does not resolve: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(TargetError::Unresolved(format!(
                "{host} does not resolve to any address"
            )));
        }
        if let Some(bad) = addrs.iter().find(|a| !self.allows(a.ip())) {
            return Err(TargetError::Refused(refusal(bad.ip())));
        }
        Ok(addrs)
    }
}

fn refusal(ip: IpAddr) -> String {
    format!(
        "resolves to {ip}, a private, loopback or reserved address \
         (allowed only with DOWNWATCH_WEBHOOK_ALLOW_PRIVATE=true)"
    )
}

/// The connector's resolver: resolves, then hands over only addresses the policy allows.
#[derive(Debug, Clone, Copy)]
pub struct PolicyResolver(pub TargetPolicy);

impl Resolve for PolicyResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move { self.0.resolve(host, port).await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_need_https_and_a_public_literal() {
        let strict = TargetPolicy::default();
        assert!(strict.check_url("https://hooks.example.com/x").is_ok());
        assert!(
            strict
                .check_url("http://hooks.example.com/x")
                .unwrap_err()
                .contains("ALLOW_HTTP")
        );
        assert!(strict.check_url("ftp://example.com").is_err());
        assert!(
            strict
                .check_url("https://169.254.169.254/latest")
                .unwrap_err()
                .contains("ALLOW_PRIVATE")
        );
        assert!(strict.check_url("https://[::1]:8443/").is_err());
        let local = TargetPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert!(local.check_url("http://127.0.0.1:9000/hook").is_ok());
    }

    #[actix_web::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        let strict = TargetPolicy::default();
        let err = strict
            .check_target("https://localhost:8443/")
            .await
            .unwrap_err();
        assert!(err.contains("resolves to"), "{err}");
    }
}
