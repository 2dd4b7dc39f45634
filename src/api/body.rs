//! Reading JSON bodies with a size cap and errors that name the offending field.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads at most `limit` bytes of JSON and deserializes them into `T`.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    if !is_json(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::field("body", format!("could not be read: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    parse_json(&bytes)
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes `bytes`, turning serde's message into a field error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also accept a JSON array for a struct; bodies here are always objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    // Most bodies are valid: read them without tracking the path (which costs an allocation
    // a field), and read a failed one again with it, for the error's field.
    let mut plain = serde_json::Deserializer::from_slice(bytes);
    if let Ok(value) = T::deserialize(&mut plain)
        && plain.end().is_ok()
    {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde quotes the client's key in backticks; the key may hold backticks itself, so the
        // closing one is found from the end.
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let end = rest
                .rfind("`, expected ")
                .or_else(|| rest.rfind("`, there are no fields"))
                .unwrap_or(rest.len());
            let allowed = rest[end..].split_once("expected ").map_or("", |(_, r)| r);
            return ApiError::field(
                &rest[..end],
                format!("is not a known field; allowed: {allowed}"),
            );
        }
        if let Some(rest) = message.strip_prefix("duplicate field `") {
            let end = rest.rfind('`').unwrap_or(rest.len());
            return ApiError::field(&rest[..end], "appears twice; send it once");
        }
        let field = if path == "." || inner.is_syntax() || inner.is_eof() {
            "body"
        } else {
            path.as_str()
        };
        ApiError::field(field, message)
    })?;
    de.end()
        .map_err(|e| ApiError::field("body", format!("has data after the JSON value: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::ReportBody;

    fn field_of(bytes: &[u8]) -> String {
        match parse_json::<ReportBody>(bytes) {
            Err(ApiError::Invalid(errors)) => errors[0].field.clone(),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(br#"{"service": 5}"#), "service");
        assert_eq!(field_of(br#"{"service": "a", "color": "red"}"#), "color");
        assert_eq!(field_of(br#"{"a`b": 1}"#), "a`b");
        assert_eq!(field_of(br#"{"`, expected `x`": 1}"#), "`, expected `x`");
        assert_eq!(field_of(br#"{"service": "a""#), "body");
        assert_eq!(field_of(b"[1,2]"), "body");
        assert_eq!(field_of(b"{} {}"), "body");
        assert_eq!(field_of(&[b'{', 0xff, b'}']), "body");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(field_of(deep.as_bytes()), "body");
        let deep_field = format!(
            r#"{{"service": {}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(field_of(deep_field.as_bytes()), "service");
        assert_eq!(field_of(br#"{"service": 1e999999}"#), "body");
        assert_eq!(field_of(br#"{"service": "\ud800"}"#), "body");
        assert_eq!(field_of(br#"{"service": "a", "service": "b"}"#), "service");
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_bytes_parse_or_name_a_field(bytes in crate::hostile::bytes()) {
            if let Err(error) = parse_json::<ReportBody>(&bytes) {
                let ApiError::Invalid(errors) = error else { panic!("not a field error") };
                prop_assert!(errors.iter().all(|e| !e.field.is_empty() && !e.detail.is_empty()));
            }
        }

        #[test]
        fn any_json_object_parses_or_names_the_field_at_fault(
            fields in prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(&["service", "problem", "country", "reporter"][..]).prop_map(str::to_owned),
                    crate::hostile::text(),
                ],
                crate::hostile::json_value(),
                0..5,
            ),
        ) {
            let object = serde_json::Value::Object(fields.clone().into_iter().collect());
            let bytes = serde_json::to_vec(&object).unwrap();
            match parse_json::<ReportBody>(&bytes) {
                Ok(_) => {
                    // Accepted: every key is a known field holding a string or null.
                    prop_assert!(fields.iter().all(|(k, v)| ["service", "problem", "country", "reporter"].contains(&k.as_str()) && (v.is_string() || v.is_null())));
                }
                Err(ApiError::Invalid(errors)) => {
                    prop_assert_eq!(errors.len(), 1);
                    let field = &errors[0].field;
                    prop_assert!(fields.contains_key(field), "{field:?} is not one of {:?}", fields.keys());
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }
    }
}
