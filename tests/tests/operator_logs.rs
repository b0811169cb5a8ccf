//! What support reads through the operator API (docs/operators.md, Logs): the passthrough call log (metadata
//! only, written off the request path, dropped rather than delaying a call when overloaded), its retention, the
//! connect funnel the widget reports, and webhook deliveries with every attempt and their replays.

use std::sync::atomic::Ordering;

use plugboard::{
    catalog::Integration,
    keys::Environment,
    operators::{Role, TokenScope},
    store::CallRecord,
};
use plugboard_tests::{
    connect_fields, eventually, fixtures, http, operator::Operator, passthrough, session_token, spawn_app_with, spawn_with_provider,
    upstream::{spawn_receiver, spawn_upstream, Upstream},
    TestApp,
};
use serde_json::{json, Value};

/// An API-key integration on `up` whose key goes in `x-api-key`.
fn upstream_api(up: &Upstream) -> Integration {
    toml::from_str(&format!(
        r#"
platform = "upstream-api"
name = "Upstream (test)"
category = "Developer tools"
description = "Test upstream."
authMethod = "api_key"
apiBaseUrl = "{}/base"
[[fields]]
name = "api_key"
label = "API key"
secret = true
[inject]
type = "header"
name = "x-api-key"
value = "{{api_key}}"
"#,
        up.url
    ))
    .expect("a valid entry")
}

async fn app_on(up: &Upstream, buffer: usize) -> TestApp {
    app_with(up, |s| s.call_log_buffer = buffer).await
}

async fn app_with(up: &Upstream, tweak: impl FnOnce(&mut plugboard::config::Settings)) -> TestApp {
    let entry = upstream_api(up);
    spawn_app_with(|s| {
        s.extra_integrations.push(entry);
        tweak(s);
    })
    .await
}

