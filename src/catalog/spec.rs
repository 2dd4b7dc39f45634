//! Validating service definitions, from the admin API and from catalog files alike.

use serde::Deserialize;

use crate::domain::{DEFAULT_PROBLEMS, DisplayName, Label, ProblemKind, ServiceSlug};
use crate::domain::{FieldError, FieldErrors};

/// A service definition as clients and catalog files write it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    /// Identifier in URLs and reports, like `chatgpt`: 1 to 64 characters of a-z, 0-9 and `-`,
    /// starting with a letter or digit.
    pub slug: String,
    /// Display name, like `ChatGPT`.
    pub name: String,
    /// Category, like `ai` or `social`.
    pub category: String,
    /// Groups related services (ChatGPT, OpenAI API and Sora: `openai`); defaults to the slug.
    pub provider: Option<String>,
    /// Problem kinds people may report, 1 to 32 distinct ones; defaults to `website`, `app`,
    /// `login`, `connection` and `other`.
    pub problems: Option<Vec<String>>,
    /// The provider's official status page, an https URL, like `https://status.openai.com`.
    #[serde(default)]
    pub status_page: Option<String>,
    /// The provider's display name, like `OpenAI`; pages show the provider by it.
    #[serde(default)]
    pub provider_name: Option<String>,
}

/// A valid service definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Identifier in URLs and reports.
    pub slug: ServiceSlug,
    /// Display name.
    pub name: DisplayName,
    /// Category, like `ai` or `social`.
    pub category: Label,
    /// Groups related services (ChatGPT, OpenAI API and Sora: `openai`).
    pub provider: Label,
    /// Problem kinds people may report; at least one, no duplicates.
    pub problems: Vec<ProblemKind>,
    /// The provider's official status page (https), normalised (`https://status.openai.com/`).
    pub status_page: Option<String>,
    /// The provider's display name (`OpenAI`).
    pub provider_name: Option<DisplayName>,
}

impl ServiceSpec {
    /// Validates every field, collecting all errors; `path` prefixes field names (e.g. `service[3].`).
    pub fn parse(input: ServiceInput, path: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let field = |name: &str| format!("{path}{name}");
        let provider = input.provider.unwrap_or_else(|| input.slug.clone());
        let slug = errors.required(&field("slug"), Some(input.slug), |v| ServiceSlug::parse(&v));
        let name = errors.required(&field("name"), Some(input.name), |v| DisplayName::parse(&v));
        let category = errors.required(&field("category"), Some(input.category), |v| {
            Label::parse(&v)
        });
        let provider = errors.required(&field("provider"), Some(provider), |v| Label::parse(&v));
        let problems = parse_problems(input.problems)
            .map_err(|e| errors.push(field("problems"), e))
            .ok();
        let status_page = errors.optional(&field("status_page"), input.status_page, |v| {
            parse_status_page(&v)
        });
        let provider_name = errors.optional(&field("provider_name"), input.provider_name, |v| {
            DisplayName::parse(&v)
        });
        errors.finish()?;
        match (slug, name, category, provider, problems) {
            (Some(slug), Some(name), Some(category), Some(provider), Some(problems)) => Ok(Self {
                slug,
                name,
                category,
                provider,
                problems,
                status_page,
                provider_name,
            }),
            _ => unreachable!("every field is valid when no error was recorded"),
        }
    }
}

/// An official status page: an absolute https URL with a host and no credentials, at most 300
/// characters; returned normalised.
fn parse_status_page(raw: &str) -> Result<String, String> {
    const RULE: &str = "an https URL of at most 300 characters, like https://status.openai.com";
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("must be {RULE} ({e})"))?;
    if url.scheme() != "https"
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!("must be {RULE}"));
    }
    let normal = url.to_string();
    if normal.len() > 300 || normal.chars().any(char::is_whitespace) {
        return Err(format!("must be {RULE}"));
    }
    Ok(normal)
}

