//! One passthrough call, whole: find the connection the caller names in its project, work out the provider URL and
//! headers, read (or stream) the body, make sure the credentials are fresh, present them, send, and apply the
//! 401 policy — a 401 is answered by one refresh and one retry, unless the token was just refreshed (then the 401 is
//! the provider's answer about something else, a missing scope say, and is passed through), and 401s are passed
//! through for a while after such an answer ([`crate::refresh::HOLD_401_SECS`]). A 401 with RFC 6750's
//! `error="invalid_token"` on a connection nothing can renew marks it failed.

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::Response,
};
use http_body_util::BodyExt;

use super::{
    request, target,
    upstream::{self, Upstream, UpstreamError},
};
use crate::{
    catalog::{
        inject::{self as credentials, TokenChoice},
        template, Inject,
    },
    connect::Connections,
    keys::Environment,
    projects::{ProjectError, Projects},
    refresh::{Cause, RefreshError},
    store::StoreError,
    vault::Credentials,
};

/// Request bodies up to this size are kept so a 401 can be retried after a refresh, and responses up to it are
/// read whole; larger ones stream straight through (and a 401 on a large upload is answered as is).
const REPLAY_MAX: usize = 256 * 1024;
const USER_AGENT: &str = concat!("Plugboard/", env!("CARGO_PKG_VERSION"));

/// What a passthrough call needs of the server: borrowed for the call.
pub struct Context<'a> {
    pub connections: &'a Connections,
    pub projects: &'a Projects,
    pub upstream: &'a Upstream,
    /// How long the provider has to start answering (and to send a small answer whole).
    pub answer_timeout: Duration,
    /// How long the caller's body may take (a small one whole) or pause (a streamed one).
    pub body_timeout: Duration,
}

