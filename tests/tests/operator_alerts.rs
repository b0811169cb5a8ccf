//! Operator alerts (docs/operators.md, Alerts): a project's alert destination is write-only and checked; a test
//! alert reaches it; given-up webhook deliveries, an integration's failing refreshes and a spike of connect errors
//! each raise one alert per window, whatever the number of nodes looking.

use plugboard::operators::{Role, TokenScope};
use plugboard_tests::{operator::Operator, spawn_app_with, upstream::spawn_receiver};
use serde_json::{json, Value};

fn received(r: &plugboard_tests::upstream::Receiver) -> Vec<Value> {
    r.received.lock().unwrap().iter().map(|(_, body)| serde_json::from_str(body).unwrap()).collect()
}

#[tokio::test]
async fn the_alert_url_is_write_only_checked_and_a_test_alert_reaches_slack() {
    let app = spawn_app_with(|_| {}).await;
    let admin = Operator::admin(&app).await;
    let slack = spawn_receiver("127.0.0.1", 0).await;
    let path = "/operator/v1/projects/test-project/alerts";

    assert_eq!(admin.get(path).await.status(), 404, "no alerts until set");
    for (bad, field) in [
        (json!({"format": "slack", "url": "http://hooks.example.com/x"}), "https"),
        (json!({"format": "xml", "url": slack.url}), "format"),
        (json!({"format": "slack", "url": slack.url, "refreshFailurePercent": 0}), "refreshFailurePercent"),
        (json!({"format": "slack", "url": slack.url, "windowSecs": 5}), "windowSecs"),
        (json!({"format": "slack", "url": slack.url, "surprise": 1}), "surprise"),
    ] {
        let res = admin.put(path, &bad).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(field), "{field}: {body}");
    }
    assert_eq!(admin.put("/operator/v1/projects/nope/alerts", &json!({"format": "slack", "url": slack.url})).await.status(), 404);

    let secret_url = format!("{}?token=hook-secret-123", slack.url);
    assert_eq!(admin.put(path, &json!({"format": "slack", "url": secret_url, "minRefreshes": 3})).await.status(), 204);
    let view = admin.get_json(path).await;
    assert_eq!(view["format"], "slack");
    assert_eq!(view["minRefreshes"], 3);
    assert_eq!(view["refreshFailurePercent"], 25, "defaults fill what was not given");
    assert!(!view.to_string().contains("hook-secret-123"), "the URL is never read back: {view}");

    assert_eq!(admin.post(&format!("{path}/test"), &json!({})).await.status(), 204);
    let got = received(&slack);
    assert_eq!(got.len(), 1);
    assert!(got[0]["text"].as_str().unwrap().contains("test alert"), "Slack's incoming webhooks take {{\"text\"}}: {}", got[0]);

    // Roles: support cannot even read it; a developer reads but cannot change project-wide settings.
    let support = Operator::with_token(&app, Role::Support, TokenScope::Full).await;
    assert_eq!(support.get(path).await.status(), 403);
    let dev = Operator::with_token(&app, Role::Developer, TokenScope::Full).await;
    assert_eq!(dev.get(path).await.status(), 200);
    assert_eq!(dev.put(path, &json!({"format": "json", "url": slack.url})).await.status(), 403);
    assert_eq!(dev.delete(path).await.status(), 403);

    // The audit trail has the change, not the URL.
    let audit = admin.get_json("/operator/v1/audit?action=alerts.update").await;
    assert_eq!(audit["rows"].as_array().unwrap().len(), 1);
    assert!(!audit.to_string().contains("hook-secret-123"), "{audit}");
    assert_eq!(admin.delete(path).await.status(), 204);
    assert_eq!(admin.get(path).await.status(), 404);
}

