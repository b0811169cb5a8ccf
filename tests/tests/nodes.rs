//! More than one node (README, Running more than one node): two `plugboard serve` processes on different ports and one database (PostgreSQL in
//! the suite's second run, a shared SQLite file in the first), behind one public URL as a load balancer would put
//! them, with no sticky sessions. Also what an operator watches: `/readyz`, `/metrics`, shutdown on SIGTERM, and
//! what a start refuses or creates (flag ranges, file modes).

use plugboard_tests::Server;
use std::{
    collections::HashMap,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use plugboard::keys::{Environment, SecretKey};
use plugboard_tests::{
    concurrent_gets,
    db::{on_postgres, CutProxy, TestDb},
    eventually, free_addr, http,
    oidc::{Oidc, CLIENT_SECRET},
    passthrough, session_token,
    upstream::{spawn_receiver, Receiver},
    ServerProcess,
};
use serde_json::json;

const MASTER_KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Two nodes on one database, both saying they are at node A's address (the "load balancer"): a certified OpenID
/// provider as an OAuth integration (`oidc`), an API-key integration (`acme-keys`) and a webhook receiver.
struct Pair {
    a: ServerProcess,
    b: ServerProcess,
    key: SecretKey,
    oidc: Oidc,
    receiver: Receiver,
    args: Vec<String>,
    b_addr: std::net::SocketAddr,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path, oidc: &Oidc, hook: &str) -> std::path::PathBuf {
    let path = dir.join("plugboard.toml");
    let text = format!(
        r#"
[[projects]]
id = "test-project"
name = "Test project"
[projects.webhook]
url = "{hook}"
secretEnv = "NODES_WEBHOOK_SECRET"

[projects.oauth.oidc]
clientId = "{client_id}"
clientSecretEnv = "OIDC_TEST_CLIENT_SECRET"

[[projects.customIntegrations]]
platform = "oidc"
name = "Certified OIDC"
category = "Developer tools"
description = "panva's oidc-provider."
authMethod = "oauth2"
apiBaseUrl = "{url}/api"
[projects.customIntegrations.oauth]
discoveryUrl = "{url}/.well-known/openid-configuration"
scopes = ["openid", "offline_access"]
tokenAuth = "client_secret_basic"

{acme_keys}"#,

        url = oidc.url,
        client_id = plugboard_tests::oidc::CLIENT_ID,
        acme_keys = plugboard_tests::fixtures::acme_keys(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn pair(access_ttl: u64) -> Pair {
    let ((a_addr, a_url), (b_addr, _)) = (free_addr(), free_addr());
    let oidc = Oidc::start(&format!("{a_url}/oauth/callback"), access_ttl);
    let receiver = spawn_receiver("127.0.0.1", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path()).await;
    let key = SecretKey::generate(Environment::Test);
    let args: Vec<String> = [
        "--data-dir", &dir.path().display().to_string(),
        "--database-url", &db.url,
        "--public-url", &a_url,
        "--project-id", "test-project",
        "--config", &config(dir.path(), &oidc, &receiver.url).display().to_string(),
        "--master-key", MASTER_KEY,
        "--refresh-interval-secs", "3600",
        "--retry-base-ms", "200",
        "--rate-limit-ip", "0",
        "--rate-limit-project", "0",
        "--rate-limit-identity", "0",
        "--rate-limit-backend", "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // One after the other: the first migrates the database.
    let a = node(a_addr, &key, &args).await;
    let b = node(b_addr, &key, &args).await;
    Pair { a, b, key, oidc, receiver, args, b_addr, _db: db, _dir: dir }
}

async fn node(addr: std::net::SocketAddr, key: &SecretKey, args: &[String]) -> ServerProcess {
    let envs = [
        ("OIDC_TEST_CLIENT_SECRET".to_string(), CLIENT_SECRET.to_string()),
        ("NODES_WEBHOOK_SECRET".to_string(), "whsec_nodes_0123456789abcdef".to_string()),
    ];
    ServerProcess::serve(env!("CARGO_BIN_EXE_plugboard-node"), addr, key, args, &envs).await
}

async fn me(node: &ServerProcess, key: &str) -> reqwest::Response {
    passthrough(node, key, reqwest::Method::GET, "oidc/me").send().await.unwrap()
}

async fn connect_key(node: &ServerProcess, identity: &str) -> plugboard_shared::ConnectionRecord {
    let token = session_token(node, identity).await;
    let res = http()
        .post(format!("{}/v1/widget/connect/acme-keys", node.url))
        .bearer_auth(token)
        .json(&json!({ "fields": { "api_key": format!("key-of-{identity}") } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_started_on_one_node_finishes_on_the_other_and_200_calls_over_both_refresh_once() {
    let p = pair(60).await;
    // Start on A (session, flow, the popup's proof and binding cookie), consent at the provider, and the callback
    // lands on B: the load balancer does not care which node began it.
    let token = session_token(&p.a, "alice").await;
    let start = plugboard_tests::start_oauth(&p.a, &token, "oidc").await;
    let (provider_url, cookie) = plugboard_tests::popup_authorize(&start).await;
    let back = p.oidc.consent(&provider_url, true, &p.a.url).await;
    let on_b = back.replacen(&p.a.url, &p.b.url, 1);
    let res = http().get(&on_b).header("cookie", cookie).send().await.unwrap();
    let status = res.status();
    assert_eq!(status, 200, "{}", res.text().await.unwrap());
    let flow: plugboard_shared::FlowState =
        http().get(format!("{}/v1/widget/oauth/flows/{}", p.a.url, start.flow_id)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let conn = flow.connection.expect("node A sees the connection node B saved");
    let connected = Instant::now();
    assert_eq!(me(&p.a, &conn.key).await.status(), 200);
    assert_eq!(me(&p.b, &conn.key).await.status(), 200);

    // Past the token's 60 s: every call needs the refreshed token. The slow token endpoint keeps the one refresh
    // in flight while the other calls arrive, half of them at the other node.
    tokio::time::sleep(Duration::from_secs(61).saturating_sub(connected.elapsed())).await;
    p.oidc.delay_token_requests(300).await;
    let before = p.oidc.stats().await;
    let statuses = concurrent_gets(&[&p.a, &p.b], &conn.key, "oidc/me", 200).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let after = p.oidc.stats().await;
    assert_eq!(after.refreshes - before.refreshes, 1, "exactly one refresh at the provider");
    assert_eq!(after.token_requests - before.token_requests, 1, "and no other token request");
    assert_eq!(after.api_calls - before.api_calls, 200, "no call needed a retry");
}

/// Event ids the receiver got, with how many times each.
fn deliveries(r: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for (_, body) in r.received.lock().unwrap().iter() {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        *seen.entry(v["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn each_webhook_event_is_delivered_once_by_the_pair_and_still_delivered_when_a_node_dies_mid_delivery() {
    let mut p = pair(3600).await;
    // 20 connects over both nodes: 20 `connection.created` events, each delivered by one node exactly once.
    for i in 0..20 {
        connect_key(if i % 2 == 0 { &p.a } else { &p.b }, &format!("user-{i}")).await;
    }
    eventually("20 deliveries", || async { (deliveries(&p.receiver).len() == 20).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // time for a duplicate to show up, were there one
    let seen = deliveries(&p.receiver);
    assert_eq!(seen.len(), 20);
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");

    // Only A is up, the receiver is slow, and A dies with deliveries in flight: once B is back it delivers them
    // (after their short lease runs out), so each event arrives at least once.
    p.b.kill();
    p.receiver.delay_ms.store(60_000, Ordering::SeqCst);
    let attempts = p.receiver.attempts.load(Ordering::SeqCst);
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(connect_key(&p.a, &format!("late-{i}")).await.key);
    }
    eventually("A to be delivering", || async { (p.receiver.attempts.load(Ordering::SeqCst) >= attempts + 3).then_some(()) }).await;
    p.a.kill();
    p.receiver.delay_ms.store(0, Ordering::SeqCst);
    let b = node(p.b_addr, &p.key, &p.args).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    while deliveries(&p.receiver).len() < 23 {
        assert!(Instant::now() < deadline, "the killed node's deliveries were never taken over: {:?}", deliveries(&p.receiver).len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let listed: serde_json::Value = b.list_connections("?limit=100").await.json().await.unwrap();
    assert_eq!(listed["total"], 23);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_revoked_or_a_connection_deleted_on_one_node_is_refused_by_the_other_within_2_s() {
    let p = pair(3600).await;
    let conn = connect_key(&p.a, "alice").await;
    // Both nodes have seen the key and the connection (and keep them for up to 2 s).
    let list = |node: &ServerProcess| node.backend(reqwest::Method::GET, "/v1/vault/connections").send();
    assert_eq!(list(&p.a).await.unwrap().status(), 200);
    assert_eq!(list(&p.b).await.unwrap().status(), 200);
    let get = |node: &ServerProcess| node.backend(reqwest::Method::GET, &format!("/v1/vault/connections/{}", conn.key)).send();
    assert_eq!(get(&p.b).await.unwrap().status(), 200);

    // A session minted on A works on B (nothing stored: B checks A's signature); revoked through B, refused by A
    // at once.
    let session = session_token(&p.a, "alice").await;
    let widget = |node: &ServerProcess| http().get(format!("{}/v1/widget/integrations", node.url)).bearer_auth(&session).send();
    assert_eq!(widget(&p.b).await.unwrap().status(), 200);
    let res = p.b.revoke_session(&session).await;
    assert_eq!(res.status(), 204);
    assert_eq!(widget(&p.a).await.unwrap().status(), 401);

    // Deleted through A: B answers 404 within 2 s.
    let res = p.a.delete_connection(&conn.key).await;
    assert_eq!(res.status(), 200);
    let deleted = Instant::now();
    eventually("B to forget the connection", || async { (get(&p.b).await.ok()?.status() == 404).then_some(()) }).await;
    assert!(deleted.elapsed() <= Duration::from_millis(2_500), "took {:?}", deleted.elapsed());

    // The key revoked (the command line on the shared database, as an operator does): refused by both within 2 s.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
        .args(["project", "--database-url", &p.args[3], "--data-dir", &p.args[1]])
        .args(["key", "revoke", "test-project", &p.key.hint()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let revoked = Instant::now();
    for node in [&p.a, &p.b] {
        eventually("the key to be refused", || async { (list(node).await.ok()?.status() == 401).then_some(()) }).await;
    }
    assert!(revoked.elapsed() <= Duration::from_millis(2_500), "took {:?}", revoked.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_request_in_flight_finish_its_refresh_then_the_node_exits_and_the_other_goes_on() {
    let mut p = pair(2).await;
    let out = plugboard_tests::oauth_connect(&p.a, "alice", "oidc", None, async |url: String| p.oidc.consent(&url, true, &p.a.url).await).await;
    assert_eq!(out.status, 200, "{}", out.page);
    let conn = out.connection();
    // The token has expired and the provider is slow: a call on A is mid-refresh when A is told to stop.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    p.oidc.delay_token_requests(2_000).await;
    let in_flight = tokio::spawn({
        let url = format!("{}/v1/passthrough/oidc/me", p.a.url);
        let (secret, key) = (p.key.expose().to_owned(), conn.key.clone());
        async move { http().get(url).header("X-One-Secret", secret).header("x-one-connection-key", key).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let code = tokio::task::block_in_place(|| p.a.terminate_and_wait(Duration::from_secs(30)));
    assert_eq!(code, Some(0), "a clean exit");
    assert_eq!(in_flight.await.unwrap().ok(), Some(200), "the request in flight was answered");
    p.oidc.delay_token_requests(0).await;
    // The refresh was stored and its lease let go: B serves with the new token at once, without refreshing again.
    let before = p.oidc.stats().await;
    assert_eq!(me(&p.b, &conn.key).await.status(), 200);
    assert_eq!(p.oidc.stats().await.refreshes, before.refreshes, "no second refresh");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_follows_the_database_and_metrics_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path()).await;
    // PostgreSQL reached through a proxy the test can cut; SQLite is a file the node always has.
    let proxy = if on_postgres() {
        let url = url::Url::parse(&db.url).unwrap();
        Some(CutProxy::start(&format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))).await)
    } else {
        None
    };
    let db_url = match &proxy {
        Some(proxy) => {
            let mut url = url::Url::parse(&db.url).unwrap();
            url.set_port(Some(proxy.port)).unwrap();
            url.to_string()
        }
        None => db.url.clone(),
    };
    let (app, _provider) = plugboard_tests::spawn_with_provider(|s, _| {
        s.database_url = Some(db_url.clone());
        s.db_acquire_timeout_secs = 1;
    })
    .await;
    let readyz = || async { http().get(format!("{}/readyz", app.url)).send().await.unwrap().status() };
    assert_eq!(readyz().await, 200);

    // Something to count: a connect, and the requests it took.
    plugboard_tests::connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let text = http().get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    let has = |name: &str, labels: &[&str]| text.lines().any(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)));
    assert!(has("plugboard_http_requests_total{", &[r#"route="/v1/authkit/token""#, r#"method="POST""#, r#"status="200""#]), "{text}");
    assert!(has("plugboard_http_request_duration_seconds_bucket{", &[r#"route="/v1/widget/connect/{platform}""#]), "{text}");
    assert!(has("plugboard_connects_total{", &[r#"integration="mock-api-key""#, r#"outcome="connected""#]), "{text}");
    assert!(has("plugboard_db_pool_connections{", &[r#"state="open""#]), "{text}");
    assert!(!text.contains("sk_test_") && !text.contains("mock-key-0123456789"), "no secret in the metrics");
    // Labels stay bounded whatever clients send: an invented method, an unknown path.
    let (status, _) = plugboard_tests::raw_request(app.addr, "FROBNICATEXYZ", "/no/such/path/qwerty", &[]).await;
    assert!(status >= 400);
    let text = http().get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("FROBNICATEXYZ") && !text.contains("qwerty"), "{text}");
    assert!(text.lines().any(|l| l.contains(r#"method="other""#) && l.contains(r#"route="unmatched""#)), "{text}");

    if let Some(proxy) = &proxy {
        proxy.cut();
        eventually("/readyz to say not ready", || async { (readyz().await == 503).then_some(()) }).await;
        let res = app.list_connections("").await;
        assert_eq!(res.status(), 503, "a request that needs the database says to come back");
        proxy.restore();
        eventually("/readyz to say ready again", || async { (readyz().await == 200).then_some(()) }).await;
        let res = app.list_connections("").await;
        assert_eq!(res.status(), 200, "back without a restart");
    }
}

#[tokio::test]
async fn on_postgresql_a_node_without_the_master_key_refuses_to_start() {
    if !on_postgres() {
        return; // a single SQLite node may keep a generated key in its data directory
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path()).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url, "--data-dir", &dir.path().display().to_string()])
        .env_remove("PLUGBOARD_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("PLUGBOARD_MASTER_KEY"), "{said}");
    assert!(!dir.path().join("master-key").exists(), "no key of its own was made");
}

/// `plugboard serve` on a free address with `args` and `envs` (no database or keys from this process's
/// environment); killed when dropped.
struct Started(std::process::Child);

impl Started {
    fn spawn(data_dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> (Self, String) {
        let (addr, url) = free_addr();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
            .args(["serve", "--bind", &addr.to_string(), "--public-url", &url, "--data-dir", &data_dir.display().to_string()])
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("PLUGBOARD_MASTER_KEY")
            .env_remove("PLUGBOARD_SECRET_KEY")
            .envs(envs.iter().copied())
            .env("RUST_LOG", "plugboard=warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the server binary runs");
        (Self(child), url)
    }

    /// Waits up to 20 s for the process to exit; answers whether it succeeded and what it wrote to stderr.
    fn exit(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("wait") {
                let mut said = String::new();
                std::io::Read::read_to_string(self.0.stderr.as_mut().expect("piped"), &mut said).expect("stderr");
                return (status.success(), said);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop: it started with what it should have refused");
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_numeric_flag_out_of_range_stops_the_start_with_a_message_naming_it_and_its_range() {
    let dir = tempfile::tempdir().unwrap();
    // A session TTL past what a timestamp holds made every mint answer 500; a pool of 0 could not serve at all.
    for (args, envs, says) in [
        (&["--session-ttl-secs", "99999999999999"][..], &[][..], "--session-ttl-secs"),
        (&[], &[("PLUGBOARD_SESSION_TTL", "10")][..], "60..=86400"),
        (&["--db-max-connections", "0"], &[], "--db-max-connections"),
        (&["--passthrough-timeout-secs", "0"], &[], "1..=3600"),
        (&["--header-read-timeout-secs", "100000"], &[], "--header-read-timeout-secs"),
    ] {
        let (ok, said) = Started::spawn(dir.path(), args, envs).0.exit();
        assert!(!ok && said.contains(says), "{args:?} {envs:?}: {said}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_data_directory_and_the_files_a_start_creates_in_it_are_for_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var").join("plugboard");
    // No database URL, master key or secret key given: the SQLite file and both keys are made in the folder.
    let (node, url) = Started::spawn(&data, &[], &[]);
    eventually("the server to answer /healthz", || async {
        http().get(format!("{url}/healthz")).send().await.ok().filter(|r| r.status() == 200).map(|_| ())
    })
    .await;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777;
    for dir in [root.path().join("var"), data.clone()] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in ["plugboard.db", "plugboard.db-wal", "plugboard.db-shm", "master-key", "secret-key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    drop(node);
}
