//! Providers as they really answer (README, Embedding: How connecting works; API: Refresh): one test per real-world shape of the quirk provider, each
//! asserting what the user (the popup page), the host (record, passthrough answer, webhook) and the provider (how
//! often it was asked) see.

use plugboard_tests::fixtures;
use plugboard_tests::Server;
use plugboard_shared::{ConnectionRecord, ConnectionState, FlowStatus};
use plugboard::config::Settings;
use plugboard_tests::{
    concurrent_gets, eventually, follow_redirect, oauth_connect, passthrough,
    quirks::Quirks,
    spawn_app_with,
    upstream::{spawn_receiver, Receiver},
    OAuthOutcome, TestApp,
};
use serde_json::Value;

async fn quirk_app() -> (TestApp, Quirks) {
    let q = Quirks::spawn().await;
    let app = spawn_app_with(|s| q.register(s)).await;
    (app, q)
}

async fn connect(app: &TestApp, shape: &str) -> OAuthOutcome {
    oauth_connect(app, "alice", &format!("quirk-{shape}"), None, follow_redirect).await
}

async fn get(app: &TestApp, key: &str, shape: &str, path: &str) -> reqwest::Response {
    passthrough(app, key, reqwest::Method::GET, &format!("quirk-{shape}/{path}")).send().await.unwrap()
}

