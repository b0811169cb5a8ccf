//! The token endpoint (RFC 6749 §3.2) as providers really answer it: one request path and one tolerant parser for
//! the authorization-code, refresh-token and client-credentials grants.
//!
//! Why not `oauth2`'s `request_async`: it refuses answers that real providers send every day — JSON labelled
//! `text/plain`, form-encoded bodies, `expires_in` as a string, no `token_type`, errors with HTTP 200 — and it
//! drops the response headers, so a 429's `Retry-After` is lost. As its maintainers suggest for non-conforming
//! providers, Plugboard has a response type of its own ([`TokenAnswer`]); `oauth2` still builds the authorization
//! URL and the PKCE pair.
//!
//! Shapes handled (each has a route in the tests' quirk provider):
//! - `token_type` missing (LinkedIn, Shopify) or any case/value (`bearer`, Slack's `bot`);
//! - `expires_in` as a number, a float or a string (`"3599"`, Microsoft); `0`, negative or absent = unknown;
//!   `expires` (Facebook's legacy name) and an absolute `expires_at` (Strava) when `expires_in` is missing;
//! - `scope` space- or comma-separated, or an array;
//! - JSON with any content type, and `application/x-www-form-urlencoded` bodies (GitHub without `Accept`);
//! - refusals as RFC 6749 §5.2, with HTTP 200 (GitHub, Zoho), as Slack's `{"ok": false, "error": …}`, as a
//!   nested `{"error": {"message": …}}`, HubSpot's `{"status": "BAD_REFRESH_TOKEN", "message": …}` or Strava's
//!   `{"message": …, "errors": [{"resource": …, "code": …}]}`;
//! - 429 and 5xx with `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3);
//! - further tokens in objects of their own, as the catalog entry declares them (Slack's user token under
//!   `authed_user`, with or without a top-level bot token: oauth.v2.access).
//!
//! Long on purpose: one request path and one parser for every grant and every provider's answer shape, so a quirk
//! fixed for one grant is fixed for all.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::{
    catalog::{NestedToken, TokenAuth},
    vault::SecretString,
};

/// Token answers larger than this are not read (a real one is a few KB).
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Error codes that mean the grant is gone for good: the user must connect again. RFC 6749 §5.2 `invalid_grant`
/// and what providers say instead (GitHub `bad_refresh_token`/`bad_verification_code`, Slack
/// `invalid_refresh_token`/`token_revoked`/`token_expired`, Zoho `invalid_code`, HubSpot `BAD_REFRESH_TOKEN`,
/// Strava `RefreshToken:invalid`). Compared without case.
const DEAD_GRANT_CODES: &[&str] = &[
    "invalid_grant",
    "bad_refresh_token",
    "bad_verification_code",
    "invalid_refresh_token",
    "refresh_token_expired",
    "refresh_token_revoked",
    "token_revoked",
    "token_expired",
    "expired_token",
    "invalid_code",
    "account_inactive",
    "app_uninstalled",
    "refreshtoken:invalid",
    "refreshtoken:expired",
];

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
pub struct ClientAuth<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub method: TokenAuth,
}

impl ClientAuth<'_> {
    /// Adds the client's credentials to a token, revocation or introspection request.
    pub fn apply(&self, req: reqwest::RequestBuilder, form: &mut Vec<(&'static str, String)>) -> reqwest::RequestBuilder {
        match self.method {
            TokenAuth::ClientSecretBasic => {
                // RFC 6749 §2.3.1: each part form-urlencoded before the Basic encoding.
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                req.basic_auth(enc(self.client_id), Some(enc(self.client_secret)))
            }
            TokenAuth::ClientSecretPost => {
                form.push(("client_id", self.client_id.to_owned()));
                form.push(("client_secret", self.client_secret.to_owned()));
                req
            }
        }
    }
}

