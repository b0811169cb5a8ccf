//! Request extractors that answer bad input with our own JSON errors: body, pagination, secret-key and
//! session-token authentication.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, FromRequestParts, Query, Request},
    http::{header, request::Parts, HeaderMap},
};
use serde::de::DeserializeOwned;

use super::{error::ApiError, AppState};
use crate::{
    keys::SecretKey,
    session::Session,
    store::KeyGrant,
};

/// A JSON body parsed whatever the content type, refused with a 400 that says what is wrong — among others a
/// string holding a control character, which [`super::input::check_json`] names (`invalid_input`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|_| ApiError::PayloadTooLarge)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("invalid_json", "the request body is empty; send a JSON object"));
        }
        super::input::check_json(&bytes)?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("the request body is not valid: {e}")))
    }
}

/// Query parameters as plain strings; malformed encodings become a 400.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Params(q))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

/// `page` / `limit` as the API defines them (docs/contract.md, Conventions): missing, empty, `null` or `undefined` mean the default (host
/// backends ported from the seeds forward `page=null`); anything else must be a whole number in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u64,
    pub limit: u64,
}

impl Paging {
    pub fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        Self::with_max(params, MAX_LIMIT)
    }

    /// As [`Paging::from_params`] with another ceiling for `limit` (the catalog listing allows 1000).
    pub fn with_max(params: &HashMap<String, String>, max_limit: u64) -> Result<Self, ApiError> {
        let page = number(params, "page", 1, u64::from(u32::MAX))?;
        let limit = number(params, "limit", DEFAULT_LIMIT, max_limit)?;
        Ok(Self { page, limit })
    }

    /// `(rows of this page, total, pages)`.
    pub fn slice<T: Clone>(&self, all: &[T]) -> (Vec<T>, u64, u64) {
        let total = all.len() as u64;
        let pages = total.div_ceil(self.limit);
        let start = ((self.page - 1) * self.limit).min(total) as usize;
        let rows = all[start..].iter().take(self.limit as usize).cloned().collect();
        (rows, total, pages)
    }
}

/// The whole number `name` in `params`, from 1 to `max`; `default` when missing, empty, `null` or `undefined`.
pub(super) fn number(params: &HashMap<String, String>, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    let raw = params.get(name).map(|s| s.trim()).unwrap_or("");
    if matches!(raw, "" | "null" | "undefined") {
        return Ok(default);
    }
    match raw.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid_pagination",
            format!("{name} must be a whole number from 1 to {max}, got {raw:?}"),
        )),
    }
}

/// The username of `Authorization: Basic base64(user:password)` (StackOne's clients send the API key so).
fn basic_user(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':').map_or(text.as_str(), |(user, _)| user).to_owned())
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's address as the rate limits see it ([`super::limits::ClientIp`]: the peer, or the header a trusted
/// proxy sets).
pub struct RemoteIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for RemoteIp
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(AppState::from_ref(state).guard.client_ip.of(&parts.headers, &parts.extensions)))
    }
}

/// A request authenticated with a project secret key (`X-One-Secret`, `x-pica-secret` or `Authorization: Bearer`).
pub struct SecretAuth(pub KeyGrant);

impl<S: Send + Sync> FromRequestParts<S> for SecretAuth
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let client = app.guard.client_ip.of(&parts.headers, &parts.extensions);
        grant_for(&app, &parts.headers, Some(client)).await.map(Self)
    }
}

/// What the project secret key in `headers` grants (`X-One-Secret`, `x-pica-secret`, `Authorization: Bearer` or
/// Basic's username); 401 without a valid one. Keys seen within [`super::HOT_TTL`] skip the database, and so do
/// keys refused a moment ago.
pub async fn secret_grant(app: &AppState, headers: &HeaderMap) -> Result<KeyGrant, ApiError> {
    grant_for(app, headers, None).await
}