async fn record(app: &TestApp, key: &str) -> ConnectionRecord {
    app.get_connection(key).await.json().await.unwrap()
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

#[tokio::test]
async fn token_answers_in_every_real_world_shape_connect_and_work() {
    let (app, q) = quirk_app().await;
    for shape in ["textbook", "github-iss", "google-iss", "no-token-type", "string-expires", "text-plain", "form-body", "scope-array", "expires-zero"] {
        let out = connect(&app, shape).await;
        assert_eq!(out.status, 200, "{shape}: {}", out.page);
        assert!(out.page.contains("Connected"), "{shape}: {}", out.page);
        let conn = out.connection();
        assert_eq!(conn.state, ConnectionState::Operational, "{shape}");
        let res = get(&app, &conn.key, shape, "me").await;
        assert_eq!(res.status(), 200, "{shape}: the stored access token works");
        assert_eq!(res.json::<Value>().await.unwrap()["id"], "quirk-user");
        assert_eq!(q.counts(shape).codes_exchanged, 1, "{shape}");
    }
    assert_eq!(connections(&app).await, 9);
}

#[tokio::test]
async fn an_entry_that_declares_its_issuer_refuses_an_answer_without_iss() {
    let (app, q) = quirk_app().await;
    let out = connect(&app, "declared-iss").await;
    assert_eq!(out.status, 400, "{}", out.page);
    assert!(out.page.contains("names no issuer"), "{}", out.page);
    assert_eq!(out.flow.status, FlowStatus::Failed);
    assert_eq!(q.counts("declared-iss").token_requests, 0, "the code is never exchanged");
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn a_denial_without_iss_reads_as_a_denial_and_a_repeated_parameter_is_refused() {
    let (app, q) = quirk_app().await;
    // The user declines at a provider whose entry declares its issuer; the error answer carries no iss.
    let out = oauth_connect(&app, "alice", "quirk-declared-iss", None, async |url: String| {
        let back = follow_redirect(url).await;
        let state = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        format!("{}/oauth/callback?error=access_denied&state={state}", app.url)
    })
    .await;
    assert_eq!(out.status, 400, "{}", out.page);
    assert!(out.page.contains("You declined to connect Quirk declared-iss."), "{}", out.page);
    // A provider's error description is shown and logged as one line of text.
    let out = oauth_connect(&app, "alice", "quirk-textbook", None, async |url: String| {
        let back = follow_redirect(url).await;
        let state = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        format!("{}/oauth/callback?error=invalid_scope&error_description=a%0d%0aSet-Cookie:%20x=1%00b&state={state}", app.url)
    })
    .await;
    assert_eq!(out.status, 400, "{}", out.page);
    let error = out.flow.error.unwrap();
    assert_eq!(error, "Quirk textbook refused the sign-in: a  Set-Cookie: x=1 b.");
    // RFC 6749 §3.1: a parameter twice (which `iss` is the provider's?) — refused, and the flow ends.
    let out = oauth_connect(&app, "alice", "quirk-textbook", None, async |url: String| {
        format!("{}&iss=https%3A%2F%2Fa.example&iss=https%3A%2F%2Fb.example", follow_redirect(url).await)
    })
    .await;
    assert_eq!(out.status, 400, "{}", out.page);
    assert!(out.page.contains("names iss twice"), "{}", out.page);
    assert_eq!(out.flow.status, FlowStatus::Failed);
    assert_eq!(q.counts("textbook").token_requests, 0);
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn refusals_and_broken_answers_at_connect_show_the_providers_words() {
    let (app, q) = quirk_app().await;
    // GitHub refuses a code with HTTP 200: the user reads GitHub's reason.
    let out = connect(&app, "error-200").await;
    assert_eq!(out.status, 422, "{}", out.page);
    assert!(out.page.contains("The code passed is incorrect or expired."), "{}", out.page);
    assert!(!out.page.contains("does not understand"));
    assert_eq!(out.flow.error.as_deref().map(|e| e.contains("incorrect or expired")), Some(true));
    // An answer without an access token is still an error, and says what was missing.
    let out = connect(&app, "no-access-token").await;
    assert_eq!(out.status, 502, "{}", out.page);
    assert!(out.page.contains("no access_token"), "{}", out.page);
    assert_eq!(q.counts("no-access-token").token_requests, 1);
    assert_eq!(connections(&app).await, 0);
}

/// A quirk app whose project sends its webhooks to `receiver` (fast retries); `tweak` adjusts the rest.
async fn quirk_app_reporting_to(receiver: &Receiver, tweak: impl FnOnce(&mut Settings)) -> (TestApp, Quirks) {
    let config = fixtures::config_file(&fixtures::webhook_project(&receiver.url, &fixtures::secret_env("PB_QUIRK_WEBHOOK", "whsec_quirks_0123456789")));
    let q = Quirks::spawn().await;
    let app = spawn_app_with(|s| {
        q.register(s);
        s.config = Some(config.clone());
        s.retry_base_ms = 50;
        tweak(s);
    })
    .await;
    (app, q)
}

/// The `connection.failed` events the receiver has, by connection key.
fn failed_events(receiver: &Receiver) -> Vec<String> {
    let got: Vec<Value> = receiver.received.lock().unwrap().iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    got.iter().filter(|e| e["type"] == "connection.failed").map(|e| e["data"]["key"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_dead_grant_in_any_shape_fails_the_connection_once_and_for_all() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, q) = quirk_app_reporting_to(&receiver, |_| {}).await;
    let shapes = ["github-refresh", "slack-refresh", "strava-refresh", "hubspot-refresh", "twitch-refresh"];
    let mut keys = Vec::new();
    for shape in shapes {
        keys.push(connect(&app, shape).await.connection().key);
    }
    q.expire_access_tokens();
    for (shape, key) in shapes.iter().zip(&keys) {
        let res = get(&app, key, shape, "me").await;
        assert_eq!(res.status(), 409, "{shape}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "connection_failed", "{shape}: {body}");
        assert!(body["error"].as_str().unwrap().contains("reconnect"), "{shape}: {body}");
        assert_eq!(record(&app, key).await.state, ConnectionState::Failed, "{shape}");
        // No further token requests until the user reconnects.
        let asked = q.counts(shape).token_requests;
        assert_eq!(get(&app, key, shape, "me").await.status(), 409, "{shape}");
        assert_eq!(q.counts(shape).token_requests, asked, "{shape}: the provider is not asked again");
    }
    let failed: Vec<String> = eventually("connection.failed for each", || async {
        let failed = failed_events(&receiver);
        (failed.len() == shapes.len()).then_some(failed)
    })
    .await;
    for key in &keys {
        assert!(failed.contains(key), "{key} reported failed");
    }
}

#[tokio::test]
async fn a_rate_limited_token_endpoint_is_left_alone_until_retry_after() {
    let (app, q) = quirk_app().await;
    let key = connect(&app, "rate-limited").await.connection().key;
    q.expire_access_tokens();
    let res = get(&app, &key, "rate-limited", "me").await;
    assert_eq!(res.status(), 503);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((100..=120).contains(&wait), "the provider's Retry-After (120 s) is passed on: {wait}");
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "provider_unavailable");
    assert_eq!(record(&app, &key).await.state, ConnectionState::Degraded);
    let asked = q.counts("rate-limited").token_requests;
    for _ in 0..5 {
        assert_eq!(get(&app, &key, "rate-limited", "me").await.status(), 503);
    }
    assert_eq!(q.counts("rate-limited").token_requests, asked, "no token request before Retry-After");
}

#[tokio::test]
async fn an_html_error_page_on_refresh_degrades_and_says_what_happened() {
    let (app, q) = quirk_app().await;
    let key = connect(&app, "html-503").await.connection().key;
    q.expire_access_tokens();
    let res = get(&app, &key, "html-503", "me").await;
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("unavailable right now (HTTP 503)"), "{body}");
    assert_eq!(record(&app, &key).await.state, ConnectionState::Degraded);
}

#[tokio::test]
async fn a_token_of_unknown_lifetime_is_refreshed_on_401_only() {
    let (app, q) = quirk_app().await;
    let key = connect(&app, "expires-zero").await.connection().key;
    for _ in 0..10 {
        assert_eq!(get(&app, &key, "expires-zero", "me").await.status(), 200);
    }
    assert_eq!(q.counts("expires-zero").refreshes, 0, "expires_in 0 means unknown, not expired");
    q.expire_access_tokens();
    assert_eq!(get(&app, &key, "expires-zero", "me").await.status(), 200);
    assert_eq!(q.counts("expires-zero").refreshes, 1);
}

#[tokio::test]
async fn a_401_that_is_not_about_the_token_is_passed_through_without_a_refresh_storm() {
    let (app, q) = quirk_app().await;
    let key = connect(&app, "jira-401").await.connection().key;
    for i in 0..5 {
        let res = get(&app, &key, "jira-401", "scope-mismatch").await;
        assert_eq!(res.status(), 401, "call {i}: the provider's answer");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], "Unauthorized; scope does not match", "call {i}: the provider's body");
    }
    assert_eq!(q.counts("jira-401").refreshes, 1, "one refresh to rule out an expired token, then none");
    assert_eq!(q.counts("jira-401").api_calls, 6, "the first call and its retry, then one each");
    assert_eq!(record(&app, &key).await.state, ConnectionState::Operational, "the token is fine");
    assert_eq!(get(&app, &key, "jira-401", "me").await.status(), 200);

    // Many calls at once on a new connection: still one refresh (the refreshed token holds 401s until a call
    // shows it works).
    let key = connect(&app, "jira-401").await.connection().key;
    let before = q.counts("jira-401").refreshes;
    let statuses = concurrent_gets(&[&app], &key, "quirk-jira-401/scope-mismatch", 50).await;
    assert!(statuses.iter().all(|&s| s == 401), "{statuses:?}");
    assert_eq!(q.counts("jira-401").refreshes - before, 1);
}

#[tokio::test]
async fn a_refresh_answer_without_a_refresh_token_keeps_the_old_one() {
    let (app, q) = quirk_app().await;
    let key = connect(&app, "refresh-without-rt").await.connection().key;
    for round in 1..=2 {
        q.expire_access_tokens();
        assert_eq!(get(&app, &key, "refresh-without-rt", "me").await.status(), 200, "round {round}");
        assert_eq!(q.counts("refresh-without-rt").refreshes, round);
    }
}

#[tokio::test]
async fn an_access_token_that_expires_with_nothing_to_renew_it_fails_the_connection_and_says_so() {
    const SHAPE: &str = "short-lived-no-rt";
    // Called after expiry: the host hears "reconnect", not the provider's 401, and the provider is not asked.
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, q) = quirk_app_reporting_to(&receiver, |_| {}).await;
    let conn = connect(&app, SHAPE).await.connection();
    assert_eq!(conn.state, ConnectionState::Operational);
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    let calls = q.counts(SHAPE).api_calls;
    for _ in 0..2 {
        let res = get(&app, &conn.key, SHAPE, "me").await;
        assert_eq!(res.status(), 409);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "connection_failed", "{body}");
        assert!(body["error"].as_str().unwrap().contains("reconnect"), "{body}");
    }
    assert_eq!(q.counts(SHAPE).api_calls, calls, "an expired token is not sent");
    assert_eq!(record(&app, &conn.key).await.state, ConnectionState::Failed);
    eventually("connection.failed", || async { (failed_events(&receiver) == [conn.key.clone()]).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(failed_events(&receiver), std::slice::from_ref(&conn.key), "reported once");

    // Not called at all: the refresher's rounds find it once its token expired.
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, _q) = quirk_app_reporting_to(&receiver, |s| s.refresh_interval_secs = 1).await;
    let conn = connect(&app, SHAPE).await.connection();
    eventually("connection.failed without a call", || async { (failed_events(&receiver) == [conn.key.clone()]).then_some(()) }).await;
    assert_eq!(record(&app, &conn.key).await.state, ConnectionState::Failed);
}