/// `plugboard_passthrough_log_dropped_total` on `/metrics` (0 before the first drop; the counter is the process's).
async fn dropped(app: &TestApp) -> f64 {
    let text = http().get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("plugboard_passthrough_log_dropped_total ")).map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_passthrough_call_is_logged_with_its_path_masked_and_nothing_secret() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_on(&up, 10_000).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "KEYSECRET-0123456789" })).await;

    let res = passthrough(&app, &conn.key, reqwest::Method::PUT, "upstream-api/echo/users/12345/items/3f2b1c9e-8d7a-4b6c-9e1f-0a2b3c4d5e6f")
        .query(&[("token", "QUERYSECRET-abc"), ("page", "2")])
        .header("x-custom", "HEADERSECRET-xyz")
        .body("BODYSECRET-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let echoed = res.text().await.unwrap();
    assert!(echoed.contains("QUERYSECRET"), "the call itself carried the query: {echoed}");
    assert_eq!(passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/status/404").send().await.unwrap().status(), 404);

    let support = Operator::with_token(&app, Role::Support, TokenScope::Read).await;
    let path = format!("/operator/v1/logs/calls?connection={}", conn.key);
    let page = eventually("both calls in the log", || async {
        let page = support.get_json(&path).await;
        (page["rows"].as_array().unwrap().len() == 2).then_some(page)
    })
    .await;
    let whole = page.to_string();
    for secret in ["QUERYSECRET", "HEADERSECRET", "BODYSECRET", "KEYSECRET", "3f2b1c9e"] {
        assert!(!whole.contains(secret), "{secret} in {whole}");
    }
    let (newest, first) = (&page["rows"][0], &page["rows"][1]);
    assert_eq!(newest["path"], "/status/:id", "newest first; the status code segment is numeric: {newest}");
    assert_eq!(newest["status"], 404);
    assert_eq!(first["path"], "/echo/users/:id/items/:id?token&page");
    assert_eq!((first["method"].as_str(), first["status"].as_u64()), (Some("PUT"), Some(200)));
    assert_eq!((first["integration"].as_str(), first["project"].as_str(), first["environment"].as_str()), (Some("upstream-api"), Some("test-project"), Some("test")));
    assert_eq!(first["requestBytes"], "BODYSECRET-123".len());
    assert_eq!(first["responseBytes"].as_u64(), Some(echoed.len() as u64));
    assert!(first["latencyMs"].as_i64().is_some_and(|ms| ms >= 0) && first["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{first}");

    // Filters narrow; bad ones are a 400 that says which.
    let errors = support.get_json(&format!("{path}&status=4xx")).await;
    assert_eq!(errors["rows"].as_array().unwrap().len(), 1);
    assert_eq!(support.get_json("/operator/v1/logs/calls?integration=gmail").await["rows"].as_array().unwrap().len(), 0);
    assert_eq!(support.get_json(&format!("{path}&limit=1&page=2")).await["rows"][0]["status"], 200);
    for bad in ["status=6xx", "environment=prod", "since=yesterday", "limit=1000"] {
        let res = support.get(&format!("/operator/v1/logs/calls?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn an_overloaded_call_log_drops_calls_and_never_delays_them() {
    let up = spawn_upstream("127.0.0.5").await;
    // Room for one waiting call: the writer takes one batch, then lets the next gather for 500 ms.
    let app = app_on(&up, 1).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k-0123456789" })).await;
    let before = dropped(&app).await;
    let nodes: [&dyn plugboard_tests::Server; 1] = [&app];
    let statuses = plugboard_tests::concurrent_gets(&nodes, &conn.key, "upstream-api/json", 40).await;
    assert!(statuses.iter().all(|s| *s == 200), "every call answered: {statuses:?}");
    let after = dropped(&app).await;
    assert!(after > before, "the drops are counted: {before} → {after}");

    let admin = Operator::admin(&app).await;
    let path = format!("/operator/v1/logs/calls?connection={}&limit=100", conn.key);
    let logged = eventually("what was kept is written", || async {
        let n = admin.get_json(&path).await["rows"].as_array().unwrap().len();
        (n >= 1).then_some(n)
    })
    .await;
    assert!(logged < 40, "some calls were left out: {logged}");
}

#[tokio::test]
async fn past_its_budget_a_flood_of_successful_calls_is_sampled_but_every_failed_call_is_kept() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, |s| s.call_log_rate = 5).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k-0123456789" })).await;
    let before = dropped(&app).await;
    let nodes: [&dyn plugboard_tests::Server; 1] = [&app];
    let statuses = plugboard_tests::concurrent_gets(&nodes, &conn.key, "upstream-api/json", 40).await;
    assert!(statuses.iter().all(|s| *s == 200), "every call answered: {statuses:?}");
    let failed = plugboard_tests::concurrent_gets(&nodes, &conn.key, "upstream-api/status/503", 20).await;
    assert!(failed.iter().all(|s| *s == 503), "{failed:?}");
    assert!(dropped(&app).await >= before + 20.0, "the successful calls past the budget are counted as dropped");

    let admin = Operator::admin(&app).await;
    let path = format!("/operator/v1/logs/calls?connection={}&limit=100", conn.key);
    let errors = eventually("every failed call written", || async {
        let n = admin.get_json(&format!("{path}&status=5xx")).await["rows"].as_array().unwrap().len();
        (n == 20).then_some(n)
    })
    .await;
    assert_eq!(errors, 20);
    let ok = admin.get_json(&format!("{path}&status=200")).await["rows"].as_array().unwrap().len();
    assert!((1..=12).contains(&ok), "about a second's budget of successful calls (5 a second, a burst of 5): {ok}");
}

#[tokio::test]
async fn the_purge_removes_call_logs_and_funnel_counts_older_than_the_retention() {
    // The node's own purge (which runs at start) keeps a year: the rows below are this test's to purge.
    let app = spawn_app_with(|s| s.log_retention_days = 365).await;
    let now = plugboard::clock::now();
    let call = |at_secs: i64, path: &str| CallRecord {
        at: at_secs * 1000,
        project_id: "test-project".into(),
        environment: Environment::Test,
        connection_key: "k".into(),
        platform: "gmail".into(),
        method: "GET".into(),
        path: path.into(),
        status: 200,
        latency_ms: 3,
        request_bytes: None,
        response_bytes: Some(10),
    };
    app.store.insert_calls(&[call(now - 8 * 86_400, "/old"), call(now - 3600, "/recent")]).await.unwrap();
    let today = now.div_euclid(86_400);
    for day in [today - 9, today] {
        app.store.count_funnel_step("test-project", Environment::Test, "gmail", day * 24, "opened", "").await.unwrap();
    }

    // A longer retention keeps both.
    let kept = app.store.purge_expired(now, 30).await.unwrap();
    assert_eq!((kept.logs.calls, kept.logs.funnel), (0, 0));
    let purged = app.store.purge_expired(now, 7).await.unwrap();
    assert_eq!((purged.logs.calls, purged.logs.funnel), (1, 1));

    let admin = Operator::admin(&app).await;
    let calls = admin.get_json("/operator/v1/logs/calls").await;
    let paths: Vec<&str> = calls["rows"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/recent"]);
    let funnel = admin.get_json("/operator/v1/funnel").await;
    assert_eq!(funnel["rows"].as_array().unwrap().len(), 1, "{funnel}");
    assert_eq!(funnel["rows"][0]["opened"], 1);
}

/// `POST /v1/widget/events` with `session`'s token.
async fn report(app: &TestApp, session: &str, event: Value) -> reqwest::Response {
    http().post(format!("{}/v1/widget/events", app.url)).bearer_auth(session).json(&event).send().await.unwrap()
}

#[tokio::test]
async fn the_funnel_counts_each_step_per_integration_and_day() {
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.limits.rate_limit_identity = 0;
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_project = 0;
    })
    .await;
    let alice = session_token(&app, "alice").await;
    for event in [
        json!({"kind": "opened"}),
        json!({"kind": "app_chosen", "platform": "mock-api-key"}),
        json!({"kind": "submitted", "platform": "mock-api-key"}),
        json!({"kind": "error", "platform": "mock-api-key", "code": "invalid_fields"}),
        json!({"kind": "submitted", "platform": "mock-api-key"}),
        json!({"kind": "success", "platform": "mock-api-key"}),
    ] {
        assert_eq!(report(&app, &alice, event.clone()).await.status(), 204, "{event}");
    }
    let bob = session_token(&app, "bob").await;
    for event in [
        json!({"kind": "opened"}),
        json!({"kind": "app_chosen", "platform": "mock-oauth"}),
        json!({"kind": "oauth_opened", "platform": "mock-oauth"}),
        json!({"kind": "closed", "platform": "mock-oauth"}),
    ] {
        assert_eq!(report(&app, &bob, event.clone()).await.status(), 204, "{event}");
    }
    // Anything else is refused, and counts nothing.
    for bad in [
        json!({"kind": "clicked"}),
        json!({"kind": "opened", "platform": "no-such-app"}),
        json!({"kind": "success", "code": "x"}),
        json!({"kind": "error", "code": "<script>"}),
        json!({"kind": "opened", "extra": 1}),
    ] {
        let res = report(&app, &alice, bad.clone()).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    assert_eq!(report(&app, "pbs_forged", json!({"kind": "opened"})).await.status(), 401);

    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    let funnel = support.get_json("/operator/v1/funnel?project=test-project&environment=test").await;
    let rows = funnel["rows"].as_array().unwrap();
    let row = |integration: Option<&str>| rows.iter().find(|r| r["integration"].as_str() == integration).unwrap_or_else(|| panic!("{integration:?} in {funnel}"));
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let none = row(None);
    assert_eq!((none["day"].as_str(), none["opened"].as_i64()), (Some(today.as_str()), Some(2)));
    let api_key = row(Some("mock-api-key"));
    let counts: Vec<i64> = ["appChosen", "submitted", "error", "success", "closed"].iter().map(|k| api_key[k].as_i64().unwrap()).collect();
    assert_eq!(counts, [1, 2, 1, 1, 0]);
    assert_eq!(api_key["errorCodes"], json!({"invalid_fields": 1}));
    let oauth = row(Some("mock-oauth"));
    assert_eq!((oauth["oauthOpened"].as_i64(), oauth["closed"].as_i64(), oauth["success"].as_i64()), (Some(1), Some(1), Some(0)));

    let one = support.get_json("/operator/v1/funnel?integration=mock-oauth").await;
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    let past = support.get_json("/operator/v1/funnel?until=86400").await;
    assert_eq!(past["rows"].as_array().unwrap().len(), 0);
    assert_eq!(support.get_json("/operator/v1/funnel?environment=live").await["rows"].as_array().unwrap().len(), 0);

    // One session cannot flood the counts: 200 steps, then 429.
    let flood = session_token(&app, "mallory").await;
    for _ in 0..200 {
        assert_eq!(report(&app, &flood, json!({"kind": "opened"})).await.status(), 204);
    }
    let res = report(&app, &flood, json!({"kind": "opened"})).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "too_many");
}

const SECRET: &str = "whsec_test_0123456789abcdef";

async fn app_sending_to(url: &str, give_up_secs: u64) -> TestApp {
    let path = fixtures::config_file(&fixtures::webhook_project(url, &fixtures::secret_env("PB_TEST_WEBHOOK_SECRET", SECRET)));
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.config = Some(path.clone());
        s.retry_base_ms = 50;
        s.webhook_give_up_secs = give_up_secs;
    })
    .await;
    app
}

