//! Where this site lives, as the request tells it: the origin the embed snippet points at, and
//! the check that a form post comes from this site's own pages (no cross-site request forgery).
//!
//! Forwarding headers (`X-Forwarded-Host`, `Forwarded`) are believed only from a trusted proxy,
//! as for client addresses; from anyone else the `Host` header is used, and only if it looks
//! like a host.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::{ApiError, FieldError};
use crate::http::AppState;

/// The scheme and host the embed snippet points at: a snippet people copy into their articles
/// must not point wherever a request's headers say.
pub(super) fn public_origin(req: &HttpRequest, state: &AppState) -> String {
    let (scheme, host) = scheme_and_host(req, state);
    let scheme = if scheme == "https" { "https" } else { "http" };
    format!(
        "{scheme}://{}",
        if hostlike(&host) {
            host.as_str()
        } else {
            "localhost"
        }
    )
}

/// Refuses a form post another site made a browser send (403, naming the header at fault).
///
/// Browsers that send `Sec-Fetch-Site` are believed: only `same-origin` and `none` (typed or
/// bookmarked) pass. Without it, `Origin` must name this site's host, or, without `Origin`,
/// `Referer` must; `Origin: null` (a sandboxed frame, or a page that hides its address) is
/// refused. A request with none of the three (an old browser, a script) is let through: it is
/// a report like one sent to `/v1/reports`, with the same limits.
///
/// Hosts are compared, not schemes: behind a TLS proxy that is not trusted the server cannot
/// know its own scheme, and a page on the same host over the other scheme is the same site.
pub(super) fn check_same_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return if matches!(site, "same-origin" | "none") {
            Ok(())
        } else {
            Err(refused(
                "sec-fetch-site",
                "this browser says the form was sent from another site",
            ))
        };
    }
    let (field, sent) = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => ("origin", origin),
        (None, Some(referer)) => ("referer", referer),
        (None, None) => return Ok(()),
    };
    let (_, own) = scheme_and_host(req, state);
    match authority(sent) {
        Some(theirs) if hostlike(&own) && theirs == normalise(&own) => Ok(()),
        _ => Err(refused(
            field,
            "the form was sent from another site (or one that hides its address)",
        )),
    }
}

fn refused(field: &str, why: &str) -> ApiError {
    ApiError::Forbidden(FieldError::new(
        field,
        format!(
            "{why}: reports are taken only from downwatch's own pages; open the service page here and press the button there"
        ),
    ))
}

/// The scheme and host the request was addressed to (from a trusted proxy's headers, else Host).
fn scheme_and_host(req: &HttpRequest, state: &AppState) -> (String, String) {
    let peer = req.peer_addr().map(|a| a.ip());
    if peer.is_some_and(|ip| state.proxies.trusts(ip)) {
        let info = req.connection_info();
        (info.scheme().to_owned(), info.host().to_owned())
    } else {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        ("http".to_owned(), host.to_owned())
    }
}

fn hostlike(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `host[:port]` of an absolute http(s) URL, lowercased, without a default port.
fn authority(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?;
    // `Url` drops the scheme's default port itself.
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
    .map(|a| a.to_ascii_lowercase())
}

/// A Host header's value as [`authority`] writes it: lowercased, without `:80` or `:443`.
fn normalise(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    for default in [":80", ":443"] {
        if let Some(bare) = host.strip_suffix(default) {
            return bare.to_owned();
        }
    }
    host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_compare_without_default_ports_or_case() {
        assert_eq!(
            authority("https://Downwatch.Example/s/x").as_deref(),
            Some("downwatch.example")
        );
        assert_eq!(
            authority("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(authority("http://[::1]:80/").as_deref(), Some("[::1]"));
        assert_eq!(normalise("Downwatch.Example:443"), "downwatch.example");
        for refused in [
            "null",
            "",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "evil",
        ] {
            assert_eq!(authority(refused), None, "{refused}");
        }
    }
}
