//! The widget page (`/widget`) and its trunk-built assets, embedded at compile time from `dist/`.

use std::sync::OnceLock;

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use super::{error::ApiError, AppState};

#[derive(RustEmbed)]
#[folder = "$OUT_DIR/widget"]
struct WidgetDist;

/// The page's CSP. trunk writes one inline module script that boots the wasm; it is allowed by its hash, so
/// nothing else inline can run.
fn csp(index: &str) -> String {
    let mut hashes = String::new();
    let mut rest = index;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else { break };
        let Some(close) = after.find("</script>") else { break };
        let tag = &after[..open_end];
        if !tag.contains(" src=") {
            let body = &after[open_end + 1..close];
            hashes.push_str(&format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(body.as_bytes()))));
        }
        rest = &after[close + "</script>".len()..];
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' https: http: data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    )
}

struct Page {
    html: String,
    csp: HeaderValue,
}

fn page() -> Option<&'static Page> {
    static PAGE: OnceLock<Option<Page>> = OnceLock::new();
    PAGE.get_or_init(|| {
        let file = WidgetDist::get("index.html")?;
        let html = String::from_utf8(file.data.into_owned()).ok()?;
        let csp = HeaderValue::from_str(&csp(&html)).ok()?;
        Some(Page { html, csp })
    })
    .as_ref()
}

/// `GET /widget[?project=<id>][&data=…]` — the modal's page, loaded in the embed's iframe. Only allowed origins
/// may frame it (CSP `frame-ancestors`): the named project's, else every project's together; a deployment with a
/// project that allows every origin lets any web page frame an unnamed `/widget`. 404 for an unknown project.
/// With `data` (the seeds' frontend packages, see [`seed_page`]) the page may also call the origin of the
/// payload's `linkTokenEndpoint` (CSP `connect-src`), and nothing else beyond Plugboard.
#[utoipa::path(get, path = "/widget", tag = "pages", params(("project" = Option<String>, Query, description = "the framing project, for its allowed origins"),
        ("data" = Option<String>, Query, description = "a seed package's payload: base64 of its JSON")),
    responses((status = 200, description = "the widget page", content_type = "text/html", body = String),
              (status = 503, description = "the widget was not built into this binary", content_type = "text/html", body = String), crate::http::openapi::ErrorResponses))]
pub async fn index(State(app): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let mut csp = match page() {
        Some(p) => p.csp.to_str().unwrap_or_default().to_owned(),
        None => String::new(),
    };
    if let Some(origin) = q.get("data").and_then(|d| token_endpoint_origin(d)) {
        csp = csp.replacen("connect-src 'self'", &format!("connect-src 'self' {origin}"), 1);
    }
    let ancestors = match q.get("project") {
        Some(project) => {
            let view = app.projects.view(project, crate::keys::Environment::Live).await.map_err(|_| ApiError::NotFound(format!("no project {project:?}")))?;
            Some(view.settings.allowed_origins.clone()).filter(|o| !o.is_empty())
        }
        None => app.projects.framing_origins().await?,
    };
    csp.push_str("; frame-ancestors ");
    csp.push_str(&match ancestors {
        Some(origins) if origins.is_empty() => "'none'".to_owned(),
        Some(origins) => origins.join(" "),
        None => "http: https:".to_owned(),
    });
    Ok(serve_page(&csp))
}

/// `GET /?data=…` — what `useOneAuth({baseUrl})` (`@withone/auth`) and `useAuthKit({baseUrl})` (`@picahq/authkit`)
/// open in their iframe when `baseUrl` is Plugboard's URL: the widget page, as [`index`] serves it. Without `data`
/// there is nothing here (404).
#[utoipa::path(get, path = "/", tag = "pages", params(("data" = String, Query, description = "the seed package's payload: base64 of its JSON")),
    responses((status = 200, description = "the widget page", content_type = "text/html", body = String),
              (status = 503, description = "the widget was not built into this binary", content_type = "text/html", body = String), crate::http::openapi::ErrorResponses))]
pub async fn seed_page(state: State<AppState>, q: Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    if !q.contains_key("data") {
        return Err(ApiError::NotFound("nothing here: the API is under /v1, the widget at /widget".into()));
    }
    index(state, q).await
}

