//! Settings as data (issue 25, item 3): everything the config file can say, read and changed through the operator
//! API, taking effect on every node within 2 s; secrets write-only; what the file sets refused; OAuth clients per
//! environment; roles.

use std::time::{Duration, Instant};

use plugboard::operators::{Role, TokenScope};
use plugboard_tests::{fixtures, http, operator::Operator, session_token, spawn_app, spawn_app_with, spawn_with_provider, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const P: &str = "/operator/v1/projects/test-project";

/// The platforms the widget lists for a session token of `app` (first page of 100).
async fn listed(url: &str, token: &str) -> Vec<String> {
    let res = http().get(format!("{url}/v1/widget/integrations?limit=100")).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    page["rows"].as_array().unwrap().iter().map(|r| r["platform"].as_str().unwrap().to_owned()).collect()
}

/// Whether the widget offers `platform` to a session token of `app`: its detail answers 200, else 409.
async fn offered(app: &TestApp, token: &str, platform: &str) -> bool {
    let res = http().get(format!("{}/v1/widget/integrations/{platform}", app.url)).bearer_auth(token).send().await.unwrap();
    assert!(matches!(res.status(), StatusCode::OK | StatusCode::CONFLICT), "{}", res.status());
    res.status() == StatusCode::OK
}

/// A session token minted with `key` (any environment's).
async fn session_with_key(app: &TestApp, key: &str, identity: &str) -> String {
    let res = http().post(format!("{}/v1/authkit/token", app.url)).bearer_auth(key).json(&json!({"identity": identity, "identityType": "user"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn audit_of(admin: &Operator, action: &str) -> Vec<Value> {
    admin.get_json(&format!("/operator/v1/audit?action={action}&limit=100")).await["rows"].as_array().unwrap().clone()
}

#[tokio::test]
async fn visible_integrations_changed_through_the_api_show_on_a_second_node_within_two_seconds() {
    let a = spawn_app_with(|s| s.master_key = Some(plugboard::vault::SecretString::new(plugboard_tests::TEST_MASTER_KEY))).await;
    // A second node on the same database (in this process; PostgreSQL in the suite's second run).
    let (url, key) = (a.db.url.clone(), a.key.clone());
    let b = spawn_app_with(|s| {
        s.database_url = Some(url);
        s.master_key = Some(plugboard::vault::SecretString::new(plugboard_tests::TEST_MASTER_KEY));
        s.secret_key = vec![key];
    })
    .await;
    let token = session_token(&a, "alice").await;
    let at_first = listed(&b.url, &token).await;
    assert!(at_first.len() > 2, "every ready integration at first");
    let mut two = at_first[..2].to_vec();
    let admin = Operator::admin(&a).await;
    let res = admin.patch(&format!("{P}/settings"), &json!({"visibleIntegrations": two})).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    two.sort();
    let changed = Instant::now();
    loop {
        let mut now = listed(&b.url, &token).await;
        now.sort();
        if now == two {
            break;
        }
        assert!(changed.elapsed() < Duration::from_millis(2500), "node B still lists {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The change is in the audit trail as a before/after diff.
    let entries = audit_of(&admin, "project_settings.update").await;
    assert_eq!(entries.last().unwrap()["details"]["visibleIntegrations"], json!({"before": null, "after": at_first[..2]}));
}

#[tokio::test]
async fn bad_settings_are_a_400_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let admin = Operator::admin(&app).await;
    let ok = admin.patch(&format!("{P}/settings"), &json!({"accentColor": "#0a7CFF", "companyName": "Acme"})).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let before = admin.get_json(P).await;
    assert_eq!(before["settings"]["accentColor"], "#0a7CFF");
    for (body, named) in [
        (json!({"visibleIntegrations": ["no-such-app"]}), "no-such-app"),
        (json!({"allowedOrigins": ["https://app.example.com/path"]}), "origin"),
        (json!({"accentColor": "blue"}), "accentColor"),
        (json!({"accentColor": "#12345"}), "accentColor"),
        (json!({"companyName": "x".repeat(10_000)}), "companyName"),
        (json!({"featured": (0..60).map(|i| format!("app{i}")).collect::<Vec<_>>()}), "featured"),
        (json!({"sessionTtlSecs": "long"}), "sessionTtlSecs"),
        (json!({"visibleIntegrations": "slack"}), "visibleIntegrations"),
        (json!({"theme": "dark", "logoUrl": "http://evil.example/logo.png"}), "logoUrl"),
        (json!({"colour": "#000000"}), "colour"),
        (json!({}), "at least one"),
    ] {
        let res = admin.patch(&format!("{P}/settings"), &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], "invalid_settings", "{err}");
        assert!(err["error"].as_str().unwrap().contains(named), "{named}: {err}");
    }
    assert_eq!(admin.get_json(P).await["settings"], before["settings"], "nothing was written (theme neither)");
    assert_eq!(admin.patch("/operator/v1/projects/nope/settings", &json!({"theme": "dark"})).await.status(), StatusCode::NOT_FOUND);
    let unknown_client = admin.put(&format!("{P}/oauth-clients/no-such-app?environment=test"), &json!({"clientId": "x", "clientSecret": "y"})).await;
    assert_eq!(unknown_client.status(), StatusCode::BAD_REQUEST);
    let bad_env = admin.put(&format!("{P}/oauth-clients/gmail?environment=prod"), &json!({"clientId": "x", "clientSecret": "y"})).await;
    assert_eq!(bad_env.status(), StatusCode::BAD_REQUEST);
    let wrong_type = admin.put(&format!("{P}/oauth-clients/gmail"), &json!({"clientId": 5, "clientSecret": "y"})).await;
    assert_eq!(wrong_type.status(), StatusCode::BAD_REQUEST);
    assert_eq!(admin.get_json(P).await["oauthClients"], json!([]));
    let bad_hook = admin.put(&format!("{P}/webhook"), &json!({"url": "ftp://x.example"})).await;
    assert_eq!(bad_hook.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn secrets_go_in_once_and_never_come_back() {
    let app = spawn_app().await;
    let admin = Operator::admin(&app).await;
    let created = admin.post("/operator/v1/projects", &json!({"id": "acme", "name": "Acme"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let first_key = created["key"]["key"].as_str().unwrap().to_owned();
    assert!(first_key.starts_with("sk_test_"));
    assert_eq!(admin.post("/operator/v1/projects", &json!({"id": "acme"})).await.status(), StatusCode::CONFLICT);
    assert_eq!(admin.post("/operator/v1/projects", &json!({"id": "no spaces"})).await.status(), StatusCode::BAD_REQUEST);

    let client_secret = "gmail-client-secret-0123456789";
    let res = admin.put("/operator/v1/projects/acme/oauth-clients/gmail?environment=live", &json!({"clientId": "acme.apps", "clientSecret": client_secret, "scopes": ["openid"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let live_key: Value = admin.post("/operator/v1/projects/acme/keys", &json!({"environment": "live"})).await.json().await.unwrap();
    let live_key = live_key["key"].as_str().unwrap().to_owned();
    assert!(live_key.starts_with("sk_live_"));
    let hook: Value = admin.put("/operator/v1/projects/acme/webhook", &json!({"url": "https://hooks.acme.example/pb"})).await.json().await.unwrap();
    let signing = hook["signingSecret"].as_str().unwrap().to_owned();
    let rotated: Value = admin.post("/operator/v1/projects/acme/webhook/rotate-secret", &json!({})).await.json().await.unwrap();
    assert_ne!(rotated["signingSecret"], hook["signingSecret"]);

    let detail = admin.get_json("/operator/v1/projects/acme").await;
    assert_eq!(detail["oauthClients"][0]["clientId"], "acme.apps");
    assert_eq!(detail["oauthClients"][0]["environment"], "live");
    assert_eq!(detail["webhook"]["url"], "https://hooks.acme.example/pb");
    assert_eq!(detail["keys"].as_array().unwrap().len(), 2);
    let everything = [
        detail.to_string(),
        admin.get_json("/operator/v1/projects").await.to_string(),
        admin.get("/operator/v1/audit.jsonl").await.text().await.unwrap(),
    ]
    .join("\n");
    for secret in [client_secret, &first_key, &live_key, &signing, rotated["signingSecret"].as_str().unwrap()] {
        assert!(!everything.contains(secret), "a secret came back: {secret}");
    }
    // The live key works until revoked by its hint.
    let hint = detail["keys"][1]["hint"].as_str().unwrap().to_owned();
    assert_eq!(admin.delete(&format!("/operator/v1/projects/acme/keys/{}", hint.trim_end_matches('…'))).await.status(), StatusCode::NO_CONTENT);
    let res = http().post(format!("{}/v1/authkit/token", app.url)).bearer_auth(&live_key).json(&json!({"identity": "a", "identityType": "user"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(admin.delete(&format!("/operator/v1/projects/acme/keys/{hint}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.delete("/operator/v1/projects/acme/webhook").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(admin.delete("/operator/v1/projects/acme/webhook").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(audit_of(&admin, "oauth_client.set").await.last().unwrap()["details"]["clientSecret"], "[redacted]");
}

#[tokio::test]
async fn what_the_config_file_sets_is_refused_and_the_rest_stays_editable() {
    let var = fixtures::secret_env("PB_OPSET_GMAIL_SECRET", "gmail-secret-0123456789");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugboard.toml");
    std::fs::write(&path, format!("[[projects]]\nid = \"test-project\"\ntheme = \"dark\"\n[projects.oauth.gmail]\nclientId = \"acme.apps\"\nclientSecretEnv = \"{var}\"\n")).unwrap();
    let app = spawn_app_with(|s| s.config = Some(path.clone())).await;
    let admin = Operator::admin(&app).await;
    let detail = admin.get_json(P).await;
    assert_eq!(detail["managedByFile"], json!(["theme", "oauth.gmail"]));
    let res = admin.patch(&format!("{P}/settings"), &json!({"theme": "light"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], "managed_by_file");
    assert!(err["error"].as_str().unwrap().contains("theme"));
    let res = admin.put(&format!("{P}/oauth-clients/gmail?environment=test"), &json!({"clientId": "x", "clientSecret": "y"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(admin.delete(&format!("{P}/oauth-clients/gmail")).await.status(), StatusCode::CONFLICT);
    // What the file does not set is the API's, and a restart keeps it.
    assert_eq!(admin.patch(&format!("{P}/settings"), &json!({"companyName": "Acme"})).await.status(), StatusCode::OK);
    let app = app.restart(|_| {}).await;
    let admin = Operator::admin(&app).await;
    let settings = admin.get_json(P).await["settings"].clone();
    assert_eq!((settings["companyName"].as_str(), settings["theme"].as_str()), (Some("Acme"), Some("dark")));
}

#[tokio::test]
async fn a_test_only_oauth_client_makes_the_app_offered_and_connectable_in_test_and_not_in_live() {
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.oauth_clients.remove("mock-oauth");
    })
    .await;
    let admin = Operator::admin(&app).await;
    let live_key: Value = admin.post(&format!("{P}/keys"), &json!({"environment": "live"})).await.json().await.unwrap();
    let (test_token, live_token) = (session_token(&app, "alice").await, session_with_key(&app, live_key["key"].as_str().unwrap(), "alice").await);
    assert!(!offered(&app, &test_token, "mock-oauth").await, "no client yet");

    let res = admin.put(&format!("{P}/oauth-clients/mock-oauth?environment=test"), &json!({"clientId": "plugboard-demo", "clientSecret": "demo-secret-not-for-production"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    tokio::time::sleep(plugboard::store::HOT_TTL + Duration::from_millis(200)).await;
    assert!(offered(&app, &test_token, "mock-oauth").await, "offered in test");
    assert!(!offered(&app, &live_token, "mock-oauth").await, "not offered in live");
    let start = |token: String| {
        let url = format!("{}/v1/widget/oauth/mock-oauth/start", app.url);
        async move { http().post(url).bearer_auth(token).body("{}").send().await.unwrap() }
    };
    let in_test = start(test_token.clone()).await;
    assert_eq!(in_test.status(), StatusCode::OK, "connectable in test");
    let in_live = start(live_token.clone()).await;
    assert!(in_live.status().is_client_error(), "not connectable in live: {}", in_live.status());

    // A live client of its own; removing the test one takes the app out of test again.
    let res = admin.put(&format!("{P}/oauth-clients/mock-oauth?environment=live"), &json!({"clientId": "plugboard-demo", "clientSecret": "demo-secret-not-for-production"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(admin.delete(&format!("{P}/oauth-clients/mock-oauth?environment=test")).await.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(plugboard::store::HOT_TTL + Duration::from_millis(200)).await;
    assert!(offered(&app, &live_token, "mock-oauth").await);
    assert!(!offered(&app, &test_token, "mock-oauth").await);
    assert_eq!(start(live_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_developer_changes_only_the_test_environment_and_support_sees_no_settings() {
    let app = spawn_app().await;
    let developer = Operator::with_token(&app, Role::Developer, TokenScope::Full).await;
    let client = json!({"clientId": "acme.apps", "clientSecret": "s3cret-0123456789"});
    assert_eq!(developer.get(P).await.status(), StatusCode::OK, "reads settings");
    assert_eq!(developer.put(&format!("{P}/oauth-clients/gmail?environment=test"), &client).await.status(), StatusCode::OK);
    assert_eq!(developer.put(&format!("{P}/oauth-clients/gmail?environment=live"), &client).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(developer.put(&format!("{P}/oauth-clients/gmail"), &client).await.status(), StatusCode::FORBIDDEN, "both = live too");
    assert_eq!(developer.patch(&format!("{P}/settings"), &json!({"theme": "dark"})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(developer.post(&format!("{P}/keys"), &json!({"environment": "test"})).await.status(), StatusCode::CREATED);
    assert_eq!(developer.post(&format!("{P}/keys"), &json!({"environment": "live"})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(developer.put(&format!("{P}/webhook"), &json!({"url": "https://h.example/x"})).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(developer.post("/operator/v1/projects", &json!({"id": "dev-made"})).await.status(), StatusCode::FORBIDDEN);
    let detail = developer.get_json(P).await;
    assert_eq!(detail["oauthClients"].as_array().unwrap().len(), 1, "only the test client was stored");
    assert_eq!(detail["settings"].get("theme"), None);

    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    for path in ["/operator/v1/projects", P] {
        assert_eq!(support.get(path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(support.patch(&format!("{P}/settings"), &json!({"theme": "dark"})).await.status(), StatusCode::FORBIDDEN);
    let read_only = Operator::with_token(&app, Role::Admin, TokenScope::Read).await;
    assert_eq!(read_only.get(P).await.status(), StatusCode::OK);
    assert_eq!(read_only.patch(&format!("{P}/settings"), &json!({"theme": "dark"})).await.status(), StatusCode::FORBIDDEN);
}