/// What is asked for.
pub enum Grant<'a> {
    /// RFC 6749 §4.1.3 (with RFC 7636's `code_verifier`).
    AuthorizationCode { code: &'a str, redirect_uri: &'a str, code_verifier: Option<&'a str> },
    /// RFC 6749 §6.
    RefreshToken { refresh_token: &'a str },
    /// RFC 6749 §4.4.
    ClientCredentials { scope: Option<String> },
}

/// A token answer, however the provider shaped it.
#[derive(Debug)]
pub struct TokenAnswer {
    /// The top-level access token; `None` only when the answer carries a nested token instead (Slack's install
    /// with user scopes only). `refresh_token`, `expires_in` and `scope` are this token's.
    pub access_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    /// Seconds the access token lives; `None` when unknown (absent, zero, negative or unreadable): such a token
    /// is refreshed when the provider answers 401, not ahead of time.
    pub expires_in: Option<u64>,
    /// Space-separated.
    pub scope: Option<String>,
    /// The OpenID Connect ID token, when the provider sent one: read only for the connection's account label
    /// (`connect::account`), never stored.
    pub id_token: Option<SecretString>,
    /// The other members (e.g. Salesforce's `instance_url`), for the catalog's `[[metadata]]` to pick from.
    /// Never stored whole. The nested tokens' `access_token` and `refresh_token` are taken out of it.
    pub extra: Map<String, Value>,
    /// The nested tokens the entry declared and the answer carried, by name.
    pub nested: std::collections::BTreeMap<String, IssuedToken>,
}

/// One nested token of a [`TokenAnswer`].
#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// As [`TokenAnswer::expires_in`].
    pub expires_in: Option<u64>,
    /// Space-separated.
    pub scope: Option<String>,
}

/// Why no token came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The provider said no, in whatever shape. `dead`: the grant is gone for good (see [`DEAD_GRANT_CODES`]).
    Refused { code: String, description: Option<String>, dead: bool },
    /// Rate limited (429) or unavailable (5xx): try later, not before `retry_after`.
    Unavailable { status: u16, retry_after: Option<Duration> },
    /// No answer (connection refused, timeout, TLS).
    Unreachable,
    /// An answer that is neither tokens nor a refusal Plugboard can read.
    Unreadable { status: u16, reason: &'static str },
}

impl TokenError {
    /// Plain words for a person, naming the provider; the provider's own explanation when it gave one.
    pub fn message(&self, provider: &str) -> String {
        match self {
            Self::Refused { code, description, .. } => {
                let why = description.as_deref().filter(|d| !d.trim().is_empty()).map(str::to_owned).unwrap_or_else(|| explain(code));
                format!("{provider} refused: {}", sentence(&why))
            }
            Self::Unavailable { status: 429, .. } => format!("{provider} is limiting requests right now; try again in a moment."),
            Self::Unavailable { status, .. } => format!("{provider} is unavailable right now (HTTP {status}); try again in a moment."),
            Self::Unreachable => format!("Could not reach {provider}; try again in a moment."),
            Self::Unreadable { status, reason } => format!("{provider} answered with something that is not a token (HTTP {status}: {reason})."),
        }
    }
}

/// Words for the codes providers send without a description.
fn explain(code: &str) -> String {
    match code.to_ascii_lowercase().as_str() {
        "invalid_grant" => "the authorization is no longer valid".into(),
        "bad_refresh_token" | "invalid_refresh_token" | "refreshtoken:invalid" => "the refresh token is not valid".into(),
        "bad_verification_code" | "invalid_code" => "the authorization code is not valid or has expired".into(),
        "token_revoked" | "refresh_token_revoked" => "access was revoked".into(),
        "token_expired" | "expired_token" | "refresh_token_expired" | "refreshtoken:expired" => "access has expired".into(),
        "invalid_client" => "the OAuth client id or secret is wrong".into(),
        "unauthorized_client" => "this OAuth client may not use this grant".into(),
        "invalid_scope" => "the requested scopes are not allowed".into(),
        "access_denied" => "access was denied".into(),
        other => other.replace(['_', '-'], " "),
    }
}

