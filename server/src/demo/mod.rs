//! The demo: a host app, and (in `provider`) a strict OAuth2 provider. The host app: a page on a second origin that embeds Plugboard by script tag, and the small backend
//! token endpoint a real host app would write (it forwards to `/v1/authkit/token` with the secret key, exactly
//! like the seeds' Next.js handler). `plugboard demo` runs it; the browser tests use it as their host page.

pub mod provider;

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Router,
};
use tokio::net::TcpListener;

use crate::keys::SecretKey;

const PAGE: &str = include_str!("../../assets/demo.html");
const HOSTED_PAGE: &str = include_str!("../../assets/demo-hosted.html");

#[derive(Clone)]
struct Host {
    plugboard_url: Arc<str>,
    secret_key: Arc<SecretKey>,
    client: reqwest::Client,
}

/// The host app's router: `/` (the page) and `POST /api/plugboard-token` (its backend).
pub fn router(plugboard_url: &str, secret_key: SecretKey) -> Router {
    let host = Host {
        plugboard_url: plugboard_url.trim_end_matches('/').into(),
        secret_key: Arc::new(secret_key),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("a client with default TLS settings builds"),
    };
    Router::new()
        .route("/", get(page))
        .route("/hosted", get(hosted_page))
        .route("/api/plugboard-token", post(token))
        .route("/api/hosted-connection-sessions", post(hosted_session))
        .with_state(host)
}

async fn hosted_page(State(host): State<Host>) -> Response {
    let html = HOSTED_PAGE.replace("{{PLUGBOARD_URL}}", &host.plugboard_url);
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Html(html)).into_response()
}

/// The host backend of One Runtime's guide (docs/contract.md, One Runtime): forwards the page's request to `POST /v1/hosted-connection-sessions` with the
/// secret key (a real app would decide `end_user_id` from its own login, not from the page).
async fn hosted_session(State(host): State<Host>, body: Bytes) -> Response {
    let answer = host
        .client
        .post(format!("{}/v1/hosted-connection-sessions", host.plugboard_url))
        .header("X-One-Secret", host.secret_key.expose())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match answer {
        Ok(res) => {
            let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, [(header::CONTENT_TYPE, "application/json")], res.bytes().await.unwrap_or_default()).into_response()
        }
        Err(_) => (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"Plugboard is unreachable"}"#).into_response(),
    }
}

async fn page(State(host): State<Host>) -> Response {
    let html = PAGE.replace("{{PLUGBOARD_URL}}", &host.plugboard_url);
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Html(html)).into_response()
}

/// Identifies the user (here: the `x-user-id` header, as in the seeds) and asks Plugboard for a session,
/// passing `page`/`limit` through and the answer back unchanged.
async fn token(State(host): State<Host>, headers: HeaderMap, RawQuery(query): RawQuery, _body: Bytes) -> Response {
    let Some(user) = headers.get("x-user-id").and_then(|v| v.to_str().ok()).filter(|u| !u.is_empty()) else {
        return (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"Unauthorized"}"#)
            .into_response();
    };
    let url = format!("{}/v1/authkit/token?{}", host.plugboard_url, query.unwrap_or_default());
    let answer = host
        .client
        .post(url)
        .header("X-One-Secret", host.secret_key.expose())
        .json(&serde_json::json!({ "identity": user, "identityType": "user" }))
        .send()
        .await;
    match answer {
        Ok(res) => {
            let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = res.bytes().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "demo host: token request failed");
            (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"Failed to generate token"}"#)
                .into_response()
        }
    }
}

/// Serves the host app on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    plugboard_url: &str,
    secret_key: SecretKey,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(plugboard_url, secret_key)).with_graceful_shutdown(shutdown).await
}