#[tokio::test]
async fn deliveries_list_every_attempt() {
    let receiver = spawn_receiver("127.0.0.7", 1).await;
    let app = app_sending_to(&receiver.url, 3600).await;
    let conn = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;

    let support = Operator::with_token(&app, Role::Support, TokenScope::Read).await;
    let delivered = eventually("the event delivered on its second attempt", || async {
        let list = support.get_json("/operator/v1/deliveries?project=test-project&status=delivered").await;
        (list["rows"].as_array().unwrap().len() == 1).then_some(list)
    })
    .await;
    let event = &delivered["rows"][0];
    assert_eq!((event["type"].as_str(), event["connection"].as_str(), event["environment"].as_str()), (Some("connection.created"), Some(conn.key.as_str()), Some("test")));
    let attempts = event["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{event}");
    assert_eq!((attempts[0]["attempt"].as_i64(), attempts[0]["status"].as_i64()), (Some(1), Some(500)));
    assert!(attempts[0]["error"].as_str().is_some_and(|e| e.contains("500")), "{event}");
    assert_eq!((attempts[1]["attempt"].as_i64(), attempts[1]["status"].as_i64()), (Some(2), Some(204)));
    assert!(attempts[1].get("error").is_none() && attempts[1]["latencyMs"].as_i64().is_some_and(|ms| ms >= 0), "{event}");
    assert!(!delivered.to_string().contains(SECRET));

    let other = support.get_json("/operator/v1/deliveries?project=test-project&connection=nope").await;
    assert_eq!(other["rows"].as_array().unwrap().len(), 0);
    assert_eq!(support.get("/operator/v1/deliveries").await.status(), 400, "the project is required");
    assert_eq!(support.get("/operator/v1/deliveries?project=test-project&status=lost").await.status(), 400);
    assert_eq!(support.get("/operator/v1/deliveries?project=nope").await.status(), 404);
}