#[tokio::test]
async fn a_token_the_provider_calls_invalid_with_nothing_to_renew_it_fails_the_connection() {
    const SHAPE: &str = "revoked-no-rt";
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, q) = quirk_app_reporting_to(&receiver, |_| {}).await;
    let conn = connect(&app, SHAPE).await.connection();
    assert_eq!(get(&app, &conn.key, SHAPE, "me").await.status(), 200);
    q.expire_access_tokens();
    // This call gets the provider's own answer; from then on the connection says it must be reconnected.
    let res = get(&app, &conn.key, SHAPE, "me").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["message"], "Bad credentials");
    assert_eq!(record(&app, &conn.key).await.state, ConnectionState::Failed);
    let calls = q.counts(SHAPE).api_calls;
    assert_eq!(get(&app, &conn.key, SHAPE, "me").await.status(), 409);
    assert_eq!(q.counts(SHAPE).api_calls, calls);
    eventually("connection.failed", || async { (failed_events(&receiver) == [conn.key.clone()]).then_some(()) }).await;

    // A 401 without that challenge may be about something else (Jira's missing scope): the connection stands.
    let conn = connect(&app, SHAPE).await.connection();
    assert_eq!(get(&app, &conn.key, SHAPE, "scope-mismatch").await.status(), 401);
    assert_eq!(record(&app, &conn.key).await.state, ConnectionState::Operational);
    assert_eq!(get(&app, &conn.key, SHAPE, "me").await.status(), 200);
}

