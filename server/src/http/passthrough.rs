//! `ANY /v1/passthrough/{platform}/{*path}` (README, API: The passthrough): the host backend calls the provider's API with nothing
//! but a connection key. Method, query, safe headers and body are forwarded — bodies streamed both ways — with
//! fresh credentials injected as the catalog says (plus its extra headers); a 401 is answered by one refresh and one
//! retry — unless the token was just refreshed, in which case the 401 is the provider's answer about something
//! else (a missing scope) and is passed through, and 401s are passed through for a while (`refresh::HOLD_401_SECS`).

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use http_body_util::BodyExt;
use std::sync::Arc;
use tracing::Instrument;

use super::{error::ApiError, extract::SecretAuth, AppState};
use crate::{
    catalog::Inject,
    connect::{
        fields, inject,
        refresh::{Cause, RefreshError},
    },
    proxy::{self, UpstreamError},
    store::KeyGrant,
    vault::Credentials,
};

/// Request bodies up to this size are kept so a 401 can be retried after a refresh, and responses up to it are
/// read whole; larger ones stream straight through (and a 401 on a large upload is answered as is).
const REPLAY_MAX: usize = 256 * 1024;
pub const PREFIX: &str = "/v1/passthrough/";
/// The two routes' templates, as metrics name them.
const ROUTE: &str = "/v1/passthrough/{platform}/{*path}";
const ROUTE_ROOT: &str = "/v1/passthrough/{platform}";
const REQUEST_ID: &str = "x-request-id";
/// The CSP every passthrough answer carries, beside any of the provider's: its answer is served from Plugboard's
/// origin, where the widget runs, so a document in it may run nothing, load nothing, be framed nowhere, and is a
/// unique origin (`sandbox`). Browsers enforce every CSP an answer carries, so the provider's own still applies
/// and can only narrow it.
const PASSTHROUGH_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox");
const USER_AGENT: &str = concat!("Plugboard/", env!("CARGO_PKG_VERSION"));

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::NotFound => Self::NotFound("no such connection".into()),
            RefreshError::Refused(m) => Self::Conflict { code: "connection_failed", message: m },
            RefreshError::Transient(m) => Self::ProviderFailed(m),
            RefreshError::Busy => Self::Unavailable(e.to_string()),
            RefreshError::Backoff { message, retry_at } => {
                Self::RetryLater { message, retry_after_secs: (retry_at - crate::clock::now()).max(1) as u64 }
            }
            RefreshError::Store(e) => e.into(),
            RefreshError::Vault(e) => Self::Internal(e.to_string()),
        }
    }
}

/// The connection key the caller names (`X-One-Connection-Key` or `x-pica-connection-key`); a control character in
/// it (HTTP lets a tab through) is refused like any text at the edge ([`super::input`]).
fn connection_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let key = ["x-one-connection-key", "x-pica-connection-key"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_connection_key", "send the connection's key in X-One-Connection-Key"))?;
    if key.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_input", "X-One-Connection-Key must not contain control characters"));
    }
    Ok(key)
}

/// The header naming which of the places a connection's grant reaches a call is for (see [`chosen`]).
pub const CHOICE_HEADER: &str = "plugboard-choice";

/// The place a passthrough call addresses instead of the connection's own (`Plugboard-Choice: <id>`, or
/// `<name>=<id>` for an integration that lists more than one kind of place): one of those its grant reaches,
/// as the connection record's `choices` lists them. Absent: the one picked while connecting. 400
/// `invalid_choice` for a header that names no listed kind (or a connection that lists none); 403
/// `choice_not_granted` for a place the grant does not reach.
fn chosen<'a>(headers: &'a HeaderMap, row: &'a crate::store::ConnectionRow) -> Result<Option<(&'a str, &'a str)>, ApiError> {
    let Some(value) = headers.get(CHOICE_HEADER) else { return Ok(None) };
    let value = value.to_str().map(str::trim).map_err(|_| ApiError::bad_request("invalid_choice", "Plugboard-Choice must be plain text"))?;
    let (name, id) = match value.split_once('=') {
        Some((name, id)) => (name.trim(), id.trim()),
        None if row.choices.len() == 1 => (row.choices.keys().next().map(String::as_str).unwrap_or_default(), value),
        None if row.choices.is_empty() => {
            return Err(ApiError::bad_request("invalid_choice", "this connection reaches one place only: send no Plugboard-Choice"))
        }
        None => return Err(ApiError::bad_request("invalid_choice", "this connection lists several kinds of place: send Plugboard-Choice: <name>=<id>")),
    };
    let Some((name, listed)) = row.choices.get_key_value(name) else {
        return Err(ApiError::bad_request("invalid_choice", format!("this connection lists no places named {name:?} (see its record's choices)")));
    };
    if !listed.iter().any(|c| c.id == id) {
        return Err(ApiError::Denied { code: "choice_not_granted", message: "the place Plugboard-Choice names is not one this connection's grant reaches (see its record's choices)".into() });
    }
    Ok(Some((name.as_str(), id)))
}