/// Up to 32 distinct problem kinds; `None` gives the default set.
fn parse_problems(raw: Option<Vec<String>>) -> Result<Vec<ProblemKind>, String> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PROBLEMS
            .iter()
            .map(|p| ProblemKind::parse(p).expect("valid default"))
            .collect());
    };
    if raw.is_empty() || raw.len() > 32 {
        return Err("must list 1 to 32 problem kinds (omit it for the default set)".to_owned());
    }
    let mut kinds: Vec<ProblemKind> = Vec::with_capacity(raw.len());
    for item in &raw {
        let kind = ProblemKind::parse(item).map_err(|e| format!("entry {item:?} {e}"))?;
        if kinds.contains(&kind) {
            return Err(format!("lists {item:?} twice"));
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

/// Changes to a service, as the admin API takes them. Absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatchInput {
    /// New display name.
    pub name: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// New provider.
    pub provider: Option<String>,
    /// New problem kinds (replaces the list).
    pub problems: Option<Vec<String>>,
    /// Archive (true) or restore (false).
    pub archived: Option<bool>,
    /// New official status page (an https URL); an empty string removes it.
    pub status_page: Option<String>,
    /// New provider display name; an empty string removes it.
    pub provider_name: Option<String>,
}

/// A validated [`ServicePatchInput`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePatch {
    /// New display name.
    pub name: Option<DisplayName>,
    /// New category.
    pub category: Option<Label>,
    /// New provider.
    pub provider: Option<Label>,
    /// New problem kinds.
    pub problems: Option<Vec<ProblemKind>>,
    /// New archived flag.
    pub archived: Option<bool>,
    /// New official status page; `Some(None)` removes it.
    pub status_page: Option<Option<String>>,
    /// New provider display name; `Some(None)` removes it.
    pub provider_name: Option<Option<DisplayName>>,
}

impl ServicePatch {
    /// Validates the fields present, collecting all errors.
    pub fn parse(input: ServicePatchInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let patch = Self {
            name: errors.optional("name", input.name, |v| DisplayName::parse(&v)),
            category: errors.optional("category", input.category, |v| Label::parse(&v)),
            provider: errors.optional("provider", input.provider, |v| Label::parse(&v)),
            problems: errors.optional("problems", input.problems, |v| parse_problems(Some(v))),
            archived: input.archived,
            status_page: match input.status_page {
                Some(v) if v.trim().is_empty() => Some(None),
                other => errors
                    .optional("status_page", other, |v| parse_status_page(&v))
                    .map(Some),
            },
            provider_name: match input.provider_name {
                Some(v) if v.trim().is_empty() => Some(None),
                other => errors
                    .optional("provider_name", other, |v| DisplayName::parse(&v))
                    .map(Some),
            },
        };
        errors.finish().map(|()| patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(slug: &str, problems: Option<Vec<&str>>) -> ServiceInput {
        ServiceInput {
            slug: slug.into(),
            name: "ChatGPT".into(),
            category: "ai".into(),
            provider: Some("openai".into()),
            problems: problems.map(|p| p.into_iter().map(String::from).collect()),
            status_page: None,
            provider_name: None,
        }
    }

    #[test]
    fn a_status_page_is_an_https_url() {
        let mut with_page = input("chatgpt", None);
        with_page.status_page = Some("https://status.openai.com".into());
        assert_eq!(
            ServiceSpec::parse(with_page, "")
                .unwrap()
                .status_page
                .as_deref(),
            Some("https://status.openai.com/")
        );
        for bad in [
            "http://status.openai.com",
            "javascript:alert(1)",
            "status.openai.com",
            "https://user:pw@status.example",
            "https://",
        ] {
            let mut page = input("chatgpt", None);
            page.status_page = Some(bad.into());
            let errors = ServiceSpec::parse(page, "service[0].").unwrap_err();
            assert_eq!(errors[0].field, "service[0].status_page", "{bad}");
            assert!(
                errors[0].detail.contains("https URL"),
                "{bad}: {}",
                errors[0].detail
            );
        }
        let cleared = ServicePatch::parse(ServicePatchInput {
            status_page: Some(String::new()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cleared.status_page, Some(None));
        let kept = ServicePatch::parse(ServicePatchInput::default()).unwrap();
        assert_eq!(kept.status_page, None);
    }

    #[test]
    fn defaults_apply_when_problems_are_omitted() {
        let spec = ServiceSpec::parse(input("chatgpt", None), "").unwrap();
        assert_eq!(spec.problems.len(), DEFAULT_PROBLEMS.len());
        let mut no_provider = input("sora", None);
        no_provider.provider = None;
        assert_eq!(
            ServiceSpec::parse(no_provider, "")
                .unwrap()
                .provider
                .as_str(),
            "sora"
        );
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let mut bad = input("Bad Slug", Some(vec!["login", "login"]));
        bad.category = "".into();
        let errors = ServiceSpec::parse(bad, "service[2].").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "service[2].slug",
                "service[2].category",
                "service[2].problems"
            ]
        );
    }

    #[test]
    fn patch_validates_only_present_fields() {
        let patch = ServicePatch::parse(ServicePatchInput {
            archived: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(patch.archived, Some(true));
        let errors = ServicePatch::parse(ServicePatchInput {
            problems: Some(vec![]),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(errors[0].field, "problems");
    }
}
