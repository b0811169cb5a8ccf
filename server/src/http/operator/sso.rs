//! Operator single sign-on over HTTP: whether it is on, the start (a 303 to the identity provider) and the
//! callback (a 303 to the console, signed in, or a page saying why not). The sign-in in flight travels in a
//! short-lived cookie sealed under the master key (`SameSite=Lax`: the provider's redirect back is a cross-site
//! top-level GET); the session cookie it ends with is the password sign-in's (`SameSite=Strict`).

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::accounts::{https, set_session_cookie};
use crate::{
    http::{
        error::ApiError,
        extract::{Params, RemoteIp},
        pages::{text, Look, Mark, Page},
        AppState,
    },
    operators::sso::{Callback, SsoError, PENDING_TTL},
};

/// Whether the console should offer single sign-on, and where its button goes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoInfo {
    pub enabled: bool,
    /// `{public URL}/operator/v1/sso/start` (add `?returnTo=/console/…` to land elsewhere); absent when off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_url: Option<String>,
}

/// The pending sign-in cookie's name (`__Host-` where the public URL is https).
fn pending_cookie_name(app: &AppState) -> &'static str {
    if https(app) {
        "__Host-plugboard_sso"
    } else {
        "plugboard_sso"
    }
}

fn pending_cookie(app: &AppState, value: &str, max_age_secs: i64) -> Option<HeaderValue> {
    let c = cookie::Cookie::build((pending_cookie_name(app), value))
        .http_only(true)
        .secure(https(app))
        .same_site(cookie::SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&c.to_string()).ok()
}

/// `GET /operator/v1/sso` (no sign-in needed): whether single sign-on is configured.
#[utoipa::path(get, path = "/operator/v1/sso", tag = "operator", responses((status = 200, body = SsoInfo), crate::http::openapi::ErrorResponses))]
pub async fn info(State(app): State<AppState>) -> Json<SsoInfo> {
    let enabled = app.sso.is_some();
    Json(SsoInfo { enabled, start_url: enabled.then(|| format!("{}/operator/v1/sso/start", app.public_url)) })
}

/// `GET /operator/v1/sso/start`: sends the browser to the identity provider (authorization code flow with PKCE
/// S256, `state` and `nonce`), with the sign-in in a sealed cookie valid 10 minutes. `returnTo`: a path on this
/// server to land on once signed in (default `/console`); anything else (an absolute URL, `//host`) is 400
/// `invalid_return_to`. 404 when single sign-on is off, 502 `provider_failed` when the provider's discovery
/// document cannot be read.
#[utoipa::path(get, path = "/operator/v1/sso/start", tag = "operator", params(("returnTo" = Option<String>, Query, description = "a path on this server, e.g. /console/connections")),
    responses((status = 303, description = "to the identity provider; `Set-Cookie` holds the sign-in in flight"), crate::http::openapi::ErrorResponses))]
pub async fn start(State(app): State<AppState>, RemoteIp(ip): RemoteIp, Params(q): Params) -> Result<Response, ApiError> {
    let sso = app.sso.as_ref().ok_or(SsoError::NotConfigured)?;
    app.guard.key_lookup(ip)?;
    let (url, sealed) = sso.start(q.get("returnTo").map(String::as_str)).await?;
    let mut res = StatusCode::SEE_OTHER.into_response();
    let location = HeaderValue::from_str(url.as_str()).map_err(|e| ApiError::Internal(format!("authorization URL: {e}")))?;
    res.headers_mut().insert(header::LOCATION, location);
    if let Some(c) = pending_cookie(&app, &sealed, PENDING_TTL.as_secs() as i64) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /operator/v1/sso/callback`: where the identity provider sends the browser back. Checks `state` against
/// this browser's sign-in, exchanges the code, checks the ID token, maps the role, and signs the operator in
/// (made on first sign-in; their role follows the provider's on every sign-in): 303 to the `returnTo` path with
/// the session cookie. A refusal is an HTML page with the status [`SsoError`] maps to (400 `sso_state_invalid`,
/// 403 `sso_refused`, 400 `sso_failed`, 403 `sso_no_role`, 403 `sso_email_refused`, 403 `operator_disabled`,
/// 409 `operator_exists`, 502 `provider_failed`), and is audited.
#[utoipa::path(get, path = "/operator/v1/sso/callback", tag = "operator",
    params(("state" = Option<String>, Query), ("code" = Option<String>, Query), ("error" = Option<String>, Query), ("error_description" = Option<String>, Query), ("iss" = Option<String>, Query)),
    responses((status = 303, description = "signed in: to the `returnTo` path, `Set-Cookie` holds the session"),
        (status = 400, description = "a page: no sign-in in flight in this browser, a `state` that does not match, a used or expired code", content_type = "text/html", body = String),
        (status = 403, description = "a page: the provider's error, no role mapped, an email refused, a disabled operator", content_type = "text/html", body = String),
        crate::http::openapi::ErrorResponses))]
pub async fn callback(State(app): State<AppState>, RemoteIp(ip): RemoteIp, Params(mut q): Params, headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let sso = app.sso.as_ref().ok_or(SsoError::NotConfigured)?;
    app.guard.key_lookup(ip)?;
    let name = pending_cookie_name(&app);
    let pending = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| sso.open(c.value()));
    let cb = Callback { state: q.remove("state"), code: q.remove("code"), error: q.remove("error"), error_description: q.remove("error_description"), iss: q.remove("iss") };
    let return_to = pending.as_ref().map(|p| p.return_to.clone());
    let mut res = match sso.finish(pending, cb, Some(ip)).await {
        Ok(signed_in) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            let to = return_to.unwrap_or_else(|| crate::operators::sso::DEFAULT_RETURN_TO.into());
            res.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/console")));
            set_session_cookie(&app, &signed_in, &mut res);
            res
        }
        Err(e) => refused(e),
    };
    // The sign-in in flight is spent either way.
    if let Some(c) = pending_cookie(&app, "", 0) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

/// The page of a refused single sign-on: what happened and the way back to the console's sign-in.
fn refused(e: SsoError) -> Response {
    let e = ApiError::from(e);
    if e.status().is_server_error() {
        tracing::warn!(error = %e, "single sign-on failed");
    }
    let message = match &e {
        ApiError::Internal(_) => "Something went wrong on our side; try again.".to_owned(),
        other => other.to_string(),
    };
    let body = format!(
        r#"<h1 tabindex="-1">You are not signed in</h1><p class="pb-lead" id="pb-status" role="status">{}</p><div class="pb-actions"><a class="pb-primary" href="/console">Back to sign-in</a></div>"#,
        text(&message)
    );
    Page { status: e.status(), look: &Look::default(), mark: Mark::Failed, title: "You are not signed in", body, data: String::new(), script: "/oauth/callback.js", connect: false, form: None }
        .render()
}