/// Which of the connection's tokens the caller asks for (`Plugboard-Token: bot|user`, for an integration whose
/// sign-in gives several, such as Slack); absent = the connection's default. A value that is not text is refused.
fn token_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(TOKEN_HEADER) else { return Ok(None) };
    match value.to_str().map(str::trim) {
        Ok(v) if !v.chars().any(char::is_control) => Ok(Some(v)),
        _ => Err(ApiError::bad_request("invalid_input", "Plugboard-Token must be a token name such as user or bot")),
    }
}

/// The request header naming the token a call presents (see [`inject::TokenChoice`]); never forwarded (Plugboard's
/// own `plugboard-` headers stay here).
pub const TOKEN_HEADER: &str = "plugboard-token";

/// The request body, kept in memory when small enough to send twice.
enum Outgoing {
    Replayable(Bytes),
    Streamed(Option<Body>),
}

impl Outgoing {
    fn take(&mut self) -> Body {
        match self {
            Self::Replayable(bytes) => Body::from(bytes.clone()),
            Self::Streamed(body) => body.take().unwrap_or_else(Body::empty),
        }
    }
}

/// Answers a request whose path starts with [`PREFIX`], straight from the accept loop (see [`super::Service`]):
/// with the request id (`X-Request-Id`, the caller's or a new UUID) on the answer, Plugboard's own errors as JSON
/// bodies, the request counted in the metrics like any route's, a panic answered as a 500, and the headers of a
/// page of Plugboard's origin on every answer ([`page_headers`]).
pub async fn serve(app: Arc<AppState>, req: axum::http::Request<hyper::body::Incoming>) -> Response {
    let started = std::time::Instant::now();
    let method = super::metrics::method_label(req.method());
    let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or_default();
    let route = if rest.contains('/') { ROUTE } else { ROUTE_ROOT };
    let request_id = match req.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()))
            .expect("a UUID is a valid header value"),
    };
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
    let answer = async {
        let grant = super::extract::secret_grant(&app, req.headers()).await?;
        forward(&app, grant, req.map(Body::new)).await
    };
    let res = match std::panic::AssertUnwindSafe(answer.instrument(span)).catch_unwind().await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::Internal("handler panicked".into()).into_response(),
    };
    let mut res = super::error::render_api_error(res, request_id.to_str().unwrap_or_default());
    res.headers_mut().insert(REQUEST_ID, request_id);
    page_headers(res.headers_mut());
    super::metrics::record_static(route, method, res.status(), started);
    res
}

/// What a passthrough answer carries, provider's or Plugboard's, as it is served from Plugboard's origin:
/// `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`, replacing the provider's (they were
/// written for its origin; `nosniff` has no weaker value, and `no-referrer` is the strictest), and
/// [`PASSTHROUGH_CSP`] added beside any CSP of the provider's, which is kept.
fn page_headers(headers: &mut HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.append(header::CONTENT_SECURITY_POLICY, PASSTHROUGH_CSP);
}

