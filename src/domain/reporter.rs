//! The opaque token a web page or app keeps so people behind one IP count separately.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_tokens_and_junk_is_not() {
        assert!(ReporterToken::parse("9f1c2e7a-1b2c-4d5e-8f90-123456789abc").is_ok());
        for bad in ["short", "has space in it", "semi;colon;", &"a".repeat(129)] {
            assert!(ReporterToken::parse(bad).is_err(), "{bad}");
        }
    }
}