#[tokio::test]
async fn a_reconnect_whose_answer_has_no_refresh_token_keeps_the_one_it_had() {
    const SHAPE: &str = "rt-first-consent-only";
    let (app, q) = quirk_app().await;
    let key = connect(&app, SHAPE).await.connection().key;
    let again = oauth_connect(&app, "alice", &format!("quirk-{SHAPE}"), Some(&key), follow_redirect).await;
    assert_eq!(again.status, 200, "{}", again.page);
    assert_eq!(again.connection().key, key, "reconnected in place");
    assert_eq!(q.counts(SHAPE).codes_exchanged, 2);
    // After expiry the first grant's refresh token renews the access: the host's call works.
    q.expire_access_tokens();
    assert_eq!(get(&app, &key, SHAPE, "me").await.status(), 200);
    assert_eq!(q.counts(SHAPE).refreshes, 1);
    assert_eq!(record(&app, &key).await.state, ConnectionState::Operational);
}

#[tokio::test]
async fn values_from_the_callback_the_token_answer_and_a_request_are_kept_and_used() {
    let (app, q) = quirk_app().await;
    // QuickBooks: realmId on the callback, in every API URL.
    let conn = connect(&app, "quickbooks").await.connection();
    assert_eq!(conn.connection_config.get("realm_id").map(String::as_str), Some("9130355377"));
    let echo: Value = get(&app, &conn.key, "quickbooks", "companyinfo/1").await.json().await.unwrap();
    assert_eq!(echo["path"], "/quickbooks/api/echo/company/9130355377/companyinfo/1");

    // Salesforce: instance_url in the token answer is the API host.
    let conn = connect(&app, "salesforce").await.connection();
    assert_eq!(conn.connection_config.get("instance_url"), Some(&q.url));
    assert_eq!(get(&app, &conn.key, "salesforce", "me").await.status(), 200);

    // Xero: the tenant from one request after connecting, sent as a header.
    let conn = connect(&app, "xero").await.connection();
    let tenant = "7d2b4c1e-0000-4000-8000-000000000001";
    assert_eq!(conn.connection_config.get("tenant_id").map(String::as_str), Some(tenant));
    let echo: Value = get(&app, &conn.key, "xero", "echo/Invoices").await.json().await.unwrap();
    assert_eq!(echo["headers"]["xero-tenant-id"], tenant);

    // Zoho: the data centre's accounts server (from the callback) issued the tokens; its API domain is used.
    let conn = connect(&app, "zoho").await.connection();
    assert_eq!(q.counts("zoho").codes_exchanged, 1, "the code went to the accounts server the callback named");
    assert_eq!(conn.connection_config.get("accounts_server"), Some(&q.url));
    assert_eq!(get(&app, &conn.key, "zoho", "me").await.status(), 200);

    // None of it is secret, and the record carries no token.
    let text = serde_json::to_string(&record(&app, &conn.key).await).unwrap();
    assert!(!text.contains("q-at-") && !text.contains("q-rt-"), "{text}");
}

