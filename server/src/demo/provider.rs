//! A strict OAuth2 provider that fails the way real ones do: exact redirect URI, PKCE S256, client
//! authentication in the configured place only, single-use codes (a reused code also revokes what it issued),
//! rotating refresh tokens, `iss` on the authorization response (RFC 9207). `plugboard demo` runs it so the
//! whole flow can be clicked through locally; the tests use it as the provider.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::catalog::TokenAuth;

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The one redirect URI registered for the client.
    pub redirect_uri: String,
    /// This provider's issuer identifier (its base URL).
    pub issuer: String,
    pub token_auth: TokenAuth,
    pub require_pkce: bool,
    pub access_ttl_secs: u64,
    /// API keys that `GET /api/key-check` accepts (header `x-api-key`).
    pub api_keys: Vec<String>,
}

#[derive(Debug)]
struct CodeGrant {
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
    used: bool,
    issued: Vec<String>,
}

#[derive(Debug, Default)]
struct Tokens {
    pending: HashMap<String, (String, Option<String>, String, String)>, // request id → (redirect, challenge, scope, state)
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, u64>,   // token → expires at (unix s)
    refresh: HashMap<String, bool>, // token → still valid
}

/// Counters the tests read.
#[derive(Debug, Default)]
pub struct Counters {
    pub token_requests: AtomicU64,
    pub codes_exchanged: AtomicU64,
    pub refreshes: AtomicU64,
    pub revocations: AtomicU64,
    pub api_calls: AtomicU64,
}

/// Behaviour the tests change while the provider runs.
#[derive(Debug, Default)]
pub struct Knobs {
    /// Lifetime of tokens issued from now on; 0 = the configured `access_ttl_secs`.
    pub access_ttl_secs: AtomicU64,
    /// Milliseconds the token endpoint takes to answer (a slow provider widens race windows).
    pub token_delay_ms: AtomicU64,
    /// The next N token requests fail with a 503 (an outage).
    pub fail_token_requests: AtomicU64,
    /// Milliseconds a refresh-token grant takes (on top of `token_delay_ms`); other grants are not slowed.
    pub refresh_delay_ms: AtomicU64,
    /// The next N revocation requests fail with a 503 (an outage at the revocation endpoint).
    pub fail_revocations: AtomicU64,
}

#[derive(Clone)]
pub struct MockProvider {
    pub config: Arc<ProviderConfig>,
    pub counters: Arc<Counters>,
    pub knobs: Arc<Knobs>,
    tokens: Arc<Mutex<Tokens>>,
    /// When set, the authorization response carries this `iss` instead of the real one (a mix-up attack).
    pub iss_override: Arc<Mutex<Option<String>>>,
}

