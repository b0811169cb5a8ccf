//! The quirk provider: an OAuth2 provider that answers the way real ones do, one route family per shape
//! (`/{shape}/authorize`, `/{shape}/token`, `/{shape}/api/…`), each taken from a provider's docs or a public issue
//! thread (sources in `server/src/connect/token.rs` and the shape list below). Authorization is granted at once
//! (no consent page): what matters here is what comes back. Each shape is a catalog entry `quirk-{shape}`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, Query, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{any, get, post},
    Form, Json, Router,
};
use plugboard::{catalog::Integration, config::OAuthClient, config::Settings, vault::SecretString};
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "quirk-client";
pub const CLIENT_SECRET: &str = "quirk-secret";

/// Every shape, with the provider whose behaviour it reproduces.
pub const SHAPES: &[(&str, &str)] = &[
    ("textbook", "RFC 6749 §5.1 exactly"),
    ("github-iss", "GitHub: iss=https://github.com/login/oauth on the authorization response, entry declares no issuer"),
    ("declared-iss", "an entry that declares its issuer; the provider leaves iss out"),
    ("google-iss", "Google: iss only sometimes, entry declares issuer with authorizationResponseIssParameterSupported=false"),
    ("no-token-type", "LinkedIn, Shopify: no token_type"),
    ("string-expires", "Microsoft (v1), NetSuite: expires_in as a string"),
    ("text-plain", "JSON labelled text/plain"),
    ("form-body", "GitHub without Accept: a form-encoded token answer, scope comma-separated"),
    ("scope-array", "Twitch: scope as a JSON array"),
    ("expires-zero", "Mailchimp: expires_in 0 (never expires), scope null"),
    ("no-access-token", "an answer without access_token"),
    ("error-200", "GitHub: bad_verification_code with HTTP 200"),
    ("github-refresh", "GitHub apps: bad_refresh_token with HTTP 200 on refresh"),
    ("slack-refresh", "Slack: {ok:false, error:invalid_refresh_token} with HTTP 200"),
    ("strava-refresh", "Strava: {message, errors:[{resource:RefreshToken, code:invalid}]}"),
    ("hubspot-refresh", "HubSpot: {status:BAD_REFRESH_TOKEN, message}"),
    ("twitch-refresh", "Twitch: {status:400, message:Invalid refresh token}"),
    ("rate-limited", "Zoho, Calendly: 429 with Retry-After on the token endpoint"),
    ("html-503", "a CDN's HTML error page on the token endpoint"),
    ("refresh-without-rt", "Zoho, Figma: refresh answers carry no new refresh token"),
    ("jira-401", "Jira: 401 'scope does not match' although the token is fine"),
    ("quickbooks", "QuickBooks: realmId only on the callback"),
    ("salesforce", "Salesforce: instance_url in the token answer, no expires_in"),
    ("salesforce-evil", "a token answer naming a host outside the allow-list"),
    ("salesforce-move", "Salesforce: a refresh answer naming the org's new instance_url (org migration)"),
    ("xero", "Xero: tenant id only at /connections, sent back as Xero-tenant-id"),
    ("xero-down", "Xero's /connections answering 503 right after the connect"),
    ("zoho", "Zoho: accounts-server on the callback names the data centre's token endpoint"),
    ("zoho-evil", "a callback naming an accounts server outside the allow-list"),
    (
        "atlassian",
        "Atlassian: GET /oauth/token/accessible-resources lists every site one grant reaches ([{id, name, url, scopes, avatarUrl}], three here; superplane#2981, n8n-io/integration-templates#459)",
    ),
    ("atlassian-one", "Atlassian: a grant that reaches one site"),
    ("atlassian-none", "Atlassian: accessible-resources answering [] (no site the granted scopes apply to)"),
    (
        "shopify",
        "Shopify: the shop is a subdomain the user types (and pastes as acme.myshopify.com, https://…/admin, Acme: shopify-token#14, #18); the callback adds shop, hmac, host, timestamp; the token answer is {access_token, scope} only",
    ),
    ("short-lived-no-rt", "Dropbox without token_access_type=offline (dropbox-sdk-js#973): expires_in, no refresh_token (3 s here, 4 h there)"),
    ("revoked-no-rt", "a token that never expires and has no refresh token; once revoked the API answers 401 with WWW-Authenticate: Bearer error=\"invalid_token\" (RFC 6750 §3.1)"),
    ("rt-first-consent-only", "Google: a refresh_token only at the user's first consent; a reconnect's answer has none (bagofwords#729, automatisch#2537)"),
];

