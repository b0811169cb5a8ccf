//! `ApiError`: the one error type at the HTTP edge. Each variant knows its status and machine code; the body
//! `{"error", "code", "requestId"}` is written by [`render_errors`], which knows the request id (and, on StackOne's
//! paths, adds StackOne's `statusCode`, `message` and `timestamp`).

use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use plugboard_shared::ErrorBody;

use crate::{
    connect::{callback::Failure, links::LinkError}, passthrough::PassthroughError, refresh::RefreshError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("this session has expired; close the window and open it again")]
    SessionExpired,
    /// 403 `origin_not_allowed`: a widget call from a page the project does not list.
    #[error("{0}")]
    OriginNotAllowed(String),
    /// 403 with its own machine code (e.g. `flow_not_proven`: an OAuth popup without its widget's proof).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The request body did not arrive in time (408, `timeout`); the connection is closed after the answer.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    ProviderRefused(String),
    #[error("{0}")]
    ProviderFailed(String),
    /// The provider did not answer in time (504).
    #[error("{0}")]
    ProviderTimeout(String),
    /// The request conflicts with the state of what it names (409), e.g. a connection that must be reconnected.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// What the request names is gone for good (410), e.g. an expired or withdrawn auth link.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// A cap was reached (429, `too_many`), e.g. sign-ins open at once; nothing to wait for but finishing one.
    #[error("{0}")]
    Capped(String),
    /// An operator account refuses password sign-ins for now (429 `locked_out` with `Retry-After`).
    #[error("too many failed sign-ins for this account; try again in {retry_after_secs} s")]
    LockedOut { retry_after_secs: u64 },
    /// A rate limit was hit (429): try again after `retry_after_secs`.
    #[error("too many requests; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// The database cannot be reached or is too busy (503 with `Retry-After`); nothing was changed.
    #[error("the service is briefly unavailable; try again in a few seconds")]
    DatabaseUnavailable,
    /// Try again shortly (503).
    #[error("{0}")]
    Unavailable(String),
    /// The provider asked Plugboard to wait (a 429 or 5xx with `Retry-After` on its token endpoint): 503 with
    /// `Retry-After` in seconds, and no call to the provider until then.
    #[error("{message}")]
    RetryLater { message: String, retry_after_secs: u64 },
    /// Logged in full; the client only learns that something went wrong on our side.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::SessionExpired => (StatusCode::GONE, "session_expired"),
            Self::OriginNotAllowed(_) => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            Self::Denied { code, .. } => (StatusCode::FORBIDDEN, code),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            Self::NotConfigured(_) => (StatusCode::CONFLICT, "integration_not_configured"),
            Self::ProviderRefused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "provider_refused"),
            Self::ProviderFailed(_) => (StatusCode::BAD_GATEWAY, "provider_failed"),
            Self::ProviderTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "provider_timeout"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::LockedOut { .. } => (StatusCode::TOO_MANY_REQUESTS, "locked_out"),
            Self::Capped(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            Self::Gone { code, .. } => (StatusCode::GONE, code),
            Self::Unavailable(_) | Self::DatabaseUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::RetryLater { .. } => (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<crate::alerts::AlertError> for ApiError {
    /// 400 `invalid_alert` for a setting out of range; the store's and the vault's errors as they map.
    fn from(e: crate::alerts::AlertError) -> Self {
        use crate::alerts::AlertError as E;
        match e {
            E::Invalid(m) => Self::bad_request("invalid_alert", m),
            E::Store(e) => e.into(),
            E::Vault(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<crate::operators::OperatorError> for ApiError {
    /// 401 `unauthorized` (not signed in, a wrong password, an unknown token), 429 `locked_out` with `Retry-After`,
    /// 403 `forbidden` (the role or the token's scope), 403 `csrf_failed`, 400 `invalid_operator`, 409
    /// `operator_exists`, 404 `not_found`; the store's errors as they map.
    fn from(e: crate::operators::OperatorError) -> Self {
        use crate::operators::OperatorError as E;
        match e {
            E::Unauthenticated(m) => Self::Unauthorized(m),
            E::LockedOut { retry_after_secs } => Self::LockedOut { retry_after_secs },
            E::Forbidden(message) => Self::Denied { code: "forbidden", message },
            E::CsrfFailed => Self::Denied { code: "csrf_failed", message: E::CsrfFailed.to_string() },
            E::Invalid(m) => Self::bad_request("invalid_operator", m),
            E::Exists => Self::Conflict { code: "operator_exists", message: E::Exists.to_string() },
            E::NotFound(m) => Self::NotFound(m),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::operators::sso::SsoError> for ApiError {
    /// 404 `not_found` (not configured), 400 `invalid_return_to`, 400 `sso_state_invalid` (no sign-in started in this
    /// browser, expired, or a `state` that does not match), 403 `sso_refused` (the provider's error), 400
    /// `sso_failed` (a used or expired code, an ID token that fails its checks), 502 `provider_failed` (the
    /// provider unreachable), 403 `sso_no_role`, 403 `sso_email_refused`, 403 `operator_disabled`, 409
    /// `operator_exists`; the store's errors as they map.
    fn from(e: crate::operators::sso::SsoError) -> Self {
        use crate::operators::sso::SsoError as E;
        let message = e.to_string();
        match e {
            E::NotConfigured => Self::NotFound(message),
            E::BadReturnTo => Self::bad_request("invalid_return_to", message),
            E::BadState => Self::bad_request("sso_state_invalid", message),
            E::ProviderRefused(_) => Self::Denied { code: "sso_refused", message },
            E::Failed(_) => Self::bad_request("sso_failed", message),
            E::Unavailable(_) => Self::ProviderFailed(message),
            E::NoRole(_) => Self::Denied { code: "sso_no_role", message },
            E::EmailRefused(_) => Self::Denied { code: "sso_email_refused", message },
            E::Disabled => Self::Denied { code: "operator_disabled", message },
            E::Exists => Self::Conflict { code: "operator_exists", message },
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::connect::ConnectError> for ApiError {
    /// 404 for what the session cannot see, 400 `invalid_fields` for a form the catalog refuses, 409
    /// `integration_not_configured`, 403 `flow_not_proven` for a sign-in window without its widget's proof, 429
    /// `too_many` for open sign-ins, a link as [`LinkError`] maps, 422 `provider_refused` when the provider looked at
    /// the credential and said no, 502 `provider_failed` when it could not be asked.
    fn from(e: crate::connect::ConnectError) -> Self {
        use crate::connect::ConnectError as E;
        match e {
            E::NotFound(m) => Self::NotFound(m),
            E::BadInput(m) => Self::bad_request("invalid_fields", m),
            E::NotConfigured(m) => Self::NotConfigured(m),
            E::Forbidden(message) => Self::Denied { code: "flow_not_proven", message },
            E::TooMany(message) => Self::Capped(message),
            E::Link(e) => e.into(),
            E::ProviderRefused(m) => Self::ProviderRefused(m),
            E::ProviderFailed(m) => Self::ProviderFailed(m),
            E::Store(e) => e.into(),
            E::Vault(e) => Self::Internal(e.to_string()),
        }
    }
}

/// The status of a sign-in page that says why nothing was connected.
pub fn sign_in_status(kind: Failure) -> StatusCode {
    match kind {
        Failure::Invalid => StatusCode::BAD_REQUEST,
        Failure::WrongBrowser => StatusCode::FORBIDDEN,
        Failure::NoIntegration => StatusCode::NOT_FOUND,
        Failure::Ended => StatusCode::CONFLICT,
        Failure::Expired => StatusCode::GONE,
        Failure::ProviderRefused => StatusCode::UNPROCESSABLE_ENTITY,
        Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Failure::ProviderFailed => StatusCode::BAD_GATEWAY,
        Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<LinkError> for ApiError {
    /// 404 for an unknown link, 409 `link_used` for a spent one (as the save's own check answers, see
    /// [`StoreError::LinkSpent`]), 410 `link_revoked` / `link_expired`.
    fn from(e: LinkError) -> Self {
        let message = e.to_string();
        match e {
            LinkError::Unknown => Self::NotFound(message),
            LinkError::Used => Self::Conflict { code: "link_used", message },
            LinkError::Revoked => Self::Gone { code: "link_revoked", message },
            LinkError::Expired => Self::Gone { code: "link_expired", message },
        }
    }
}

impl From<RefreshError> for ApiError {
    /// 404 for a connection that is gone; 409 `connection_failed` when the provider refused the refresh (the user
    /// must reconnect); 502 when it failed; 503 while another node's refresh takes long, and 503 with `Retry-After`
    /// while the provider asked Plugboard to wait.
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

/// A refresh an operator asked for (`POST /operator/v1/connections/{key}/refresh`): 422 `provider_refused` with
/// the provider's reason when it refused (the connection is failed now), 502 `provider_failed` when it could not
/// answer (degraded, retried later); the rest as [`RefreshError`] maps.
pub fn refresh_now_error(e: RefreshError) -> ApiError {
    match e {
        RefreshError::Refused(m) => ApiError::ProviderRefused(m),
        other => other.into(),
    }
}

impl From<PassthroughError> for ApiError {
    /// 400 for a request Plugboard cannot forward as sent (`missing_connection_key`, `invalid_input`,
    /// `platform_mismatch`, `invalid_choice`, `unknown_token`, `invalid_path`, `invalid_body`), 403
    /// `choice_not_granted`, 404 for a connection or integration the caller's project does not have, 408 for a body
    /// that did not arrive, 409 `token_unavailable`, 502 / 504 when the provider failed or was silent; a refresh
    /// error as [`RefreshError`] maps.
    fn from(e: PassthroughError) -> Self {
        use PassthroughError as E;
        let message = e.to_string();
        match e {
            E::NoPlatform | E::UnknownConnection(_) | E::UnknownIntegration(_) => Self::NotFound(message),
            E::MissingConnectionKey => Self::bad_request("missing_connection_key", message),
            E::InvalidHeader(_) => Self::bad_request("invalid_input", message),
            E::PlatformMismatch { .. } => Self::bad_request("platform_mismatch", message),
            E::InvalidChoice(_) => Self::bad_request("invalid_choice", message),
            E::ChoiceNotGranted => Self::Denied { code: "choice_not_granted", message },
            E::UnknownToken(_) => Self::bad_request("unknown_token", message),
            E::TokenUnavailable(_) => Self::Conflict { code: "token_unavailable", message },
            E::InvalidPath(_) => Self::bad_request("invalid_path", message),
            E::UnreadableBody => Self::bad_request("invalid_body", message),
            E::BodyTimeout(_) => Self::RequestTimeout(message),
            E::ProviderFailed(_) => Self::ProviderFailed(message),
            E::ProviderTimeout(_) => Self::ProviderTimeout(message),
            E::Refresh(e) => e.into(),
            E::Project(e) => e.into(),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::projects::edit::SettingsError> for ApiError {
    /// 400 `invalid_settings` (the message names the field), 404 for an unknown project, OAuth client, key or
    /// webhook, 409 `project_exists`, `managed_by_file` (the config file sets it) or `ambiguous_hint`; a store or
    /// vault error as those map.
    fn from(e: crate::projects::edit::SettingsError) -> Self {
        use crate::projects::edit::SettingsError as E;
        let message = e.to_string();
        match e {
            E::UnknownProject(_) | E::NotFound(_) => Self::NotFound(message),
            E::Exists(_) => Self::Conflict { code: "project_exists", message },
            E::Invalid(_) => Self::bad_request("invalid_settings", message),
            E::ManagedByFile(_) => Self::Conflict { code: "managed_by_file", message },
            E::Ambiguous(_) => Self::Conflict { code: "ambiguous_hint", message },
            E::Project(e) => e.into(),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::projects::ProjectError> for ApiError {
    fn from(e: crate::projects::ProjectError) -> Self {
        crate::connect::ConnectError::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    /// 503 with `Retry-After` while the database is unavailable; 400 `invalid_input` for a value the database
    /// refused and 409 `conflict` for one that clashes with a stored row (sending either again cannot work); else
    /// 500.
    fn from(e: StoreError) -> Self {
        if matches!(e, StoreError::LinkSpent) {
            return Self::Conflict { code: "link_used", message: "this link was already used to connect an account, or it expired meanwhile".into() };
        }
        if let StoreError::TooManyConnections { .. } = e {
            return Self::Conflict { code: "too_many_connections", message: e.to_string() };
        }
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return Self::DatabaseUnavailable;
        }
        if e.is_bad_value() {
            tracing::warn!(error = %e, "the database refused a value of the request");
            return Self::bad_request("invalid_input", "a value in this request cannot be stored: it holds a character or a number the database refuses");
        }
        if e.is_conflict() {
            tracing::warn!(error = %e, "the request conflicts with a stored row");
            return Self::Conflict { code: "conflict", message: "this request conflicts with what is stored; it cannot be applied as it is".into() };
        }
        Self::Internal(e.to_string())
    }
}

/// Marks an error answer of StackOne's paths (set by [`super::stackone::mark_errors`]): its body also carries
/// StackOne's `statusCode`, `message` and `timestamp`.
#[derive(Debug, Clone, Copy)]
pub struct StackOneShape;

/// Carried in the response extensions from [`ApiError::into_response`] to [`render_errors`].
#[derive(Debug, Clone)]
struct PendingError {
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut res = status.into_response();
        if let Self::RetryLater { retry_after_secs, .. } | Self::TooManyRequests { retry_after_secs } | Self::LockedOut { retry_after_secs } = &self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let Self::DatabaseUnavailable = &self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res.extensions_mut().insert(PendingError { code, message: self.to_string() });
        res
    }
}

/// Middleware that writes the JSON body of every [`ApiError`], with the request's id — and of every other error
/// answer Plugboard itself makes in plain text (an axum extractor's rejection: a path segment that is not UTF-8, a
/// malformed query), so a client always gets `{"error", "code", "requestId"}`. (The passthrough is served beside
/// the router, with [`render_api_error`]: its answers are the provider's and pass untouched.)
pub async fn render_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let res = next.run(req).await;
    let pending = match res.extensions().get::<PendingError>().cloned() {
        Some(p) => p,
        None if is_plain_error(&res) => {
            let status = res.status();
            let (parts, body) = res.into_parts();
            let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned()).unwrap_or_default();
            let code = match status.as_u16() {
                408 => "timeout",
                413 => "payload_too_large",
                414 => "uri_too_long",
                415 => "unsupported_media_type",
                s if s < 500 => "bad_request",
                _ => "internal",
            };
            let message = if status.is_client_error() && !text.is_empty() { text } else { status.canonical_reason().unwrap_or("error").to_lowercase() };
            return json_error(parts, PendingError { code, message }, request_id);
        }
        None => return res,
    };
    let (parts, _) = res.into_parts();
    json_error(parts, pending, request_id)
}

/// The JSON body of an [`ApiError`] answer (`{"error", "code", "requestId"}`); any other answer as it is — the
/// passthrough's way of [`render_errors`], whose provider answers pass untouched whatever their status.
pub fn render_api_error(res: Response, request_id: &str) -> Response {
    match res.extensions().get::<PendingError>().cloned() {
        Some(pending) => json_error(res.into_parts().0, pending, request_id.to_owned()),
        None => res,
    }
}

/// An error status with a plain-text (or no) body: what axum's own rejections look like.
fn is_plain_error(res: &Response) -> bool {
    let plain = res.headers().get(header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    (res.status().is_client_error() || res.status().is_server_error()) && plain
}

fn json_error(mut parts: axum::http::response::Parts, pending: PendingError, request_id: String) -> Response {
    let stackone = parts.extensions.get::<StackOneShape>().is_some();
    let body = ErrorBody {
        status_code: stackone.then_some(parts.status.as_u16()),
        message: stackone.then(|| pending.message.clone()),
        timestamp: stackone.then(|| {
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
        }),
        error: pending.message,
        code: pending.code.into(),
        request_id,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, json.into())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
