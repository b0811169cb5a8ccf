//! The vault API (README, API) and token refresh (README, API: Refresh) against the strict mock provider, whose refresh tokens
//! rotate (each works once) and which counts every refresh.

use plugboard_tests::Server;
use std::sync::atomic::Ordering;

use plugboard_shared::{ConnectionRecord, ConnectionState, Page};
use plugboard_tests::{concurrent_gets, connect_fields, connect_oauth, http, mock_consent, oauth_connect, passthrough, spawn_app_with, spawn_with_provider, TestApp};
use serde_json::{json, Value};

async fn vault_get(app: &TestApp, path: &str) -> reqwest::Response {
    app.list_connections(path).await
}

async fn me(app: &TestApp, key: &str) -> reqwest::Response {
    passthrough(app, key, reqwest::Method::GET, "mock-oauth/me").send().await.unwrap()
}

async fn state(app: &TestApp, key: &str) -> ConnectionState {
    vault_get(app, &format!("/{key}")).await.json::<ConnectionRecord>().await.unwrap().state
}

#[tokio::test]
async fn lists_filters_pages_reads_and_deletes_connections() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let a = connect_oauth(&app, "alice").await;
    let b = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let c = connect_fields(&app, "bob", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;

    let all: Page<ConnectionRecord> = vault_get(&app, "").await.json().await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(all.rows.first().map(|r| r.key.as_str()), Some(c.key.as_str()), "newest first");
    let alice: Page<ConnectionRecord> = vault_get(&app, "?identity=alice&identityType=user").await.json().await.unwrap();
    assert_eq!(alice.total, 2);
    let mut keys: Vec<_> = alice.rows.iter().map(|r| r.key.clone()).collect();
    keys.sort();
    let mut want = vec![a.key.clone(), b.key.clone()];
    want.sort();
    assert_eq!(keys, want);
    let page2: Page<ConnectionRecord> = vault_get(&app, "?platform=mock-api-key&limit=1&page=2").await.json().await.unwrap();
    assert_eq!((page2.total, page2.pages, page2.page, page2.rows.len()), (2, 2, 2, 1));
    let none: Page<ConnectionRecord> = vault_get(&app, "?identity=carol").await.json().await.unwrap();
    assert_eq!(none.total, 0);
    for bad in ["?identityType=robot", "?limit=0", "?page=x"] {
        let res = vault_get(&app, bad).await;
        assert_eq!(res.status(), 400, "{bad}");
    }

    let one: ConnectionRecord = vault_get(&app, &format!("/{}", a.key)).await.json().await.unwrap();
    assert_eq!((one.platform.as_str(), one.state), ("mock-oauth", ConnectionState::Operational));
    let text = vault_get(&app, &format!("/{}", a.key)).await.text().await.unwrap();
    assert!(!text.contains("mock-at-") && !text.contains("mock-rt-"), "no token in a record: {text}");

    // Deleting revokes the grant at the provider, then the connection is gone everywhere.
    let res = app.delete_connection(&a.key).await;
    assert_eq!(res.status(), 200);
    let gone: ConnectionRecord = res.json().await.unwrap();
    assert!(gone.deleted && !gone.active);
    assert_eq!(provider.counters.revocations.load(Ordering::SeqCst), 1);
    assert_eq!(vault_get(&app, &format!("/{}", a.key)).await.status(), 404);
    assert_eq!(me(&app, &a.key).await.status(), 404);
    let res = app.delete_connection(&a.key).await;
    assert_eq!(res.status(), 404, "deleting twice");
    let all: Page<ConnectionRecord> = vault_get(&app, "").await.json().await.unwrap();
    assert_eq!(all.total, 2);
}