/// The origin (`https://host[:port]`) of `linkTokenEndpoint` in a seed payload: base64 (padding optional) of JSON,
/// its text Latin-1 as `btoa` requires. `None` for anything else, so a bad payload widens nothing.
fn token_endpoint_origin(data: &str) -> Option<String> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    let engine = GeneralPurpose::new(&base64::alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));
    let bytes = engine.decode(data.trim()).ok()?;
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let payload: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = url::Url::parse(payload.get("linkTokenEndpoint")?.as_str()?).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// `GET /link#token=…` — an auth link or hosted session: the widget as a whole page (its token stays in the
/// fragment, which no server sees). Nothing may frame it.
#[utoipa::path(get, path = "/link", tag = "pages",
    responses((status = 200, description = "the connect page of an auth link or hosted session", content_type = "text/html", body = String),
              (status = 503, description = "the widget was not built into this binary", content_type = "text/html", body = String)))]
pub async fn link_page() -> Response {
    let csp = page().map(|p| format!("{}; frame-ancestors 'none'", p.csp.to_str().unwrap_or_default())).unwrap_or_default();
    serve_page(&csp)
}

fn serve_page(csp: &str) -> Response {
    match page() {
        Some(p) => (
            [
                (header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(csp).unwrap_or_else(|_| p.csp.clone())),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            Html(p.html.clone()),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html("<!doctype html><title>Plugboard</title><p>The widget was not built into this binary. \
                  Build it with <code>scripts/build-widget</code>, then rebuild the server.</p>"),
        )
            .into_response(),
    }
}

/// `GET /widget/{file}` — hashed file names, so they are cached for a year. The wasm, js and css were compressed
/// at build time (`build.rs`): each is answered brotli- or gzip-encoded as `Accept-Encoding` allows, else as is.
#[utoipa::path(get, path = "/widget/{file}", tag = "pages", params(("file" = String, Path)),
    responses((status = 200, description = "a hashed widget file (wasm, js, css)", content_type = "application/octet-stream", body = String), crate::http::openapi::ErrorResponses))]
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let found = WidgetDist::get(&file)
        .filter(|_| file != "index.html" && !file.ends_with(".br") && !file.ends_with(".gz"))
        .ok_or_else(|| ApiError::NotFound(format!("no widget file {file:?}")))?;
    let mime = HeaderValue::from_str(found.metadata.mimetype()).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let accepted = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let encoded = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(accepted, coding))
        .find_map(|(coding, suffix)| WidgetDist::get(&format!("{file}{suffix}")).map(|f| (coding, f.data)));
    let mut res = match encoded {
        Some((coding, data)) => ([(header::CONTENT_ENCODING, HeaderValue::from_static(coding))], data).into_response(),
        None => found.data.into_response(),
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(res)
}

/// Whether an `Accept-Encoding` value accepts `coding`: named, or by `*`, with a non-zero quality (RFC 9110 §12.5.3).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    let quality = |name: &str| {
        accept_encoding.split(',').find_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let this = parts.next()?;
            this.eq_ignore_ascii_case(name).then(|| {
                parts
                    .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                    .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0))
            })
        })
    };
    quality(coding).or_else(|| quality("*")).is_some_and(|q| q > 0.0)
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::STANDARD, Engine};

    #[test]
    fn a_seed_payload_adds_only_its_token_endpoints_origin() {
        let data = STANDARD.encode(r#"{"linkTokenEndpoint":"https://api.example.com:8443/one-auth?x=1","title":"Caf\u00e9"}"#);
        assert_eq!(super::token_endpoint_origin(&data).as_deref(), Some("https://api.example.com:8443"));
        assert_eq!(super::token_endpoint_origin(data.trim_end_matches('=')).as_deref(), Some("https://api.example.com:8443"));
        for bad in ["", "%%%", &STANDARD.encode("{}"), &STANDARD.encode(r#"{"linkTokenEndpoint":"javascript:alert(1)"}"#),
                    &STANDARD.encode(r#"{"linkTokenEndpoint":"/relative"}"#), &STANDARD.encode("[1]")] {
            assert_eq!(super::token_endpoint_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn accept_encoding_is_read_with_its_qualities() {
        use super::accepts;
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip, deflate, br, zstd", "gzip"));
        assert!(accepts("BR;q=0.5", "br"));
        assert!(accepts("*", "br"));
        assert!(!accepts("br;q=0, *", "br"), "an explicit q=0 wins over *");
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("identity", "br"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts("brotli, xgzip", "br") && !accepts("brotli, xgzip", "gzip"));
    }

    #[test]
    fn csp_allows_exactly_the_inline_scripts_by_hash() {
        let csp = super::csp(r#"<script src="/widget/a.js"></script><script type="module">boot()</script>"#);
        // sha256("boot()") in base64
        assert!(csp.contains("'sha256-"), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 1);
        assert!(!csp.contains("unsafe-inline"));
    }
}
