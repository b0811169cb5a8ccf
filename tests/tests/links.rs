//! Connecting without an embed (README, Without an embed): auth links opened as a page (StackOne's way) and hosted connection
//! sessions opened by `connect.js` in a popup (One Runtime's way), in headless Chromium against the mock provider.

use plugboard_tests::fixtures;
use plugboard_tests::Server;
use plugboard_tests::{eventually, fantoccini::Locator, http, spawn_host, spawn_with_provider, upstream::spawn_receiver, Browser, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "whsec_links_0123456789abcdef";
/// An origin the project allows, for `redirectUrl` (nothing listens there: the test reads where the browser went).
const HOST_ORIGIN: &str = "http://127.0.0.9:9";

/// A server whose project allows [`HOST_ORIGIN`] and sends webhooks to `hooks`.
async fn app(hooks: &str) -> (TestApp, plugboard::demo::provider::MockProvider) {
    let path = fixtures::config_file(&fixtures::webhook_project(hooks, &fixtures::secret_env("PB_LINKS_WEBHOOK", SECRET)));
    let out = spawn_with_provider(|s, _| {
        s.config = Some(path.clone());
        s.retry_base_ms = 50;
    })
    .await;
    out
}

async fn create_link(app: &TestApp, body: Value) -> reqwest::Response {
    app.create_connect_session(&body).await
}

async fn link(app: &TestApp, body: Value) -> Value {
    let res = create_link(app, body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

async fn page_text(b: &Browser) -> String {
    b.js("return document.body.innerText").await.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auth_link_on_a_phone_lists_by_category_connects_by_form_and_reaches_the_webhook() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, _provider) = app(&receiver.url).await;
    // StackOne's names.
    let made = link(&app, json!({ "origin_owner_id": "user-7", "origin_owner_name": "Taylor", "origin_username": "taylor@example.com",
                                  "categories": ["developer tools"], "expires_in": 432000 })).await;
    let url = made["auth_link_url"].as_str().unwrap();
    assert_eq!(made["authLinkUrl"], made["auth_link_url"]);
    assert!(url.starts_with(&format!("{}/link#token=pbl_", app.url)), "{url}");
    let expires = time::OffsetDateTime::parse(made["expires_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    assert!(((expires - time::OffsetDateTime::now_utc()).whole_seconds() - 432_000).abs() < 10);

    let b = Browser::start().await;
    b.client.set_window_size(320, 640).await.unwrap();
    b.client.goto(url).await.unwrap();
    b.wait_js("the list", "return document.querySelectorAll('.pb-row').length > 0").await;
    // Only the link's category is listed, and the page fits a 320 px screen.
    let listed: Value = b.js("return [...document.querySelectorAll('.pb-row')].map(r => r.dataset.platform)").await;
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(listed.contains(&"mock-api-key") && listed.contains(&"circleci"), "{listed:?}");
    for other in ["gmail", "slack", "hubspot", "stripe"] {
        assert!(!listed.contains(&other), "{other} is not a developer tool: {listed:?}");
    }
    assert!(!listed.contains(&"github"), "a developer tool, but without an OAuth client here it is not offered: {listed:?}");
    assert_eq!(b.js("return window.innerWidth <= 320").await, true, "a phone-sized window");
    assert_eq!(b.js("return document.documentElement.scrollWidth <= window.innerWidth").await, true, "no sideways scrolling at 320 px");
    b.click("[data-platform=mock-api-key]").await;
    b.wait_js("the form", "return document.querySelector('input[name=api_key]')").await;
    b.client.find(Locator::Css("input[name=api_key]")).await.unwrap().send_keys("mock-key-0123456789").await.unwrap();
    b.click(".pb-form button[type=submit]").await;
    let done = b.wait_js("the done screen", "return document.querySelector('.pb-done h2')?.textContent").await;
    assert_eq!(done, "Mock API Key is connected");
    assert!(page_text(&b).await.contains("You can close this page."));

    // The vault row, for the link's end user; the webhook names who connected.
    let rows: Value = app.list_connections("?identity=user-7").await.json().await.unwrap();
    assert_eq!(rows["total"], 1);
    let (_, body) = eventually("connection.created delivered", || async { receiver.received.lock().unwrap().first().cloned() }).await;
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "connection.created");
    assert_eq!(event["endUser"], json!({ "id": "user-7", "name": "Taylor", "username": "taylor@example.com" }));
    assert_eq!(event["data"]["key"], rows["rows"][0]["key"]);

    // A link serves one connection: opening it again says so.
    b.client.goto("about:blank").await.unwrap();
    b.client.goto(url).await.unwrap();
    let alert = b.wait_js("the used-link page", "return document.querySelector('[role=alert]')?.textContent").await;
    assert!(alert.as_str().unwrap().contains("already used"), "{alert}");
    assert_eq!(connections(&app).await, 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auth_link_runs_oauth_in_the_same_tab_and_returns_to_the_redirect_url() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, _provider) = app(&receiver.url).await;
    // Allow the host's origin for the redirect URL.
    app.store.set_project_config("test-project", &json!({ "allowedOrigins": [HOST_ORIGIN] }).to_string()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the per-node settings memory (2 s)
    let made = link(&app, json!({ "identity": "user-8", "integration": "mock-oauth", "redirectUrl": format!("{HOST_ORIGIN}/settings?tab=apps") })).await;
    let b = Browser::start().await;
    b.client.goto(made["authLinkUrl"].as_str().unwrap()).await.unwrap();
    // The link names the integration: straight to its connect screen, then to the provider in this tab.
    b.wait_js("the connect screen", "return document.querySelector('.pb-form button[type=submit]')").await;
    b.click(".pb-form button[type=submit]").await;
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page, in the same tab");
    assert_eq!(b.client.windows().await.unwrap().len(), 1, "no popup");
    b.click("#allow").await;
    let landed = eventually("the redirect URL", || async {
        let u = b.client.current_url().await.ok()?;
        u.as_str().starts_with(HOST_ORIGIN).then_some(u)
    })
    .await;
    let q: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!((landed.path(), q["tab"].as_str(), q["plugboard_status"].as_str()), ("/settings", "apps", "connected"));
    let record: Value = app.get_connection(&q["connection_key"]).await.json().await.unwrap();
    assert_eq!((record["platform"].as_str(), record["identity"].as_str()), (Some("mock-oauth"), Some("user-8")));
    b.close().await;
}

#[tokio::test]
async fn links_are_checked_when_made_and_refused_clearly_when_expired_revoked_or_used() {
    let (app, _provider) = app("http://127.0.0.1:9/hooks").await;
    for (body, code) in [
        (json!({ "origin_owner_id": "u", "expires_in": 31 * 86400 }), "invalid_expiry"),
        (json!({ "identity": "u", "redirectUrl": "https://evil.example/x" }), "invalid_redirect_url"),
        (json!({ "identity": "u", "provider": "nope" }), "unknown_integration"),
        (json!({ "identity": "u", "categories": ["Nope"] }), "unknown_category"),
        (json!({ "name": "no identity" }), "invalid_identity"),
    ] {
        let res = create_link(&app, body.clone()).await;
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
    let open = |token: String| {
        let url = format!("{}/v1/links/session", app.url);
        async move { http().post(url).json(&json!({ "token": token })).send().await.unwrap() }
    };
    // A link can only offer what the project shows (as hosted sessions).
    app.store.set_project_config("test-project", &json!({ "visibleIntegrations": ["mock-api-key", "mock-oauth"] }).to_string()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for (body, code) in [
        (json!({ "identity": "u", "integration": "gmail" }), "integration_not_offered"),
        (json!({ "identity": "u", "categories": ["Email"] }), "unknown_category"),
    ] {
        let res = create_link(&app, body.clone()).await;
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["code"], code, "{body}");
    }
    // Withdrawn while its page is open: the next step says so, before anything is asked of the provider.
    let withdrawn = link(&app, json!({ "identity": "u3", "integration": "mock-oauth" })).await;
    let open_page: Value = open(withdrawn["token"].as_str().unwrap().to_owned()).await.json().await.unwrap();
    let res = app.revoke_connect_session(&withdrawn["token"]).await;
    assert_eq!(res.status(), 204);
    let res = http()
        .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url))
        .bearer_auth(open_page["session"]["token"].as_str().unwrap())
        .header("Plugboard-Origin", app.url.clone())
        .json(&json!({ "display": "page" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "link_revoked");
    let revoked = link(&app, json!({ "identity": "u" })).await;
    let token = revoked["token"].as_str().unwrap().to_owned();
    assert_eq!(open(token.clone()).await.status(), 200, "usable until revoked");
    let res = app.revoke_connect_session(&json!(token)).await;
    assert_eq!(res.status(), 204);
    let res = open(token).await;
    assert_eq!(res.status(), 410);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "link_revoked");

    let expired = link(&app, json!({ "identity": "u", "expiresIn": 60 })).await;
    let pool = app.db.pool().await;
    sqlx::query("UPDATE connect_links SET expires_at = 1").execute(&pool).await.unwrap();
    let res = open(expired["token"].as_str().unwrap().to_owned()).await;
    assert_eq!(res.status(), 410);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "link_expired");
    let res = open("pbl_unknown".into()).await;
    assert_eq!(res.status(), 404);

    // Used: a second connection through the same link is refused, atomically, even from a session opened before.
    let once = link(&app, json!({ "identity": "u2" })).await;
    let s1: Value = open(once["token"].as_str().unwrap().to_owned()).await.json().await.unwrap();
    let s2: Value = open(once["token"].as_str().unwrap().to_owned()).await.json().await.unwrap();
    let connect = |session: &Value| {
        http()
            .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
            .bearer_auth(session["session"]["token"].as_str().unwrap())
            .header("Plugboard-Origin", app.url.clone())
            .json(&json!({ "fields": { "api_key": "mock-key-0123456789" } }))
            .send()
    };
    // Both pages connect at once: exactly one connection; the other is told the link was used.
    let (a, b) = tokio::join!(connect(&s1), connect(&s2));
    let mut statuses = vec![a.unwrap(), b.unwrap()];
    statuses.sort_by_key(|r| r.status());
    assert_eq!(statuses[0].status(), 200);
    let second = statuses.pop().unwrap();
    // Whether the race is lost before the save (the link check) or at it (the atomic spend): one answer, 409.
    assert_eq!(second.status(), 409);
    assert_eq!(second.json::<Value>().await.unwrap()["code"], "link_used");
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 1);
    let res = open(once["token"].as_str().unwrap().to_owned()).await;
    assert_eq!(res.status(), 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_link_updates_the_connection_in_place() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, _provider) = app(&receiver.url).await;
    let first = plugboard_tests::connect_fields(&app, "user-9", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    // StackOne's way: its path, the key as the Basic-auth username, `account_id` naming the account to reconnect.
    let res = http()
        .post(format!("{}/connect_sessions", app.url))
        .basic_auth(app.key.expose(), Some(""))
        .json(&json!({ "origin_owner_id": "user-9", "origin_owner_name": "Taylor", "account_id": first.key }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "StackOne's status for a new connect session");
    let made: Value = res.json().await.unwrap();
    let s: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": made["token"] })).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["reconnect"], first.key.as_str());
    assert_eq!(s["integrationName"], "Mock API Key", "a reconnect link opens the connection's own app");
    assert_eq!(s["session"]["total"], 1);
    // The page's session lasts as long as the link (a page left open still works).
    assert_eq!(s["session"]["expiresAt"], made["expiresAt"]);
    let res = http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(s["session"]["token"].as_str().unwrap())
        .header("Plugboard-Origin", app.url.clone())
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789" }, "reconnect": first.key }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["key"], first.key.as_str(), "the record keeps its key");
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 1);
    let types = eventually("connection.updated delivered", || async {
        let r = receiver.received.lock().unwrap();
        let types: Vec<String> = r.iter().map(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["type"].as_str().unwrap().to_owned()).collect();
        types.contains(&"connection.updated".to_string()).then_some(types)
    })
    .await;
    assert!(types.contains(&"connection.created".to_string()));
}

/// In the hosted popup: types the mock key, connects, and waits for the popup to close; back on `main`.
async fn enter_key_in_popup(b: &Browser, main: &plugboard_tests::fantoccini::wd::WindowHandle) {
    let popup = eventually("the popup", || async { b.client.windows().await.ok()?.into_iter().find(|w| w != main) }).await;
    b.client.switch_to_window(popup).await.unwrap();
    b.wait_js("the form", "return document.querySelector('input[name=api_key]')").await;
    b.client.find(Locator::Css("input[name=api_key]")).await.unwrap().send_keys("mock-key-0123456789").await.unwrap();
    b.click(".pb-form button[type=submit]").await;
    eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    b.client.switch_to_window(main.clone()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_004_page_connects_by_form_and_by_oauth_through_connect_js() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&format!("{host}/hosted")).await.unwrap();
    let main = b.client.window().await.unwrap();

    // API key: the popup asks for the key; the promise resolves with the connection.
    b.click("#connect-mock-api-key").await;
    enter_key_in_popup(&b, &main).await;
    let line = b.wait_js("the result", "return document.getElementById('log').textContent.split('\\n').find(l => l.startsWith('result '))").await;
    let result: Value = serde_json::from_str(line.as_str().unwrap().trim_start_matches("result ")).unwrap();
    assert_eq!(result["status"], "connected");
    assert_eq!(result["connection"]["platform"], "mock-api-key");
    assert_eq!(result["connection"]["name"], "Taylor's mock-api-key");
    assert_eq!(result["connectionId"], result["connection"]["key"]);

    // OAuth2: the popup goes to the provider and back by itself.
    b.js("document.getElementById('log').textContent = ''; return 1").await;
    b.click("#connect-mock-oauth").await;
    let popup = eventually("the popup", || async { b.client.windows().await.ok()?.into_iter().find(|w| *w != main) }).await;
    b.client.switch_to_window(popup).await.unwrap();
    b.wait_js("the connect screen", "return document.querySelector('.pb-form button[type=submit]')").await;
    b.click(".pb-form button[type=submit]").await;
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page in the popup");
    b.click("#allow").await;
    eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    b.client.switch_to_window(main.clone()).await.unwrap();
    let line = b.wait_js("the result", "return document.getElementById('log').textContent.split('\\n').find(l => l.startsWith('result '))").await;
    let result: Value = serde_json::from_str(line.as_str().unwrap().trim_start_matches("result ")).unwrap();
    assert_eq!((result["status"].as_str(), result["connection"]["platform"].as_str()), (Some("connected"), Some("mock-oauth")));

    // Closing the popup without connecting resolves {status: "closed"}.
    b.js("document.getElementById('log').textContent = ''; return 1").await;
    b.click("#connect-mock-api-key").await;
    let popup = eventually("the popup", || async { b.client.windows().await.ok()?.into_iter().find(|w| *w != main) }).await;
    b.client.switch_to_window(popup).await.unwrap();
    b.wait_js("the form", "return document.querySelector('input[name=api_key]')").await;
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(main.clone()).await.unwrap();
    b.wait_js("closed", "return document.getElementById('log').textContent.includes('result {\"status\":\"closed\"}')").await;
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 2);

    // embed.js offers the same: Plugboard.open({ sessionToken }).
    b.click("#embed-mock-api-key").await;
    enter_key_in_popup(&b, &main).await;
    let line = b.wait_js("the embed result", "return document.getElementById('log').textContent.split('\\n').find(l => l.startsWith('embed result '))").await;
    let result: Value = serde_json::from_str(line.as_str().unwrap().trim_start_matches("embed result ")).unwrap();
    assert_eq!((result["status"].as_str(), result["connection"]["platform"].as_str()), (Some("connected"), Some("mock-api-key")));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosted_session_connects_a_no_credential_integration_and_an_expired_link_page_says_so() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let made: Value = app.create_hosted_session(&json!({ "integration_slug": "hackernews", "end_user_id": "user_5", "suggested_connection_name": "HN" })).await
        .json()
        .await
        .unwrap();
    let token = made["session_token"].as_str().unwrap().to_owned();
    let status = || async {
        http().post(format!("{}/v1/hosted-connection-sessions/status", app.url)).body(json!({ "session_token": token }).to_string()).send().await.unwrap()
    };
    let res = status().await;
    assert_eq!(res.headers()["access-control-allow-origin"], "*", "connect.js asks from the host's page");
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "pending");

    let b = Browser::start().await;
    b.client.goto(made["url"].as_str().unwrap()).await.unwrap();
    // Nothing to ask: one click connects.
    b.wait_js("the connect button", "return document.querySelector('.pb-form button[type=submit]')?.textContent === 'Connect Hacker News'").await;
    b.click(".pb-form button[type=submit]").await;
    b.wait_js("the done screen", "return document.querySelector('.pb-done h2')?.textContent === 'Hacker News is connected'").await;
    let after: Value = status().await.json().await.unwrap();
    assert_eq!((after["status"].as_str(), after["connection"]["name"].as_str()), (Some("connected"), Some("HN")));
    assert_eq!(after["connectionId"], after["connection"]["key"]);

    // An expired auth link: a clear page, not a list.
    let expired = link(&app, json!({ "identity": "u" })).await;
    let pool = app.db.pool().await;
    sqlx::query("UPDATE connect_links SET expires_at = 1 WHERE used_at IS NULL").execute(&pool).await.unwrap();
    b.client.goto(expired["authLinkUrl"].as_str().unwrap()).await.unwrap();
    let alert = b.wait_js("the expired page", "return document.querySelector('[role=alert] p')?.textContent").await;
    assert_eq!(alert, "This link has expired. Ask for a new one.");
    // No "Try again" for a link a reload cannot revive, and nothing to close into.
    assert_eq!(b.js("return document.querySelectorAll('.pb-stopped button').length").await, 0);
    assert_eq!(b.js("return document.querySelectorAll('.pb-row').length").await, 0);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_opened_too_often_says_so_readably_in_both_themes_at_1280_and_320_px() {
    let (app, _provider) = app("http://127.0.0.1:9/hooks").await;
    let made = link(&app, json!({ "identity": "user-8" })).await;
    let url = made["auth_link_url"].as_str().unwrap().to_owned();
    let token = url.split("token=").nth(1).unwrap().to_owned();
    // Twenty loads already (reloads, another device): the link has opened all the sessions it may.
    for _ in 0..20 {
        let res = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": token })).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    for (theme, b) in [("light", Browser::start().await), ("dark", Browser::start_dark().await)] {
        for width in [1280u32, 320] {
            b.client.set_window_size(width, 720).await.unwrap();
            b.client.goto("about:blank").await.unwrap();
            b.client.goto(&url).await.unwrap();
            let alert = b.wait_js("the refusal", "return document.querySelector('[role=alert]')?.textContent").await;
            assert!(alert.as_str().unwrap().contains("opened too many times"), "{theme} {width}: {alert}");
            assert!(alert.as_str().unwrap().contains("Ask for a new one"), "{theme} {width}: what to do next");
            assert_eq!(b.js("return document.documentElement.scrollWidth <= window.innerWidth").await, true, "{theme} {width}");
            let violations = b.axe().await;
            assert!(violations.is_empty(), "{theme} {width}: {violations:#?}");
            b.screenshot(&format!("link-exhausted-{theme}-{width}")).await;
        }
        b.close().await;
    }
    assert_eq!(connections(&app).await, 0);
}

/// A link or hosted session for an app its end user could not connect (an OAuth app without a client) is refused
/// when made, naming what is missing, instead of a page that offers nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_to_an_app_that_is_not_set_up_is_refused_when_made() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let res = create_link(&app, json!({ "identity": "u-1", "integration": "hubspot" })).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "integration_not_configured", "{body}");
    assert!(body["error"].as_str().unwrap().contains("OAuth client"), "{body}");
    let res = app.create_hosted_session(&json!({ "integration_slug": "hubspot", "end_user_id": "u-1" })).await;
    assert_eq!(res.status(), 409);
    // One that can connect is made as before.
    assert_eq!(create_link(&app, json!({ "identity": "u-1", "integration": "mock-oauth" })).await.status(), 200);
}
