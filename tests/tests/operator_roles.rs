//! Roles on every operator route (docs/operators.md, Roles): each route of `/openapi.json` under `/operator/v1/`
//! is classed here, and each class is called as an admin, an admin's read-only token, a developer and a support
//! operator. What a role may not do is 403 `forbidden`; what it may do is never 401 or 403. A route added without a
//! class fails this test until it is given one.

use plugboard::operators::{Role, TokenScope};
use plugboard_tests::{connect_fields, operator::Operator, spawn_with_provider};
use reqwest::Method;
use serde_json::{json, Value};

/// Who may call a class of routes, in the order [`WHO`] lists the callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// No operator credential needed (sign-in, setup, single sign-on).
    Public,
    /// Any signed-in operator, about themselves.
    Own,
    /// Any operator changing their own tokens (a read-only token may not).
    OwnWrite,
    /// Only from a signed-in browser: an API token cannot make API tokens.
    SessionOnly,
    ManageOperators,
    ReadAudit,
    ReadSettings,
    /// Project-wide settings, as live as the live environment.
    WriteProject,
    WriteTest,
    WriteLive,
    ReadConnections,
    ReadLogs,
    RepairTest,
    DeleteTest,
    ReplayTest,
    ReplayLive,
}

/// The callers: admin (full token), admin (read-only token), developer, support.
const WHO: [&str; 4] = ["admin", "admin (read-only token)", "developer", "support"];