/// Why Plugboard answered a passthrough call itself instead of passing the provider's answer on. The HTTP edge
/// (`http::error`) gives each its status and machine code.
#[derive(Debug, thiserror::Error)]
pub enum PassthroughError {
    /// The path names no integration.
    #[error("name the integration: /v1/passthrough/{{platform}}/{{path}}")]
    NoPlatform,
    #[error("send the connection's key in X-One-Connection-Key")]
    MissingConnectionKey,
    /// One of Plugboard's own request headers holds what it cannot (a control character, bytes that are not text).
    #[error("{0}")]
    InvalidHeader(&'static str),
    /// No live connection with this key in the caller's project and environment.
    #[error("no connection with key {0:?}")]
    UnknownConnection(String),
    #[error("this connection is for {connection:?}, not {asked:?}")]
    PlatformMismatch { connection: String, asked: String },
    /// The project's catalog has no such integration (any more).
    #[error("no integration {0:?}")]
    UnknownIntegration(String),
    /// `Plugboard-Choice` names no kind of place the connection lists.
    #[error("{0}")]
    InvalidChoice(String),
    /// `Plugboard-Choice` names a place the connection's grant does not reach.
    #[error("the place Plugboard-Choice names is not one this connection's grant reaches (see its record's choices)")]
    ChoiceNotGranted,
    /// `Plugboard-Token` names a token the integration does not have.
    #[error("{0}")]
    UnknownToken(String),
    /// The connection holds no token of the kind asked for (its sign-in did not grant one).
    #[error("{0}")]
    TokenUnavailable(String),
    /// The path (or the URL the entry builds from it) leaves the integration's API, or is not a URL.
    #[error("{0}")]
    InvalidPath(String),
    #[error("the request body could not be read")]
    UnreadableBody,
    /// The caller's body did not arrive (or paused) within this long.
    #[error("the request body did not arrive within {} s", .0.as_secs())]
    BodyTimeout(Duration),
    /// The provider could not be reached, or broke off its answer.
    #[error("{0}")]
    ProviderFailed(String),
    /// The provider did not answer in time.
    #[error("{0}")]
    ProviderTimeout(String),
    /// The credentials could not be made fresh.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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

/// Forwards `req` (its path starting `/v1/passthrough/`) for a caller of `project_id` in `environment`: the
/// provider's answer as it sent it (bar the headers that must not cross), or why not.
pub async fn forward(ctx: &Context<'_>, project_id: &str, environment: Environment, req: Request) -> Result<Response, PassthroughError> {
    let rest = req.uri().path().strip_prefix(super::PREFIX).unwrap_or_default().to_owned();
    let (platform, raw_path) = rest.split_once('/').unwrap_or((&rest, ""));
    if platform.is_empty() {
        return Err(PassthroughError::NoPlatform);
    }
    let key = request::connection_key(req.headers())?;
    let conn = ctx.connections.hot_entry(key).await?;
    let row = &conn.0;
    if row.project_id != project_id || row.environment != environment {
        return Err(PassthroughError::UnknownConnection(key.to_owned()));
    }
    if row.platform != platform {
        return Err(PassthroughError::PlatformMismatch { connection: row.platform.clone(), asked: platform.to_owned() });
    }
    let view = ctx.projects.view(project_id, environment).await?;
    let entry = view.catalog.get(platform).ok_or_else(|| PassthroughError::UnknownIntegration(platform.to_owned()))?;
    // Another place the grant reaches, when the caller names one: the connection's config with that one in use.
    let addressed = request::chosen(req.headers(), row)?.map(|(name, id)| {
        let mut config = row.config.clone();
        config.insert(name.to_owned(), id.to_owned());
        config
    });
    let choice = TokenChoice::parse(request::token_name(req.headers())?, entry).map_err(PassthroughError::UnknownToken)?;
    static OAUTH_DEFAULT: std::sync::LazyLock<Inject> = std::sync::LazyLock::new(credentials::default_for_oauth);
    let inject = entry.inject.as_ref().or_else(|| row.is_oauth.then(|| &*OAUTH_DEFAULT));
    let base = match entry.fixed_api_base() {
        Some(fixed) => std::borrow::Cow::Borrowed(fixed),
        None => std::borrow::Cow::Owned(
            url::Url::parse(&template::render(&entry.api_base_url, addressed.as_ref().unwrap_or(&row.config)))
                .map_err(|_| PassthroughError::InvalidPath("the integration's API base URL is not valid".into()))?,
        ),
    };
    let mut url = target::target(&base, raw_path, req.uri().query()).map_err(PassthroughError::InvalidPath)?;
    if let Some(Inject::Query { name, .. }) = inject {
        // The caller cannot supply (or override) the credential parameter itself.
        let kept: Vec<(String, String)> = url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
    }

    let (parts, body) = req.into_parts();
    let headers = target::request_headers(&parts.headers);
    let length = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
    // The caller's body has a deadline: a small one must arrive whole within it, a larger one may not pause longer
    // (else a body announced and never sent would hold the call, and its connection, for ever).
    let stalled = || PassthroughError::BodyTimeout(ctx.body_timeout);
    let mut outgoing = match (length, chunked) {
        (None | Some(0), false) => Outgoing::Replayable(Bytes::new()),
        (Some(n), false) if n <= REPLAY_MAX => match tokio::time::timeout(ctx.body_timeout, axum::body::to_bytes(body, REPLAY_MAX)).await {
            Err(_) => return Err(stalled()),
            Ok(read) => Outgoing::Replayable(read.map_err(|_| PassthroughError::UnreadableBody)?),
        },
        _ => Outgoing::Streamed(Some(Body::new(tower_http::timeout::TimeoutBody::new(ctx.body_timeout, body)))),
    };

    let (conn, just_refreshed) = ctx.connections.ensure_fresh(conn).await?;
    let (row, creds) = (&conn.0, &conn.1);
    let config = addressed.as_ref().unwrap_or(&row.config);
    if choice != TokenChoice::Default && credentials::pick_token(creds, &choice).is_none() {
        let name = match &choice {
            TokenChoice::Named(name) => name.as_str(),
            _ => entry.oauth.as_ref().and_then(|o| o.token_name.as_deref()).unwrap_or("top-level"),
        };
        return Err(PassthroughError::TokenUnavailable(format!("this {} connection holds no {name} token: its sign-in did not grant one (reconnect asking for those scopes)",
            entry.name
        )));
    }
    // The headers and URL each send starts from; copied only when a 401 could be retried.
    let retry_possible = row.refreshable && matches!(outgoing, Outgoing::Replayable(_));
    let spare = retry_possible.then(|| (headers.clone(), url.clone()));
    let send = |creds: &Credentials, body: Body, (mut headers, mut url): (HeaderMap, url::Url)| {
        let presented = match inject {
            Some(how) => credentials::present(&mut headers, &mut url, how, &credentials::template_values_with(config, creds, &choice)),
            None => Ok(()),
        };
        let timeout = ctx.answer_timeout;
        let name = &entry.name;
        let method = parts.method.clone();
        let client = ctx.upstream;
        async move {
            presented.map_err(|e| PassthroughError::ProviderFailed(format!("could not call {name}: {e}")))?;
            // What reqwest sent by default, so providers see the same request as before.
            headers.entry(header::USER_AGENT).or_insert(HeaderValue::from_static(USER_AGENT));
            headers.entry(header::ACCEPT).or_insert(HeaderValue::from_static("*/*"));
            let uri = Uri::try_from(String::from(url)).map_err(|_| PassthroughError::InvalidPath("the provider's URL is not valid".into()))?;
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
                    _ => upstream::stall_guarded(body),
                };
                Ok::<_, UpstreamError>(Response::from_parts(head, body))
            };
            match tokio::time::timeout(timeout, answer).await {
                Err(_) => Err(PassthroughError::ProviderTimeout(format!("{name} did not answer within {} s", timeout.as_secs()))),
                Ok(Err(UpstreamError::Timeout)) => Err(PassthroughError::ProviderTimeout(format!("{name} did not answer in time"))),
                Ok(Err(UpstreamError::BodyStalled)) => Err(stalled()),
                Ok(Err(UpstreamError::Failed(e))) => {
                    tracing::warn!(error = %e, "passthrough request failed");
                    Err(PassthroughError::ProviderFailed(format!("could not reach {name}, or it broke off its answer")))
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
            ctx.connections.hold_401(&row.key, &row.id, row.secret_version).await?;
        } else if let (false, Some(spare)) = (held, spare) {
            // (`spare` exists only for a body that can be sent again.)
            match ctx.connections.refresh(&row.key, row.secret_version, Cause::Unauthorized).await {
                Ok(fresh) if fresh.0.secret_version != row.secret_version => {
                    res = send(&fresh.1, outgoing.take(), spare).await?;
                    if unauthorized(&res) {
                        // Also when another call refreshed and its retry worked: this call's 401 is not expiry.
                        ctx.connections.hold_401(&row.key, &fresh.0.id, fresh.0.secret_version).await?;
                    } else if fresh.0.hold_401_until.is_some() {
                        ctx.connections.release_401_hold(&row.key, &fresh.0.id, fresh.0.secret_version).await?;
                    }
                }
                // Held meanwhile (another call's fresh token met a 401 too): the provider's answer stands.
                Ok(_) => {}
                // Could not renew: 409 (reconnect), 502, or 503 with Retry-After — Plugboard cannot tell a 401
                // about expiry from one about something else until the token endpoint answers again.
                Err(e) => return Err(e.into()),
            }
        }
    } else if unauthorized(&res) && row.is_oauth && target::bearer_error(res.headers()).as_deref() == Some("invalid_token") {
        // The provider says the token is dead (RFC 6750 §3.1) and nothing can renew it: the connection says so
        // from now on (failed, `connection.failed`); this call gets the provider's own answer.
        let _ = ctx.connections.fail_unrenewable(row).await;
    }

    let (mut head, body) = res.into_parts();
    target::strip_response_headers(&mut head.headers);
    Ok(Response::from_parts(head, body))
}
