//! Field-level validation results: every bad field of a request, named, so clients fix them
//! all at once. The HTTP adapters render them in problem+json; use cases return them.

use serde::Serialize;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it (`country`, `from`, `body`).
    pub field: String,
    /// What is wrong and what would be accepted.
    pub detail: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// Collects field errors while a request is validated, so clients see all problems at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Parses a present value; an invalid one is recorded and yields `None`.
    pub fn optional<I, T>(
        &mut self,
        field: &str,
        raw: Option<I>,
        parse: impl FnOnce(I) -> Result<T, String>,
    ) -> Option<T> {
        parse(raw?)
            .map_err(|detail| self.0.push(FieldError::new(field, detail)))
            .ok()
    }

    /// Like [`Self::optional`], but an absent value is an error too.
    pub fn required<I, T>(
        &mut self,
        field: &str,
        raw: Option<I>,
        parse: impl FnOnce(I) -> Result<T, String>,
    ) -> Option<T> {
        if raw.is_none() {
            self.0.push(FieldError::new(field, "is required"));
            return None;
        }
        self.optional(field, raw, parse)
    }

    /// Records a problem found by other means.
    pub fn push(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError::new(field, detail));
    }

    /// `Ok` when nothing was recorded; otherwise every recorded error.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
