//! Text at the edge (SECURITY.md, "Bad input"): a control character in any text the API accepts — a query
//! parameter, a JSON field, a path, a header-carried key, a connect-form value — is a 400 `invalid_input` naming
//! the field, the same on SQLite and PostgreSQL (run the suite with `PLUGBOARD_TEST_POSTGRES` for the latter); and
//! a value the database itself refuses is a 400 or 409, never "briefly unavailable".

use plugboard::{http::error::ApiError, keys::Environment, store::{LinkKind, LinkRow, StoreError}};
use plugboard_shared::IdentityType;
use plugboard_tests::{connect_fields, http, session_token, spawn_with_provider};
use serde_json::{json, Value};

#[tokio::test]
async fn a_control_character_in_any_text_is_a_400_naming_the_field_and_nothing_is_stored() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let conn = connect_fields(&app, "u1", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let session = session_token(&app, "u1").await;
    let (url, secret) = (app.url.clone(), app.key.expose().to_owned());
    let c = http();
    let secret_post = |path: &str, body: Value| c.post(format!("{url}{path}")).header("X-One-Secret", &secret).json(&body);
    let cases = [
        // The case: NUL in a query, which PostgreSQL answered with "briefly unavailable".
        ("identity", c.get(format!("{url}/v1/vault/connections?identity=a%00b&identityType=user")).header("X-One-Secret", &secret)),
        ("platform", c.get(format!("{url}/v1/vault/connections?platform=gm%0Ail")).header("X-One-Secret", &secret)),
        ("project", c.get(format!("{url}/widget?project=a%00b"))),
        ("the path", c.get(format!("{url}/v1/vault/connections/a%00b")).header("X-One-Secret", &secret)),
        // JSON bodies: a token mint's identity and name, an auth link's end user, a link token.
        ("identity", secret_post("/v1/authkit/token", json!({ "identity": "a\u{0}b", "identityType": "user" }))),
        ("name", secret_post("/v1/authkit/token", json!({ "identity": "u", "identityType": "user", "name": "Work\r\nX-Evil: 1" }))),
        ("allowedIntegrations[0]", secret_post("/v1/authkit/token", json!({ "identity": "u", "identityType": "user", "allowedIntegrations": ["gma\u{7f}il"] }))),
        ("identity", secret_post("/v1/connect-sessions", json!({ "identity": "a\u{0}b" }))),
        ("end_user_id", secret_post("/v1/hosted-connection-sessions", json!({ "integration_slug": "mock-api-key", "end_user_id": "a\u{85}b" }))),
        ("token", c.post(format!("{url}/v1/links/session")).json(&json!({ "token": "pbl_\u{0}" }))),
        // A connect form's value (free text, but never NUL), and its reconnect key.
        ("fields.api_key", c.post(format!("{url}/v1/widget/connect/mock-api-key")).bearer_auth(&session).json(&json!({ "fields": { "api_key": "mock-key-0123456789\u{0}" } }))),
        ("reconnect", c.post(format!("{url}/v1/widget/connect/mock-api-key")).bearer_auth(&session).json(&json!({ "fields": { "api_key": "mock-key-0123456789" }, "reconnect": "k\u{0}" }))),
        // A header-carried value that reaches the database (HTTP lets a tab through).
        ("X-One-Connection-Key", c.get(format!("{url}/v1/passthrough/mock-api-key/me")).header("X-One-Secret", &secret).header("X-One-Connection-Key", format!("{}\tx", conn.key))),
    ];
    for (field, request) in cases {
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let header_id = res.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body: Value = res.json().await.unwrap_or_default();
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_input")), "{field}: {body}");
        assert!(body["error"].as_str().unwrap().contains(&format!("{field} must not contain")), "{field}: {body}");
        assert!(!header_id.is_empty() && body["requestId"] == header_id.as_str(), "{field}: {body}");
    }
    // Nothing was stored: the one connection, unchanged, and no link.
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 1);
    let row = app.store.get_connection(&conn.key).await.unwrap().unwrap();
    assert_eq!((row.version, row.name.as_str()), (1, "Mock API Key"));
}

#[tokio::test]
async fn a_connect_form_value_may_span_lines() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let session = session_token(&app, "u1").await;
    // Free text: a line break passes the edge and meets the integration's own check (its pattern), not a 400
    // `invalid_input`.
    let res = http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(&session)
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789\nsecond line" } }))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_ne!(body["code"], "invalid_input", "{body}");
}

#[tokio::test]
async fn a_value_the_database_refuses_is_a_400_or_a_409_never_a_503() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let status = |e: StoreError| axum::response::IntoResponse::into_response(ApiError::from(e)).status().as_u16();
    // Behind the edge: a NUL in a text value. PostgreSQL's text cannot hold it (SQLSTATE 22021), SQLite's can.
    let filter = plugboard::store::ConnectionFilter { project_id: "test-project".into(), identity: Some("a\u{0}b".into()), ..Default::default() };
    match app.store.list_connections(&filter, 0, 20).await {
        Ok((rows, total)) => assert!(!app.db.is_postgres() && rows.is_empty() && total == 0),
        Err(e) => {
            assert!(app.db.is_postgres(), "{e}");
            assert!(e.is_bad_value() && !e.is_unavailable(), "{e}");
            assert_eq!(status(e), 400);
        }
    }
    // A row that clashes with a stored one (the same link twice): an integrity violation on both.
    let link = LinkRow {
        token_hash: "0".repeat(64),
        kind: LinkKind::Link,
        project_id: "test-project".into(),
        environment: Environment::Test,
        identity: "u".into(),
        identity_type: IdentityType::User,
        end_user_name: None,
        end_user_username: None,
        categories: None,
        integration: None,
        reconnect_key: None,
        connection_name: None,
        redirect_url: None,
        created_at: 1,
        expires_at: i64::MAX,
        used_at: None,
        connection_key: None,
        revoked_at: None,
    };
    app.store.insert_link(&link).await.unwrap();
    let e = app.store.insert_link(&link).await.unwrap_err();
    assert!(e.is_conflict() && !e.is_unavailable() && !e.is_bad_value(), "{e}");
    assert_eq!(status(e), 409);
}
