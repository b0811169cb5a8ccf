//! The popup's pages: `/oauth/authorize/{id}` (bind the browser, go to the provider) and `/oauth/callback`
//! (finish, tell the widget, close). Both answer human pages, never JSON, since a person is looking at them.

use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};

use super::AppState;
use crate::connect::oauth::{binding_cookie, CallbackQuery, FLOW_TTL_SECS};

const CALLBACK_JS: &str = r#"(function () {
  var d = document.body.dataset;
  if (window.opener && d.flow) {
    try { window.opener.postMessage({ type: "plugboard:oauth", flowId: d.flow, status: d.status }, location.origin); } catch (e) {}
    setTimeout(function () { window.close(); }, 200);
  }
})();
"#;

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, message: &str, flow: Option<(&str, &str)>) -> Response {
    let data = flow
        .map(|(id, state)| format!(r#" data-flow="{}" data-status="{}""#, escape(id), escape(state)))
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1b1f29}}h1{{font-size:1.25rem}}</style></head>
<body{data}><h1>{title}</h1><p role="status">{message}</p><p>You can close this window.</p><script src="/oauth/callback.js"></script></body></html>"#,
        title = escape(title),
        message = escape(message),
    );
    (status, [(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP)), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Html(html))
        .into_response()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `GET /oauth/authorize/{id}`: sets the cookie that binds the flow to this browser, then redirects.
pub async fn authorize(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.connector.begin_redirect(&id).await {
        Ok((url, binding)) => {
            let secure = if app.public_url.starts_with("https://") { "; Secure" } else { "" };
            let cookie = format!(
                "{}={binding}; Path=/oauth/callback; Max-Age={FLOW_TTL_SECS}; HttpOnly; SameSite=Lax{secure}",
                binding_cookie(&id)
            );
            let mut res = Redirect::to(&url).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => page(StatusCode::GONE, "This sign-in link cannot be used", &e.to_string(), None),
    }
}

/// `GET /oauth/callback?code&state[&iss][&error&error_description]`.
pub async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let q = CallbackQuery::parse(query.as_deref().unwrap_or_default());
    match app.connector.finish_callback(&q, |name| cookie(&headers, name)).await {
        Ok(flow_id) => page(
            StatusCode::OK,
            "Connected",
            "Your account is connected. This window closes by itself.",
            Some((&flow_id, "connected")),
        ),
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            page(status, "Could not connect", &f.message, f.flow_id.as_deref().map(|id| (id, "failed")))
        }
    }
}

/// `GET /oauth/callback.js`: the popup's only script (no inline script, so the page's CSP stays strict).
pub async fn callback_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CALLBACK_JS)
        .into_response()
}
