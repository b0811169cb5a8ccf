//! Endpoints that depend on the operator's OAuth app (Microsoft's tenant): the `azure` quirk shape answers as
//! Microsoft Entra ID does for a single-tenant app, which cannot use `/common/`. What the end user and the host see
//! without the project's setting, and that the authorize, token and refresh requests all go to the tenant with it.

use plugboard_tests::fixtures;
use plugboard_tests::Server;
use plugboard_shared::{ConnectionState, FlowStatus};
use plugboard_tests::{
    follow_redirect, oauth_connect, passthrough,
    quirks::{Quirks, AZURE_TENANT, AZURE_TENANT_ID, CLIENT_SECRET},
    spawn_app_with, TestApp,
};
use serde_json::Value;

/// An app whose config file declares the `azure` shape as a custom integration with the project's own OAuth
/// client, its settings as given.
async fn azure_app(q: &Quirks, settings: &[(&str, &str, &str)]) -> (TestApp, tempfile::TempDir) {
    let var = fixtures::secret_env("PB_AZURE_CLIENT_SECRET", CLIENT_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugboard.toml");
    std::fs::write(&config, q.config_file_with(&["azure"], &var, settings)).unwrap();
    let app = spawn_app_with(|s| s.config = Some(config.clone())).await;
    (app, dir)
}

async fn record(app: &TestApp, key: &str) -> plugboard_shared::ConnectionRecord {
    app.get_connection(key).await.json().await.unwrap()
}

#[tokio::test]
async fn a_single_tenant_app_without_its_tenant_fails_clearly_and_connects_once_the_operator_sets_it() {
    let q = Quirks::spawn().await;
    // Nothing set: today's behaviour, `/common/`, which Azure refuses for a single-tenant app.
    let (app, _dir) = azure_app(&q, &[]).await;
    let mut asked = String::new();
    let out = oauth_connect(&app, "alice", "quirk-azure", None, async |url: String| {
        asked = url.clone();
        follow_redirect(url).await
    })
    .await;
    assert!(asked.starts_with(&format!("{}/azure/common/oauth2/v2.0/authorize?", q.url)), "{asked}");
    assert_eq!(out.status, 400, "{}", out.page);
    assert_eq!(out.flow.status, FlowStatus::Failed);
    let error = out.flow.error.clone().unwrap();
    assert!(error.starts_with("Quirk azure refused the sign-in: AADSTS50194: Application 'quirk-client'(Quirk azure) is not configured as a multi-tenant application."), "{error}");
    assert!(error.contains("still uses the default Microsoft Entra tenant (tenant \"common\")"), "the operator learns what to set: {error}");
    assert!(out.page.contains("AADSTS50194"), "{}", out.page);
    assert_eq!(q.counts("azure").token_requests, 0, "no code to exchange");
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 0);
    drop(app);

    // The operator sets the app's tenant next to its OAuth client: authorize, token and refresh go there.
    for tenant in [AZURE_TENANT, AZURE_TENANT_ID] {
        let before = q.tenant_requests().len();
        let (app, _dir) = azure_app(&q, &[("azure", "tenant", tenant)]).await;
        let mut asked = String::new();
        let out = oauth_connect(&app, "alice", "quirk-azure", None, async |url: String| {
            asked = url.clone();
            follow_redirect(url).await
        })
        .await;
        assert_eq!(out.status, 200, "{tenant}: {}", out.page);
        assert!(asked.starts_with(&format!("{}/azure/{tenant}/oauth2/v2.0/authorize?", q.url)), "{asked}");
        let conn = out.connection();
        assert_eq!(conn.state, ConnectionState::Operational);
        assert!(!conn.connection_config.values().any(|v| v == tenant), "the operator's setting is not the connection's config");
        let me = passthrough(&app, &conn.key, reqwest::Method::GET, "quirk-azure/me").send().await.unwrap();
        assert_eq!(me.status(), 200);
        q.expire_access_tokens();
        let me = passthrough(&app, &conn.key, reqwest::Method::GET, "quirk-azure/me").send().await.unwrap();
        assert_eq!(me.status(), 200, "refreshed at the tenant");
        assert_eq!(me.json::<Value>().await.unwrap()["id"], "quirk-user");
        assert_eq!(
            q.tenant_requests()[before..],
            [format!("authorize {tenant}"), format!("token:authorization_code {tenant}"), format!("token:refresh_token {tenant}")],
        );
        assert_eq!(record(&app, &conn.key).await.state, ConnectionState::Operational);
    }
}

#[tokio::test]
async fn the_tenant_endpoint_refusing_a_token_request_says_why_and_what_to_set() {
    // The deployment's own client (environment) with no tenant; the code exchange reaches Azure's token endpoint
    // at `/common/` because the sign-in went to the tenant by another route: a stale sign-in link, a proxy.
    let q = Quirks::spawn().await;
    let app = spawn_app_with(|s| q.register(s)).await;
    let out = oauth_connect(&app, "alice", "quirk-azure", None, async |url: String| {
        let tenant_url = url.replace("/azure/common/", &format!("/azure/{AZURE_TENANT}/"));
        follow_redirect(tenant_url).await
    })
    .await;
    assert_eq!(out.status, 422, "{}", out.page);
    let error = out.flow.error.unwrap();
    assert!(error.starts_with("Quirk azure refused: AADSTS50194: Application"), "{error}");
    assert!(error.contains("may need to set it for their Quirk azure OAuth app"), "{error}");
    assert_eq!(q.tenant_requests().last().map(String::as_str), Some("token:authorization_code common"));
}