/// The sites the `atlassian` shape's grant reaches, as accessible-resources lists them: (cloud id, name, url).
pub const ATLASSIAN_SITES: &[(&str, &str, &str)] = &[
    ("1324a887-45db-1bf4-1e99-ef0ff456d421", "acme", "https://acme.atlassian.net"),
    ("8b5a7c2e-2f1d-4c6b-9d0e-5a4b3c2d1e0f", "acme-sandbox", "https://acme-sandbox.atlassian.net"),
    ("c0ffee00-1111-4222-8333-944455556666", "Globex Corporation", "https://globex.atlassian.net"),
];

#[derive(Default)]
struct Tokens {
    codes: HashSet<String>,
    access: HashSet<String>,
    refresh: HashSet<String>,
    next: u64,
}

/// Per-shape counters the tests read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub token_requests: u64,
    pub codes_exchanged: u64,
    pub refreshes: u64,
    pub api_calls: u64,
}

#[derive(Default)]
pub struct QuirkState {
    tokens: Mutex<Tokens>,
    counts: Mutex<HashMap<String, Counts>>,
    url: Mutex<String>,
    /// The same provider on 127.0.0.8: where `salesforce-move` says the org moved to.
    moved_url: Mutex<String>,
    /// Each shop the `shopify` shape was asked to authorize, in order.
    shops: Mutex<Vec<String>>,
}

/// A running quirk provider on 127.0.0.4.
pub struct Quirks {
    pub url: String,
    /// The same provider on a second address (127.0.0.8).
    pub moved_url: String,
    state: Arc<QuirkState>,
}

impl Quirks {
    pub async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.4:0").await.expect("bind 127.0.0.4");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let moved = TcpListener::bind("127.0.0.8:0").await.expect("bind 127.0.0.8");
        let moved_url = format!("http://{}", moved.local_addr().expect("bound"));
        let state = Arc::new(QuirkState::default());
        *state.url.lock().unwrap() = url.clone();
        *state.moved_url.lock().unwrap() = moved_url.clone();
        let router = Router::new()
            .route("/{shape}/authorize", get(authorize))
            .route("/{shape}/token", post(token))
            .route("/{shape}/connections", get(connections))
            .route("/{shape}/accessible-resources", get(accessible_resources))
            .route("/{shape}/api/me", get(me))
            .route("/{shape}/api/scope-mismatch", get(scope_mismatch))
            .route("/{shape}/api/echo/{*rest}", any(echo))
            .with_state(state.clone());
        let second = router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        tokio::spawn(async move { axum::serve(moved, second).await });
        Self { url, moved_url, state }
    }

    pub fn counts(&self, shape: &str) -> Counts {
        self.state.counts.lock().unwrap().get(shape).copied().unwrap_or_default()
    }

    /// Each shop the `shopify` shape's authorization endpoint was asked for, in order.
    pub fn shops(&self) -> Vec<String> {
        self.state.shops.lock().unwrap().clone()
    }

    /// Every access token stops working (the provider expired or revoked them early).
    pub fn expire_access_tokens(&self) {
        self.state.tokens.lock().unwrap().access.clear();
    }

    /// A config file declaring `shapes` as custom integrations of project `test-project`, with their OAuth
    /// client (its secret read from the environment variable `secret_env`), as an operator would write it.
    pub fn config_file(&self, shapes: &[&str], secret_env: &str) -> String {
        let mut project = toml::Table::new();
        project.insert("id".into(), "test-project".into());
        let mut oauth = toml::Table::new();
        let mut custom = Vec::new();
        for shape in shapes {
            let entry = integration(&self.url, shape);
            let mut client = toml::Table::new();
            client.insert("clientId".into(), CLIENT_ID.into());
            client.insert("clientSecretEnv".into(), secret_env.into());
            oauth.insert(entry.platform.clone(), client.into());
            custom.push(toml::Value::try_from(&entry).expect("an entry serializes"));
        }
        project.insert("oauth".into(), oauth.into());
        project.insert("customIntegrations".into(), custom.into());
        let mut file = toml::Table::new();
        file.insert("projects".into(), vec![toml::Value::from(project)].into());
        toml::to_string(&file).expect("TOML")
    }

    /// Registers every shape as a custom integration `quirk-{shape}` with an OAuth client.
    pub fn register(&self, s: &mut Settings) {
        for (shape, _) in SHAPES {
            let entry = integration(&self.url, shape);
            s.oauth_clients.insert(
                entry.platform.clone(),
                OAuthClient { client_id: CLIENT_ID.into(), client_secret: SecretString::new(CLIENT_SECRET), scopes: None },
            );
            s.extra_integrations.push(entry);
        }
    }
}

