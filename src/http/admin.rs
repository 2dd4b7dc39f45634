//! The admin bearer token check, in constant time.
//!
//! Both sides are hashed first, so the comparison takes the same time whatever the length or
//! content of the presented token. The token is never logged.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Holds the digest of the configured admin token, if any.
#[derive(Clone)]
pub struct AdminAuth {
    digest: Option<[u8; 32]>,
}

impl AdminAuth {
    /// Admin endpoints accept `token`; `None` disables them (403).
    pub fn new(token: Option<&str>) -> Self {
        Self {
            digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// Passes if the request carries `Authorization: Bearer <token>`.
    pub fn authorize(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let Some(expected) = &self.digest else {
            return Err(ApiError::AdminDisabled);
        };
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            // The scheme is case-insensitive (RFC 9110 §11.1).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| Sha256::digest(t.trim().as_bytes()));
        match presented {
            Some(digest) if bool::from(digest.as_slice().ct_eq(expected)) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn token_rules() {
        let auth = AdminAuth::new(Some("0123456789abcdef"));
        let with = |v: &str| {
            TestRequest::default()
                .insert_header((AUTHORIZATION, v))
                .to_http_request()
        };
        assert!(auth.authorize(&with("Bearer 0123456789abcdef")).is_ok());
        assert!(auth.authorize(&with("bearer 0123456789abcdef")).is_ok());
        assert!(matches!(
            auth.authorize(&with("Basic 0123456789abcdef")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            auth.authorize(&with("Bearer 0123456789abcdeX")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            auth.authorize(&with("0123456789abcdef")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            auth.authorize(&TestRequest::default().to_http_request()),
            Err(ApiError::Unauthorized)
        ));
        let disabled = AdminAuth::new(None);
        assert!(matches!(
            disabled.authorize(&with("Bearer anything")),
            Err(ApiError::AdminDisabled)
        ));
    }
}
