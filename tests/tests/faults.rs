//! Faults (SECURITY.md, "Faults"): a server killed with `kill -9` in the middle of 300 concurrent credential
//! connects keeps every connect it answered 2xx, exactly once, and nothing half-written; a database that is
//! unavailable for 10 s gives 503s with `Retry-After`, then everything works again without a restart.

use plugboard_tests::Server;
use std::{collections::HashSet, sync::Arc, time::Duration};

use plugboard::keys::{Environment, SecretKey};
use plugboard_tests::{db::TestDb, free_addr, http, session_token, ServerProcess};
use sqlx::Connection;

/// A project with an API-key integration that needs no provider (no verify request) and a webhook, so every
/// connect writes a connection and its `connection.created` event in one transaction.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("plugboard.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[projects]]
id = "test-project"
[projects.webhook]
url = "http://127.0.0.1:9/hook"
secretEnv = "FAULTS_WEBHOOK_SECRET"
{}"#,
            plugboard_tests::fixtures::acme_keys()
        ),
    )
    .unwrap();
    path
}

async fn node(dir: &std::path::Path, db: &TestDb, addr: std::net::SocketAddr, key: &SecretKey) -> ServerProcess {
    let args: Vec<String> = [
        "--data-dir", &dir.display().to_string(),
        "--database-url", &db.url,
        "--project-id", "test-project",
        "--config", &config(dir).display().to_string(),
        "--master-key", "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "--rate-limit-ip", "0",
        "--rate-limit-project", "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let envs = [("FAULTS_WEBHOOK_SECRET".to_string(), "whsec_faults_0123456789abcdef".to_string())];
    ServerProcess::serve(env!("CARGO_BIN_EXE_plugboard-node"), addr, key, &args, &envs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_300_concurrent_connects_loses_no_answered_connect_and_half_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate(Environment::Test);
    let (addr, _) = free_addr();
    let db = TestDb::fresh(dir.path()).await;
    let mut server = node(dir.path(), &db, addr, &key).await;
    let mut tokens = Vec::new();
    for i in 0..300 {
        tokens.push((format!("user-{i}"), session_token(&server, &format!("user-{i}")).await));
    }

    // 300 connects at once; the server is killed once a third of them have been answered.
    let answered = Arc::new(tokio::sync::Semaphore::new(0));
    let url = server.url.clone();
    let calls: Vec<_> = tokens
        .into_iter()
        .map(|(identity, token)| {
            let (url, answered) = (url.clone(), answered.clone());
            tokio::spawn(async move {
                let res = http()
                    .post(format!("{url}/v1/widget/connect/acme-keys"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({ "fields": { "api_key": format!("key-of-{identity}") } }))
                    .send()
                    .await;
                let ok = match res {
                    Ok(r) if r.status().is_success() => Some(r.json::<plugboard_shared::ConnectionRecord>().await.ok().map(|c| c.key)),
                    _ => None,
                };
                answered.add_permits(1);
                ok.flatten()
            })
        })
        .collect();
    let _ = answered.acquire_many(100).await.unwrap();
    server.kill();
    let mut acknowledged = Vec::new();
    for c in calls {
        if let Some(k) = c.await.unwrap() {
            acknowledged.push(k);
        }
    }
    assert!((100..300).contains(&acknowledged.len()), "the kill landed mid-way: {} answered 2xx", acknowledged.len());

    // Restart on the same files.
    let server = node(dir.path(), &db, addr, &key).await;
    let mut stored: Vec<String> = Vec::new();
    for page in 1.. {
        let p: plugboard_shared::Page<plugboard_shared::ConnectionRecord> =
            server.list_connections(&format!("?limit=100&page={page}")).await.json().await.unwrap();
        stored.extend(p.rows.into_iter().map(|r| r.key));
        if page >= p.pages {
            break;
        }
    }
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no connection stored twice");
    for k in &acknowledged {
        assert!(unique.contains(k), "{k} was answered 2xx but is not in the vault");
    }
    // Nothing half-written: each stored connection has its event and opens (the passthrough decrypts it).
    if !db.is_postgres() {
        let file = dir.path().join("plugboard.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
        assert_eq!(check, "ok");
    }
    let conn = db.pool().await;
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_outbox WHERE event_type = 'connection.created'").fetch_one(&conn).await.unwrap();
    assert_eq!(events as usize, stored.len(), "one connection.created per stored connection, and none without one");
    let per_identity: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT identity FROM connections GROUP BY identity HAVING COUNT(*) > 1) AS twice").fetch_one(&conn).await.unwrap();
    assert_eq!(per_identity, 0, "no identity got two connections");
    for k in stored.iter().take(20) {
        let res = server.get_connection(k).await;
        assert_eq!(res.status(), 200);
    }
    println!("{} of 300 connects answered 2xx before the kill; {} stored after the restart", acknowledged.len(), stored.len());
}

/// Holds SQLite's write lock (what a long migration, a backup or a stuck process does) until `release`.
async fn take_database(path: &std::path::Path, release: tokio::sync::oneshot::Receiver<()>) -> tokio::task::JoinHandle<()> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(10));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
    sqlx::query("UPDATE projects SET name = name").execute(&mut conn).await.unwrap();
    tokio::spawn(async move {
        let _ = release.await;
        sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_cannot_be_written_for_ten_seconds_means_503s_then_recovery_without_a_restart() {
    if plugboard_tests::db::on_postgres() {
        // SQLite's file lock and busy timeout; PostgreSQL's outage is tests/tests/nodes.rs's /readyz test.
        return;
    }
    let (app, _provider) = plugboard_tests::spawn_with_provider(|_, _| {}).await;
    let mint = || app.backend(reqwest::Method::POST, "/v1/authkit/token").json(&serde_json::json!({ "identity": "u", "identityType": "user" }));
    assert_eq!(mint().send().await.unwrap().status(), 200);
    let token = session_token(&app, "before").await;

    let (release, released) = tokio::sync::oneshot::channel();
    let holder = take_database(&app.data_dir.path().join("plugboard.db"), released).await;
    let outage = tokio::time::Instant::now();
    let connect = || http().post(format!("{}/v1/widget/connect/mock-api-key", app.url)).bearer_auth(&token).json(&serde_json::json!({ "fields": { "api_key": "mock-key-0123456789" } })).send();
    // Minting writes nothing (signed tokens): it goes on.
    assert_eq!(mint().send().await.unwrap().status(), 200);
    // What must write: 503 with Retry-After and the usual JSON error once the busy timeout passes, not a 500 —
    // and nothing half-saved: the user can try again.
    let res = connect().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    // What only reads goes on (SQLite's write-ahead log lets readers past a writer).
    let res = app.list_connections("").await;
    assert_eq!(res.status(), 200);
    let res = http().get(format!("{}/v1/widget/categories", app.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);

    tokio::time::sleep_until(outage + Duration::from_secs(10)).await;
    release.send(()).unwrap();
    holder.await.unwrap();
    // Back, without a restart.
    let res = connect().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_callback_while_the_database_cannot_be_written_says_to_try_again() {
    if plugboard_tests::db::on_postgres() {
        return; // SQLite's file lock, as above
    }
    let (app, _provider) = plugboard_tests::spawn_with_provider(|_, _| {}).await;
    let token = session_token(&app, "alice").await;
    let start = plugboard_tests::start_oauth(&app, &token, "mock-oauth").await;
    let (provider_url, cookie) = plugboard_tests::popup_authorize(&start).await;
    let back = plugboard_tests::mock_consent(provider_url).await;
    let (release, released) = tokio::sync::oneshot::channel();
    let holder = take_database(&app.data_dir.path().join("plugboard.db"), released).await;
    let res = http().get(&back).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("briefly unavailable"));
    release.send(()).unwrap();
    holder.await.unwrap();
}
