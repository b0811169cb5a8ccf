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
    (
        "azure",
        "Microsoft Entra ID v2.0: authorize and token endpoints under /{tenant}/oauth2/v2.0/; a single-tenant app is \
         refused at /common/ (and /organizations/, /consumers/) with AADSTS50194 — on the authorize redirect as \
         error=invalid_request (microsoftgraph/aspnetcore-connect-sample#65), at the token endpoint as a 400 JSON \
         body with error_codes [50194] (UvA-FNWI/M365-IMAP#9); omniauth-microsoft_graph#23, Imperial#67",
    ),
    (
        "slack-user",
        "Slack oauth.v2.access for an install asking for user scopes only: no top-level access_token, the user token \
         (xoxp-) under authed_user with token_type user (docs.slack.dev oauth.v2.access; nango#680)",
    ),
    (
        "slack-both",
        "Slack oauth.v2.access for bot and user scopes with token rotation: top-level xoxe.xoxb- bot token \
         (token_type bot) and authed_user's xoxe.xoxp- user token, each with its own expires_in and refresh_token; a \
         refresh answers the renewed token of the kind refreshed at the top level (slack-go/slack#1030)",
    ),
];

/// The sites the `atlassian` shape's grant reaches, as accessible-resources lists them: (cloud id, name, url).
pub const ATLASSIAN_SITES: &[(&str, &str, &str)] = &[
    ("1324a887-45db-1bf4-1e99-ef0ff456d421", "acme", "https://acme.atlassian.net"),
    ("8b5a7c2e-2f1d-4c6b-9d0e-5a4b3c2d1e0f", "acme-sandbox", "https://acme-sandbox.atlassian.net"),
    ("c0ffee00-1111-4222-8333-944455556666", "Globex Corporation", "https://globex.atlassian.net"),
];

/// The Slack shapes' workspace and users, as `auth.test` names them.
pub const SLACK_USER_ID: &str = "U065VRX1T0";
pub const SLACK_BOT_USER_ID: &str = "U0KRQLJ9H";