/// The catalog entry of `shape`: an ordinary OAuth2 entry plus what the shape needs declared.
pub fn integration(url: &str, shape: &str) -> Integration {
    let host = url.trim_start_matches("http://").split(':').next().unwrap_or_default().to_owned();
    let mut api = format!("{url}/{shape}/api");
    let mut token_url = format!("{url}/{shape}/token");
    let mut authorize_url = format!("{url}/{shape}/authorize");
    let mut extra_oauth = String::new();
    let mut extra = String::new();
    match shape {
        "declared-iss" => extra_oauth = format!("issuer = \"{url}/{shape}\"\n"),
        "google-iss" => extra_oauth = format!("issuer = \"{url}/{shape}\"\nauthorizationResponseIssParameterSupported = false\n"),
        "quickbooks" => {
            api = format!("{url}/{shape}/api/echo/company/{{realm_id}}");
            extra = "[[metadata]]\nname = \"realm_id\"\nfrom = \"callback\"\nkey = \"realmId\"\n".into();
        }
        "salesforce" | "salesforce-evil" | "salesforce-move" => {
            api = format!("{{instance_url}}/{shape}/api");
            extra = format!("[[metadata]]\nname = \"instance_url\"\nfrom = \"token\"\nkey = \"instance_url\"\nhosts = [\"{host}\", \"127.0.0.8\"]\n");
        }
        "xero" | "xero-down" => {
            extra = format!(
                "[[metadata]]\nname = \"tenant_id\"\nfrom = \"request\"\nurl = \"{url}/{shape}/connections\"\npointer = \"/tenantId\"\n\
                 choices = {{ label = \"/tenantName\", noun = \"organisation\" }}\n\
                 [inject]\ntype = \"bearer\"\ntoken = \"{{access_token}}\"\nheaders = {{ \"Xero-tenant-id\" = \"{{tenant_id}}\" }}\n"
            );
        }
        "atlassian" | "atlassian-one" | "atlassian-none" => {
            api = format!("{url}/{shape}/api/echo/ex/jira/{{cloud_id}}");
            extra = format!(
                "[[metadata]]\nname = \"cloud_id\"\nfrom = \"request\"\nurl = \"{url}/{shape}/accessible-resources\"\npointer = \"/id\"\n\
                 choices = {{ label = \"/name\", address = \"/url\", noun = \"site\" }}\n"
            );
        }
        "shopify" => {
            api = format!("{url}/{shape}/api/echo/shops/{{shop}}");
            authorize_url = format!("{url}/{shape}/authorize?shop={{shop}}");
            extra = "[[fields]]\nname = \"shop\"\nlabel = \"Store subdomain\"\nplaceholder = \"acme\"\nsubdomainOf = [\"myshopify.com\"]\n\
                     pattern = \"^[a-z0-9][a-z0-9-]{0,62}$\"\n"
                .into();
        }
        "zoho" | "zoho-evil" => {
            token_url = "{accounts_server}/zoho/token".into();
            extra = format!(
                "[[metadata]]\nname = \"accounts_server\"\nfrom = \"callback\"\nkey = \"accounts-server\"\nhosts = [\"{host}\"]\n\
                 [[metadata]]\nname = \"api_domain\"\nfrom = \"token\"\nkey = \"api_domain\"\nhosts = [\"{host}\"]\n"
            );
            api = "{api_domain}/zoho/api".into();
        }
        _ => {}
    }
    let text = format!(
        r#"
platform = "quirk-{shape}"
name = "Quirk {shape}"
category = "Developer tools"
description = "A provider answering like real ones do ({shape})."
authMethod = "oauth2"
apiBaseUrl = "{api}"
[oauth]
authorizationUrl = "{authorize_url}"
tokenUrl = "{token_url}"
scopes = ["read", "write"]
tokenAuth = "client_secret_post"
{extra_oauth}
{extra}
"#
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("quirk entry {shape}: {e}\n{text}"))
}