/// `ANY /v1/passthrough/{platform}`: the API base URL itself.
#[utoipa::path(method(get, post, put, patch, delete), path = "/v1/passthrough/{platform}", tag = "passthrough",
    params(("platform" = String, Path, example = "gmail"), ("X-One-Connection-Key" = String, Header, description = "the connection's key (also x-pica-connection-key)"),
           ("Plugboard-Token" = Option<String>, Header, description = "which of the connection's tokens the call presents, for an integration whose sign-in grants several (Slack: `bot` or `user`; default bot, else user); 400 `unknown_token`, 409 `token_unavailable`"),
           ("Plugboard-Choice" = Option<String>, Header, description = "another place the connection's grant reaches (`<id>`, or `<name>=<id>`, from the record's `choices`; default the one picked when connecting); 400 `invalid_choice`, 403 `choice_not_granted`")),
    responses((status = "default", description = "the provider's answer, as it sent it"), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn passthrough_root(state: State<AppState>, auth: SecretAuth, req: Request) -> Result<Response, ApiError> {
    passthrough(state, auth, req).await
}

#[utoipa::path(method(get, post, put, patch, delete), path = "/v1/passthrough/{platform}/{path}", tag = "passthrough",
    params(("platform" = String, Path, example = "gmail"), ("path" = String, Path, description = "the rest of the provider's URL, after its API base"),
           ("X-One-Connection-Key" = String, Header, description = "the connection's key (also x-pica-connection-key)"),
           ("Plugboard-Token" = Option<String>, Header, description = "which of the connection's tokens the call presents, for an integration whose sign-in grants several (Slack: `bot` or `user`; default bot, else user); 400 `unknown_token`, 409 `token_unavailable`"),
           ("Plugboard-Choice" = Option<String>, Header, description = "another place the connection's grant reaches (`<id>`, or `<name>=<id>`, from the record's `choices`; default the one picked when connecting); 400 `invalid_choice`, 403 `choice_not_granted`")),
    responses((status = "default", description = "the provider's answer, as it sent it"), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn passthrough(State(app): State<AppState>, SecretAuth(grant): SecretAuth, req: Request) -> Result<Response, ApiError> {
    forward(&app, grant, req).await
}

async fn forward(app: &AppState, grant: KeyGrant, req: Request) -> Result<Response, ApiError> {
    let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or_default().to_owned();
    let (platform, raw_path) = rest.split_once('/').unwrap_or((&rest, ""));
    if platform.is_empty() {
        return Err(ApiError::NotFound("name the integration: /v1/passthrough/{platform}/{path}".into()));
    }
    let key = connection_key(req.headers())?;
    let conn = app.connector.hot_entry(key).await?;
    let row = &conn.0;
    if row.project_id != grant.project.id || row.environment != grant.environment {
        return Err(ApiError::NotFound(format!("no connection with key {key:?}")));
    }
    if row.platform != platform {
        return Err(ApiError::bad_request("platform_mismatch", format!("this connection is for {:?}, not {platform:?}", row.platform)));
    }
    let view = app.projects.view(&grant.project.id).await?;
    let entry = view.catalog.get(platform).ok_or_else(|| ApiError::NotFound(format!("no integration {platform:?}")))?;
    // Another place the grant reaches, when the caller names one: the connection's config with that one in use.
    let addressed = chosen(req.headers(), row)?.map(|(name, id)| {
        let mut config = row.config.clone();
        config.insert(name.to_owned(), id.to_owned());
        config
    });
    let choice = inject::TokenChoice::parse(token_header(req.headers())?, entry).map_err(|m| ApiError::bad_request("unknown_token", m))?;
    static OAUTH_DEFAULT: std::sync::LazyLock<Inject> = std::sync::LazyLock::new(inject::default_for_oauth);
    let inject = entry.inject.as_ref().or_else(|| row.is_oauth.then(|| &*OAUTH_DEFAULT));
    let base = match entry.fixed_api_base() {
        Some(fixed) => std::borrow::Cow::Borrowed(fixed),
        None => std::borrow::Cow::Owned(
            url::Url::parse(&fields::render(&entry.api_base_url, addressed.as_ref().unwrap_or(&row.config)))
                .map_err(|_| ApiError::bad_request("invalid_path", "the integration's API base URL is not valid"))?,
        ),
    };
    let mut url = proxy::target(&base, raw_path, req.uri().query()).map_err(|m| ApiError::bad_request("invalid_path", m))?;
    if let Some(Inject::Query { name, .. }) = inject {
        // The caller cannot supply (or override) the credential parameter itself.
        let kept: Vec<(String, String)> = url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
    }

    let (parts, body) = req.into_parts();
    let headers = proxy::request_headers(&parts.headers);
    let length = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    // The caller's body has a deadline: a small one must arrive whole within it, a larger one may not pause longer
    // (else a body announced and never sent would hold the call, and its connection, for ever).
    let stalled = || ApiError::RequestTimeout(format!("the request body did not arrive within {} s", app.request_timeout.as_secs()));
    let mut outgoing = match (length, chunked) {
        (None | Some(0), false) => Outgoing::Replayable(Bytes::new()),
        (Some(n), false) if n <= REPLAY_MAX => match tokio::time::timeout(app.request_timeout, axum::body::to_bytes(body, REPLAY_MAX)).await {
            Err(_) => return Err(stalled()),
            Ok(read) => Outgoing::Replayable(read.map_err(|_| ApiError::bad_request("invalid_body", "the request body could not be read"))?),
        },
        _ => Outgoing::Streamed(Some(Body::new(tower_http::timeout::TimeoutBody::new(app.request_timeout, body)))),
    };

    let (conn, just_refreshed) = app.connector.ensure_fresh(conn).await?;
    let (row, creds) = (&conn.0, &conn.1);
    let config = addressed.as_ref().unwrap_or(&row.config);
    if choice != inject::TokenChoice::Default && inject::pick_token(creds, &choice).is_none() {
        let name = match &choice {
            inject::TokenChoice::Named(name) => name.as_str(),
            _ => entry.oauth.as_ref().and_then(|o| o.token_name.as_deref()).unwrap_or("top-level"),
        };
        return Err(ApiError::Conflict {
            code: "token_unavailable",
            message: format!("this {} connection holds no {name} token: its sign-in did not grant one (reconnect asking for those scopes)", entry.name),
        });
    }
    // The headers and URL each send starts from; copied only when a 401 could be retried.
    let retry_possible = row.refreshable && matches!(outgoing, Outgoing::Replayable(_));
    let spare = retry_possible.then(|| (headers.clone(), url.clone()));
    let send = |creds: &Credentials, body: Body, (mut headers, mut url): (HeaderMap, url::Url)| {
        let presented = match inject {
            Some(how) => inject::present(&mut headers, &mut url, how, &inject::template_values_with(config, creds, &choice)),
            None => Ok(()),
        };
        let timeout = app.passthrough_timeout;
        let name = &entry.name;
        let method = parts.method.clone();
        let client = &app.passthrough;
        async move {
            presented.map_err(|e| ApiError::ProviderFailed(format!("could not call {name}: {e}")))?;
            // What reqwest sent by default, so providers see the same request as before.
            headers.entry(header::USER_AGENT).or_insert(HeaderValue::from_static(USER_AGENT));
            headers.entry(header::ACCEPT).or_insert(HeaderValue::from_static("*/*"));
            let uri = Uri::try_from(String::from(url)).map_err(|_| ApiError::bad_request("invalid_path", "the provider's URL is not valid"))?;
            let mut request = Request::new(body);
            *request.method_mut() = method;
            *request.uri_mut() = uri;
            *request.headers_mut() = headers;
            // One deadline for the head and, when it is small, the whole answer (one timer per call).
            let answer = async {
                let (head, body) = client.send(request).await?.into_parts();
                // A small body of known length is read whole, so headers and body leave in one write; anything
                // else streams, cut off if the provider falls silent for a minute.
                let length = head.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
                let body = match length {
                    // Bounded even if the provider sends more than it announced.
                    Some(n) if n <= REPLAY_MAX as u64 => Body::from(
                        http_body_util::Limited::new(body, REPLAY_MAX).collect().await.map_err(|e| UpstreamError::Failed(e.to_string()))?.to_bytes(),
                    ),
                    _ => proxy::stall_guarded(body),
                };
                Ok::<_, UpstreamError>(Response::from_parts(head, body))
            };
            match tokio::time::timeout(timeout, answer).await {
                Err(_) => Err(ApiError::ProviderTimeout(format!("{name} did not answer within {} s", timeout.as_secs()))),
                Ok(Err(UpstreamError::Timeout)) => Err(ApiError::ProviderTimeout(format!("{name} did not answer in time"))),
                Ok(Err(UpstreamError::BodyStalled)) => Err(stalled()),
                Ok(Err(UpstreamError::Failed(e))) => {
                    tracing::warn!(error = %e, "passthrough request failed");
                    Err(ApiError::ProviderFailed(format!("could not reach {name}, or it broke off its answer")))
                }
                Ok(Ok(res)) => Ok(res),
            }
        }
    };
    let mut res = send(creds, outgoing.take(), (headers, url)).await?;
    let unauthorized = |res: &Response| res.status() == StatusCode::UNAUTHORIZED;
    if unauthorized(&res) && row.refreshable {
        let held = row.hold_401_until.is_some_and(|until| until > crate::clock::now());
        if just_refreshed {
            // A 401 right after a refresh is the provider's answer about something else.
            app.connector.hold_401(&row.key, &row.id, row.secret_version).await?;
        } else if let (false, Some(spare)) = (held, spare) {
            // (`spare` exists only for a body that can be sent again.)
            match app.connector.refresh(&row.key, row.secret_version, Cause::Unauthorized).await {
                Ok(fresh) if fresh.0.secret_version != row.secret_version => {
                    res = send(&fresh.1, outgoing.take(), spare).await?;
                    if unauthorized(&res) {
                        // Also when another call refreshed and its retry worked: this call's 401 is not expiry.
                        app.connector.hold_401(&row.key, &fresh.0.id, fresh.0.secret_version).await?;
                    } else if fresh.0.hold_401_until.is_some() {
                        app.connector.release_401_hold(&row.key, &fresh.0.id, fresh.0.secret_version).await?;
                    }
                }
                // Held meanwhile (another call's fresh token met a 401 too): the provider's answer stands.
                Ok(_) => {}
                // Could not renew: 409 (reconnect), 502, or 503 with Retry-After — Plugboard cannot tell a 401
                // about expiry from one about something else until the token endpoint answers again.
                Err(e) => return Err(e.into()),
            }
        }
    } else if unauthorized(&res) && row.is_oauth && proxy::bearer_error(res.headers()).as_deref() == Some("invalid_token") {
        // The provider says the token is dead (RFC 6750 §3.1) and nothing can renew it: the connection says so
        // from now on (failed, `connection.failed`); this call gets the provider's own answer.
        let _ = app.connector.fail_unrenewable(row).await;
    }

    let (mut head, body) = res.into_parts();
    proxy::strip_response_headers(&mut head.headers);
    Ok(Response::from_parts(head, body))
}
