//! Static files compiled into the binary: `embed.js` and the vendored brand logos.

use axum::{
    extract::Path,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use include_dir::{include_dir, Dir};

use super::error::ApiError;

static LOGOS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets/logos");
const EMBED_JS: &str = include_str!("../../assets/embed.js");
const CONNECT_JS: &str = include_str!("../../assets/connect.js");

/// URL of an integration's logo, or `""` when none is vendored (the widget then draws a monogram).
pub fn logo_url(public_url: &str, platform: &str) -> String {
    if LOGOS.get_file(format!("{platform}.svg")).is_some() {
        format!("{public_url}/assets/logos/{platform}.svg")
    } else {
        String::new()
    }
}

/// `GET /connect.js` — an ES module exporting `createOneRuntime({ baseUrl })` (and `createPlugboard`), whose
/// `connections.open({ sessionToken })` opens a hosted connection session in a popup (seed 004).
#[utoipa::path(get, path = "/connect.js", tag = "pages", responses((status = 200, description = "the hosted sessions module", content_type = "text/javascript", body = String)))]
pub async fn connect_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            // Imported as a module from the host's origin: a cross-origin module script needs CORS.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        CONNECT_JS,
    )
        .into_response()
}

/// `GET /embed.js` — the host page's script tag. Short cache: it is the one URL hosts cannot version.
#[utoipa::path(get, path = "/embed.js", tag = "pages", responses((status = 200, description = "the host page's script", content_type = "text/javascript", body = String)))]
pub async fn embed_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        EMBED_JS,
    )
        .into_response()
}

/// `GET /assets/logos/{platform}.svg` — long-cached; SVGs get a CSP that forbids scripts inside them.
#[utoipa::path(get, path = "/assets/logos/{file}", tag = "pages", params(("file" = String, Path, description = "`<platform>.svg`")),
    responses((status = 200, description = "a brand logo", content_type = "image/svg+xml", body = String), crate::http::openapi::ErrorResponses))]
pub async fn logo(Path(file): Path<String>) -> Result<Response, ApiError> {
    let svg = LOGOS
        .get_file(&file)
        .filter(|_| file.ends_with(".svg") && !file.contains('/'))
        .ok_or_else(|| ApiError::NotFound(format!("no logo {file:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=604800")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")),
        ],
        svg.contents(),
    )
        .into_response())
}