#[tokio::test]
async fn given_up_deliveries_raise_one_json_alert_per_window_across_two_lookers() {
    let app = spawn_app_with(|s| s.alert_interval_secs = 1).await;
    let admin = Operator::admin(&app).await;
    let hook = spawn_receiver("127.0.0.1", 0).await;
    assert_eq!(admin.put("/operator/v1/projects/test-project/alerts", &json!({"format": "json", "url": hook.url})).await.status(), 204);

    // Two deliveries the outbox gave up on (as the webhook worker leaves them after the last retry).
    let pool = app.db.pool().await;
    let now_ms = plugboard::clock::now_ms();
    for id in ["evt_1", "evt_2"] {
        sqlx::query(
            "INSERT INTO webhook_outbox (id, project_id, event_type, body, created_at, status, attempts, next_attempt_at, give_up_at, last_status, last_error)
             VALUES ($1, 'test-project', 'connection.created', '{}', $2, 'failed', 9, $2, $2, 500, 'the endpoint answered HTTP 500')",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO delivery_attempts (event_id, attempt, at, status, latency_ms) VALUES ($1, 9, $2, 500, 12)")
            .bind(id)
            .bind(now_ms)
            .execute(&pool)
            .await
            .unwrap();
    }
    plugboard_tests::eventually("the alert", || async { (!received(&hook).is_empty()).then_some(()) }).await;
    // A second looker (another node) at the same moment sends nothing more: the window's claim is taken.
    let vault = plugboard::vault::Vault::from_spec(&plugboard::vault::Vault::generate_spec()).unwrap();
    let other = plugboard::alerts::Alerts { store: app.store.clone(), vault: std::sync::Arc::new(vault), http: reqwest::Client::new() };
    assert_eq!(other.look(plugboard::clock::now()).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let got = received(&hook);
    assert_eq!(got.len(), 1, "one alert per window: {got:?}");
    assert_eq!(got[0]["type"], "plugboard.alert");
    assert_eq!(got[0]["alert"], "deliveries_given_up");
    assert_eq!(got[0]["projectId"], "test-project");
    assert_eq!(got[0]["count"], 2);
}

#[tokio::test]
async fn an_integrations_failing_refreshes_raise_an_alert_naming_it() {
    let (app, provider) = plugboard_tests::spawn_with_provider(|s, _| {
        s.alert_interval_secs = 1;
        s.retry_base_ms = 50;
    })
    .await;
    let admin = Operator::admin(&app).await;
    let hook = spawn_receiver("127.0.0.1", 0).await;
    let alerts = json!({"format": "json", "url": hook.url, "refreshFailurePercent": 50, "minRefreshes": 2});
    assert_eq!(admin.put("/operator/v1/projects/test-project/alerts", &alerts).await.status(), 204);
    let alice = plugboard_tests::connect_oauth(&app, "alice").await;
    let bob = plugboard_tests::connect_oauth(&app, "bob").await;
    let me = |key: String| {
        let app = &app;
        async move { plugboard_tests::passthrough(app, &key, reqwest::Method::GET, "mock-oauth/me").send().await.unwrap().status() }
    };

    // One refresh fails at the provider, then one works: 1 of 2, at the threshold of 50 %.
    provider.expire_access_tokens();
    provider.knobs.fail_token_requests.store(1, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(me(alice.key.clone()).await, 502);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert!(received(&hook).is_empty(), "one refresh is fewer than minRefreshes: no alert");
    assert_eq!(me(bob.key.clone()).await, 200);

    plugboard_tests::eventually("the alert", || async { (!received(&hook).is_empty()).then_some(()) }).await;
    let got = received(&hook);
    assert_eq!(got[0]["alert"], "refresh_failures");
    assert_eq!(got[0]["integration"], "mock-oauth");
    assert_eq!((got[0]["count"].as_u64(), got[0]["outOf"].as_u64()), (Some(1), Some(2)));
    assert!(got[0]["text"].as_str().unwrap().contains("1 of 2 token refreshes of mock-oauth failed"), "{}", got[0]);
}

#[tokio::test]
async fn a_spike_of_connect_errors_raises_an_alert() {
    let app = spawn_app_with(|s| s.alert_interval_secs = 1).await;
    let admin = Operator::admin(&app).await;
    let hook = spawn_receiver("127.0.0.1", 0).await;
    assert_eq!(admin.put("/operator/v1/projects/test-project/alerts", &json!({"format": "slack", "url": hook.url, "connectErrors": 3})).await.status(), 204);
    let token = plugboard_tests::session_token(&app, "alice").await;
    let report = |kind: &'static str, code: Option<&'static str>| {
        let (url, token) = (app.url.clone(), token.clone());
        async move {
            let mut body = json!({"kind": kind, "platform": "gmail"});
            if let Some(code) = code {
                body["code"] = json!(code);
            }
            plugboard_tests::http().post(format!("{url}/v1/widget/events")).bearer_auth(token).json(&body).send().await.unwrap().status()
        }
    };
    assert_eq!(report("opened", None).await, 204);
    assert_eq!(report("error", Some("provider_refused")).await, 204);
    assert_eq!(report("error", Some("provider_refused")).await, 204);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert!(received(&hook).is_empty(), "two errors are under the threshold of three");
    assert_eq!(report("error", Some("provider_failed")).await, 204);
    plugboard_tests::eventually("the alert", || async { (!received(&hook).is_empty()).then_some(()) }).await;
    let text = received(&hook)[0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("test-project: end users met 3 errors while connecting apps in the last hour"), "{text}");
}