fn count(state: &QuirkState, shape: &str, f: impl FnOnce(&mut Counts)) {
    f(state.counts.lock().unwrap().entry(shape.to_owned()).or_default());
}

async fn authorize(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>, Query(p): Query<HashMap<String, String>>) -> Response {
    let (Some(redirect), Some(state)) = (p.get("redirect_uri"), p.get("state")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri and state are required").into_response();
    };
    let code = format!("code-{shape}-{}", uuid_like(&q));
    q.tokens.lock().unwrap().codes.insert(code.clone());
    let url = q.url.lock().unwrap().clone();
    let mut back = url::Url::parse(redirect).expect("a redirect URI");
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
    match shape.as_str() {
        "github-iss" => {
            back.query_pairs_mut().append_pair("iss", "https://github.com/login/oauth");
        }
        "quickbooks" => {
            back.query_pairs_mut().append_pair("realmId", "9130355377");
        }
        "zoho" => {
            back.query_pairs_mut().append_pair("location", "eu").append_pair("accounts-server", &url);
        }
        "zoho-evil" => {
            back.query_pairs_mut().append_pair("location", "eu").append_pair("accounts-server", "https://accounts.evil.example");
        }
        "shopify" => {
            // The shop as the provider knows it: what Plugboard put in the authorization URL, on Shopify's domain.
            let shop = p.get("shop").cloned().unwrap_or_default();
            q.shops.lock().unwrap().push(shop.clone());
            back.query_pairs_mut()
                .append_pair("shop", &format!("{shop}.myshopify.com"))
                .append_pair("hmac", "da9d83c171400a41f8db91a950508985")
                .append_pair("host", "YWNtZS5teXNob3BpZnkuY29tL2FkbWlu")
                .append_pair("timestamp", "1337178173");
        }
        _ => {}
    }
    Redirect::to(back.as_str()).into_response()
}

fn uuid_like(q: &QuirkState) -> String {
    let mut t = q.tokens.lock().unwrap();
    t.next += 1;
    format!("{:08}", t.next)
}

fn issue(q: &QuirkState, shape: &str) -> (String, String) {
    let n = uuid_like(q);
    let (access, refresh) = (format!("q-at-{shape}-{n}"), format!("q-rt-{shape}-{n}"));
    let mut t = q.tokens.lock().unwrap();
    t.access.insert(access.clone());
    t.refresh.insert(refresh.clone());
    (access, refresh)
}

