//! Credential connect (`POST /v1/widget/connect/{platform}`) against the mock provider's key-check endpoint.

use plugboard_tests::Server;
use plugboard_shared::{ConnectionRecord, ErrorBody, TokenResponse};
use plugboard_tests::{spawn_with_provider, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn session(app: &TestApp, body: Value) -> String {
    let res = app.mint_session("", &body).await;
    res.json::<TokenResponse>().await.unwrap().token
}

async fn connect(app: &TestApp, token: &str, platform: &str, body: Value) -> (StatusCode, Value) {
    let res = Client::new()
        .post(format!("{}/v1/widget/connect/{platform}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

const GOOD_KEY: &str = "mock-key-0123456789";

#[tokio::test]
async fn a_valid_api_key_connects_and_is_stored_encrypted() {
    let (app, _) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "user-7", "identityType": "team"})).await;
    let (status, body) = connect(&app, &token, "mock-api-key", json!({"fields": {"api_key": GOOD_KEY}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Exactly the seed's ConnectionRecord fields, plus state and the non-secret connectionConfig.
    let mut fields: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "_id", "active", "connectionConfig", "connectionDefinitionId", "createdAt", "deleted", "deprecated", "environment", "identity",
            "identityType", "key", "lastModifiedBy", "name", "platform", "platformVersion", "secretsServiceId",
            "settings", "state", "tags", "throughput", "updated", "updatedAt", "version"
        ]
    );
    let record: ConnectionRecord = serde_json::from_value(body.clone()).unwrap();
    assert_eq!((record.identity.as_deref(), record.name.as_str()), (Some("user-7"), "Mock API Key"));
    assert!(!record.settings.oauth && record.active && !record.updated);
    assert!(!body.to_string().contains(GOOD_KEY));
    let db = app.db.stored_bytes().await;
    assert!(!db.windows(GOOD_KEY.len()).any(|w| w == GOOD_KEY.as_bytes()), "the key is encrypted at rest");
}

#[tokio::test]
async fn a_key_the_provider_refuses_is_not_stored_and_says_why() {
    let (app, _) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "u", "identityType": "user"})).await;
    let (status, body) = connect(&app, &token, "mock-api-key", json!({"fields": {"api_key": "mock-key-wrong00"}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!(err.code, "provider_refused");
    assert_eq!(err.error, "Mock API Key refused the credential: Invalid API key provided");
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn the_server_revalidates_fields_whatever_the_widget_did() {
    let (app, _) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "u", "identityType": "user"})).await;
    let cases = [
        ("mock-api-key", json!({"fields": {}}), "API key is required"),
        ("mock-api-key", json!({"fields": {"api_key": "not-a-mock-key"}}), "API key does not look right"),
        ("mock-api-key", json!({"fields": {"api_key": GOOD_KEY, "extra": "x"}}), "has no field \"extra\""),
        ("mock-api-key", json!({"fields": {"api_key": GOOD_KEY}, "name": "x".repeat(201)}), "limited to 200"),
        ("mock-oauth", json!({"fields": {}}), "sign-in window"),
        ("freshdesk", json!({"fields": {"domain": "evil.com/", "api_key": "k"}}), "Freshdesk domain"),
        // Read as 127.0.0.1 by URL parsers: a host value is a name, never a number.
        ("freshdesk", json!({"fields": {"domain": "2130706433", "api_key": "k"}}), "must be a name, not a number"),
        ("freshdesk", json!({"fields": {"domain": "0x7f000001", "api_key": "k"}}), "must be a name, not a number"),
        ("mock-api-key", json!({"fields": {"api_key": 5}}), "not valid"),
    ];
    for (platform, body, says) in cases {
        let (status, answer) = connect(&app, &token, platform, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{platform} {body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn a_no_credential_integration_connects_in_one_call_with_the_chosen_name() {
    let (app, _) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "u", "identityType": "user", "name": "Suggested"})).await;
    let (status, body) = connect(&app, &token, "hackernews", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Suggested", "the session's suggested name");
    let (_, named) = connect(&app, &token, "hackernews", json!({"name": "  My HN  "})).await;
    assert_eq!(named["name"], "My HN");
    assert_eq!(connections(&app).await, 2);
}

#[tokio::test]
async fn reconnecting_updates_the_same_connection() {
    let (app, _) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "u", "identityType": "user"})).await;
    let (_, first) = connect(&app, &token, "mock-api-key", json!({"fields": {"api_key": GOOD_KEY}})).await;
    let key = first["key"].as_str().unwrap();
    let (status, again) =
        connect(&app, &token, "mock-api-key", json!({"fields": {"api_key": GOOD_KEY}, "reconnect": key})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!((again["key"].as_str(), again["_id"].clone()), (Some(key), first["_id"].clone()));
    assert_eq!((again["version"].as_str(), again["updated"].as_bool()), (Some("2.0.0"), Some(true)));
    assert_eq!(again["createdAt"], first["createdAt"]);
    assert_eq!(connections(&app).await, 1);

    // Someone else's connection, or one of another platform, cannot be taken over.
    let other = session(&app, json!({"identity": "intruder", "identityType": "user"})).await;
    let (status, _) = connect(&app, &other, "mock-api-key", json!({"fields": {"api_key": GOOD_KEY}, "reconnect": key})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = connect(&app, &token, "hackernews", json!({"reconnect": key})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(connections(&app).await, 1);
}

#[tokio::test]
async fn oauth_without_a_configured_client_and_platforms_outside_the_session_are_refused() {
    let (app, _) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "u", "identityType": "user"})).await;
    let res = Client::new().post(format!("{}/v1/widget/oauth/gmail/start", app.url)).bearer_auth(&token).body("{}").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: ErrorBody = res.json().await.unwrap();
    assert_eq!(err.code, "integration_not_configured");
    assert!(err.error.contains("Gmail is not set up"));

    let narrow = session(&app, json!({"identity": "u", "identityType": "user", "allowedIntegrations": ["hackernews"]})).await;
    let (status, _) = connect(&app, &narrow, "mock-api-key", json!({"fields": {"api_key": GOOD_KEY}})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res = Client::new().get(format!("{}/v1/widget/integrations/mock-api-key", app.url)).bearer_auth(&narrow).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn client_credentials_connect_with_the_users_own_client_without_a_popup() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, json!({"identity": "svc", "identityType": "project"})).await;
    let cfg = provider.config.clone();
    let wrong = json!({"fields": {"client_id": cfg.client_id, "client_secret": "not-it"}});
    let (status, body) = connect(&app, &token, "mock-client-credentials", wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "Mock Machine Access refused: Client authentication failed.");
    assert_eq!(connections(&app).await, 0);

    let right = json!({"fields": {"client_id": cfg.client_id, "client_secret": cfg.client_secret}});
    let (status, body) = connect(&app, &token, "mock-client-credentials", right).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["settings"]["oauth"].as_bool(), body["identityType"].as_str()), (Some(true), Some("project")));
    assert!(!body.to_string().contains(&cfg.client_secret));
    assert_eq!(connections(&app).await, 1);
}