/// The `azure` shape's app: single-tenant, registered in this tenant (by domain or by id).
pub const AZURE_TENANT: &str = "contoso.onmicrosoft.com";
pub const AZURE_TENANT_ID: &str = "8d3a9f4e-5b1c-4e2a-9f6d-0c7b8a1e2d3f";
/// The Microsoft catalog entries' tenant pattern (`server/catalog/outlook.toml`), for the `azure` shape's entry.
pub const TENANT_PATTERN: &str = r"(?i:common|organizations|consumers|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})";

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
    /// `azure`: each request to a tenant endpoint, as `"<endpoint> <tenant>"` (`authorize common`,
    /// `token:refresh_token contoso.onmicrosoft.com`).
    tenant_requests: Mutex<Vec<String>>,
    /// The Slack shapes: each token's kind (`bot`, `user`), access and refresh tokens alike.
    slack_kinds: Mutex<HashMap<String, &'static str>>,
    /// The Slack shapes' refreshes, in order, by the kind of refresh token presented.
    slack_refreshes: Mutex<Vec<&'static str>>,
    /// `expires_in` of the Slack shapes' tokens (Slack's 43200 unless a test shortens it).
    slack_lifetime: Mutex<u64>,
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
        let state = Arc::new(QuirkState { slack_lifetime: Mutex::new(43_200), ..Default::default() });
        *state.url.lock().unwrap() = url.clone();
        *state.moved_url.lock().unwrap() = moved_url.clone();
        let router = Router::new()
            .route("/{shape}/authorize", get(authorize))
            .route("/azure/{tenant}/oauth2/v2.0/authorize", get(azure_authorize))
            .route("/azure/{tenant}/oauth2/v2.0/token", post(azure_token))
            .route("/{shape}/token", post(token))
            .route("/{shape}/connections", get(connections))
            .route("/{shape}/accessible-resources", get(accessible_resources))
            .route("/{shape}/api/me", get(me))
            .route("/{shape}/api/scope-mismatch", get(scope_mismatch))
            .route("/{shape}/api/auth.test", any(slack_auth_test))
            .route("/{shape}/api/echo/{*rest}", any(echo))
            .with_state(state.clone());
        let second = router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        tokio::spawn(async move { axum::serve(moved, second).await });
        Self { url, moved_url, state }
    }

    /// What the `azure` shape was asked, in order: `"authorize <tenant>"`, `"token:<grant_type> <tenant>"`.
    pub fn tenant_requests(&self) -> Vec<String> {
        self.state.tenant_requests.lock().unwrap().clone()
    }

    /// The Slack shapes' refreshes so far, by the kind of refresh token presented (`bot`, `user`).
    pub fn slack_refreshes(&self) -> Vec<&'static str> {
        self.state.slack_refreshes.lock().unwrap().clone()
    }

    /// Makes the Slack shapes' tokens live `secs` seconds (a refresh test need not wait 12 hours).
    pub fn set_slack_lifetime(&self, secs: u64) {
        *self.state.slack_lifetime.lock().unwrap() = secs;
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
        self.config_file_with(shapes, secret_env, &[])
    }

    /// As [`Quirks::config_file`], with `settings` (`(shape, name, value)`) on the shapes' OAuth clients
    /// (`[projects.oauth.quirk-azure] settings = { tenant = "…" }`).
    pub fn config_file_with(&self, shapes: &[&str], secret_env: &str, settings: &[(&str, &str, &str)]) -> String {
        let mut project = toml::Table::new();
        project.insert("id".into(), "test-project".into());
        let mut oauth = toml::Table::new();
        let mut custom = Vec::new();
        for shape in shapes {
            let entry = integration(&self.url, shape);
            let mut client = toml::Table::new();
            client.insert("clientId".into(), CLIENT_ID.into());
            client.insert("clientSecretEnv".into(), secret_env.into());
            let mine: toml::Table = settings.iter().filter(|(s, _, _)| s == shape).map(|(_, k, v)| (k.to_string(), toml::Value::from(*v))).collect();
            if !mine.is_empty() {
                client.insert("settings".into(), mine.into());
            }
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
                OAuthClient { client_id: CLIENT_ID.into(), client_secret: SecretString::new(CLIENT_SECRET), scopes: None, settings: Default::default(), token_scopes: Default::default() },
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
        "slack-user" | "slack-both" => {
            // As server/catalog/slack.toml declares it.
            extra_oauth = "scopeSeparator = \",\"\ntokenName = \"bot\"\n\
                           nestedTokens = [{ name = \"user\", pointer = \"/authed_user\", scopeParam = \"user_scope\" }]\n"
                .into();
            extra = "[[metadata]]\nname = \"account\"\nfrom = \"token\"\npointer = \"/team/name\"\n".into();
        }
        "azure" => {
            authorize_url = format!("{url}/azure/{{tenant}}/oauth2/v2.0/authorize");
            token_url = format!("{url}/azure/{{tenant}}/oauth2/v2.0/token");
            extra_oauth = format!(
                "[[oauth.clientSettings]]\nname = \"tenant\"\nlabel = \"Microsoft Entra tenant\"\ndefault = \"common\"\n\
                 help = \"Use common, organizations, consumers, the app's Directory (tenant) ID or a verified domain.\"\npattern = '{TENANT_PATTERN}'\n"
            );
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
    if shape == "slack-user" || shape == "slack-both" {
        let presented = refresh.then(|| form.get("refresh_token").cloned().unwrap_or_default());
        return slack_answer(&q, &shape, presented.as_deref());
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

/// Azure's words for a single-tenant app asked for at a multi-tenant endpoint.
fn aadsts50194() -> String {
    format!(
        "AADSTS50194: Application '{CLIENT_ID}'(Quirk azure) is not configured as a multi-tenant application. Usage of the /common endpoint is \
         not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant."
    )
}

/// What Azure says about a tenant it does not know, or an app that is not in it.
fn azure_refusal(tenant: &str) -> Option<(u32, String)> {
    if ["common", "organizations", "consumers"].iter().any(|t| t.eq_ignore_ascii_case(tenant)) {
        return Some((50194, aadsts50194()));
    }
    let home = tenant.eq_ignore_ascii_case(AZURE_TENANT) || tenant.eq_ignore_ascii_case(AZURE_TENANT_ID);
    (!home).then(|| (700016, format!("AADSTS700016: Application with identifier '{CLIENT_ID}' was not found in the directory '{tenant}'.")))
}

/// `GET /azure/{tenant}/oauth2/v2.0/authorize`: Azure sends the browser back with `error=invalid_request` and the
/// AADSTS text when the app cannot be used at this tenant; otherwise grants as every shape does.
async fn azure_authorize(State(q): State<Arc<QuirkState>>, Path(tenant): Path<String>, query: Query<HashMap<String, String>>) -> Response {
    q.tenant_requests.lock().unwrap().push(format!("authorize {tenant}"));
    if let Some((_, description)) = azure_refusal(&tenant) {
        let (Some(redirect), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
            return (StatusCode::BAD_REQUEST, description).into_response();
        };
        let mut back = url::Url::parse(redirect).expect("a redirect URI");
        back.query_pairs_mut().append_pair("error", "invalid_request").append_pair("error_description", &description).append_pair("state", state);
        return Redirect::to(back.as_str()).into_response();
    }
    authorize(State(q), Path("azure".into()), query).await
}

/// `POST /azure/{tenant}/oauth2/v2.0/token`: Azure's error body (RFC 6749 §5.2 plus `error_codes`, `timestamp`,
/// `trace_id`, `correlation_id`) when the app cannot be used at this tenant.
async fn azure_token(State(q): State<Arc<QuirkState>>, Path(tenant): Path<String>, form: Form<HashMap<String, String>>) -> Response {
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    q.tenant_requests.lock().unwrap().push(format!("token:{grant} {tenant}"));
    if let Some((code, description)) = azure_refusal(&tenant) {
        count(&q, "azure", |c| c.token_requests += 1);
        return json_error(
            StatusCode::BAD_REQUEST,
            json!({
                "error": "invalid_request",
                "error_description": format!("{description}\r\nTrace ID: 0a1b2c3d-0000-4000-8000-000000000000\r\nCorrelation ID: 4e5f6a7b-0000-4000-8000-000000000000\r\nTimestamp: 2024-05-01 10:00:00Z"),
                "error_codes": [code],
                "timestamp": "2024-05-01 10:00:00Z",
                "trace_id": "0a1b2c3d-0000-4000-8000-000000000000",
                "correlation_id": "4e5f6a7b-0000-4000-8000-000000000000",
                "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
            }),
        );
    }
    token(State(q), Path("azure".into()), form).await
}

/// A Slack token pair of `kind` (`bot`: `xoxe.xoxb-…`, `user`: `xoxe.xoxp-…`, refresh tokens `xoxe-1-…`), known
/// to the provider as live.
fn slack_pair(q: &QuirkState, kind: &'static str) -> (String, String) {
    let n = uuid_like(q);
    let letter = if kind == "bot" { 'b' } else { 'p' };
    let (access, refresh) = (format!("xoxe.xox{letter}-1-quirk{n}"), format!("xoxe-1-quirk{kind}{n}"));
    let mut t = q.tokens.lock().unwrap();
    t.access.insert(access.clone());
    t.refresh.insert(refresh.clone());
    let mut kinds = q.slack_kinds.lock().unwrap();
    kinds.insert(access.clone(), kind);
    kinds.insert(refresh.clone(), kind);
    (access, refresh)
}

/// oauth.v2.access as Slack answers it: a code exchange for the shape's install (user scopes only, or bot and
/// user), or a refresh (`presented`: the refresh token) answering the renewed token of its kind at the top level.
fn slack_answer(q: &QuirkState, shape: &str, presented: Option<&str>) -> Response {
    let lifetime = *q.slack_lifetime.lock().unwrap();
    let team = json!({ "id": "T9TK3CUKW", "name": "Quirk Workspace" });
    if let Some(rt) = presented {
        let kind = q.slack_kinds.lock().unwrap().get(rt).copied().unwrap_or("bot");
        q.slack_refreshes.lock().unwrap().push(kind);
        let (access, refresh) = slack_pair(q, kind);
        let mut body = json!({
            "ok": true, "app_id": "A0KRD7HC3", "access_token": access, "token_type": kind, "expires_in": lifetime, "refresh_token": refresh,
            "scope": if kind == "bot" { "chat:write,channels:read" } else { "search:read,users:read" }, "team": team, "enterprise": null, "is_enterprise_install": false
        });
        if kind == "bot" {
            body["bot_user_id"] = json!(SLACK_BOT_USER_ID);
        }
        return Json(body).into_response();
    }
    let (user_at, user_rt) = slack_pair(q, "user");
    if shape == "slack-user" {
        // No token rotation on this app: no expires_in, no refresh token.
        return Json(json!({
            "ok": true, "app_id": "A0118NQPZZT",
            "authed_user": { "id": SLACK_USER_ID, "scope": "search:read,users:read", "access_token": user_at, "token_type": "user" },
            "team": team, "enterprise": null, "is_enterprise_install": false
        }))
        .into_response();
    }
    let (bot_at, bot_rt) = slack_pair(q, "bot");
    Json(json!({
        "ok": true, "access_token": bot_at, "token_type": "bot", "scope": "chat:write,channels:read", "bot_user_id": SLACK_BOT_USER_ID,
        "app_id": "A0KRD7HC3", "team": team, "enterprise": null, "expires_in": lifetime, "refresh_token": bot_rt,
        "authed_user": {
            "id": SLACK_USER_ID, "scope": "search:read,users:read", "access_token": user_at, "token_type": "user",
            "expires_in": lifetime, "refresh_token": user_rt
        },
        "is_enterprise_install": false
    }))
    .into_response()
}

/// Slack's `auth.test`: who the token is (a bot token also names its `bot_id`); `{"ok": false, "error":
/// "invalid_auth"}` with HTTP 200 for a token Slack does not know, as Slack answers.
async fn slack_auth_test(State(q): State<Arc<QuirkState>>, Path(shape): Path<String>, headers: HeaderMap) -> Response {
    count(&q, &shape, |c| c.api_calls += 1);
    let token = bearer(&headers).unwrap_or_default().to_owned();
    let live = q.tokens.lock().unwrap().access.contains(&token);
    let kind = q.slack_kinds.lock().unwrap().get(&token).copied();
    match (live, kind) {
        (true, Some("bot")) => Json(json!({ "ok": true, "team": "Quirk Workspace", "team_id": "T9TK3CUKW", "user": "quirkbot", "user_id": SLACK_BOT_USER_ID, "bot_id": "B061F7JQ6S3", "is_enterprise_install": false })).into_response(),
        (true, Some(_)) => Json(json!({ "ok": true, "team": "Quirk Workspace", "team_id": "T9TK3CUKW", "user": "ada", "user_id": SLACK_USER_ID, "is_enterprise_install": false })).into_response(),
        _ => Json(json!({ "ok": false, "error": "invalid_auth" })).into_response(),
    }
}