fn json_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn token(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    count(&q, &shape, |c| c.token_requests += 1);
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return json_error(StatusCode::UNAUTHORIZED, json!({ "error": "invalid_client" }));
    }
    let refresh = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let known = q.tokens.lock().unwrap().codes.remove(form.get("code").map(String::as_str).unwrap_or_default());
            if !known {
                return json_error(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant", "error_description": "unknown code" }));
            }
            if shape == "error-200" {
                return Json(json!({
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
                }))
                .into_response();
            }
            false
        }
        Some("refresh_token") => {
            let valid = q.tokens.lock().unwrap().refresh.contains(form.get("refresh_token").map(String::as_str).unwrap_or_default());
            match shape.as_str() {
                "github-refresh" => {
                    return Json(json!({ "error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired." })).into_response()
                }
                "slack-refresh" => return Json(json!({ "ok": false, "error": "invalid_refresh_token" })).into_response(),
                "strava-refresh" => {
                    return json_error(StatusCode::BAD_REQUEST, json!({ "message": "Bad Request", "errors": [{ "resource": "RefreshToken", "field": "refresh_token", "code": "invalid" }] }))
                }
                "hubspot-refresh" => {
                    return json_error(StatusCode::BAD_REQUEST, json!({ "status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token", "correlationId": "c-1" }))
                }
                "twitch-refresh" => return json_error(StatusCode::BAD_REQUEST, json!({ "status": 400, "message": "Invalid refresh token" })),
                "rate-limited" => {
                    return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "120")], Json(json!({ "error": "too_many_requests" }))).into_response()
                }
                "html-503" => {
                    return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html")], "<!DOCTYPE html><html><body><h1>503 Service Temporarily Unavailable</h1></body></html>").into_response()
                }
                _ if !valid => return json_error(StatusCode::BAD_REQUEST, json!({ "error": "invalid_grant" })),
                _ => {}
            }
            // Rotation: each refresh token works once.
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            if shape != "refresh-without-rt" {
                q.tokens.lock().unwrap().refresh.remove(&rt);
            }
            count(&q, &shape, |c| c.refreshes += 1);
            true
        }
        _ => return json_error(StatusCode::BAD_REQUEST, json!({ "error": "unsupported_grant_type" })),
    };
    if !refresh {
        count(&q, &shape, |c| c.codes_exchanged += 1);
    }
    let (access, rt) = issue(&q, &shape);
    let url = q.url.lock().unwrap().clone();
    let textbook = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": rt, "scope": "read write" });
    let mut body = textbook.clone();
    let o = body.as_object_mut().expect("an object");
    match shape.as_str() {
        "no-token-type" => {
            o.remove("token_type");
        }
        "string-expires" => {
            o.insert("expires_in".into(), json!("3599"));
        }
        "text-plain" => return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], textbook.to_string()).into_response(),
        "form-body" => {
            let form = format!("access_token={access}&expires_in=28800&refresh_token={rt}&scope=read%2Cwrite&token_type=bearer");
            return ([(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")], form).into_response();
        }
        "scope-array" => {
            o.insert("scope".into(), json!(["read", "write"]));
        }
        "expires-zero" => {
            o.insert("expires_in".into(), json!(0));
            o.insert("scope".into(), Value::Null);
        }
        "no-access-token" => {
            o.remove("access_token");
        }
        "refresh-without-rt" if refresh => {
            o.remove("refresh_token");
        }
        "short-lived-no-rt" => {
            o.remove("refresh_token");
            o.insert("token_type".into(), json!("bearer"));
            o.insert("expires_in".into(), json!(3));
            o.insert("uid".into(), json!("12345"));
            o.insert("account_id".into(), json!("dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"));
        }
        "revoked-no-rt" => {
            o.remove("refresh_token");
            o.remove("expires_in");
        }
        "rt-first-consent-only" if q.counts.lock().unwrap().get(&shape).is_some_and(|c| c.codes_exchanged > 1) => {
            o.remove("refresh_token");
        }
        "salesforce" => {
            o.remove("expires_in");
            o.insert("instance_url".into(), json!(url));
            o.insert("issued_at".into(), json!("1278448832702"));
            o.insert("signature".into(), json!("0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ="));
        }
        "salesforce-evil" => {
            o.insert("instance_url".into(), json!("https://evil.example"));
        }
        "salesforce-move" => {
            let moved = q.moved_url.lock().unwrap().clone();
            o.insert("instance_url".into(), json!(if refresh { moved } else { url }));
        }
        "zoho" => {
            o.insert("api_domain".into(), json!(url));
        }
        "shopify" => return Json(json!({ "access_token": access, "scope": "read_products,read_orders" })).into_response(),
        _ => {}
    }
    Json(body).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

fn valid(q: &QuirkState, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|t| q.tokens.lock().unwrap().access.contains(t))
}

async fn me(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>, headers: HeaderMap) -> Response {
    count(&q, &shape, |c| c.api_calls += 1);
    if valid(&q, &headers) {
        Json(json!({ "id": "quirk-user" })).into_response()
    } else if shape == "revoked-no-rt" {
        let challenge = r#"Bearer realm="quirk", error="invalid_token", error_description="The access token was revoked""#;
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], Json(json!({ "message": "Bad credentials" }))).into_response()
    } else {
        json_error(StatusCode::UNAUTHORIZED, json!({ "error": "invalid_token" }))
    }
}

