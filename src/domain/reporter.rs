//! Who a report comes from: the opaque token a web page or app keeps so people behind one IP
//! count separately, and the key dedup counts a reporter under.

/// 8 to 128 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterToken(String);

impl ReporterToken {
    /// Validates a client-supplied token.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok_len = (8..=128).contains(&raw.len());
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok_len && ok_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(
                "must be 8 to 128 characters of A-Z, a-z, 0-9, '_' and '-' (a UUID works)"
                    .to_owned(),
            )
        }
    }

    /// The token's bytes, for hashing.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Bytes in a [`ReporterKey`]: 112 bits. A dedup entry stores 8 of the key's bytes (a 6-byte
/// field and 2 bytes beside the time, each in Redis's 8-byte allocation; see
/// `windows/count.lua`), and the whole key, as a field that still fits 16 bytes, only where
/// another reporter holds the same 6: two reporters of one service are taken for one only if
/// their first 64 bits meet (about one chance in 36 million for a million reporters of one
/// service in one window).
pub const REPORTER_KEY_BYTES: usize = 14;

/// The key dedup counts a reporter under: opaque bytes that do not reveal the address or token
/// they were derived from (see `ingest::reporter_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReporterKey(pub [u8; REPORTER_KEY_BYTES]);

impl ReporterKey {
    /// A key derived from a label, for tests, benchmarks and tools that need many distinct
    /// reporters without addresses (the first bytes of the label's SHA-256).
    pub fn from_label(label: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(label.as_bytes());
        let mut key = [0; REPORTER_KEY_BYTES];
        key.copy_from_slice(&digest[..REPORTER_KEY_BYTES]);
        Self(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_give_distinct_stable_keys() {
        assert_eq!(ReporterKey::from_label("a"), ReporterKey::from_label("a"));
        assert_ne!(ReporterKey::from_label("a"), ReporterKey::from_label("b"));
    }

    #[test]
    fn uuids_are_tokens_and_junk_is_not() {
        assert!(ReporterToken::parse("9f1c2e7a-1b2c-4d5e-8f90-123456789abc").is_ok());
        for bad in ["short", "has space in it", "semi;colon;", &"a".repeat(129)] {
            assert!(ReporterToken::parse(bad).is_err(), "{bad}");
        }
    }
}
