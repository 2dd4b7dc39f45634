//! Client identity: the address a report is charged to.
//!
//! The TCP peer is the client, unless the peer is a trusted proxy: then the forwarding headers
//! are walked from the right, and the first address that is not a trusted proxy is the client.
//! Anything else in those headers (from untrusted peers, or left of the first untrusted hop) is
//! attacker-controlled and ignored. IPv6 clients are grouped by /64, since one subscriber
//! usually owns a whole /64 and can rotate addresses inside it at will.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::{FORWARDED, HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::config::ProxyHeader;

/// `X-Forwarded-For`, named once (a name given as text is parsed and copied for each lookup).
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Which peers may tell us who the client is, and through which header.
#[derive(Debug, Clone)]
pub struct ProxyPolicy {
    trusted: Vec<IpNet>,
    header: ProxyHeader,
}

impl ProxyPolicy {
    /// Trust `header` from peers inside `trusted`.
    pub fn new(trusted: Vec<IpNet>, header: ProxyHeader) -> Self {
        Self { trusted, header }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Whether `peer` is a trusted proxy, whose forwarding headers are believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.is_trusted(peer)
    }

    /// The client address of a request that arrived from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers, self.header);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                // An unparsable or obfuscated hop: stop at the last proxy we believe.
                None => return client,
                Some(ip) if self.is_trusted(*ip) => client = *ip,
                Some(ip) => return *ip,
            }
        }
        client
    }
}

/// The key the rate limiter and reporter keys use: IPv4 as is, IPv6 cut to its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

/// The network a client address belongs to for the looser cap: its IPv4 /24 or IPv6 /48 (the
/// usual smallest allocation to one customer; a /48 holds 65,536 /64s).
pub fn network_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 80) - 1);
            IpAddr::V6(Ipv6Addr::from(network))
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) become plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Hops named by the configured header, left to right. `None` marks a hop that is not an
/// address (`unknown`, obfuscated, or garbage).
fn forwarded_hops(headers: &HeaderMap, header: ProxyHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ProxyHeader::XForwardedFor => &X_FORWARDED_FOR,
        ProxyHeader::Forwarded => &FORWARDED,
    };
    let mut values = headers.get_all(name).filter_map(|v| v.to_str().ok());
    // One header line is the usual case: its elements are split where they are.
    let joined = match (values.next(), values.next()) {
        (None, _) => return Vec::new(),
        (Some(only), None) => Cow::Borrowed(only),
        (Some(first), Some(second)) => Cow::Owned(
            [first, second]
                .into_iter()
                .chain(values)
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    let elements = joined.split(',');
    match header {
        ProxyHeader::XForwardedFor => elements.map(parse_node).collect(),
        ProxyHeader::Forwarded => elements
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value))
            })
            .collect(),
    }
}

/// Parses `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`, optionally quoted.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return addr
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| canonical(IpAddr::V6(ip)));
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(nets: &[&str]) -> ProxyPolicy {
        ProxyPolicy::new(
            nets.iter().map(|n| n.parse().unwrap()).collect(),
            ProxyHeader::XForwardedFor,
        )
    }

    fn rfc7239(nets: &[&str]) -> ProxyPolicy {
        ProxyPolicy::new(
            nets.iter().map(|n| n.parse().unwrap()).collect(),
            ProxyHeader::Forwarded,
        )
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=7.7.7.7")]);
        assert_eq!(
            policy(&[]).client_ip(ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(
            policy(&["10.0.0.0/8"]).client_ip(ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxies_yield_the_rightmost_untrusted_hop() {
        let p = policy(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.1.1.1")]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &h), ip("198.51.100.4"));
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.4:5555"),
        ]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &h), ip("198.51.100.4"));
    }

    #[test]
    fn only_the_configured_header_counts() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.4"),
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http, For="[2001:db8:cafe::17]:4711""#,
            ),
        ]);
        // A client's own Forwarded header, passed through by an X-Forwarded-For proxy, is ignored.
        assert_eq!(
            policy(&["10.0.0.0/8"]).client_ip(ip("10.0.0.2"), &h),
            ip("198.51.100.4")
        );
        assert_eq!(
            rfc7239(&["10.0.0.0/8"]).client_ip(ip("10.0.0.2"), &h),
            ip("2001:db8:cafe::17")
        );
    }

    #[test]
    fn garbage_hops_stop_at_the_last_trusted_proxy() {
        let p = policy(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.4, not-an-ip, 10.9.9.9")]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &h), ip("10.9.9.9"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            rfc7239(&["10.0.0.0/8"]).client_ip(ip("10.0.0.2"), &h),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_groups_by_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
