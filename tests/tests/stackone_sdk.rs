//! StackOne's own SDK, `@stackone/stackone-client-ts` (pinned in scripts/package.json, installed by scripts/setup-test),
//! against Plugboard with only its `serverURL` changed: connect sessions whose `auth_link_url` a user opens in
//! headless Chromium, the accounts API, StackOne's categories, and the SDK's typed errors. Each call runs the SDK in
//! Node (tests/seeds/stackone.cjs) and the assertions read what the SDK returns: its parsed objects (dates as the
//! SDK's `Date`s) or its typed errors, never the raw HTTP answer.

use plugboard_tests::fixtures;
use plugboard_tests::Server;
use std::path::Path;

use plugboard_tests::{eventually, fantoccini::Locator, http, spawn_with_provider, upstream::spawn_receiver, Browser, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "whsec_stackone_0123456789abcdef";

/// A server (with the mock provider) whose project sends webhooks to `hooks`.
async fn app(hooks: &str) -> (TestApp, plugboard::demo::provider::MockProvider) {
    let path = fixtures::config_file(&fixtures::webhook_project(hooks, &fixtures::secret_env("PB_STACKONE_WEBHOOK", SECRET)));
    let out = spawn_with_provider(|s, _| {
        s.config = Some(path.clone());
        s.retry_base_ms = 50;
    })
    .await;
    out
}

/// `stackOne.<call>(request)` in Node: `{"ok": <what it returned>}` or `{"error": <its typed error>}`.
async fn sdk(server_url: &str, key: &str, call: &str, request: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/stackone.cjs");
    let args = [server_url.to_owned(), key.to_owned(), call.to_owned(), request.to_string()];
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("node").arg(script).args(args).output().expect("node runs (scripts/setup-test installs it)"))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

/// What the SDK returned, failing the test with its error otherwise.
async fn ok(app: &TestApp, call: &str, request: Value) -> Value {
    let answer = sdk(&app.url, app.key.expose(), call, request).await;
    answer.get("ok").cloned().unwrap_or_else(|| panic!("{call}: {answer:#}"))
}

/// The typed error the SDK threw.
async fn error(app: &TestApp, key: &str, call: &str, request: Value) -> Value {
    let answer = sdk(&app.url, key, call, request).await;
    answer.get("error").cloned().unwrap_or_else(|| panic!("{call} should have failed: {answer:#}"))
}

/// A date the SDK parsed into a `Date`, as its ISO string.
fn date(v: &Value) -> time::OffsetDateTime {
    let iso = v["$date"].as_str().unwrap_or_else(|| panic!("not a Date: {v}"));
    time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339).unwrap()
}

fn recent(v: &Value) {
    let age = (time::OffsetDateTime::now_utc() - date(v)).whole_seconds();
    assert!((-5..120).contains(&age), "{v} is not now");
}

/// The typed error's class, status and StackOne fields, checked together.
fn typed(err: &Value, class: &str, status: u16) {
    assert_eq!((err["class"].as_str(), err["statusCode"].as_u64()), (Some(class), Some(u64::from(status))), "{err:#}");
    assert!(!err["message"].as_str().unwrap_or_default().is_empty(), "{err:#}");
    let ts = time::OffsetDateTime::parse(err["timestamp"].as_str().expect("the SDK's timestamp Date"), &time::format_description::well_known::Rfc3339).unwrap();
    assert!((time::OffsetDateTime::now_utc() - ts).whole_seconds().abs() < 60, "{err:#}");
}

