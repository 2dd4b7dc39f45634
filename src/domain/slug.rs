//! Lower-case identifiers: service slugs, problem kinds, categories and providers.

use std::fmt;

use serde::Serialize;

/// Checks `[a-z0-9][a-z0-9-]{0,max_len-1}` and says what is wrong otherwise.
fn check_slug(raw: &str, max_len: usize) -> Result<(), String> {
    // Written out only for an answer: a valid name (every report's) costs no formatting.
    let rule = || {
        format!("1 to {max_len} characters of a-z, 0-9 and '-', starting with a letter or digit")
    };
    if raw.is_empty() {
        return Err(format!("must not be empty; use {}", rule()));
    }
    if raw.len() > max_len {
        return Err(format!(
            "is {} characters long; use {}",
            raw.chars().count(),
            rule()
        ));
    }
    let bytes = raw.as_bytes();
    let valid = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !valid(&bytes[0]) || !bytes.iter().all(|b| valid(b) || *b == b'-') {
        return Err(format!(
            "has characters outside the allowed set; use {}",
            rule()
        ));
    }
    Ok(())
}

macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_LEN: usize = $max;

            /// Validates `raw` as-is (no case folding: slugs are exact).
            pub fn parse(raw: &str) -> Result<Self, String> {
                check_slug(raw, Self::MAX_LEN).map(|()| Self(raw.to_owned()))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

    };
}

slug_type!(
    /// A service's identifier in URLs, reports and Redis keys, like `chatgpt`.
    ServiceSlug,
    64
);
slug_type!(
    /// One kind of problem people report, like `login` or `voice-mode`.
    ProblemKind,
    32
);
slug_type!(
    /// A grouping label: a service's category (`ai`) or provider (`openai`).
    Label,
    64
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_catalog_style_slugs() {
        for ok in ["chatgpt", "openai-api", "x", "0day", "a-", &"a".repeat(64)] {
            assert!(ServiceSlug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_could_confuse_urls_or_keys() {
        for bad in [
            "",
            "-a",
            "ChatGPT",
            "chat gpt",
            "../etc",
            "a{b}",
            "chаtgpt",
            "a_b",
            &"a".repeat(65),
        ] {
            let err = ServiceSlug::parse(bad).unwrap_err();
            assert!(err.contains("a-z, 0-9"), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepted_values_round_trip(s in "\\PC{0,80}") {
            if let Ok(slug) = ServiceSlug::parse(&s) {
                prop_assert_eq!(slug.as_str(), s.as_str());
                prop_assert!(slug.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
        }

        #[test]
        fn every_generated_valid_slug_is_accepted(s in "[a-z0-9][a-z0-9-]{0,31}") {
            prop_assert!(ProblemKind::parse(&s).is_ok());
        }
    }
}
