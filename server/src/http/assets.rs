//! Static files compiled into the binary: `embed.js` and the vendored brand logos.

use axum::{
    extract::Path,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use include_dir::{include_dir, Dir};

use super::error::ApiError;

static LOGOS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets/logos");
/// `assets/embed.js` minified (by `scripts/minify-embed.mjs`; `scripts/test` checks it is current).
const EMBED_JS: &str = include_str!("../../assets/embed.min.js");
const CONNECT_JS: &str = include_str!("../../assets/connect.js");

/// The vendored logos by file name (`gmail.svg`). `Dir::get_file` compares paths one by one; a token answer asks
/// for 20 logos and a catalog page for up to 100, so they are looked up in a map built once.
static LOGO_FILES: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static [u8]>> = std::sync::LazyLock::new(|| {
    LOGOS.files().filter_map(|f| Some((f.path().to_str()?, f.contents()))).collect()
});

/// URL of an integration's logo, or `""` when none is vendored (the widget then draws a monogram).
pub fn logo_url(public_url: &str, platform: &str) -> String {
    let has_logo = platform.len() <= 64 && LOGO_FILES.contains_key(format!("{platform}.svg").as_str());
    if has_logo {
        format!("{public_url}/assets/logos/{platform}.svg")
    } else {
        String::new()
    }
}

/// `GET /connect.js` — an ES module exporting `createOneRuntime({ baseUrl })` (and `createPlugboard`), whose
/// `connections.open({ sessionToken })` opens a hosted connection session in a popup (One Runtime's hosted sessions: docs/contract.md).
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

/// The widget's monogram palette (`widget/style.css`, `.pb-hue-N`), so a generated logo looks like the widget's.
const PALETTE: [&str; 12] = ["#e03131", "#e8590c", "#f08c00", "#2f9e44", "#0ca678", "#1098ad", "#1c7ed6", "#4263eb", "#7048e8", "#ae3ec9", "#d6336c", "#495057"];

/// An image URL for every integration: its brand logo, else a generated monogram (for host apps that build their
/// own directory from `/v1/available-connectors`).
pub fn image_url(public_url: &str, platform: &str) -> String {
    match logo_url(public_url, platform) {
        url if url.is_empty() => format!("{public_url}/assets/monograms/{platform}.svg"),
        url => url,
    }
}

/// Up to two letters naming an integration ("Google Drive" → "GD"), as the widget's monogram.
fn monogram(name: &str) -> String {
    name.split(|c: char| c.is_whitespace() || c == '-' || c == '.')
        .filter_map(|w| w.chars().find(|c| c.is_ascii_alphanumeric()))
        .take(2)
        .flat_map(|c| c.to_uppercase())
        .collect()
}

/// `GET /assets/monograms/{platform}.svg` — a 64×64 monogram in the widget's colours for an integration without a
/// brand logo: its catalog name's initials, or the platform id's. 404 for anything that is not a platform id.
#[utoipa::path(get, path = "/assets/monograms/{file}", tag = "pages", params(("file" = String, Path, description = "`<platform>.svg`")),
    responses((status = 200, description = "a monogram", content_type = "image/svg+xml", body = String), crate::http::openapi::ErrorResponses))]
pub async fn monogram_svg(axum::extract::State(app): axum::extract::State<super::AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let platform = file
        .strip_suffix(".svg")
        .filter(|p| !p.is_empty() && p.len() <= 64 && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        .ok_or_else(|| ApiError::NotFound(format!("no monogram {file:?}")))?;
    let name = app.projects.builtin.get(platform).map_or_else(|| platform.to_owned(), |e| e.name.clone());
    let hue = platform.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 360;
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="{}"/><text x="32" y="32" dy=".35em" text-anchor="middle" font-family="system-ui,sans-serif" font-size="26" font-weight="600" fill="#fff">{}</text></svg>"##,
        PALETTE[(hue / 30) as usize],
        monogram(&name),
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=604800")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")),
        ],
        svg,
    )
        .into_response())
}

/// `GET /assets/logos/{platform}.svg` — long-cached; SVGs get a CSP that forbids scripts inside them.
#[utoipa::path(get, path = "/assets/logos/{file}", tag = "pages", params(("file" = String, Path, description = "`<platform>.svg`")),
    responses((status = 200, description = "a brand logo", content_type = "image/svg+xml", body = String), crate::http::openapi::ErrorResponses))]
pub async fn logo(Path(file): Path<String>) -> Result<Response, ApiError> {
    let svg = LOGO_FILES
        .get(file.as_str())
        .filter(|_| file.ends_with(".svg") && !file.contains('/'))
        .ok_or_else(|| ApiError::NotFound(format!("no logo {file:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=604800")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")),
        ],
        *svg,
    )
        .into_response())
}