/// Text a provider sent, made safe to show and log: one line, printable, at most 200 characters.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect::<String>().trim().to_owned()
}

/// [`clean`], ending with a full stop (or the provider's own `!`/`?`).
pub fn sentence(s: &str) -> String {
    let s = clean(s);
    if s.ends_with(['.', '!', '?']) {
        s
    } else {
        format!("{s}.")
    }
}

/// RFC 6749 Appendix A: access and refresh tokens are `1*VSCHAR` (printable ASCII); anything else could not be
/// sent in a header, and is not a token.
fn vschar(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Sends `grant` to `token_url` (form-encoded, `Accept: application/json`, the client authenticated as `client`
/// says) and reads the answer with [`parse_answer`].
/// `nested`: the tokens the entry declares besides the top-level one (see [`parse_answer_with`]).
pub async fn request(http: &reqwest::Client, token_url: &str, client: &ClientAuth<'_>, grant: &Grant<'_>, nested: &[NestedToken]) -> Result<TokenAnswer, TokenError> {
    let mut form: Vec<(&'static str, String)> = Vec::with_capacity(6);
    match grant {
        Grant::AuthorizationCode { code, redirect_uri, code_verifier } => {
            form.push(("grant_type", "authorization_code".into()));
            form.push(("code", (*code).to_owned()));
            form.push(("redirect_uri", (*redirect_uri).to_owned()));
            if let Some(v) = code_verifier {
                form.push(("code_verifier", (*v).to_owned()));
            }
        }
        Grant::RefreshToken { refresh_token } => {
            form.push(("grant_type", "refresh_token".into()));
            form.push(("refresh_token", (*refresh_token).to_owned()));
        }
        Grant::ClientCredentials { scope } => {
            form.push(("grant_type", "client_credentials".into()));
            if let Some(s) = scope {
                form.push(("scope", s.clone()));
            }
        }
    }
    let req = http.post(token_url).header(reqwest::header::ACCEPT, "application/json");
    let req = client.apply(req, &mut form);
    let res = req.form(&form).send().await.map_err(|e| {
        tracing::warn!(error = %e.without_url(), "token request failed");
        TokenError::Unreachable
    })?;
    let status = res.status().as_u16();
    let retry_after = res.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = read_limited(res).await.map_err(|_| TokenError::Unreachable)?;
    parse_answer_with(status, retry_after.as_deref(), &body, nested)
}

async fn read_limited(mut res: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}

/// Reads a token endpoint's answer: HTTP status, `Retry-After` header and body, whatever its content type.
pub fn parse_answer(status: u16, retry_after: Option<&str>, body: &[u8]) -> Result<TokenAnswer, TokenError> {
    parse_answer_with(status, retry_after, body, &[])
}

/// As [`parse_answer`], also reading the `nested` tokens (each an object at its JSON pointer with the members of
/// a token answer). An answer with neither a top-level nor a nested access token is not a token.
pub fn parse_answer_with(status: u16, retry_after: Option<&str>, body: &[u8], nested: &[NestedToken]) -> Result<TokenAnswer, TokenError> {
    let object = decode_object(body);
    if status == 429 || status >= 500 {
        return Err(TokenError::Unavailable { status, retry_after: retry_after.and_then(parse_retry_after) });
    }
    let Some(mut object) = object else {
        let reason = if body.trim_ascii().is_empty() { "empty body" } else { "not JSON or a form" };
        return Err(TokenError::Unreadable { status, reason });
    };
    if let Some(refusal) = refusal(&object, status) {
        return Err(refusal);
    }
    if !(200..300).contains(&status) {
        return Err(TokenError::Unreadable { status, reason: "an error without an error code" });
    }
    let mut found = std::collections::BTreeMap::new();
    for n in nested {
        let Some(Value::Object(inner)) = pointer_mut(&mut object, &n.pointer) else { continue };
        if !inner.contains_key("access_token") {
            continue;
        }
        let access_token = access_token(inner.remove("access_token"), status)?.ok_or(TokenError::Unreadable { status, reason: "no access_token" })?;
        let refresh_token = refresh_token(inner.remove("refresh_token"), status)?;
        let expires_in = expiry(inner);
        let scope = scope(inner.get("scope"));
        found.insert(n.name.clone(), IssuedToken { access_token, refresh_token, expires_in, scope });
    }
    let access_token = access_token(object.remove("access_token"), status)?;
    if access_token.is_none() && found.is_empty() {
        return Err(TokenError::Unreadable { status, reason: "no access_token" });
    }
    let refresh_token = refresh_token(object.remove("refresh_token"), status)?;
    let expires_in = expiry(&object);
    let scope = scope(object.remove("scope").as_ref());
    // Kept apart: the ID token is not for metadata.
    let id_token = match object.remove("id_token") {
        Some(Value::String(t)) if !t.is_empty() => Some(SecretString::new(t)),
        _ => None,
    };
    // Parsed above: not for metadata.
    for member in ["expires_in", "token_type"] {
        object.remove(member);
    }
    Ok(TokenAnswer { access_token, refresh_token, expires_in, scope, id_token, extra: object, nested: found })
}

/// The object member at an RFC 6901 `pointer` (`/authed_user`), mutable.
fn pointer_mut<'a>(object: &'a mut Map<String, Value>, pointer: &str) -> Option<&'a mut Value> {
    let mut parts = pointer.strip_prefix('/')?.split('/').map(|p| p.replace("~1", "/").replace("~0", "~"));
    let first = parts.next()?;
    let mut at = object.get_mut(&first)?;
    for part in parts {
        at = match at {
            Value::Object(o) => o.get_mut(&part)?,
            Value::Array(a) => a.get_mut(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// An `access_token` member: `None` when absent or empty; an error when it holds what no token can.
fn access_token(v: Option<Value>, status: u16) -> Result<Option<SecretString>, TokenError> {
    match v {
        Some(Value::String(t)) if vschar(&t) => Ok(Some(SecretString::new(t))),
        Some(Value::String(t)) if !t.is_empty() => Err(TokenError::Unreadable { status, reason: "an access_token with characters a token cannot have" }),
        _ => Ok(None),
    }
}

fn refresh_token(v: Option<Value>, status: u16) -> Result<Option<SecretString>, TokenError> {
    match v {
        Some(Value::String(t)) if vschar(&t) => Ok(Some(SecretString::new(t))),
        Some(Value::String(t)) if !t.is_empty() => Err(TokenError::Unreadable { status, reason: "a refresh_token with characters a token cannot have" }),
        _ => Ok(None),
    }
}

/// `expires_in`, else `expires` (Facebook), else an absolute `expires_at` (Strava, Square).
fn expiry(o: &Map<String, Value>) -> Option<u64> {
    seconds(o.get("expires_in")).or_else(|| seconds(o.get("expires"))).or_else(|| absolute(o.get("expires_at")))
}

/// Space- or comma-separated, or an array; normalized to space-separated.
fn scope(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.split([' ', ',']).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")),
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// A JSON object, or a form-encoded body made into one (string values).
fn decode_object(body: &[u8]) -> Option<Map<String, Value>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
        return Some(o);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let looks_like_form = !text.is_empty() && text.contains('=') && !text.contains(['<', '{', ' ', '\n']);
    looks_like_form.then(|| url::form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect())
}

/// The refusal an answer carries, in any of the shapes providers use; `None` when it carries none.
fn refusal(o: &Map<String, Value>, status: u16) -> Option<TokenError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned).filter(|s| !s.is_empty());
    let (code, description) = match o.get("error") {
        Some(Value::String(code)) if !code.is_empty() => {
            (code.clone(), text(o.get("error_description")).or_else(|| text(o.get("message"))).or_else(|| text(o.get("error_message"))))
        }
        // `{"error": {"code": …, "message": …}}` (Google APIs style) or `{"error": {"type": …}}`.
        Some(Value::Object(e)) => {
            let code = text(e.get("code")).or_else(|| e.get("code").and_then(Value::as_i64).map(|n| n.to_string())).or_else(|| text(e.get("type"))).or_else(|| text(e.get("status")));
            (code.unwrap_or_else(|| "error".into()), text(e.get("message")).or_else(|| text(e.get("error_description"))))
        }
        _ if o.get("ok") == Some(&Value::Bool(false)) => (text(o.get("error")).unwrap_or_else(|| "error".into()), None),
        _ => {
            if let Some(Value::Array(errors)) = o.get("errors") {
                // Strava: `{"message": "Bad Request", "errors": [{"resource": "RefreshToken", "field": …, "code": "invalid"}]}`.
                let first = errors.first().and_then(Value::as_object)?;
                let code = match (text(first.get("resource")), text(first.get("code"))) {
                    (Some(r), Some(c)) => format!("{r}:{c}"),
                    (None, Some(c)) => c,
                    _ => "error".into(),
                };
                (code, text(first.get("message")).or_else(|| text(o.get("message"))))
            } else if !(200..300).contains(&status) && !o.contains_key("access_token") {
                // HubSpot: `{"status": "BAD_REFRESH_TOKEN", "message": …}`; Twitch: `{"status": 400, "message": …}`.
                let number = |v: Option<&Value>| v.and_then(Value::as_i64).map(|n| n.to_string());
                let code = text(o.get("status")).or_else(|| text(o.get("code"))).or_else(|| text(o.get("error_code")));
                let code = code.or_else(|| number(o.get("status"))).or_else(|| number(o.get("code")))?;
                (code, text(o.get("message")).or_else(|| text(o.get("error_description"))))
            } else {
                return None;
            }
        }
    };
    // Twitch says only "Invalid refresh token" (HTTP 400): a refresh token declared invalid, expired or revoked
    // in words is as dead as one declared so by code.
    let words = description.as_deref().unwrap_or_default().to_ascii_lowercase();
    let dead_in_words = words.contains("refresh token") && ["invalid", "expired", "revoked"].iter().any(|w| words.contains(w));
    let dead = dead_in_words || DEAD_GRANT_CODES.iter().any(|d| d.eq_ignore_ascii_case(&code));
    Some(TokenError::Refused { code, description, dead })
}

/// Seconds from a number or numeric string; `None` for zero, negative or unreadable values.
fn seconds(v: Option<&Value>) -> Option<u64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 1.0).then(|| n.min(10.0 * 365.0 * 86_400.0) as u64)
}

/// Seconds until an absolute `expires_at`: unix seconds (Strava), milliseconds when that large, or an RFC 3339
/// date (Square).
fn absolute(v: Option<&Value>) -> Option<u64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let at = match v? {
        Value::Number(n) => n.as_f64()? as i64,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) => n as i64,
            Err(_) => time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()?.unix_timestamp(),
        },
        _ => return None,
    };
    let at = if at > 100_000_000_000 { at / 1000 } else { at };
    u64::try_from(at - now).ok().filter(|&s| s > 0)
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3); capped at a day.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let secs = match v.parse::<u64>() {
        Ok(s) => s,
        Err(_) => httpdate::parse_http_date(v).ok()?.duration_since(std::time::SystemTime::now()).map_or(0, |d| d.as_secs()),
    };
    Some(Duration::from_secs(secs.min(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16, body: &str) -> TokenAnswer {
        parse_answer(status, None, body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e:?}"))
    }

    fn err(status: u16, body: &str) -> TokenError {
        parse_answer(status, None, body.as_bytes()).expect_err(body)
    }

    #[test]
    fn textbook_and_tolerated_success_shapes() {
        let t = ok(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"x y"}"#);
        assert_eq!((t.access_token.as_ref().unwrap().expose(), t.refresh_token.as_ref().map(|r| r.expose()), t.expires_in, t.scope.as_deref()), ("a", Some("r"), Some(3600), Some("x y")));
        // LinkedIn/Shopify: no token_type. Microsoft: expires_in as a string.
        assert_eq!(ok(200, r#"{"access_token":"a","expires_in":"3599"}"#).expires_in, Some(3599));
        assert_eq!(ok(200, r#"{"access_token":"a","expires_in":3599.7}"#).expires_in, Some(3599));
        for unknown in [r#"{"access_token":"a","expires_in":0}"#, r#"{"access_token":"a","expires_in":null}"#, r#"{"access_token":"a"}"#, r#"{"access_token":"a","expires_in":"soon"}"#] {
            assert_eq!(ok(200, unknown).expires_in, None, "{unknown}");
        }
        assert_eq!(ok(200, r#"{"access_token":"a","expires":5183999}"#).expires_in, Some(5183999));
        let soon = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
        assert!(ok(200, &format!(r#"{{"access_token":"a","expires_at":{soon}}}"#)).expires_in.is_some_and(|s| (598..=600).contains(&s)));
        let square = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).format(&time::format_description::well_known::Rfc3339).unwrap();
        assert!(ok(200, &format!(r#"{{"access_token":"a","expires_at":"{square}"}}"#)).expires_in.is_some_and(|s| s > 29 * 86_400));
        // Scope shapes.
        assert_eq!(ok(200, r#"{"access_token":"a","scope":"read,write"}"#).scope.as_deref(), Some("read write"));
        assert_eq!(ok(200, r#"{"access_token":"a","scope":["read","write"]}"#).scope.as_deref(), Some("read write"));
        // GitHub without Accept: a form body.
        let t = ok(200, "access_token=gho_x&scope=repo%2Cuser&token_type=bearer");
        assert_eq!((t.access_token.as_ref().unwrap().expose(), t.scope.as_deref()), ("gho_x", Some("repo user")));
        // Extra members are kept for metadata; secrets and parsed members are not.
        let t = ok(200, r#"{"access_token":"a","instance_url":"https://x.my.salesforce.com","id_token":"secret"}"#);
        assert_eq!(t.extra.get("instance_url").and_then(Value::as_str), Some("https://x.my.salesforce.com"));
        assert!(!t.extra.contains_key("id_token") && !t.extra.contains_key("access_token"));
        assert_eq!(t.id_token.as_ref().map(SecretString::expose), Some("secret"), "kept apart, for the account label only");
    }

    #[test]
    fn slack_user_tokens_under_authed_user_with_or_without_a_bot_token() {
        let user = [NestedToken { name: "user".into(), pointer: "/authed_user".into(), scope_param: None, scopes: Vec::new() }];
        // oauth.v2.access for an install that asked for user scopes only: no top-level token.
        let only_user = r#"{"ok":true,"app_id":"A0KRD7HC3","authed_user":{"id":"U1234","scope":"search:read,users:read","access_token":"xoxp-1234","token_type":"user"},"team":{"id":"T9TK3CUKW","name":"Slack Softball Team"},"enterprise":null,"is_enterprise_install":false}"#;
        assert!(matches!(err(200, only_user), TokenError::Unreadable { reason: "no access_token", .. }), "undeclared: not a token");
        let t = parse_answer_with(200, None, only_user.as_bytes(), &user).unwrap();
        assert!(t.access_token.is_none());
        let u = &t.nested["user"];
        assert_eq!((u.access_token.expose(), u.scope.as_deref()), ("xoxp-1234", Some("search:read users:read")));
        assert_eq!(t.extra["authed_user"], serde_json::json!({"id": "U1234", "scope": "search:read,users:read", "token_type": "user"}), "no secret left for metadata");
        // Bot and user, token rotation on: each with its own refresh token and lifetime.
        let both = r#"{"ok":true,"access_token":"xoxe.xoxb-1","token_type":"bot","scope":"chat:write","expires_in":43200,"refresh_token":"xoxe-1-bot","bot_user_id":"U0KRQLJ9H","app_id":"A0KRD7HC3","team":{"name":"T","id":"T9"},"authed_user":{"id":"U1234","scope":"search:read","access_token":"xoxe.xoxp-1","token_type":"user","expires_in":43000,"refresh_token":"xoxe-1-user"}}"#;
        let t = parse_answer_with(200, None, both.as_bytes(), &user).unwrap();
        assert_eq!((t.access_token.as_ref().unwrap().expose(), t.refresh_token.as_ref().unwrap().expose(), t.expires_in), ("xoxe.xoxb-1", "xoxe-1-bot", Some(43200)));
        let u = &t.nested["user"];
        assert_eq!((u.access_token.expose(), u.refresh_token.as_ref().unwrap().expose(), u.expires_in), ("xoxe.xoxp-1", "xoxe-1-user", Some(43000)));
        assert!(!format!("{t:?}").contains("xox"), "Debug shows no token");
    }

    #[test]
    fn refusals_in_every_shape() {
        let dead = |status, body: &str| match err(status, body) {
            TokenError::Refused { dead, code, .. } => (dead, code),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(dead(400, r#"{"error":"invalid_grant"}"#), (true, "invalid_grant".into()));
        assert!(dead(200, r#"{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}"#).0);
        assert_eq!(dead(200, r#"{"ok":false,"error":"invalid_refresh_token"}"#), (true, "invalid_refresh_token".into()));
        assert!(dead(200, r#"{"error":"invalid_code"}"#).0);
        assert!(dead(400, r#"{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}"#).0);
        assert_eq!(dead(400, r#"{"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]}"#), (true, "RefreshToken:invalid".into()));
        assert_eq!(dead(400, r#"{"status":400,"message":"Invalid refresh token"}"#), (true, "400".into()));
        assert_eq!(dead(401, r#"{"error":"invalid_client"}"#), (false, "invalid_client".into()));
        assert_eq!(dead(400, r#"{"error":{"code":400,"message":"Invalid request"}}"#), (false, "400".into()));
        assert_eq!(dead(200, "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."), (true, "bad_verification_code".into()));
        let e = err(200, r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#);
        assert_eq!(e.message("GitHub"), "GitHub refused: The code passed is incorrect or expired.");
        assert_eq!(err(400, r#"{"error":"invalid_grant"}"#).message("X"), "X refused: the authorization is no longer valid.");
        assert!(matches!(err(200, r#"{"access_token":"at\r\nx"}"#), TokenError::Unreadable { .. }), "a token that cannot go in a header");
        // A byte-order mark before the JSON (seen from Windows-hosted token endpoints).
        assert_eq!(ok(200, "\u{feff}{\"access_token\":\"a\"}").access_token.unwrap().expose(), "a");
    }

    #[test]
    fn unavailable_and_unreadable_answers() {
        assert_eq!(
            parse_answer(429, Some("120"), b"{}").unwrap_err(),
            TokenError::Unavailable { status: 429, retry_after: Some(Duration::from_secs(120)) }
        );
        assert!(matches!(err(503, "<html>down</html>"), TokenError::Unavailable { status: 503, retry_after: None }));
        assert!(matches!(err(200, r#"{"token_type":"bearer"}"#), TokenError::Unreadable { reason: "no access_token", .. }));
        assert!(matches!(err(200, "<html>hello</html>"), TokenError::Unreadable { .. }));
        assert!(matches!(err(400, ""), TokenError::Unreadable { reason: "empty body", .. }));
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(90));
        assert!(parse_retry_after(&later).is_some_and(|d| (88..=90).contains(&d.as_secs())), "{later}");
    }
}
