//! Per-user bounds (SECURITY.md, "Abuse"): live connections per end user, whichever way they are saved, capped
//! atomically; sessions per auth link capped; spent and expired links purged a day after they expire.

use plugboard_tests::Server;
use plugboard_tests::{connect_fields, http, mock_consent, oauth_connect, reconnect_fields, session_token, spawn_with_provider, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `POST /v1/widget/connect/mock-api-key` with `session` (a link page's session needs Plugboard's own origin).
async fn connect_key(app: &TestApp, session: &str) -> reqwest::Response {
    http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(session)
        .header("Plugboard-Origin", app.url.clone())
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789" } }))
        .send()
        .await
        .unwrap()
}

/// A secret-key call of the host backend.
async fn backend(app: &TestApp, path: &str, body: Value) -> Value {
    let res = app.api_post(path, &body).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// `POST /v1/links/session`: opens the page of a link or hosted session.
async fn open_link(app: &TestApp, token: &str) -> reqwest::Response {
    http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": token })).send().await.unwrap()
}

/// The live connections of `identity`, as the host backend lists them.
async fn live(app: &TestApp, identity: &str) -> u64 {
    let res = app.list_connections(&format!("?identity={identity}")).await;
    res.json::<Value>().await.unwrap()["total"].as_u64().unwrap()
}

/// A refusal for the cap, as the user's widget and the host see it.
async fn assert_capped(res: reqwest::Response, how: &str) {
    assert_eq!(res.status(), StatusCode::CONFLICT, "{how}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "too_many_connections", "{how}: {body}");
    assert!(body["error"].as_str().unwrap().contains("You already have 2 connections, the most allowed"), "{how}: {body}");
    assert!(body["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{how}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_end_user_may_have_only_so_many_connections_whichever_way_they_connect() {
    let (app, _provider) = spawn_with_provider(|s, _| s.limits.max_connections_per_identity = 2).await;
    let first = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;

    // The form.
    assert_capped(connect_key(&app, &session_token(&app, "alice").await).await, "form").await;
    // A reconnect is not a new connection.
    let again = reconnect_fields(&app, "alice", "mock-api-key", &first.key, json!({ "api_key": "mock-key-0123456789" })).await;
    assert_eq!(again.key, first.key);

    // The OAuth popup: its page says why, and the widget's poll of the flow too.
    let out = oauth_connect(&app, "alice", "mock-oauth", None, mock_consent).await;
    assert_eq!(out.status, 409, "{}", out.page);
    assert!(out.page.contains("You already have 2 connections"), "{}", out.page);
    assert_eq!(out.flow.status, plugboard_shared::FlowStatus::Failed);
    assert!(out.flow.error.as_deref().is_some_and(|e| e.contains("You already have 2 connections")), "{:?}", out.flow);
    assert_eq!(live(&app, "alice").await, 2);

    // The same-tab sign-in, claimed back on the host page.
    let host = "http://127.0.0.2:4000";
    plugboard_tests::register_return_urls(&app, &[&format!("{host}/settings")]).await;
    let token = session_token(&app, "alice").await;
    let start: plugboard_shared::OAuthStart = plugboard_tests::start_same_tab(&app, &token, host, &format!("{host}/settings"), false).await.json().await.unwrap();
    let proceed = http().post(&start.authorize_url).json(&json!({ "proof": "" })).send().await.unwrap();
    let cookie = proceed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let location = proceed.json::<Value>().await.unwrap()["location"].as_str().unwrap().to_owned();
    let back = http().get(mock_consent(location).await).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER, "parked for the claim");
    let landed = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let fragment: std::collections::HashMap<String, String> = url::form_urlencoded::parse(landed.fragment().unwrap().as_bytes()).into_owned().collect();
    let claim = http()
        .post(format!("{}/v1/widget/oauth/flows/{}/claim", app.url, start.flow_id))
        .bearer_auth(session_token(&app, "alice").await)
        .header("Plugboard-Origin", host)
        .json(&json!({ "result": fragment["plugboard_result"], "proof": start.proof }))
        .send()
        .await
        .unwrap();
    assert_capped(claim, "same-tab claim").await;

    // An auth link: refused, and the link is not spent by the refusal.
    let link = backend(&app, "/v1/connect-sessions", json!({ "identity": "alice" })).await;
    let page: Value = open_link(&app, link["token"].as_str().unwrap()).await.json().await.unwrap();
    assert_capped(connect_key(&app, page["session"]["token"].as_str().unwrap()).await, "auth link").await;
    assert_eq!(open_link(&app, link["token"].as_str().unwrap()).await.status(), 200, "the link still opens");
    // A hosted session.
    let hosted = backend(&app, "/v1/hosted-connection-sessions", json!({ "integration_slug": "mock-api-key", "end_user_id": "alice" })).await;
    let page: Value = open_link(&app, hosted["session_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_capped(connect_key(&app, page["session"]["token"].as_str().unwrap()).await, "hosted session").await;
    assert_eq!(live(&app, "alice").await, 2, "nothing past the cap was saved");

    // The cap is per end user: bob connects; and once alice removes one, her link connects.
    connect_fields(&app, "bob", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let res = app.delete_connection(&first.key).await;
    assert!(res.status().is_success(), "{}", res.status());
    let page: Value = open_link(&app, link["token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(connect_key(&app, page["session"]["token"].as_str().unwrap()).await.status(), 200);
    assert_eq!(live(&app, "alice").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_connects_of_one_end_user_cannot_overshoot_the_cap() {
    let (app, _provider) = spawn_with_provider(|s, _| s.limits.max_connections_per_identity = 3).await;
    let mut sessions = Vec::new();
    for _ in 0..24 {
        sessions.push(session_token(&app, "carol").await);
    }
    // Two dozen at once, each from its own session: exactly three are saved, on SQLite and on PostgreSQL alike.
    let calls: Vec<_> = sessions.iter().map(|s| {
        // Hacker News asks for nothing and is checked with no provider call: the saves arrive together.
        let req = http().post(format!("{}/v1/widget/connect/hackernews", app.url)).bearer_auth(s).json(&json!({ "fields": {} }));
        tokio::spawn(req.send())
    }).collect();
    let mut codes = Vec::new();
    for c in calls {
        codes.push(c.await.unwrap().unwrap().status().as_u16());
    }
    codes.sort_unstable();
    assert_eq!(codes, [&[200; 3][..], &[409; 21][..]].concat());
    assert_eq!(live(&app, "carol").await, 3);
}

#[tokio::test]
async fn a_link_opens_only_so_many_sessions_and_the_pages_already_open_keep_working() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let link = backend(&app, "/v1/connect-sessions", json!({ "identity": "dave" })).await;
    let token = link["token"].as_str().unwrap();
    // Twenty loads of its page (reloads, another device), each a session.
    let first: Value = open_link(&app, token).await.json().await.unwrap();
    for _ in 1..20 {
        assert_eq!(open_link(&app, token).await.status(), 200);
    }
    let res = open_link(&app, token).await;
    assert_eq!(res.status(), StatusCode::GONE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "link_exhausted");
    assert_eq!(body["error"], "This link was opened too many times (20). Ask for a new one.");
    // A page opened before still connects, and another link of the same user opens.
    assert_eq!(connect_key(&app, first["session"]["token"].as_str().unwrap()).await.status(), 200);
    let other = backend(&app, "/v1/connect-sessions", json!({ "identity": "dave" })).await;
    assert_eq!(open_link(&app, other["token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn links_are_purged_a_day_after_they_expire_and_until_then_say_what_became_of_them() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let app = &app;
    let now = plugboard::clock::now();
    let make = |identity: &'static str| backend(app, "/v1/connect-sessions", json!({ "identity": identity }));
    // Used, then expired an hour ago; used, expired two days ago; never used, expired two days ago; live.
    let (recent, old, unused, live_link) = (make("u1").await, make("u2").await, make("u3").await, make("u4").await);
    for used in [&recent, &old] {
        let page: Value = open_link(app, used["token"].as_str().unwrap()).await.json().await.unwrap();
        assert_eq!(connect_key(app, page["session"]["token"].as_str().unwrap()).await.status(), 200);
    }
    let pool = app.db.pool().await;
    for (link, expires) in [(&recent, now - 3600), (&old, now - 2 * 86_400), (&unused, now - 2 * 86_400)] {
        let hash = plugboard::keys::digest(link["token"].as_str().unwrap());
        sqlx::query("UPDATE connect_links SET expires_at = $1 WHERE token_hash = $2").bind(expires).bind(hash).execute(&pool).await.unwrap();
    }
    // What the periodic purge runs.
    let purged = app.store.purge_expired(now, 7).await.unwrap();
    assert_eq!(purged.links, 2);
    let said = |token: Value| async move {
        let res = open_link(app, token.as_str().unwrap()).await;
        (res.status().as_u16(), res.json::<Value>().await.unwrap()["error"].as_str().unwrap_or_default().to_owned())
    };
    let (status, error) = said(recent["token"].clone()).await;
    assert_eq!(status, 409, "a day past expiry, a used link still says so");
    assert!(error.contains("already used"), "{error}");
    for gone in [&old, &unused] {
        assert_eq!(said(gone["token"].clone()).await, (404, "This link is not valid. Ask for a new one.".to_owned()));
    }
    assert_eq!(said(live_link["token"].clone()).await.0, 200);
    // The connections made through the purged links stay.
    assert_eq!(live(app, "u2").await, 1);
}
