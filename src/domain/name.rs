//! Human-readable names shown on pages and charts.

use serde::Serialize;

/// 1 to 100 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates and trims a display name. HTML is allowed here and escaped where it is shown.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > 100 {
            return Err("must be 1 to 100 characters".to_owned());
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        if let Some(c) = trimmed.chars().find(|c| is_bidi_control(*c)) {
            return Err(format!(
                "must not contain bidirectional control characters (found U+{:04X}); write the name without embeddings, overrides, isolates or direction marks",
                u32::from(c)
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069) and the direction marks
/// (U+200E, U+200F): they reorder the text around a name on every page, chart and headline it
/// appears in (a right-to-left override makes "ChatGPT" read as its reverse, and spills onward).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse("  OpenAI API ").unwrap().as_str(),
            "OpenAI API"
        );
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse("bad\nname").is_err());
    }

    #[test]
    fn bidi_controls_are_refused_and_named() {
        for c in [
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}',
        ] {
            let err = DisplayName::parse(&format!("Chat{c}GPT")).unwrap_err();
            assert!(err.contains(&format!("U+{:04X}", u32::from(c))), "{err}");
        }
        // Right-to-left scripts themselves are names like any other.
        assert!(DisplayName::parse("\u{5D5}\u{5D5}\u{5D0}\u{5D8}\u{5E1}\u{5D0}\u{5E4}").is_ok());
        assert!(DisplayName::parse("\u{2069}\u{2069}").is_err());
    }
}