#[tokio::test]
async fn a_failed_delivery_is_replayed_by_those_allowed_and_audited() {
    let receiver = spawn_receiver("127.0.0.7", 1_000_000).await;
    let app = app_sending_to(&receiver.url, 1).await;
    connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let admin = Operator::admin(&app).await;
    let failed = eventually("the delivery given up", || async {
        let list = admin.get_json("/operator/v1/deliveries?project=test-project&status=failed").await;
        (list["rows"].as_array().unwrap().len() == 1).then_some(list)
    })
    .await;
    let event_id = failed["rows"][0]["id"].as_str().unwrap().to_owned();
    let tried = failed["rows"][0]["attempts"].as_array().unwrap().len();
    assert!(tried >= 2, "{failed}");
    // The receiver is fixed.
    receiver.attempts.store(2_000_000, Ordering::SeqCst);

    // Support reads but never replays; a read-only token neither; a developer only test events.
    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    let developer = Operator::with_token(&app, Role::Developer, TokenScope::Full).await;
    let read_only = Operator::with_token(&app, Role::Admin, TokenScope::Read).await;
    let replay = format!("/operator/v1/deliveries/{event_id}/replay");
    for who in [&support, &read_only] {
        assert_eq!(who.post(&replay, &json!({})).await.status(), 403, "{}", who.email);
        assert_eq!(who.post("/operator/v1/deliveries/replay-failed?project=test-project&environment=test", &json!({})).await.status(), 403);
    }
    assert_eq!(developer.post("/operator/v1/deliveries/replay-failed?project=test-project&environment=live", &json!({})).await.status(), 403);
    assert_eq!(developer.post("/operator/v1/deliveries/replay-failed?project=test-project", &json!({})).await.status(), 403, "both environments need the live right");
    assert_eq!(admin.post("/operator/v1/deliveries/evt_nope/replay", &json!({})).await.status(), 404);
    assert_eq!(admin.post("/operator/v1/deliveries/replay-failed", &json!({})).await.status(), 400);
    // Nothing was replayed by the refused ones.
    assert_eq!(admin.get_json("/operator/v1/deliveries?project=test-project&status=failed").await["rows"].as_array().unwrap().len(), 1);

    let res = developer.post(&replay, &json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["replayed"], 1);
    let (_, body) = eventually("redelivered", || async { receiver.received.lock().unwrap().first().cloned() }).await;
    assert!(body.contains(&event_id));
    let done = eventually("marked delivered", || async {
        let list = admin.get_json("/operator/v1/deliveries?project=test-project&status=delivered").await;
        (list["rows"].as_array().unwrap().len() == 1).then_some(list)
    })
    .await;
    let attempts = done["rows"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), tried + 1);
    assert_eq!(attempts.last().unwrap()["status"], 204);

    // A live event is beyond a developer; replay-failed with nothing failed replays nothing.
    sqlx::query("UPDATE webhook_outbox SET environment = 'live'").execute(&app.db.pool().await).await.unwrap();
    assert_eq!(developer.post(&replay, &json!({})).await.status(), 403);
    let none = admin.post("/operator/v1/deliveries/replay-failed?project=test-project", &json!({})).await;
    assert_eq!(none.json::<Value>().await.unwrap()["replayed"], 0);

    let audit = admin.get_json("/operator/v1/audit?action=delivery.replay").await;
    let rows = audit["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{audit}");
    assert_eq!((rows[0]["target"].as_str(), rows[0]["actor"].as_str()), (Some(event_id.as_str()), Some(developer.email.as_str())));
    assert_eq!(rows[1]["details"]["replayed"], 0);
}
