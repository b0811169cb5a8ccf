//! Connections for support (docs/operators.md, Connections): operators find an end user's connections, read one
//! with its health timeline (never a secret), refresh it now, send its end user a reconnect link and delete it —
//! each as far as their role allows, each change in the audit trail.

use std::sync::atomic::Ordering;

use plugboard::operators::{Role, TokenScope};
use plugboard_tests::{
    connect_fields, connect_oauth, eventually, fixtures, http, operator::{create_operator, Operator, PASSWORD}, passthrough, spawn_with_provider, upstream::spawn_receiver, Server, TestApp,
};
use serde_json::{json, Value};

async fn me(app: &TestApp, key: &str) -> u16 {
    passthrough(app, key, reqwest::Method::GET, "mock-oauth/me").send().await.unwrap().status().as_u16()
}

/// Opens the auth link `token` and connects Mock API Key through it (reconnecting `reconnect`); the record.
async fn connect_through_link(app: &TestApp, token: &str, reconnect: Option<&str>) -> Value {
    let s: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": token })).send().await.unwrap().json().await.unwrap();
    let res = http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(s["session"]["token"].as_str().unwrap())
        .header("Plugboard-Origin", app.url.clone())
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789" }, "reconnect": reconnect }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Connects Mock API Key for `identity` through an auth link that names them `name` / `username`.
async fn connect_named(app: &TestApp, identity: &str, name: &str, username: &str) -> String {
    let res = app.create_connect_session(&json!({ "identity": identity, "name": name, "username": username })).await;
    assert_eq!(res.status(), 200);
    let made: Value = res.json().await.unwrap();
    connect_through_link(app, made["token"].as_str().unwrap(), None).await["key"].as_str().unwrap().to_owned()
}

fn keys(page: &Value) -> Vec<String> {
    page["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap().to_owned()).collect()
}

/// The timeline's kinds, oldest first, without the webhook deliveries.
fn kinds(detail: &Value) -> Vec<String> {
    detail["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).filter(|k| k != "webhook").collect()
}

#[tokio::test]
async fn support_finds_connections_by_identity_name_email_integration_state_environment_and_time() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let ada_key = connect_named(&app, "u-ada", "Ada Lovelace", "ada@example.com").await;
    let grace_key = connect_named(&app, "u-grace", "Grace Hopper", "Grace@Navy.example").await;
    let ada_oauth = connect_oauth(&app, "u-ada").await.key;
    let bob = connect_fields(&app, "u-bob", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await.key;
    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    let search = |q: &'static str| {
        let support = support.clone();
        async move { support.get_json(&format!("/operator/v1/connections{q}")).await }
    };

    let all = search("").await;
    assert_eq!(all["total"], 4);
    assert_eq!(keys(&all), [bob.as_str(), ada_oauth.as_str(), grace_key.as_str(), ada_key.as_str()], "newest first");
    let ada_row = &all["rows"][3];
    assert_eq!((ada_row["endUserName"].as_str(), ada_row["endUserUsername"].as_str()), (Some("Ada Lovelace"), Some("ada@example.com")));
    assert_eq!((ada_row["projectId"].as_str(), ada_row["environment"].as_str(), ada_row["state"].as_str()), (Some("test-project"), Some("test"), Some("operational")));

    let mut ada = keys(&search("?identity=u-ada").await);
    ada.sort();
    let mut want = vec![ada_key.clone(), ada_oauth.clone()];
    want.sort();
    assert_eq!(ada, want);
    assert_eq!(keys(&search("?q=lovelace").await), [ada_key.as_str()], "part of the name, any case");
    assert_eq!(keys(&search("?q=NAVY.example").await), [grace_key.as_str()], "part of the email, any case");
    assert_eq!(search("?q=%25").await["total"], 0, "a % is a character, not a wildcard");
    assert_eq!(search("?q=_").await["total"], 0, "so is an _");
    assert_eq!(keys(&search("?integration=mock-oauth").await), [ada_oauth.as_str()]);
    assert_eq!(search("?integration=mock-api-key&identity=u-bob").await["total"], 1);
    assert_eq!(search("?environment=live").await["total"], 0);
    assert_eq!(search("?environment=test&project=test-project").await["total"], 4);

    // The grant is revoked at the provider: the connection fails, and a search by state finds it.
    provider.expire_access_tokens();
    provider.revoke_refresh_tokens();
    assert_eq!(me(&app, &ada_oauth).await, 409);
    assert_eq!(keys(&search("?state=failed").await), [ada_oauth.as_str()]);
    assert_eq!(search("?state=operational").await["total"], 3);

    // Time bounds, inclusive after and exclusive before, as RFC 3339 or unix seconds.
    let first = ada_row["createdAt"].as_str().unwrap().to_owned();
    let path = |q: String| format!("/operator/v1/connections{q}");
    assert_eq!(support.get_json(&path(format!("?createdAfter={first}"))).await["total"], 4);
    assert_eq!(support.get_json(&path(format!("?createdBefore={first}"))).await["total"], 0);
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert_eq!(support.get_json(&path(format!("?createdAfter={later}"))).await["total"], 0);
    assert_eq!(support.get_json(&path(format!("?createdBefore={later}"))).await["total"], 4);

    let page = search("?limit=3&page=2").await;
    assert_eq!((page["total"].as_u64(), page["pages"].as_u64(), page["page"].as_u64()), (Some(4), Some(2), Some(2)));
    assert_eq!(keys(&page), [ada_key.as_str()]);

    for (bad, status) in [
        ("?environment=prod", 400),
        ("?state=broken", 400),
        ("?limit=0", 400),
        ("?page=x", 400),
        ("?createdAfter=yesterday", 400),
        ("?createdAfter=2030-01-01T00:00:00Z&createdBefore=2020-01-01T00:00:00Z", 400),
        ("?project=nope", 404),
    ] {
        let res = support.get(&path(bad.into())).await;
        assert_eq!(res.status(), status, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body["code"].is_string() && body["error"].is_string(), "{bad}: {body}");
    }
    let long = "x".repeat(201);
    assert_eq!(support.get(&path(format!("?q={long}"))).await.status(), 400);
    assert_eq!(http().get(format!("{}/operator/v1/connections", app.url)).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_detail_has_no_secret_and_a_timeline_of_refreshes_failures_and_webhooks() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let path = fixtures::config_file(&fixtures::webhook_project(&receiver.url, &fixtures::secret_env("PB_OPCONN_WEBHOOK", "whsec_opconn_0123456789abcdef")));
    let (app, provider) = spawn_with_provider(|s, _| {
        s.config = Some(path.clone());
        s.retry_base_ms = 50;
    })
    .await;
    let conn = connect_oauth(&app, "alice").await;
    provider.expire_access_tokens();
    assert_eq!(me(&app, &conn.key).await, 200, "refreshed on a 401");
    provider.expire_access_tokens();
    provider.revoke_refresh_tokens();
    assert_eq!(me(&app, &conn.key).await, 409, "the refresh was refused: failed");

    let support = Operator::with_token(&app, Role::Support, TokenScope::Read).await;
    let detail_path = format!("/operator/v1/connections/{}", conn.key);
    let detail = support.get_json(&detail_path).await;
    assert_eq!(detail["connection"]["key"], conn.key.as_str());
    assert_eq!((detail["connection"]["platform"].as_str(), detail["connection"]["identity"].as_str()), (Some("mock-oauth"), Some("alice")));
    assert_eq!((detail["connection"]["state"].as_str(), detail["deleted"].as_bool(), detail["oauth"].as_bool()), (Some("failed"), Some(false), Some(true)));
    assert!(detail["tokenExpiresAt"].is_string() && detail["config"].is_object(), "{detail}");
    assert!(!detail["scopes"].as_array().unwrap().is_empty(), "the granted scopes: {detail}");
    assert_eq!(kinds(&detail), ["created", "refreshed", "refresh_failed", "failed"]);
    let failure = detail["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "refresh_failed").unwrap();
    assert_eq!(failure["detail"]["code"], "invalid_grant", "{failure}");
    assert!(failure["detail"]["reason"].as_str().unwrap().contains("Refresh token is invalid"), "the provider's own words: {failure}");

    // The webhook deliveries about it join the timeline once delivered.
    let detail = eventually("the webhooks delivered", || async {
        let d = support.get_json(&detail_path).await;
        let hooks: Vec<Value> = d["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "webhook").cloned().collect();
        (hooks.len() >= 2 && hooks.iter().all(|h| h["detail"]["status"] == "delivered")).then_some(d)
    })
    .await;
    let hooks: Vec<&Value> = detail["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "webhook").collect();
    let types: Vec<&str> = hooks.iter().map(|h| h["detail"]["eventType"].as_str().unwrap()).collect();
    assert_eq!(types, ["connection.created", "connection.failed"]);
    assert!(hooks.iter().all(|h| h["detail"]["lastStatusCode"] == 204 && h["detail"]["attempts"] == 1), "{hooks:?}");

    // Not one secret: neither token, nor the OAuth client's secret, whatever the field.
    let text = support.get(&detail_path).await.text().await.unwrap();
    let search = support.get("/operator/v1/connections").await.text().await.unwrap();
    for body in [&text, &search] {
        assert!(!body.contains("mock-at-") && !body.contains("mock-rt-"), "no token: {body}");
        assert!(!body.contains(provider.config.client_secret.as_str()), "no client secret: {body}");
    }

    // Ninety days on, the purge forgets the events (the connection stays).
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 91 * 86_400;
    assert!(app.store.purge_expired(later, 7).await.unwrap().connection_events >= 4);
    assert!(kinds(&support.get_json(&detail_path).await).is_empty());
}

#[tokio::test]
async fn refresh_now_recovers_a_degraded_connection_and_reports_a_refusal_with_its_reason() {
    // A long backoff: only the operator's refresh can recover the connection within the test.
    let (app, provider) = spawn_with_provider(|s, _| s.retry_base_ms = 120_000).await;
    let conn = connect_oauth(&app, "alice").await;
    provider.expire_access_tokens();
    provider.knobs.fail_token_requests.store(1, Ordering::SeqCst);
    assert_eq!(me(&app, &conn.key).await, 502);
    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    let detail_path = format!("/operator/v1/connections/{}", conn.key);
    assert_eq!(support.get_json(&detail_path).await["connection"]["state"], "degraded");
    assert_eq!(me(&app, &conn.key).await, 503, "backing off");

    let refresh_path = format!("/operator/v1/connections/{}/refresh", conn.key);
    let res = support.post(&refresh_path, &json!({})).await;
    assert_eq!(res.status(), 200);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["state"], "operational");
    assert!(done["tokenExpiresAt"].is_string());
    assert_eq!(me(&app, &conn.key).await, 200, "the new token works");
    let detail = support.get_json(&detail_path).await;
    assert_eq!(kinds(&detail), ["created", "refresh_failed", "degraded", "refreshed"]);
    assert_eq!(detail["timeline"][1]["detail"]["code"], "HTTP 503");

    // The user revoked the app: the refresh is refused with the provider's reason, and the connection fails.
    provider.revoke_refresh_tokens();
    let res = support.post(&refresh_path, &json!({})).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "provider_refused");
    assert!(body["error"].as_str().unwrap().contains("Refresh token is invalid"), "{body}");
    assert_eq!(support.get_json(&detail_path).await["connection"]["state"], "failed");
    let res = support.post(&refresh_path, &json!({})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "connection_failed");

    // An API key has nothing to renew.
    let key = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await.key;
    let res = support.post(&format!("/operator/v1/connections/{key}/refresh"), &json!({})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "not_refreshable");

    let admin = Operator::admin(&app).await;
    let audit = admin.get_json("/operator/v1/audit?action=connection.refresh&limit=100").await;
    let rows = audit["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{audit}");
    assert!(rows.iter().all(|r| r["actor"] == support.email.as_str() && r["projectId"] == "test-project"), "{audit}");
    assert_eq!(rows[0]["target"], conn.key.as_str());
    assert_eq!(rows[0]["details"]["outcome"], "refreshed");
    assert_eq!(rows[1]["details"]["outcome"], "failed");
}

#[tokio::test]
async fn a_reconnect_link_reconnects_the_same_key_for_the_same_end_user() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let key = connect_named(&app, "u-9", "Taylor", "taylor@example.com").await;
    let link_path = format!("/operator/v1/connections/{key}/reconnect-link");
    // From the console: a signed-in support operator, whose writes need the session's CSRF token.
    create_operator(&app, "sam@example.com", Role::Support).await;
    let support = Operator::sign_in(&app, "sam@example.com", PASSWORD).await;
    let forged = support.without_csrf(reqwest::Method::POST, &link_path).json(&json!({})).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(forged.json::<Value>().await.unwrap()["code"], "csrf_failed");
    for bad in [json!({ "expiresIn": 10 }), json!({ "expiresIn": 99_999_999 }), json!({ "bogus": 1 })] {
        let res = support.post(&link_path, &bad).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(res.json::<Value>().await.unwrap()["code"].is_string());
    }
    let res = support.post(&link_path, &json!({ "expiresIn": 3600 })).await;
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.unwrap();
    let url = made["url"].as_str().unwrap();
    let token = url.strip_prefix(&format!("{}/link#token=", app.url)).unwrap_or_else(|| panic!("{url}"));
    assert!(token.starts_with("pbl_"));
    let expires = time::OffsetDateTime::parse(made["expiresAt"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    assert!(((expires - time::OffsetDateTime::now_utc()).whole_seconds() - 3600).abs() < 10);

    let s: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": token })).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["reconnect"], key.as_str(), "the link reconnects this connection");
    let updated = connect_through_link(&app, token, Some(&key)).await;
    assert_eq!(updated["key"], key.as_str(), "the same key");
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 1);
    let detail = support.get_json(&format!("/operator/v1/connections/{key}")).await;
    assert_eq!(kinds(&detail), ["created", "reconnected"]);
    assert_eq!(detail["connection"]["endUserName"], "Taylor");

    let admin = Operator::admin(&app).await;
    let audit = admin.get_json("/operator/v1/audit?action=connection.reconnect_link").await;
    assert_eq!(audit["rows"].as_array().unwrap().len(), 1);
    assert_eq!(audit["rows"][0]["target"], key.as_str());
    assert!(!audit.to_string().contains("pbl_"), "the link is never in the audit trail: {audit}");
}

#[tokio::test]
async fn delete_revokes_at_the_provider_and_each_role_acts_only_as_far_as_it_may() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let test_conn = connect_oauth(&app, "alice").await.key;
    let bobs = connect_fields(&app, "bob", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await.key;
    // A live connection: the project's live key mints the session.
    let live = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Live);
    app.store.add_secret_key("test-project", live.environment(), &live.digest(), &live.hint()).await.unwrap();
    let session: Value = http()
        .post(format!("{}/v1/authkit/token", app.url))
        .header("X-One-Secret", live.expose())
        .json(&json!({ "identity": "alice", "identityType": "user" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(session["token"].as_str().unwrap())
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let live_conn = res.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned();
    assert!(live_conn.starts_with("live::"));

    let refresh = |k: &str| format!("/operator/v1/connections/{k}/refresh");
    let link = |k: &str| format!("/operator/v1/connections/{k}/reconnect-link");
    let one = |k: &str| format!("/operator/v1/connections/{k}");

    // Support: reads, refreshes and sends links in both environments; never deletes.
    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    assert_eq!(support.get(&one(&live_conn)).await.status(), 200);
    assert_eq!(support.post(&refresh(&test_conn), &json!({})).await.status(), 200);
    assert_eq!(support.post(&link(&live_conn), &json!({})).await.status(), 201);
    assert_eq!(support.delete(&one(&test_conn)).await.status(), 403);

    // Developer: acts on test connections only.
    let dev = Operator::with_token(&app, Role::Developer, TokenScope::Full).await;
    assert_eq!(dev.get(&one(&live_conn)).await.status(), 200);
    assert_eq!(dev.post(&refresh(&test_conn), &json!({})).await.status(), 200);
    assert_eq!(dev.post(&link(&test_conn), &json!({})).await.status(), 201);
    for res in [dev.post(&refresh(&live_conn), &json!({})).await, dev.post(&link(&live_conn), &json!({})).await, dev.delete(&one(&live_conn)).await] {
        assert_eq!(res.status(), 403);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "forbidden");
    }

    // A read-only token reads and nothing more, even an admin's.
    let reader = Operator::with_token(&app, Role::Admin, TokenScope::Read).await;
    assert_eq!(reader.get_json("/operator/v1/connections").await["total"], 3);
    assert_eq!(reader.get(&one(&test_conn)).await.status(), 200);
    assert_eq!(reader.post(&refresh(&test_conn), &json!({})).await.status(), 403);
    assert_eq!(reader.post(&link(&test_conn), &json!({})).await.status(), 403);
    assert_eq!(reader.delete(&one(&test_conn)).await.status(), 403);
    assert_eq!(support.get_json("/operator/v1/connections").await["total"], 3, "nothing was deleted");
    assert_eq!(dev.delete(&one(&bobs)).await.status(), 200, "a developer deletes a test connection");

    // An admin deletes: the grant is revoked at the provider, the connection is gone for the host, and its
    // timeline says so.
    let admin = Operator::admin(&app).await;
    let res = admin.delete(&one(&test_conn)).await;
    assert_eq!(res.status(), 200);
    let gone: Value = res.json().await.unwrap();
    assert_eq!(gone["key"], test_conn.as_str());
    assert_eq!(provider.counters.revocations.load(Ordering::SeqCst), 1);
    assert_eq!(app.get_connection(&test_conn).await.status(), 404);
    let detail = admin.get_json(&one(&test_conn)).await;
    assert_eq!(detail["deleted"], true);
    let k = kinds(&detail);
    assert_eq!(&k[k.len() - 2..], ["deleted", "revoked"], "{k:?}");
    assert_eq!(admin.delete(&one(&test_conn)).await.status(), 404, "deleting twice");
    assert_eq!(admin.post(&refresh(&test_conn), &json!({})).await.status(), 404);
    assert_eq!(admin.delete(&one(&live_conn)).await.status(), 200, "an admin deletes live ones too");
    assert_eq!(admin.get_json("/operator/v1/connections").await["total"], 0);

    // Every change and every refusal is in the audit trail.
    let audit = admin.get_json("/operator/v1/audit?action=connection.delete&limit=100").await;
    let rows = audit["rows"].as_array().unwrap();
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "refused").count(), 3, "{audit}");
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "ok").count(), 3, "{audit}");
    assert!(rows.iter().any(|r| r["outcome"] == "ok" && r["target"] == bobs.as_str() && r["details"]["revocation"] == "not_supported"), "{audit}");
    assert!(rows.iter().any(|r| r["outcome"] == "ok" && r["target"] == test_conn.as_str() && r["details"]["revocation"] == "revoked"), "{audit}");

    // Keys that name nothing.
    for path in ["/operator/v1/connections/nope", "/operator/v1/connections/test::mock-oauth::default::0000"] {
        let res = admin.get(path).await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "not_found");
        assert_eq!(admin.post(&format!("{path}/refresh"), &json!({})).await.status(), 404);
        assert_eq!(admin.post(&format!("{path}/reconnect-link"), &json!({})).await.status(), 404);
        assert_eq!(admin.delete(path).await.status(), 404);
    }
}

