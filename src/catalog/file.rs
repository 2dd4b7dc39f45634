//! Catalog files: TOML lists of services, for `services import` and the first-start seed.

use serde::Deserialize;

use super::spec::{ServiceInput, ServiceSpec};
use crate::domain::FieldError;

/// The catalog shipped with downwatch, seeded into an empty database.
pub const SHIPPED_CATALOG: &str = include_str!("../../catalog/services.toml");

/// A parsed, fully validated catalog file.
#[derive(Debug)]
pub struct CatalogFile {
    /// The services, in file order.
    pub services: Vec<ServiceSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    service: Vec<ServiceInput>,
}

impl CatalogFile {
    /// Parses TOML text with `[[service]]` tables; every problem is reported, by entry.
    pub fn parse(text: &str) -> Result<Self, Vec<FieldError>> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| vec![FieldError::new("file", e.to_string())])?;
        if raw.service.is_empty() {
            return Err(vec![FieldError::new("file", "has no [[service]] entries")]);
        }
        let mut errors = Vec::new();
        let mut services: Vec<ServiceSpec> = Vec::with_capacity(raw.service.len());
        for (i, input) in raw.service.into_iter().enumerate() {
            match ServiceSpec::parse(input, &format!("service[{i}].")) {
                Ok(spec) if services.iter().any(|s| s.slug == spec.slug) => {
                    errors.push(FieldError::new(
                        format!("service[{i}].slug"),
                        format!("{} appears twice", spec.slug),
                    ));
                }
                Ok(spec) => services.push(spec),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(Self { services })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalog_is_valid_and_covers_the_seed_case() {
        let catalog = CatalogFile::parse(SHIPPED_CATALOG).unwrap();
        assert!(catalog.services.len() >= 25);
        let find = |slug: &str| {
            catalog
                .services
                .iter()
                .find(|s| s.slug.as_str() == slug)
                .unwrap()
        };
        for slug in ["chatgpt", "openai-api", "sora"] {
            assert_eq!(find(slug).provider.as_str(), "openai");
        }
        assert!(
            find("chatgpt")
                .problems
                .iter()
                .any(|p| p.as_str() == "voice-mode")
        );
        let mut categories: Vec<&str> = catalog
            .services
            .iter()
            .map(|s| s.category.as_str())
            .collect();
        categories.dedup();
        assert!(categories.len() >= 5);
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let text = "[[service]]\nslug = 'ok'\nname = 'OK'\ncategory = 'x'\n\n[[service]]\nslug = 'ok'\nname = 'Dup'\ncategory = 'x'\n";
        let errors = CatalogFile::parse(text).unwrap_err();
        assert_eq!(errors[0].field, "service[1].slug");
        let errors = CatalogFile::parse("[[service]]\nslug = 1\n").unwrap_err();
        assert_eq!(errors[0].field, "file");
        assert!(CatalogFile::parse("").is_err());
    }
}