/// Catalog entries for the local mock provider at `provider_url`: an OAuth2 app (PKCE, `iss`) and an API-key
/// app whose key is checked by a verify request. Used by `plugboard demo` and the tests.
pub fn mock_integrations(provider_url: &str) -> Vec<crate::catalog::Integration> {
    let oauth = format!(
        r#"
platform = "mock-oauth"
name = "Mock OAuth"
category = "Developer tools"
description = "A local OAuth2 provider for trying the whole flow without a third-party account."
authMethod = "oauth2"
aliases = ["demo"]
apiBaseUrl = "{provider_url}/api"
[oauth]
authorizationUrl = "{provider_url}/authorize"
tokenUrl = "{provider_url}/token"
revokeUrl = "{provider_url}/revoke"
scopes = ["profile", "email"]
tokenAuth = "client_secret_basic"
issuer = "{provider_url}"
"#
    );
    let api_key = format!(
        r#"
platform = "mock-api-key"
name = "Mock API Key"
category = "Developer tools"
description = "A local API that accepts the key mock-key-0123456789."
authMethod = "api_key"
aliases = ["demo"]
apiBaseUrl = "{provider_url}/api"
[[fields]]
name = "api_key"
label = "API key"
placeholder = "mock-key-…"
secret = true
pattern = "^mock-key-[0-9a-z]{{6,}}$"
[inject]
type = "header"
name = "x-api-key"
value = "{{api_key}}"
[verify]
url = "{provider_url}/api/key-check"
"#
    );
    let client_credentials = format!(
        r#"
platform = "mock-client-credentials"
name = "Mock Machine Access"
category = "Developer tools"
description = "A local API reached with your own OAuth client (client credentials grant)."
authMethod = "oauth2_client_credentials"
apiBaseUrl = "{provider_url}/api"
[[fields]]
name = "client_id"
label = "Client ID"
[[fields]]
name = "client_secret"
label = "Client secret"
secret = true
[oauth]
tokenUrl = "{provider_url}/token"
scopes = ["read"]
tokenAuth = "client_secret_basic"
"#
    );
    [oauth, api_key, client_credentials].iter().map(|t| toml::from_str(t).expect("the mock entries are valid")).collect()
}

/// Lists the mock provider's apps first in `project_id`'s widget, then the popular ones, unless the project
/// features apps of its own (a config file's `featured`): the demo is clicked through with them.
pub async fn feature_mock_apps(projects: &crate::projects::Projects, project_id: &str) -> Result<(), crate::projects::ProjectError> {
    // Settings only: the same in both environments.
    let view = projects.view(project_id, crate::keys::Environment::Test).await?;
    if view.settings.featured.is_some() {
        return Ok(());
    }
    let mut settings = view.settings.clone();
    let mock = ["mock-oauth", "mock-api-key", "mock-client-credentials"];
    settings.featured = Some(mock.iter().chain(crate::catalog::POPULAR).map(|p| (*p).to_owned()).collect());
    projects.save_settings(project_id, &settings).await
}

/// The mock provider's settings for a Plugboard at `public_url` and a provider at `provider_url`.
pub fn mock_provider_config(public_url: &str, provider_url: &str) -> provider::ProviderConfig {
    provider::ProviderConfig {
        client_id: "plugboard-demo".into(),
        client_secret: "demo-secret-not-for-production".into(),
        redirect_uri: format!("{}/oauth/callback", public_url.trim_end_matches('/')),
        issuer: provider_url.into(),
        token_auth: crate::catalog::TokenAuth::ClientSecretBasic,
        require_pkce: true,
        access_ttl_secs: 3600,
        api_keys: vec!["mock-key-0123456789".into()],
    }
}

/// Registers the mock provider's client for `mock-oauth` in `settings`.
pub fn register_mock_client(settings: &mut crate::config::Settings, cfg: &provider::ProviderConfig, provider_url: &str) {
    settings.extra_integrations.extend(mock_integrations(provider_url));
    settings.oauth_clients.insert(
        "mock-oauth".into(),
        crate::config::OAuthClient {
            client_id: cfg.client_id.clone(),
            client_secret: crate::vault::SecretString::new(cfg.client_secret.clone()),
            scopes: None,
            settings: Default::default(), token_scopes: Default::default(),
        },
    );
}
