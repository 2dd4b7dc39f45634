//! Reporter keys: who counts as "the same person" for dedup, without storing who they are.
//!
//! key = HMAC-SHA256(secret, client key || 0 || reporter token), cut to 112 bits (see
//! [`REPORTER_KEY_BYTES`] for why that width). Without the secret the key cannot be reversed to
//! an address by enumerating the IPv4 space.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{REPORTER_KEY_BYTES, ReporterKey, ReporterToken};

/// Derives reporter keys with one secret.
#[derive(Clone)]
pub struct ReporterKeyer {
    mac: Hmac<Sha256>,
}

impl ReporterKeyer {
    /// A keyer for `secret` (any length; 32+ random bytes recommended).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
        }
    }

    /// The reporter key of a client (already grouped, see `identity::client_key`).
    pub fn key(&self, client: IpAddr, token: Option<&ReporterToken>) -> ReporterKey {
        let mut mac = self.mac.clone();
        match client {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        mac.update(&[0]);
        if let Some(token) = token {
            mac.update(token.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        let mut key = [0; REPORTER_KEY_BYTES];
        key.copy_from_slice(&digest[..REPORTER_KEY_BYTES]);
        ReporterKey(key)
    }

    /// The hex key a cap counts `source` (an address or a network) under: HMAC over a label
    /// and the address, so Redis never holds an address and the two caps never share a key.
    /// (A reporter key's input starts with the address itself; a label byte of 0xff never
    /// appears in a reporter token, so the two inputs cannot coincide.)
    pub fn cap_key(&self, label: &str, source: IpAddr) -> String {
        let mut mac = self.mac.clone();
        mac.update(label.as_bytes());
        mac.update(&[0xff]);
        match source {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_secret_address_and_token() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let token = ReporterToken::parse("token-0001").unwrap();
        let a = ReporterKeyer::new(b"secret-a");
        let b = ReporterKeyer::new(b"secret-b");
        assert_eq!(a.key(ip, None), a.key(ip, None));
        assert_ne!(a.key(ip, None), b.key(ip, None));
        assert_ne!(a.key(ip, None), a.key(other, None));
        assert_ne!(a.key(ip, None), a.key(ip, Some(&token)));
        assert!(
            !a.key(ip, None)
                .as_bytes()
                .windows(4)
                .any(|w| w == [192, 0, 2, 1])
        );
    }
}
