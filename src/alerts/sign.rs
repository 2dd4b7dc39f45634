//! Signatures in the style of the Standard Webhooks specification: the receiver recomputes
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the subscription's secret and
//! compares; the timestamp lets it refuse replays.
//!
//! Secrets are `whsec_` followed by 32 random bytes in base64; the key is the decoded bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new signing secret.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header value for one delivery: `v1,<base64 HMAC>`.
pub fn signature(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches(PREFIX))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_every_part() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        let base = signature(&secret, "msg_1", 1_700_000_000, b"{}");
        assert!(base.starts_with("v1,"));
        assert_eq!(base, signature(&secret, "msg_1", 1_700_000_000, b"{}"));
        assert_ne!(base, signature(&secret, "msg_2", 1_700_000_000, b"{}"));
        assert_ne!(base, signature(&secret, "msg_1", 1_700_000_001, b"{}"));
        assert_ne!(base, signature(&secret, "msg_1", 1_700_000_000, b"{ }"));
        assert_ne!(
            base,
            signature(&new_secret(), "msg_1", 1_700_000_000, b"{}")
        );
    }

    #[test]
    fn matches_the_standard_webhooks_example() {
        // The specification's published example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