#[tokio::test]
async fn a_failed_request_for_a_value_says_so_and_stores_nothing() {
    let (app, _q) = quirk_app().await;
    let out = connect(&app, "xero-down").await;
    assert_eq!(out.status, 502, "{}", out.page);
    assert!(out.page.contains("Could not ask Quirk xero-down for the tenant_id this connection needs (HTTP 503). Try again in a moment."), "{}", out.page);
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn a_refresh_answer_that_names_a_new_instance_moves_the_connection_there() {
    let (app, q) = quirk_app().await;
    let key = connect(&app, "salesforce-move").await.connection().key;
    assert_eq!(record(&app, &key).await.connection_config.get("instance_url"), Some(&q.url));
    q.expire_access_tokens();
    assert_eq!(get(&app, &key, "salesforce-move", "me").await.status(), 200);
    assert_eq!(q.counts("salesforce-move").refreshes, 1);
    assert_eq!(record(&app, &key).await.connection_config.get("instance_url"), Some(&q.moved_url), "the org's new address is kept");
    let echo: Value = get(&app, &key, "salesforce-move", "echo/sobjects").await.json().await.unwrap();
    assert_eq!(echo["headers"]["host"], q.moved_url.trim_start_matches("http://"), "calls go to the new address");
}

#[tokio::test]
async fn hosts_outside_the_allow_list_are_refused_before_anything_is_sent_there() {
    let (app, q) = quirk_app().await;
    // A callback naming another accounts server: the code is never sent anywhere.
    let out = connect(&app, "zoho-evil").await;
    assert_eq!(out.status, 502, "{}", out.page);
    assert!(out.page.contains("accounts_server is not an https address on 127.0.0.4"), "{}", out.page);
    assert_eq!(q.counts("zoho").token_requests + q.counts("zoho-evil").token_requests, 0);
    // A token answer naming another API host: no connection is stored.
    let out = connect(&app, "salesforce-evil").await;
    assert_eq!(out.status, 502, "{}", out.page);
    assert!(out.page.contains("instance_url is not an https address"), "{}", out.page);
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn metadata_declared_in_a_config_file_survives_being_stored_with_the_project() {
    // A project's custom integrations are stored in the database and read back from there by every node.
    let q = Quirks::spawn().await;
    let var = fixtures::secret_env("PB_QUIRK_CLIENT_SECRET", plugboard_tests::quirks::CLIENT_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plugboard.toml");
    std::fs::write(&config, q.config_file(&["quickbooks", "zoho", "xero"], &var)).unwrap();
    let app = spawn_app_with(|s| s.config = Some(config.clone())).await;

    let conn = connect(&app, "quickbooks").await.connection();
    assert_eq!(conn.connection_config.get("realm_id").map(String::as_str), Some("9130355377"));
    let echo: Value = get(&app, &conn.key, "quickbooks", "companyinfo/1").await.json().await.unwrap();
    assert_eq!(echo["path"], "/quickbooks/api/echo/company/9130355377/companyinfo/1");
    let conn = connect(&app, "zoho").await.connection();
    assert_eq!(conn.connection_config.get("accounts_server"), Some(&q.url));
    assert_eq!(get(&app, &conn.key, "zoho", "me").await.status(), 200);
    let conn = connect(&app, "xero").await.connection();
    let echo: Value = get(&app, &conn.key, "xero", "echo/Invoices").await.json().await.unwrap();
    assert_eq!(echo["headers"]["xero-tenant-id"], "7d2b4c1e-0000-4000-8000-000000000001");
}
