//! Per-project settings from a config file (README, Projects): visible and custom integrations, own OAuth clients,
//! allowed origins (API and frame-ancestors), session TTL.

use plugboard_tests::fixtures;
use plugboard_shared::{IntegrationsPage, TokenResponse};
use plugboard_tests::{spawn_with_provider, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const HOST: &str = "https://app.acme.example";

/// A server whose default project (`test-project`) is configured by `toml` (a `[[projects]]` entry).
async fn configured(toml: &str) -> (TestApp, plugboard::demo::provider::MockProvider) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugboard.toml");
    std::fs::write(&path, toml).unwrap();
    let (app, provider) = spawn_with_provider(|s, _| s.config = Some(path.clone())).await;
    std::mem::forget(dir); // the file is read at start; keep it until the process ends
    (app, provider)
}

async fn mint(app: &TestApp) -> TokenResponse {
    let res = Client::new()
        .post(format!("{}/v1/authkit/token?limit=100", app.url))
        .header("X-One-Secret", app.key.expose())
        .body(r#"{"identity":"u","identityType":"user"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn widget_get(app: &TestApp, token: &str, path: &str, origin: Option<&str>) -> reqwest::Response {
    let mut req = Client::new().get(format!("{}{path}", app.url)).bearer_auth(token);
    if let Some(o) = origin {
        req = req.header("Plugboard-Origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn visible_and_custom_integrations_shape_every_list() {
    // The project's own OAuth apps for Gmail and Slack (without them, neither would be offered).
    std::env::set_var("PB_PROJECTS_OWN_CLIENT_SECRET", "own-client-secret-0123");
    let clients = ["gmail", "slack"].map(|p| format!("[projects.oauth.{p}]\nclientId = \"acme-{p}\"\nclientSecretEnv = \"PB_PROJECTS_OWN_CLIENT_SECRET\"\n")).concat();
    let custom = fixtures::api_key_integration("acme-internal", "Acme Internal", "Acme's own API.", "Acme key", "type = \"bearer\"\ntoken = \"{api_key}\"\n");
    let (app, _) = configured(&format!(
        "[[projects]]\nid = \"test-project\"\nvisibleIntegrations = [\"gmail\", \"slack\", \"acme-internal\"]\n{custom}{clients}"
    ))
    .await;
    let session = mint(&app).await;
    let titles: Vec<&str> = session.rows.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, ["Gmail", "Slack", "Acme Internal"], "popular apps first");
    let page: IntegrationsPage = widget_get(&app, &session.token, "/v1/widget/integrations?search=acme", None).await.json().await.unwrap();
    assert_eq!(page.rows.iter().map(|r| r.platform.as_str()).collect::<Vec<_>>(), ["acme-internal"]);
    let hidden = widget_get(&app, &session.token, "/v1/widget/integrations/stripe", None).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "a hidden integration cannot be opened either");
    let detail: Value = widget_get(&app, &session.token, "/v1/widget/integrations/acme-internal", None).await.json().await.unwrap();
    assert_eq!(detail["fields"][0]["label"], "Acme key");

    let connectors = |q: &'static str| {
        let app_url = app.url.clone();
        let key = app.key.expose().to_owned();
        async move {
            let v: Value = Client::new().get(format!("{app_url}/v1/available-connectors{q}")).header("x-one-secret", key).send().await.unwrap().json().await.unwrap();
            v["total"].as_u64().unwrap()
        }
    };
    assert_eq!(connectors("?authkit=true").await, 3);
    let builtin = plugboard::catalog::Catalog::builtin().unwrap().all().len();
    let deployment_extras = plugboard::demo::mock_integrations("http://127.0.0.1").len();
    let everything = (builtin + deployment_extras + 1) as u64;
    assert_eq!(connectors("").await, everything, "without authkit=true: the whole catalog plus the custom one");
}