/// Jira's answer when the token lacks a scope: 401, although the token is valid.
async fn scope_mismatch(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>) -> Response {
    count(&q, &shape, |c| c.api_calls += 1);
    json_error(StatusCode::UNAUTHORIZED, json!({ "code": 401, "message": "Unauthorized; scope does not match" }))
}

async fn connections(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>, headers: HeaderMap) -> Response {
    if shape == "xero-down" {
        return (StatusCode::SERVICE_UNAVAILABLE, "<html>Service Unavailable</html>").into_response();
    }
    if !valid(&q, &headers) {
        return json_error(StatusCode::UNAUTHORIZED, json!({ "Title": "Unauthorized" }));
    }
    Json(json!([{ "id": "e1c0b0f5", "authEventId": "a1", "tenantId": "7d2b4c1e-0000-4000-8000-000000000001", "tenantType": "ORGANISATION", "tenantName": "Demo Company" }]))
        .into_response()
}

/// What arrived: the path as received and the headers; only with a live token.
async fn echo(State(q): State<Arc<QuirkState>>, Path((shape, _)): Path<(String, String)>, req: Request) -> Response {
    count(&q, &shape, |c| c.api_calls += 1);
    if !valid(&q, req.headers()) {
        return json_error(StatusCode::UNAUTHORIZED, json!({ "error": "invalid_token" }));
    }
    let headers: serde_json::Map<String, Value> = req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").into())).collect();
    Json(json!({ "path": req.uri().path(), "headers": headers })).into_response()
}

/// Atlassian's `GET /oauth/token/accessible-resources`: every site the token reaches, with the scopes granted on
/// each (developer.atlassian.com, "OAuth 2.0 (3LO) apps", step 3.1).
async fn accessible_resources(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>, headers: HeaderMap) -> Response {
    if !valid(&q, &headers) {
        return json_error(StatusCode::UNAUTHORIZED, json!({ "code": 401, "message": "Unauthorized" }));
    }
    let sites = match shape.as_str() {
        "atlassian" => ATLASSIAN_SITES,
        "atlassian-one" => &ATLASSIAN_SITES[..1],
        _ => &[],
    };
    let listed: Vec<Value> = sites
        .iter()
        .map(|(id, name, url)| {
            json!({ "id": id, "name": name, "url": url, "scopes": ["read:jira-work", "write:jira-work"],
                    "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png" })
        })
        .collect();
    Json(Value::Array(listed)).into_response()
}