#[tokio::test]
async fn a_tenant_that_is_not_a_tenant_stops_the_start_naming_project_integration_and_value() {
    let var = fixtures::secret_env("PB_TENANT_SECRET", "a-client-secret");
    for (tenant, says) in [
        ("contoso.com/../evil", "may only hold letters, digits"),
        ("common?x=1", "may only hold letters, digits"),
        ("evil.example#", "may only hold letters, digits"),
        ("user@contoso.com", "may only hold letters, digits"),
        ("..", "may only hold letters, digits"),
        ("not a tenant", "may only hold letters, digits"),
        ("contoso", "does not match what the provider accepts"),
        ("1234", "does not match what the provider accepts"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugboard.toml");
        let file = format!(
            "[[projects]]\nid = \"acme\"\n[projects.oauth.outlook]\nclientId = \"x\"\nclientSecretEnv = \"{var}\"\nsettings = {{ tenant = {} }}\n",
            toml::Value::from(tenant)
        );
        std::fs::write(&path, file).unwrap();
        let key = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Test);
        let mut s = plugboard_tests::settings(dir.path(), &key);
        s.config = Some(path);
        let err = plugboard::app::Application::build(&s).await.err().expect("refused").to_string();
        assert!(err.starts_with("project acme: oauth.outlook: tenant "), "{tenant}: {err}");
        assert!(err.contains(&format!("{tenant:?}")) && err.contains(says), "{tenant}: {err}");
        assert!(err.contains("verified domain such as contoso.onmicrosoft.com"), "says what is allowed: {err}");
    }
    // A setting the integration does not have, and one for an app without settings.
    for (file, says) in [
        ("[projects.oauth.outlook]\nclientId = \"x\"\nclientSecretEnv = \"VAR\"\nsettings = { region = \"eu\" }\n", "oauth.outlook: \"region\" is not a setting of Outlook Mail (it has tenant)"),
        ("[projects.oauth.gmail]\nclientId = \"x\"\nclientSecretEnv = \"VAR\"\nsettings = { tenant = \"common\" }\n", "oauth.gmail: \"tenant\" is not a setting of Gmail (it has none)"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugboard.toml");
        std::fs::write(&path, format!("[[projects]]\nid = \"acme\"\n{}", file.replace("VAR", &var))).unwrap();
        let key = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Test);
        let mut s = plugboard_tests::settings(dir.path(), &key);
        s.config = Some(path);
        let err = plugboard::app::Application::build(&s).await.err().expect("refused").to_string();
        assert!(err.contains(says), "{err}");
    }
    // The deployment's client from the environment is checked the same way.
    let dir = tempfile::tempdir().unwrap();
    let key = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Test);
    let mut s = plugboard_tests::settings(dir.path(), &key);
    s.oauth_clients.insert(
        "sharepoint".into(),
        plugboard::config::OAuthClient {
            client_id: "x".into(),
            client_secret: plugboard::vault::SecretString::new("y"),
            scopes: None,
            settings: [("tenant".to_string(), "evil.example/x".to_string())].into(),
            token_scopes: Default::default(),
        },
    );
    let err = plugboard::app::Application::build(&s).await.err().expect("refused").to_string();
    assert!(err.contains("SharePoint") && err.contains("PLUGBOARD_OAUTH_SHAREPOINT_") && err.contains("\"evil.example/x\""), "{err}");
}

#[tokio::test]
async fn every_microsoft_entry_takes_the_tenant_in_its_authorize_and_token_urls() {
    let catalog = plugboard::catalog::Catalog::builtin().unwrap();
    let microsoft: Vec<_> = catalog.all().iter().filter(|e| e.oauth.as_ref().is_some_and(|o| o.token_url.contains("login.microsoftonline.com"))).collect();
    assert_eq!(microsoft.len(), 13);
    for e in microsoft {
        let o = e.oauth.as_ref().unwrap();
        let given = [("tenant".to_string(), AZURE_TENANT.to_string())].into();
        for (template, tail) in [(&o.authorization_url, "authorize"), (&o.token_url, "token")] {
            let url = plugboard::catalog::template::render_oauth(template, o, &given, &Default::default());
            assert_eq!(url, format!("https://login.microsoftonline.com/{AZURE_TENANT}/oauth2/v2.0/{tail}"), "{}", e.platform);
            let url = plugboard::catalog::template::render_oauth(template, o, &Default::default(), &Default::default());
            assert_eq!(url, format!("https://login.microsoftonline.com/common/oauth2/v2.0/{tail}"), "{}: nothing set keeps /common/", e.platform);
        }
        assert!(e.check_client_settings(&[("tenant".to_string(), "organizations".to_string())].into()).is_ok());
    }
}