#[tokio::test]
async fn another_projects_key_sees_nothing() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let a = connect_oauth(&app, "alice").await;
    let other = plugboard::keys::SecretKey::generate(plugboard::keys::Environment::Test);
    app.store.upsert_project(&plugboard::store::Project { id: "other".into(), name: "Other".into() }).await.unwrap();
    app.store.add_secret_key("other", other.environment(), &other.digest(), &other.hint()).await.unwrap();
    let res = http().get(format!("{}/v1/vault/connections/{}", app.url, a.key)).header("X-One-Secret", other.expose()).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let list: Page<ConnectionRecord> =
        http().get(format!("{}/v1/vault/connections", app.url)).header("X-One-Secret", other.expose()).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.total, 0);
    let res = http().delete(format!("{}/v1/vault/connections/{}", app.url, a.key)).header("X-One-Secret", other.expose()).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(vault_get(&app, &format!("/{}", a.key)).await.status(), 200, "still there for its owner");
}

#[tokio::test]
async fn a_hundred_concurrent_calls_on_an_expired_connection_cause_exactly_one_refresh() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    // A second node on the same database: the calls are split between the two, so only the database lease can
    // keep them from refreshing twice.
    let cfg = (*provider.config).clone();
    let (data_dir, db_url) = (app.data_dir.path().to_owned(), app.db.url.clone());
    let node_b = spawn_app_with(|s| {
        s.data_dir = data_dir.clone();
        s.database_url = Some(db_url.clone());
        plugboard::demo::register_mock_client(s, &cfg, &cfg.issuer);
    })
    .await;
    // Tokens issued at connect live one second, so the connection is expired by the time the calls start; the
    // slow token endpoint keeps the refresh in flight while the other 99 calls arrive.
    provider.knobs.access_ttl_secs.store(1, Ordering::SeqCst);
    let conn = connect_oauth(&app, "alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    provider.knobs.access_ttl_secs.store(3600, Ordering::SeqCst);
    provider.knobs.token_delay_ms.store(300, Ordering::SeqCst);

    let statuses = concurrent_gets(&[&app, &node_b], &conn.key, "mock-oauth/me", 100).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(provider.counters.refreshes.load(Ordering::SeqCst), 1, "exactly one refresh reached the provider");
    assert_eq!(provider.counters.api_calls.load(Ordering::SeqCst), 100, "no call needed a retry");
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Operational);
}

#[tokio::test]
async fn a_401_is_answered_by_one_refresh_and_one_retry() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let conn = connect_oauth(&app, "alice").await;
    assert_eq!(me(&app, &conn.key).await.status(), 200);
    // The provider drops the access token early (Plugboard still thinks it has an hour).
    provider.expire_access_tokens();
    let res = me(&app, &conn.key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], "mock-user-1");
    assert_eq!(provider.counters.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(provider.counters.api_calls.load(Ordering::SeqCst), 3, "first call, the 401, the retry");
}

#[tokio::test]
async fn a_revoked_grant_fails_the_connection_and_an_outage_degrades_it() {
    // Backoff after a failed refresh: 2–4 s, so a loaded machine (CI runs four tests at once on two cores) still
    // makes its second call inside it. With 0.5–1 s, a slow PostgreSQL pass once got past the backoff.
    let (app, provider) = spawn_with_provider(|s, _| s.retry_base_ms = 4_000).await;
    let conn = connect_oauth(&app, "alice").await;

    // The provider is down: the call fails clearly and the connection is degraded. While backing off, calls are
    // answered 503 with Retry-After and the provider is not asked; after the backoff the next call recovers.
    provider.expire_access_tokens();
    provider.knobs.fail_token_requests.store(1, Ordering::SeqCst);
    let res = me(&app, &conn.key).await;
    assert_eq!(res.status(), 502);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "provider_failed");
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Degraded);
    let asked = provider.counters.token_requests.load(Ordering::SeqCst);
    let res = me(&app, &conn.key).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "provider_unavailable");
    assert_eq!(provider.counters.token_requests.load(Ordering::SeqCst), asked, "no token request while backing off");
    tokio::time::sleep(std::time::Duration::from_millis(4_100)).await;
    assert_eq!(me(&app, &conn.key).await.status(), 200);
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Operational);

    // The user revoked the app at the provider: invalid_grant marks the connection failed, and it stays failed
    // without asking the provider again.
    provider.expire_access_tokens();
    provider.revoke_refresh_tokens();
    let res = me(&app, &conn.key).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "connection_failed");
    assert!(body["error"].as_str().unwrap().contains("reconnect"), "{body}");
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Failed);
    let refreshes = provider.counters.token_requests.load(Ordering::SeqCst);
    assert_eq!(me(&app, &conn.key).await.status(), 409);
    assert_eq!(provider.counters.token_requests.load(Ordering::SeqCst), refreshes);
}