impl Class {
    fn allowed(self) -> [bool; 4] {
        match self {
            Self::Public | Self::Own | Self::ReadConnections | Self::ReadLogs => [true, true, true, true],
            Self::ManageOperators | Self::WriteProject | Self::WriteLive | Self::ReplayLive => [true, false, false, false],
            Self::ReadAudit | Self::ReadSettings => [true, true, true, false],
            Self::WriteTest | Self::DeleteTest | Self::ReplayTest => [true, false, true, false],
            Self::RepairTest | Self::OwnWrite => [true, false, true, true],
            Self::SessionOnly => [false, false, false, false],
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operator_route_lets_each_role_do_what_docs_say_and_refuses_the_rest() {
    let (app, _provider) = spawn_with_provider(|s, _| s.limits.rate_limit_sign_in = 0).await;
    let admin = Operator::admin(&app).await;
    let callers = [
        Operator::admin(&app).await,
        Operator::with_token(&app, Role::Admin, TokenScope::Read).await,
        Operator::with_token(&app, Role::Developer, TokenScope::Full).await,
        Operator::with_token(&app, Role::Support, TokenScope::Full).await,
    ];
    // What the routes act on: a test connection and its webhook event, and a live key only an admin may revoke.
    let hook = json!({"url": "http://127.0.0.1:9/unreachable"});
    assert_eq!(admin.put("/operator/v1/projects/test-project/webhook", &hook).await.status(), 200);
    let conn = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let live: Value = admin.post("/operator/v1/projects/test-project/keys", &json!({"environment": "live"})).await.json().await.unwrap();
    let live_hint = live["hint"].as_str().unwrap().trim_end_matches('…').to_owned();
    let key = conn.key.as_str();
    let events = admin.get_json("/operator/v1/deliveries?project=test-project").await;
    let event = events["rows"][0]["id"].as_str().unwrap_or_else(|| panic!("{events}")).to_owned();
    let client = json!({"clientId": "id", "clientSecret": "secret"});

    let routes: Vec<(Method, String, Class, Option<Value>)> = vec![
        (Method::POST, "/operator/v1/sign-in".into(), Class::Public, Some(json!({"email": "x@example.com", "password": "x"}))),
        (Method::POST, "/operator/v1/setup".into(), Class::Public, Some(json!({"token": "pbsu_x", "password": "long enough password"}))),
        (Method::GET, "/operator/v1/sso".into(), Class::Public, None),
        (Method::GET, "/operator/v1/sso/start".into(), Class::Public, None),
        (Method::GET, "/operator/v1/sso/callback".into(), Class::Public, None),
        (Method::GET, "/operator/v1/me".into(), Class::Own, None),
        (Method::POST, "/operator/v1/sign-out".into(), Class::Own, Some(json!({}))),
        (Method::GET, "/operator/v1/tokens".into(), Class::Own, None),
        (Method::DELETE, "/operator/v1/tokens/tok_none".into(), Class::OwnWrite, None),
        (Method::POST, "/operator/v1/tokens".into(), Class::SessionOnly, Some(json!({"name": "x", "scope": "read"}))),
        (Method::GET, "/operator/v1/operators".into(), Class::ManageOperators, None),
        (Method::POST, "/operator/v1/operators".into(), Class::ManageOperators, Some(json!({"email": "new@example.com", "role": "support"}))),
        (Method::PATCH, "/operator/v1/operators/op_none".into(), Class::ManageOperators, Some(json!({"role": "support"}))),
        (Method::GET, "/operator/v1/audit".into(), Class::ReadAudit, None),
        (Method::GET, "/operator/v1/audit.jsonl".into(), Class::ReadAudit, None),
        (Method::GET, "/operator/v1/projects".into(), Class::ReadSettings, None),
        (Method::GET, "/operator/v1/projects/test-project".into(), Class::ReadSettings, None),
        (Method::GET, "/operator/v1/projects/test-project/alerts".into(), Class::ReadSettings, None),
        (Method::POST, "/operator/v1/projects".into(), Class::WriteProject, Some(json!({"id": "matrix"}))),
        (Method::PATCH, "/operator/v1/projects/test-project/settings".into(), Class::WriteProject, Some(json!({"sessionTtlSecs": 900}))),
        (Method::PUT, "/operator/v1/projects/test-project/webhook".into(), Class::WriteProject, Some(json!({"url": "https://hooks.example.com/x"}))),
        (Method::POST, "/operator/v1/projects/test-project/webhook/rotate-secret".into(), Class::WriteProject, Some(json!({}))),
        (Method::DELETE, "/operator/v1/projects/test-project/webhook".into(), Class::WriteProject, None),
        (Method::PUT, "/operator/v1/projects/test-project/alerts".into(), Class::WriteProject, Some(json!({"format": "json", "url": "https://hooks.example.com/a"}))),
        (Method::POST, "/operator/v1/projects/test-project/alerts/test".into(), Class::WriteProject, Some(json!({}))),
        (Method::DELETE, "/operator/v1/projects/test-project/alerts".into(), Class::WriteProject, None),
        (Method::PUT, "/operator/v1/projects/test-project/oauth-clients/mock-oauth".into(), Class::WriteProject, Some(client.clone())),
        (Method::DELETE, "/operator/v1/projects/test-project/oauth-clients/mock-oauth".into(), Class::WriteProject, None),
        (Method::PUT, "/operator/v1/projects/test-project/oauth-clients/mock-oauth?environment=test".into(), Class::WriteTest, Some(client.clone())),
        (Method::DELETE, "/operator/v1/projects/test-project/oauth-clients/mock-oauth?environment=test".into(), Class::WriteTest, None),
        (Method::PUT, "/operator/v1/projects/test-project/oauth-clients/mock-oauth?environment=live".into(), Class::WriteLive, Some(client.clone())),
        (Method::POST, "/operator/v1/projects/test-project/keys".into(), Class::WriteTest, Some(json!({"environment": "test"}))),
        (Method::POST, "/operator/v1/projects/test-project/keys".into(), Class::WriteLive, Some(json!({"environment": "live"}))),
        (Method::DELETE, format!("/operator/v1/projects/test-project/keys/{live_hint}"), Class::WriteLive, None),
        (Method::GET, "/operator/v1/connections".into(), Class::ReadConnections, None),
        (Method::GET, format!("/operator/v1/connections/{key}"), Class::ReadConnections, None),
        (Method::POST, format!("/operator/v1/connections/{key}/refresh"), Class::RepairTest, Some(json!({}))),
        (Method::POST, format!("/operator/v1/connections/{key}/reconnect-link"), Class::RepairTest, Some(json!({}))),
        (Method::GET, "/operator/v1/logs/calls".into(), Class::ReadLogs, None),
        (Method::GET, "/operator/v1/funnel".into(), Class::ReadLogs, None),
        (Method::GET, "/operator/v1/deliveries?project=test-project".into(), Class::ReadLogs, None),
        (Method::POST, format!("/operator/v1/deliveries/{event}/replay"), Class::ReplayTest, Some(json!({}))),
        (Method::POST, "/operator/v1/deliveries/replay-failed?project=test-project&environment=test".into(), Class::ReplayTest, Some(json!({}))),
        (Method::POST, "/operator/v1/deliveries/replay-failed?project=test-project".into(), Class::ReplayLive, Some(json!({}))),
        (Method::DELETE, format!("/operator/v1/connections/{key}"), Class::DeleteTest, None),
    ];

    // Every documented operator route is classed (and nothing is classed that is not a route).
    let doc: Value = plugboard_tests::http().get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let mut documented: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/operator/"))
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| format!("{} {path}", m.to_uppercase())))
        .collect();
    documented.sort();
    documented.dedup();
    let templated = |p: &str| -> String {
        let p = p.split('?').next().unwrap();
        p.replace("test-project", "{id}")
            .replace(key, "{key}")
            .replace(&live_hint, "{hint}")
            .replace("/mock-oauth", "/{platform}")
            .replace("tok_none", "{id}")
            .replace("op_none", "{id}")
            .replace(&event, "{eventId}")
    };
    let mut classed: Vec<String> = routes.iter().map(|(m, p, ..)| format!("{m} {}", templated(p))).collect();
    classed.sort();
    classed.dedup();
    assert_eq!(classed, documented, "every operator route needs a class here");

    // The callers refused go first and the admin last, so a refusal is never a 404 for something already gone.
    let mut failures = Vec::new();
    for (method, path, class, body) in &routes {
        let mut order: Vec<usize> = (0..callers.len()).collect();
        order.sort_by_key(|&i| (class.allowed()[i], i == 0));
        for i in order {
            let caller = &callers[i];
            let mut req = caller.request(method.clone(), path);
            if let Some(body) = body {
                req = req.json(body);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            let allowed = class.allowed()[i];
            // Allowed: whatever the route answers (404 for a made-up id, 502 for an unreachable alert URL) but a
            // refusal or our own failure.
            let ok = if *class == Class::Public {
                status < 500
            } else if allowed {
                !matches!(status, 401 | 403 | 500)
            } else {
                status == 403 && serde_json::from_str::<Value>(&text).is_ok_and(|b| b["code"] == "forbidden")
            };
            if !ok {
                failures.push(format!("{method} {path} as {} ({class:?}, {}): {status} {text}", WHO[i], if allowed { "allowed" } else { "refused" }));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