async fn webhook_types(receiver: &plugboard_tests::upstream::Receiver) -> Vec<(String, Value)> {
    receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            let v: Value = serde_json::from_str(b).unwrap();
            (v["type"].as_str().unwrap_or_default().to_owned(), v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stackone_sdk_makes_a_session_whose_link_connects_and_then_lists_gets_and_deletes_the_account() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, provider) = app(&receiver.url).await;

    // connectSessions.createConnectSession, as StackOne's docs call it: an API-key integration, named.
    let made = ok(
        &app,
        "connectSessions.createConnectSession",
        json!({ "originOwnerId": "user-7", "originOwnerName": "Acme Ltd", "originUsername": "taylor@acme.example",
                "provider": "mock-api-key", "label": "Acme's key", "expiresIn": 3600 }),
    )
    .await;
    assert_eq!(made["statusCode"], 201);
    let session = &made["connectSessionTokenAuthLink"];
    assert_eq!(
        (session["originOwnerId"].as_str(), session["originOwnerName"].as_str(), session["originUsername"].as_str()),
        (Some("user-7"), Some("Acme Ltd"), Some("taylor@acme.example"))
    );
    assert_eq!((session["provider"].as_str(), session["label"].as_str()), (Some("mock-api-key"), Some("Acme's key")));
    assert_eq!((session["projectId"].as_str(), session["organizationId"].as_u64(), session["type"].as_str()), (Some("test-project"), Some(1), Some("test")));
    assert!(session["id"].as_u64().is_some(), "a numeric id: {session}");
    recent(&session["createdAt"]);
    let url = session["authLinkUrl"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/link#token=", app.url)), "{url}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(url.split("token=").nth(1), Some(token.as_str()), "the token is the link's");

    // Not used yet: authenticating names no account.
    let pending = ok(&app, "connectSessions.authenticateConnectSession", json!({ "token": token })).await;
    assert_eq!(pending["statusCode"], 201);
    assert_eq!((pending["connectSession"]["id"].clone(), pending["connectSession"]["accountId"].clone()), (session["id"].clone(), Value::Null));

    // The end user opens the link: the integration's form at once; they paste their key.
    let b = Browser::start().await;
    b.client.goto(url).await.unwrap();
    b.wait_js("the form", "return document.querySelector('input[name=api_key]')").await;
    b.client.find(Locator::Css("input[name=api_key]")).await.unwrap().send_keys("mock-key-0123456789").await.unwrap();
    b.click(".pb-form button[type=submit]").await;
    let done = b.wait_js("the done screen", "return document.querySelector('.pb-done h2')?.textContent").await;
    assert_eq!(done, "Mock API Key is connected");

    // Authenticated now, the session names the account it made.
    let used = ok(&app, "connectSessions.authenticateConnectSession", json!({ "token": token })).await;
    let account_id = used["connectSession"]["accountId"].as_str().expect("the account it connected").to_owned();
    assert_eq!(used["connectSession"]["originOwnerName"], "Acme Ltd");

    // A second, OAuth, connection for the same end user: the sign-in runs in the link's tab.
    let oauth = ok(&app, "connectSessions.createConnectSession", json!({ "originOwnerId": "user-7", "originOwnerName": "Acme Ltd", "provider": "mock-oauth" })).await;
    b.client.goto("about:blank").await.unwrap();
    b.client.goto(oauth["connectSessionTokenAuthLink"]["authLinkUrl"].as_str().unwrap()).await.unwrap();
    b.wait_js("the connect screen", "return document.querySelector('.pb-form button[type=submit]')").await;
    b.click(".pb-form button[type=submit]").await;
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page");
    b.click("#allow").await;
    // Back from the provider, the callback page says so, naming whose account it is.
    let said = b.wait_js("the connected page", "return document.body.innerText.includes('is now connected') && document.body.innerText").await;
    assert!(said.as_str().unwrap().contains("Your Mock OAuth account is now connected") && said.as_str().unwrap().contains("Acme Ltd"), "{said}");
    b.close().await;
    let oauth_token = oauth["connectSessionTokenAuthLink"]["token"].as_str().unwrap();
    let oauth_id = ok(&app, "connectSessions.authenticateConnectSession", json!({ "token": oauth_token })).await["connectSession"]["accountId"]
        .as_str()
        .expect("the OAuth account")
        .to_owned();

    // accounts.listLinkedAccounts: both, newest first, as StackOne's LinkedAccount.
    let listed = ok(&app, "accounts.listLinkedAccounts", json!({ "originOwnerId": "user-7" })).await;
    let accounts = listed["classes"].as_array().expect("an array of accounts").clone();
    let ids: Vec<&str> = accounts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [oauth_id.as_str(), account_id.as_str()]);
    let key_account = &accounts[1];
    assert_eq!(
        (key_account["provider"].as_str(), key_account["providerName"].as_str(), key_account["status"].as_str(), key_account["type"].as_str()),
        (Some("mock-api-key"), Some("Mock API Key"), Some("active"), Some("test"))
    );
    assert_eq!(
        (key_account["originOwnerId"].as_str(), key_account["originOwnerName"].as_str(), key_account["originUsername"].as_str(), key_account["label"].as_str()),
        (Some("user-7"), Some("Acme Ltd"), Some("taylor@acme.example"), Some("Acme's key"))
    );
    recent(&key_account["createdAt"]);
    recent(&key_account["updatedAt"]);
    assert!(key_account.get("credentials").is_none(), "never a credential: {key_account}");
    // Filtered by provider and paged as StackOne pages (from 1).
    let by_provider = ok(&app, "accounts.listLinkedAccounts", json!({ "provider": "mock-oauth" })).await;
    assert_eq!(by_provider["classes"].as_array().map(|a| a.iter().map(|x| x["id"].clone()).collect::<Vec<_>>()), Some(vec![json!(oauth_id)]));
    let second_page = ok(&app, "accounts.listLinkedAccounts", json!({ "originOwnerId": "user-7", "page": 2, "pageSize": 1 })).await;
    assert_eq!(second_page["classes"][0]["id"], account_id.as_str());
    let nobody = ok(&app, "accounts.listLinkedAccounts", json!({ "originOwnerId": "someone-else" })).await;
    assert_eq!(nobody["classes"], json!([]));

    // accounts.getAccount: the same account.
    let got = ok(&app, "accounts.getAccount", json!({ "id": account_id })).await;
    assert_eq!(got["linkedAccount"], *key_account);

    // accounts.deleteAccount on the OAuth account: as Plugboard's own delete, the grant is revoked at the provider
    // and the webhook hears `connection.deleted`; then it is gone.
    assert!(provider.valid_refresh_tokens() >= 1);
    let deleted = ok(&app, "accounts.deleteAccount", json!({ "id": oauth_id })).await;
    assert_eq!((deleted["linkedAccount"]["id"].as_str(), deleted["linkedAccount"]["provider"].as_str()), (Some(oauth_id.as_str()), Some("mock-oauth")));
    eventually("the grant revoked at the provider", || async { (provider.valid_refresh_tokens() == 0).then_some(()) }).await;
    let event = eventually("connection.deleted delivered", || async { webhook_types(&receiver).await.into_iter().find(|(t, _)| t == "connection.deleted") }).await.1;
    assert_eq!(event["data"]["key"], oauth_id.as_str());
    let left = ok(&app, "accounts.listLinkedAccounts", json!({ "originOwnerId": "user-7" })).await;
    assert_eq!(left["classes"].as_array().unwrap().len(), 1);

    // Each error class the SDK knows, typed: 404 for the deleted (or any unknown) account, on get and delete.
    for call in ["accounts.getAccount", "accounts.deleteAccount"] {
        typed(&error(&app, app.key.expose(), call, json!({ "id": oauth_id })).await, "NotFoundResponse", 404);
    }
    typed(&error(&app, app.key.expose(), "accounts.getAccount", json!({ "id": "no-such-account" })).await, "NotFoundResponse", 404);
    typed(&error(&app, app.key.expose(), "connectSessions.authenticateConnectSession", json!({ "token": "pbl_unknown" })).await, "NotFoundResponse", 404);
    // 401 for a wrong key, on every operation.
    let wrong = "sk_test_0000000000000000000000000000000000000000";
    for (call, request) in [
        ("connectSessions.createConnectSession", json!({ "originOwnerId": "u", "originOwnerName": "U" })),
        ("connectSessions.authenticateConnectSession", json!({ "token": token })),
        ("accounts.listLinkedAccounts", json!({})),
        ("accounts.getAccount", json!({ "id": account_id })),
        ("accounts.deleteAccount", json!({ "id": account_id })),
    ] {
        typed(&error(&app, wrong, call, request).await, "UnauthorizedResponse", 401);
    }
    // 400 for bad input the SDK lets through: an unknown provider, a lifetime past 30 days, a page size past 100.
    for (call, request, says) in [
        ("connectSessions.createConnectSession", json!({ "originOwnerId": "u", "originOwnerName": "U", "provider": "nope" }), "no integration"),
        ("connectSessions.createConnectSession", json!({ "originOwnerId": "u", "originOwnerName": "U", "expiresIn": 31 * 86400 }), "30 days"),
        ("accounts.listLinkedAccounts", json!({ "pageSize": 500 }), "page_size"),
        ("accounts.listLinkedAccounts", json!({ "providers": ["mock-oauth", "mock-api-key"] }), "providers is not supported"),
    ] {
        let err = error(&app, app.key.expose(), call, request.clone()).await;
        typed(&err, "BadRequestResponse", 400);
        assert!(err["message"].as_str().unwrap().contains(says), "{request}: {err:#}");
    }
    // A used session still authenticates (it names its account); the account it made is untouched by all this.
    assert_eq!(ok(&app, "accounts.getAccount", json!({ "id": account_id })).await["linkedAccount"]["status"], "active");
}

