//! The pages' stylesheet, script and icon, compiled into the binary and served as
//! `/assets/<name>.<hash>.<ext>`. The hash is of the content, so a name never changes meaning
//! and browsers may keep a file for a year; a new build with new content gets new names.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    content_type: &'static str,
    body: &'static [u8],
    path: LazyLock<String>,
}

impl Asset {
    /// The URL path, with the content hash in the name.
    pub fn path(&self) -> &str {
        &self.path
    }
}

macro_rules! asset {
    ($stem:literal, $ext:literal, $type:literal) => {
        Asset {
            content_type: $type,
            body: include_bytes!(concat!("assets/", $stem, ".", $ext)),
            path: LazyLock::new(|| {
                let body = include_bytes!(concat!("assets/", $stem, ".", $ext));
                let digest = Sha256::digest(body);
                format!("/assets/{}.{}.{}", $stem, &hex::encode(digest)[..12], $ext)
            }),
        }
    };
}

/// The stylesheet.
pub static CSS: Asset = asset!("app", "css", "text/css; charset=utf-8");
/// The script: the report button, live updates, the viewer's time zone, the board's filter.
pub static JS: Asset = asset!("app", "js", "text/javascript; charset=utf-8");
/// The icon.
pub static ICON: Asset = asset!("icon", "svg", "image/svg+xml");

static ALL: [&Asset; 3] = [&CSS, &JS, &ICON];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/assets/{file}").get(serve))
        .service(web::resource("/favicon.ico").get(favicon));
}

/// Browsers ask for `/favicon.ico` on pages that name no icon (the API docs, JSON in a tab).
async fn favicon() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, ICON.path()))
        .finish()
}

async fn serve(file: web::Path<String>) -> HttpResponse {
    match ALL
        .iter()
        .find(|a| a.path().strip_prefix("/assets/") == Some(file.as_str()))
    {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("No such asset. Asset names change with their content: reload the page."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        assert!(CSS.path().starts_with("/assets/app."));
        assert!(CSS.path().ends_with(".css"));
        assert_eq!(CSS.path().len(), "/assets/app..css".len() + 12);
        assert_ne!(CSS.path(), JS.path());
        assert!(ICON.path().ends_with(".svg"));
    }
}