#[tokio::test]
async fn the_background_worker_refreshes_before_expiry_about_once_per_lifetime() {
    let (app, provider) = spawn_with_provider(|s, _| s.refresh_interval_secs = 1).await;
    // 5 s tokens are due a fifth of their life ahead (at 4 s); the worker looks every second. Before refreshes
    // were tied to the token's lifetime, a token shorter than the worker's horizon was refreshed on every look.
    provider.knobs.access_ttl_secs.store(5, Ordering::SeqCst);
    let conn = connect_oauth(&app, "alice").await;
    plugboard_tests::eventually("a background refresh", || async { (provider.counters.refreshes.load(Ordering::SeqCst) >= 1).then_some(()) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(provider.counters.refreshes.load(Ordering::SeqCst), 1, "not refreshed again within the new token's first half");
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Operational);
    assert_eq!(me(&app, &conn.key).await.status(), 200);
}

#[tokio::test]
async fn a_client_credentials_connection_gets_a_new_token_when_its_token_expires() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    provider.knobs.access_ttl_secs.store(1, Ordering::SeqCst);
    let cfg = provider.config.clone();
    let conn = connect_fields(&app, "svc", "mock-client-credentials", json!({ "client_id": cfg.client_id, "client_secret": cfg.client_secret })).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    provider.knobs.access_ttl_secs.store(3600, Ordering::SeqCst);
    let before = provider.counters.token_requests.load(Ordering::SeqCst);
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "mock-client-credentials/me").send().await.unwrap();
    assert_eq!(res.status(), 200, "the expired token was replaced by a new client-credentials grant");
    assert_eq!(provider.counters.token_requests.load(Ordering::SeqCst), before + 1);
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Operational);
}

#[tokio::test]
async fn a_reconnect_during_an_in_flight_refresh_wins() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let conn = connect_oauth(&app, "alice").await;
    provider.expire_access_tokens();
    provider.knobs.refresh_delay_ms.store(1_500, Ordering::SeqCst);
    // A call meets a 401 and starts a slow refresh…
    let call = {
        let (url, secret, key) = (app.url.clone(), app.key.expose().to_owned(), conn.key.clone());
        tokio::spawn(async move {
            http().get(format!("{url}/v1/passthrough/mock-oauth/me")).header("X-One-Secret", secret).header("X-One-Connection-Key", key).send().await.unwrap().status()
        })
    };
    plugboard_tests::eventually("the refresh reached the provider", || async { (provider.counters.token_requests.load(Ordering::SeqCst) >= 2).then_some(()) }).await;
    // …and the user reconnects meanwhile.
    let out = oauth_connect(&app, "alice", "mock-oauth", Some(&conn.key), mock_consent).await;
    assert_eq!(out.status, 200, "{}", out.page);
    let version_after_reconnect = app.store.get_connection(&conn.key).await.unwrap().unwrap().secret_version;
    // The refresh finishes later: its tokens do not replace the reconnect's, and the call goes through.
    assert_eq!(call.await.unwrap(), 200);
    assert_eq!(provider.counters.refreshes.load(Ordering::SeqCst), 1);
    let row = app.store.get_connection(&conn.key).await.unwrap().unwrap();
    assert_eq!(row.secret_version, version_after_reconnect, "the reconnect's credentials stand");
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Operational);
    assert_eq!(me(&app, &conn.key).await.status(), 200);
}