/// What each StackOne category lists, as the README states it.
const MAPPING: [(&str, &[&str]); 13] = [
    ("ats", &["Recruiting"]),
    ("hris", &["HR"]),
    ("hris-legacy", &["HR"]),
    ("crm", &["CRM"]),
    ("iam", &["Security"]),
    ("marketing", &["Marketing"]),
    ("lms", &["HR"]),
    ("stackone", &[]),
    ("documents", &["Documents", "Storage"]),
    ("ticketing", &["Project management", "Support"]),
    ("screening", &["Recruiting"]),
    ("messaging", &["Communication"]),
    ("accounting", &["Accounting"]),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_stackone_category_lists_its_catalog_counterparts_and_an_unknown_one_is_refused_naming_the_known_ones() {
    let (app, _provider) = app("http://127.0.0.1:9/hooks").await;
    let catalog = plugboard::catalog::Catalog::builtin().unwrap();
    // What this project offers: the catalog's integrations that need no OAuth client (none has one here); the
    // mock provider's are developer tools, which no StackOne category lists.
    let offered: Vec<_> = catalog.all().iter().filter(|e| !e.needs_server_client()).collect();
    for (category, lists) in MAPPING {
        let expected: Vec<&str> =
            offered.iter().filter(|e| lists.is_empty() || lists.contains(&e.category.as_str())).map(|e| e.platform.as_str()).collect();
        let answer = sdk(&app.url, app.key.expose(), "connectSessions.createConnectSession", json!({ "originOwnerId": "u", "originOwnerName": "U", "categories": [category] })).await;
        if expected.is_empty() {
            let err = &answer["error"];
            typed(err, "BadRequestResponse", 400);
            assert!(err["message"].as_str().unwrap().contains(lists[0]), "{category}: {err}");
            continue;
        }
        let session = &answer["ok"]["connectSessionTokenAuthLink"];
        assert_eq!(session["categories"], json!([category]), "{category}: {answer}");
        // What its page lists (the link page's own call): exactly the counterparts' integrations.
        let page: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": session["token"] })).send().await.unwrap().json().await.unwrap();
        let total = page["session"]["total"].as_u64().unwrap_or_default();
        let expected_total = if lists.is_empty() { expected.len() + 3 } else { expected.len() }; // + the mock provider's three
        assert_eq!(total as usize, expected_total, "{category}: {page}");
        for row in page["session"]["rows"].as_array().unwrap() {
            let platform = row["platform"].as_str().unwrap();
            assert!(lists.is_empty() || expected.contains(&platform), "{category} lists {platform}");
        }
    }
    // An unknown category: the SDK itself refuses it before sending (its enum is closed) …
    let refused = sdk(&app.url, app.key.expose(), "connectSessions.createConnectSession", json!({ "originOwnerId": "u", "originOwnerName": "U", "categories": ["payroll"] })).await;
    assert_eq!(refused["error"]["class"], "SDKValidationError", "{refused}");
    // … and another client sending it gets a 400 naming what works, in StackOne's error shape too.
    let res = http()
        .post(format!("{}/connect_sessions", app.url))
        .basic_auth(app.key.expose(), Some(""))
        .json(&json!({ "origin_owner_id": "u", "origin_owner_name": "U", "categories": ["payroll"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["code"].as_str(), body["statusCode"].as_u64()), (Some("unknown_category"), Some(400)), "{body}");
    let message = body["message"].as_str().unwrap();
    assert_eq!(body["error"].as_str(), Some(message));
    for named in ["Recruiting", "HR", "ats", "hris", "ticketing"] {
        assert!(message.contains(named), "{named} in {message}");
    }
    // Plugboard's own path keeps its error shape.
    let res = app.create_connect_session(&json!({ "identity": "u", "categories": ["payroll"] })).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unknown_category");
    assert!(body.get("statusCode").is_none() && body.get("timestamp").is_none(), "{body}");
}