fn random() -> String {
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl MockProvider {
    pub fn new(config: ProviderConfig) -> Self {
        Self {
            config: Arc::new(config),
            counters: Default::default(),
            knobs: Default::default(),
            tokens: Default::default(),
            iss_override: Default::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/authorize", get(authorize))
            .route("/authorize/decision", post(decide))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/api/me", get(me))
            .route("/api/key-check", get(key_check))
            .with_state(self.clone())
    }

    /// Makes every access token expire now (to exercise refresh).
    pub fn expire_access_tokens(&self) {
        let mut t = self.tokens.lock().expect("lock");
        for exp in t.access.values_mut() {
            *exp = 0;
        }
    }

    /// Makes every refresh token invalid (the user revoked the app at the provider).
    pub fn revoke_refresh_tokens(&self) {
        let mut t = self.tokens.lock().expect("lock");
        for valid in t.refresh.values_mut() {
            *valid = false;
        }
    }

    /// Whether `token` is a live access token.
    /// How many refresh tokens still work (issued, not rotated away, not revoked).
    pub fn valid_refresh_tokens(&self) -> usize {
        self.tokens.lock().expect("lock").refresh.values().filter(|&&v| v).count()
    }

    pub fn access_token_valid(&self, token: &str) -> bool {
        self.tokens.lock().expect("lock").access.get(token).is_some_and(|&exp| exp > now())
    }

    fn issue(&self, t: &mut Tokens) -> serde_json::Value {
        let access = format!("mock-at-{}", random());
        let refresh = format!("mock-rt-{}", random());
        let ttl = match self.knobs.access_ttl_secs.load(Ordering::SeqCst) {
            0 => self.config.access_ttl_secs,
            n => n,
        };
        t.access.insert(access.clone(), now() + ttl);
        t.refresh.insert(refresh.clone(), true);
        json!({ "access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl })
    }
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn error_page(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Html(format!("<!doctype html><title>Error</title><h1>Mock provider error</h1><p id=error>{}</p>", escape(message))))
        .into_response()
}

async fn authorize(State(p): State<MockProvider>, Query(q): Query<AuthorizeQuery>) -> Response {
    // Like real providers: a bad client or redirect URI is shown to the user, never redirected to.
    if q.client_id.as_deref() != Some(&p.config.client_id) {
        return error_page("invalid_client: unknown client_id");
    }
    let Some(redirect) = q.redirect_uri.filter(|r| *r == p.config.redirect_uri) else {
        return error_page("redirect_uri_mismatch: the redirect URI is not registered for this client");
    };
    let state = q.state.unwrap_or_default();
    let back = |params: &[(&str, &str)]| {
        let mut url = url::Url::parse(&redirect).expect("registered URI parses");
        url.query_pairs_mut().extend_pairs(params).append_pair("state", &state).append_pair("iss", &p.config.issuer);
        Redirect::to(url.as_str()).into_response()
    };
    if q.response_type.as_deref() != Some("code") {
        return back(&[("error", "unsupported_response_type")]);
    }
    let challenge = match (q.code_challenge, q.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) => Some(c),
        (Some(_), _) => return back(&[("error", "invalid_request"), ("error_description", "only S256 is supported")]),
        (None, _) if p.config.require_pkce => return back(&[("error", "invalid_request"), ("error_description", "PKCE is required")]),
        (None, _) => None,
    };
    let scope = q.scope.unwrap_or_default();
    let request = random();
    p.tokens.lock().expect("lock").pending.insert(request.clone(), (redirect, challenge, scope.clone(), state));
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Mock provider — consent</title>
<style>body{{font:16px system-ui;max-width:26rem;margin:3rem auto}}button{{font:inherit;padding:.5rem 1rem;margin-right:.5rem}}</style></head>
<body><h1>Mock provider</h1><p>The app <b>Plugboard demo</b> wants access to: <code>{scope}</code></p>
<form method="post" action="/authorize/decision"><input type="hidden" name="request" value="{request}">
<button id="allow" name="decision" value="allow">Allow</button><button id="deny" name="decision" value="deny">Deny</button></form></body></html>"#,
        scope = escape(&scope)
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct Decision {
    request: String,
    decision: String,
}

async fn decide(State(p): State<MockProvider>, Form(d): Form<Decision>) -> Response {
    let Some((redirect, challenge, scope, state)) = p.tokens.lock().expect("lock").pending.remove(&d.request) else {
        return error_page("this consent request is unknown or was already answered");
    };
    let iss = p.iss_override.lock().expect("lock").clone().unwrap_or_else(|| p.config.issuer.clone());
    let mut url = url::Url::parse(&redirect).expect("registered URI parses");
    if d.decision == "allow" {
        let code = random();
        p.tokens.lock().expect("lock").codes.insert(
            code.clone(),
            CodeGrant { redirect_uri: redirect.clone(), challenge, scope, used: false, issued: Vec::new() },
        );
        url.query_pairs_mut().append_pair("code", &code);
    } else {
        url.query_pairs_mut().append_pair("error", "access_denied").append_pair("error_description", "The user denied access");
    }
    url.query_pairs_mut().append_pair("state", &state).append_pair("iss", &iss);
    Redirect::to(url.as_str()).into_response()
}

/// Client authentication exactly where the client is registered to send it.
fn client_ok(p: &MockProvider, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let cfg = &p.config;
    match cfg.token_auth {
        TokenAuth::ClientSecretPost => {
            !headers.contains_key(header::AUTHORIZATION)
                && form.get("client_id") == Some(&cfg.client_id)
                && form.get("client_secret") == Some(&cfg.client_secret)
        }
        TokenAuth::ClientSecretBasic => {
            let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
            let Some(b64) = value.strip_prefix("Basic ") else { return false };
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64) else { return false };
            let expected = format!(
                "{}:{}",
                url::form_urlencoded::byte_serialize(cfg.client_id.as_bytes()).collect::<String>(),
                url::form_urlencoded::byte_serialize(cfg.client_secret.as_bytes()).collect::<String>()
            );
            decoded == expected.as_bytes() && !form.contains_key("client_secret")
        }
    }
}

async fn token(State(p): State<MockProvider>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    p.counters.token_requests.fetch_add(1, Ordering::SeqCst);
    let delay = p.knobs.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let outage = p.knobs.fail_token_requests.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if outage {
        return (StatusCode::SERVICE_UNAVAILABLE, Html("<h1>503 Service Unavailable</h1>")).into_response();
    }
    if !client_ok(&p, &headers, &form) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let mut t = p.tokens.lock().expect("lock");
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(grant) = t.codes.get_mut(&code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Unknown authorization code");
            };
            if grant.used {
                // RFC 6749 §4.1.2: a reused code revokes what it issued.
                let issued = std::mem::take(&mut grant.issued);
                for tok in issued {
                    t.access.remove(&tok);
                    t.refresh.remove(&tok);
                }
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Authorization code already used");
            }
            grant.used = true;
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri does not match the authorization request");
            }
            match (&grant.challenge, form.get("code_verifier")) {
                (Some(challenge), Some(verifier)) => {
                    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
                        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
                    }
                }
                (Some(_), None) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier is required"),
                (None, Some(_)) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier without a code_challenge"),
                (None, None) => {}
            }
            let scope = grant.scope.clone();
            let mut answer = p.issue(&mut t);
            let issued = vec![answer["access_token"].as_str().unwrap_or_default().to_owned(), answer["refresh_token"].as_str().unwrap_or_default().to_owned()];
            if let Some(g) = t.codes.get_mut(&code) {
                g.issued = issued;
            }
            answer["scope"] = json!(scope);
            p.counters.codes_exchanged.fetch_add(1, Ordering::SeqCst);
            Json(answer).into_response()
        }
        Some("refresh_token") => {
            let slow = p.knobs.refresh_delay_ms.load(Ordering::SeqCst);
            if slow > 0 {
                drop(t);
                tokio::time::sleep(std::time::Duration::from_millis(slow)).await;
                t = p.tokens.lock().expect("lock");
            }
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            if t.refresh.get(&rt) != Some(&true) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Refresh token is invalid or was already used");
            }
            t.refresh.insert(rt, false); // rotation: each refresh token works once
            p.counters.refreshes.fetch_add(1, Ordering::SeqCst);
            Json(p.issue(&mut t)).into_response()
        }
        Some("client_credentials") => {
            let mut answer = p.issue(&mut t);
            if let Some(obj) = answer.as_object_mut() {
                obj.remove("refresh_token");
            }
            Json(answer).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant_type"),
    }
}

/// RFC 7009: revokes a refresh or access token (and, for a refresh token, nothing else); client authenticated.
async fn revoke(State(p): State<MockProvider>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    if !client_ok(&p, &headers, &form) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    if p.knobs.fail_revocations.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "Try again later");
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let mut t = p.tokens.lock().expect("lock");
    t.access.remove(&token);
    if let Some(valid) = t.refresh.get_mut(&token) {
        *valid = false;
    }
    p.counters.revocations.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK.into_response()
}

async fn me(State(p): State<MockProvider>, headers: HeaderMap) -> Response {
    p.counters.api_calls.fetch_add(1, Ordering::SeqCst);
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| p.access_token_valid(t));
    if valid {
        Json(json!({ "id": "mock-user-1", "name": "Mock User" })).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, Json(json!({ "error": { "message": "Invalid or expired access token" } }))).into_response()
    }
}

async fn key_check(State(p): State<MockProvider>, headers: HeaderMap) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if p.config.api_keys.iter().any(|k| k == key) {
        Json(json!({ "ok": true })).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, Json(json!({ "error": { "message": "Invalid API key provided" } }))).into_response()
    }
}