/// [`secret_grant`] for a request from `client` (its rate-limit key, [`super::limits::ClientIp`]): a key not
/// known from memory costs the client one request of its per-IP budget before the database is asked (429 past
/// it), so guessing keys is as slow as any other flood while a working backend, whose key stays in memory, is
/// never held back.
async fn grant_for(app: &AppState, headers: &HeaderMap, client: Option<std::net::IpAddr>) -> Result<KeyGrant, ApiError> {
    let basic = basic_user(headers);
    let presented = ["x-one-secret", "x-pica-secret"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .or_else(|| bearer(headers))
        .or(basic.as_deref())
        .ok_or_else(|| ApiError::Unauthorized("missing secret key: send X-One-Secret: sk_… or Authorization: Bearer sk_…".into()))?;
    let invalid = || ApiError::Unauthorized("invalid secret key".into());
    let key: SecretKey = presented.parse().map_err(|_| invalid())?;
    let digest = key.digest();
    if let Some(grant) = app.grants.get(&digest) {
        return Ok(grant);
    }
    if app.guard.was_refused(&digest) {
        return Err(invalid());
    }
    if let Some(ip) = client {
        app.guard.key_lookup(ip)?;
    }
    let Some(grant) = app.store.find_key(&digest).await? else {
        app.guard.remember_refused(digest);
        return Err(invalid());
    };
    app.grants.insert(digest, grant.clone());
    Ok(grant)
}

/// A widget request authenticated with a live session token (`Authorization: Bearer pbs_…`), charged to its end
/// user's and then its project's rate budget only once it is known good: ours, unexpired, not revoked, from an
/// allowed page. 401 for a token that is not (a revoked one is remembered for [`super::HOT_TTL`] and refused again
/// without a read), 410 `session_expired`, 403 for another page, 429 `rate_limited` past a budget.
pub struct SessionAuth(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for SessionAuth
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let token = bearer(&parts.headers)
            .ok_or_else(|| ApiError::Unauthorized("missing session token: send Authorization: Bearer pbs_…".into()))?;
        let invalid = || ApiError::Unauthorized("invalid session token".into());
        // The tag is checked first (no database): a forged or foreign token costs one HMAC.
        let session = crate::session::verify(&app.connections.vault, token).ok_or_else(invalid)?;
        if session.expires_at <= time::OffsetDateTime::now_utc().unix_timestamp() {
            return Err(ApiError::SessionExpired);
        }
        if app.guard.was_refused(&session.token_hash) {
            return Err(invalid());
        }
        if app.store.session_revoked(&session.id).await? {
            app.guard.remember_refused(session.token_hash);
            return Err(invalid());
        }
        // The widget presents the host page's origin, which it learned from the browser (`event.origin` of the
        // handshake); a project that lists allowed origins refuses every other one.
        let origin = parts.headers.get("plugboard-origin").and_then(|v| v.to_str().ok());
        // A session opened from an auth link or hosted session lives on Plugboard's own link page.
        let allowed = match &session.link_hash {
            Some(_) => origin == Some(app.own_origin().as_str()),
            None => app.projects.view(&session.project_id, session.environment).await?.allows_origin(origin),
        };
        if !allowed {
            return Err(ApiError::OriginNotAllowed(format!(
                "this page ({}) is not allowed to use this widget; add its origin to the project's allowedOrigins",
                origin.unwrap_or("unknown origin")
            )));
        }
        app.guard.end_user(&session.project_id, session.environment, session.identity_type, &session.identity)?;
        Ok(Self(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(pairs: &[(&str, &str)]) -> Result<Paging, ApiError> {
        Paging::from_params(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn absent_null_and_undefined_mean_default() {
        for v in ["", "null", "undefined", " "] {
            assert_eq!(paging(&[("page", v), ("limit", v)]).unwrap(), Paging { page: 1, limit: DEFAULT_LIMIT });
        }
    }

    #[test]
    fn out_of_range_and_garbage_are_refused() {
        for (k, v) in [("page", "0"), ("page", "-1"), ("page", "1.5"), ("page", "abc"), ("limit", "101"), ("limit", "0"), ("limit", "1e3")] {
            assert!(paging(&[(k, v)]).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn slices_pages() {
        let p = Paging { page: 3, limit: 2 };
        assert_eq!(p.slice(&[1, 2, 3, 4, 5]), (vec![5], 5, 3));
        let past_end = Paging { page: 9, limit: 2 };
        assert_eq!(past_end.slice(&[1, 2, 3]), (vec![], 3, 2));
    }
}