#[tokio::test]
async fn without_a_project_the_search_spans_every_project() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let ours = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await.key;
    // Another project with its own key, and one of its end users also called alice.
    let other = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Test);
    app.store.upsert_project(&plugboard::store::Project { id: "other".into(), name: "Other".into() }).await.unwrap();
    app.store.add_secret_key("other", other.environment(), &other.digest(), &other.hint()).await.unwrap();
    let session: Value = http()
        .post(format!("{}/v1/authkit/token", app.url))
        .header("X-One-Secret", other.expose())
        .json(&json!({ "identity": "alice", "identityType": "user" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(session["token"].as_str().unwrap())
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let theirs = res.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned();

    let support = Operator::with_token(&app, Role::Support, TokenScope::Read).await;
    let all = support.get_json("/operator/v1/connections?identity=alice").await;
    assert_eq!(keys(&all), [theirs.as_str(), ours.as_str()]);
    assert_eq!(all["rows"][0]["projectId"], "other");
    assert_eq!(keys(&support.get_json("/operator/v1/connections?project=other").await), [theirs.as_str()]);
    assert_eq!(keys(&support.get_json("/operator/v1/connections?project=test-project").await), [ours.as_str()]);
    assert_eq!(support.get_json(&format!("/operator/v1/connections/{theirs}")).await["connection"]["projectId"], "other");
}