#[tokio::test]
async fn a_deleted_connection_keeps_no_secrets_in_the_database_file() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let conn = connect_oauth(&app, "alice").await;
    let first = app.store.get_connection(&conn.key).await.unwrap().unwrap().sealed;
    // A refresh writes a second version of the secrets; the first lingers in the write-ahead log.
    _provider.expire_access_tokens();
    assert_eq!(me(&app, &conn.key).await.status(), 200);
    let sealed = app.store.get_connection(&conn.key).await.unwrap().unwrap().sealed;
    assert!(sealed.ciphertext.len() > 32 && sealed.ciphertext != first.ciphertext);
    let res = app.delete_connection(&conn.key).await;
    assert_eq!(res.status(), 200);
    let row = app.store.get_connection(&conn.key).await.unwrap().unwrap();
    assert!(row.deleted && row.sealed.ciphertext.is_empty() && row.sealed.nonce.is_empty(), "the sealed columns are overwritten");
    // Nothing of either version is left in the database file or its write-ahead log, as the server left them.
    let bytes = app.db.stored_bytes().await;
    for (which, s) in [("the current", &sealed), ("an earlier", &first)] {
        let needle = &s.ciphertext[..32];
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{which} ciphertext of the deleted connection is still on disk");
    }
}

#[tokio::test]
async fn a_revocation_the_provider_cannot_take_now_is_retried_from_the_queue_until_it_lands() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let a = connect_oauth(&app, "alice").await;
    assert_eq!(provider.valid_refresh_tokens(), 1);
    // The provider's revocation endpoint is down for the first two attempts.
    provider.knobs.fail_revocations.store(2, Ordering::SeqCst);
    let res = app.delete_connection(&a.key).await;
    assert_eq!(res.status(), 200, "deleting does not wait for the provider");
    assert_eq!(vault_get(&app, &format!("/{}", a.key)).await.status(), 404);
    assert_eq!(provider.counters.revocations.load(Ordering::SeqCst), 0);
    assert_eq!(provider.valid_refresh_tokens(), 1, "the grant is still alive at the provider");
    let queued = || async {
        let pool = app.db.pool().await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations").fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    };
    assert_eq!(queued().await, 1, "waiting in the queue, sealed");
    // Retried with backoff (1 s, then 2 s) by the background worker until the provider confirms.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while provider.counters.revocations.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the revocation was never retried");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(provider.valid_refresh_tokens(), 0, "the grant is revoked at the provider");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(queued().await, 0, "done: the queued token is gone too");
    assert_eq!(provider.counters.revocations.load(Ordering::SeqCst), 1, "revoked once");
}

#[tokio::test]
async fn more_tokens_due_than_one_pass_takes_are_all_refreshed_without_waiting_for_the_next_interval() {
    // Two at a time, so a pass takes 16; the next look is an hour away.
    let (app, provider) = spawn_with_provider(|s, cfg| {
        s.refresh_interval_secs = 3600;
        s.refresh_concurrency = 2;
        s.limits.rate_limit_ip = 0; // 40 sign-ins from one address
        cfg.access_ttl_secs = 4;
    })
    .await;
    for i in 0..40 {
        connect_oauth(&app, &format!("user-{i}")).await;
    }
    // All 40 tokens are due (a fifth of their 4 s ahead); a node starting now finds them in its first look.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    provider.knobs.refresh_delay_ms.store(20, Ordering::SeqCst);
    let before = provider.counters.refreshes.load(Ordering::SeqCst);
    let app = app.restart(|_| {}).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while provider.counters.refreshes.load(Ordering::SeqCst) < before + 40 {
        assert!(std::time::Instant::now() < deadline, "only {} of 40 refreshed", provider.counters.refreshes.load(Ordering::SeqCst) - before);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let all: Page<ConnectionRecord> = vault_get(&app, "?limit=100").await.json().await.unwrap();
    assert_eq!(all.total, 40);
    assert!(all.rows.iter().all(|r| r.state == ConnectionState::Operational));
}