#[tokio::test]
async fn allowed_origins_guard_the_widget_api_and_its_framing() {
    let (app, _) = configured(&format!("[[projects]]\nid = \"test-project\"\nallowedOrigins = [\"{HOST}\"]\nsessionTtlSecs = 120\n")).await;
    let session = mint(&app).await;
    let expires = time::OffsetDateTime::parse(&session.expires_at, &time::format_description::well_known::Rfc3339).unwrap();
    let ttl = (expires - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((110..=120).contains(&ttl), "the project's session TTL: {ttl}");

    let ok = widget_get(&app, &session.token, "/v1/widget/categories", Some(HOST)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    for origin in [None, Some("https://evil.example"), Some("https://app.acme.example.evil.example")] {
        let res = widget_get(&app, &session.token, "/v1/widget/categories", origin).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "origin_not_allowed");
    }

    let page = reqwest::get(format!("{}/widget?project=test-project", app.url)).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.ends_with(&format!("frame-ancestors {HOST}")), "{csp}");
    let unknown = reqwest::get(format!("{}/widget?project=nope", app.url)).await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_projects_own_oauth_client_is_used_before_the_deployments() {
    std::env::set_var("PB_TEST_PROJECT_CLIENT_SECRET", "project-secret");
    let (app, _) = configured(
        "[[projects]]\nid = \"test-project\"\n[projects.oauth.mock-oauth]\nclientId = \"acme-own-client\"\nclientSecretEnv = \"PB_TEST_PROJECT_CLIENT_SECRET\"\nscopes = [\"profile\"]\n",
    )
    .await;
    let session = mint(&app).await;
    let detail: Value = widget_get(&app, &session.token, "/v1/widget/integrations/mock-oauth", None).await.json().await.unwrap();
    assert_eq!(detail["scopes"], serde_json::json!(["profile"]), "the project's scopes are shown");
    let start = plugboard_tests::start_oauth(&app, &session.token, "mock-oauth").await;
    let (location, _) = plugboard_tests::popup_authorize(&start).await;
    let location = url::Url::parse(&location).unwrap();
    let param = |k: &str| location.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    assert_eq!(param("client_id").as_deref(), Some("acme-own-client"));
    assert_eq!(param("scope").as_deref(), Some("profile"));
    // The secret is sealed in the database, never stored as given.
    let db = app.db.stored_bytes().await;
    assert!(!db.windows(14).any(|w| w == b"project-secret"));
}

#[tokio::test]
async fn a_bad_config_file_stops_the_server_with_a_clear_message() {
    for (toml, says) in [
        ("[[projects]]\nid = \"test-project\"\nvisibleIntegrations = [\"nope\"]\n", "unknown integration \"nope\""),
        ("[[projects]]\nid = \"test-project\"\nallowedOrigins = [\"app.acme.example\"]\n", "is not an origin"),
        ("[[projects]]\nid = \"test-project\"\nsurprise = 1\n", "unknown field `surprise`"),
        ("[[projects]]\nid = \"p\"\n[projects.oauth.gmail]\nclientId = \"x\"\nclientSecretEnv = \"PB_TEST_UNSET_VAR\"\n", "PB_TEST_UNSET_VAR is not set"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, toml).unwrap();
        let key = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Test);
        let mut s = plugboard_tests::settings(dir.path(), &key);
        s.config = Some(path);
        let err = plugboard::app::Application::build(&s).await.err().expect("refused");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_an_origin_the_project_does_not_allow_cannot_frame_the_widget_and_is_told_so() {
    let (app, _) = configured(&format!("[[projects]]\nid = \"test-project\"\nallowedOrigins = [\"{HOST}\"]\n")).await;
    let host = plugboard_tests::spawn_host(&app).await;
    let b = plugboard_tests::Browser::start().await;
    b.client.goto(&format!("{host}/?readyTimeout=3000")).await.unwrap();
    b.click("#connect").await;
    // The browser refuses the frame (frame-ancestors), so the widget never loads: the page hears why, the
    // promise rejects and the overlay goes away, instead of a grey box that never settles.
    let log = b.wait_js("onError", "return document.getElementById('log').textContent.includes('promise rejected') && document.getElementById('log').textContent").await;
    let log = log.as_str().unwrap();
    assert!(log.contains(&format!("onError widget_unavailable: The Plugboard widget could not be shown on this page ({host})")), "{log}");
    assert!(!log.contains("onClose"), "{log}");
    assert_eq!(b.js("return document.querySelectorAll('iframe').length").await, 0, "the overlay is gone");
    assert_eq!(b.js("return [...document.body.children].some(e => e.inert)").await, false, "the page works again");
    // Had the frame loaded, the widget API would have refused this origin too: both defences hold on their own.
    let session = mint(&app).await;
    let res = widget_get(&app, &session.token, "/v1/widget/categories", Some(&host)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    b.close().await;
}

#[tokio::test]
async fn every_page_says_who_may_frame_it() {
    let (app, _) = configured(&format!("[[projects]]\nid = \"test-project\"\nallowedOrigins = [\"{HOST}\"]\n")).await;
    let csp = |path: &'static str| {
        let url = format!("{}{path}", app.url);
        async move {
            let res = reqwest::get(url).await.unwrap();
            res.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
        }
    };
    // The widget without a project named: the deployment's projects' origins, not "anyone".
    assert!(csp("/widget").await.ends_with(&format!("frame-ancestors {HOST}")));
    for path in ["/oauth/authorize/00000000-0000-0000-0000-000000000000", "/oauth/callback?state=x", "/oauth/callback.js",
                 "/embed.js", "/healthz", "/v1/widget/categories", "/nowhere", "/assets/logos/gmail.svg"] {
        let policy = csp(path).await;
        assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy:?}");
    }
}
