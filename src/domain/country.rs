//! ISO 3166-1 alpha-2 country codes, checked against the real list.

use serde::Serialize;

/// A country code such as `US`, stored upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Accepts any case (`us`, `Us`, `US`); rejects codes not assigned in ISO 3166-1.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let not_a_code = || "must be an ISO 3166-1 alpha-2 country code, like US or DE".to_owned();
        // Two bytes, upper-cased on the stack: anything longer or shorter is no code.
        let &[a, b] = raw.as_bytes() else {
            return Err(not_a_code());
        };
        let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        let code = std::str::from_utf8(&upper).map_err(|_| not_a_code())?;
        isocountry::CountryCode::for_alpha2(code)
            .map(|known| {
                let b = known.alpha2().as_bytes();
                Self([b[0], b[1]])
            })
            .map_err(|_| not_a_code())
    }

    /// The two upper-case letters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII by construction")
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> Self {
        c.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_case_in_upper_case_kept() {
        assert_eq!(CountryCode::parse("us").unwrap().as_str(), "US");
        assert_eq!(CountryCode::parse("kR").unwrap().as_str(), "KR");
    }

    #[test]
    fn unassigned_and_malformed_codes_are_rejected() {
        for bad in ["", "U", "USA", "ZZ", "XX", "1A", "ü", "U\0"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
