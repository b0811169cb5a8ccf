//! `scripts/bench` (server part): the token endpoint against the server's own ceiling (`/healthz`) on SQLite and
//! on PostgreSQL, the server's memory idle and under that load, catalog list and search with 375 and with 10,000
//! entries, and the background refresher with 10,000 tokens expiring within a minute. Release binary in its own
//! process, wrk on loopback; prints numbers, asserts none.
//!
//! Environment: `PLUGBOARD_BIN` (default `target/release/plugboard`), `BENCH_SECS` (default 10 per wrk run),
//! `PLUGBOARD_TEST_POSTGRES` (an admin URL: the PostgreSQL runs use a fresh database there; unset = SQLite only),
//! `BENCH_ONLY` (`token`, `catalog` or `refresher`: that part alone; unset = all).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicI64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{extract::State, routing::post, Form, Json, Router};
use plugboard::{
    keys::{Environment, SecretKey},
    store::{ConnectionRow, PoolSettings},
    vault::{Credentials, SecretString, Vault},
};
use plugboard_shared::{ConnectionState, IdentityType};
use plugboard_bench::{free_port, rss_mib, table_row, thousands, wrk, Load};
use plugboard_tests::{
    db::TestDb,
    ServerProcess, TEST_MASTER_KEY,
};

const CONNECTIONS: u64 = 64;

struct Setup {
    bin: String,
    secs: u64,
}

/// A server on a fresh database of the kind `postgres` says, with rate limits off (they would measure the limit).
async fn server(setup: &Setup, dir: &std::path::Path, db_url: &str, key: &SecretKey, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = [
        "--data-dir", &dir.display().to_string(),
        "--database-url", db_url,
        "--project-id", "bench",
        "--master-key", TEST_MASTER_KEY,
        "--rate-limit-ip", "0",
        "--rate-limit-project", "0",
        "--rate-limit-identity", "0",
        "--rate-limit-backend", "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::serve(&setup.bin, free_port("127.0.0.1"), key, &args, &[]).await
}

async fn database(dir: &std::path::Path, postgres: bool) -> (String, Option<TestDb>) {
    if postgres {
        let db = TestDb::fresh(dir).await;
        (db.url.clone(), Some(db))
    } else {
        (format!("sqlite://{}/plugboard.db", dir.display()), None)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("the benchmark thread")
}

/// Token minting against `/healthz`, both at 64 connections, and the server's memory around it.
async fn token_mint(setup: &Setup, postgres: bool) {
    let store = if postgres { "PostgreSQL" } else { "SQLite" };
    let dir = tempfile::tempdir().expect("temp dir");
    let (db_url, _db) = database(dir.path(), postgres).await;
    let key = SecretKey::generate(Environment::Test);
    let node = server(setup, dir.path(), &db_url, &key, &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle, _) = rss_mib(node.pid());

    let health = format!("{}/healthz", node.url);
    let mint = format!("{}/v1/authkit/token?page=1&limit=20", node.url);
    let headers = vec![format!("X-One-Secret: {}", key.expose())];
    let body = r#"{"identity":"bench-user","identityType":"user"}"#;
    let probe = reqwest::Client::new().post(&mint).header("X-One-Secret", key.expose()).header("content-type", "application/json").body(body).send().await.expect("mint");
    assert!(probe.status().is_success(), "the token endpoint answers {}", probe.status());

    let secs = setup.secs;
    let h = blocking(move || {
        wrk(&health, &Load::Get { headers: &[] }, 2, CONNECTIONS);
        wrk(&health, &Load::Get { headers: &[] }, secs, CONNECTIONS)
    })
    .await;
    let m = blocking(move || {
        wrk(&mint, &Load::PostJson { headers: &headers, body }, 2, CONNECTIONS);
        wrk(&mint, &Load::PostJson { headers: &headers, body }, secs, CONNECTIONS)
    })
    .await;
    let (after, peak) = rss_mib(node.pid());
    println!("{store}: /healthz {:.0} req/s p99 {:.2} ms; token mint {:.0} req/s p50 {:.2} ms p99 {:.2} ms", h.rps, h.p99_ms, m.rps, m.p50_ms, m.p99_ms);
    table_row(
        &format!("`POST /v1/authkit/token` ÷ `GET /healthz` requests/s, wrk -t2 -c64 ({store})"),
        &format!("{} ÷ {} = **{:.2}**, p99 {:.1} ms", thousands(m.rps), thousands(h.rps), m.rps / h.rps, m.p99_ms),
        "≥ 0.5, p99 ≤ 5 ms",
    );
    table_row(&format!("server memory (RSS): idle / after the token-mint load, peak ({store})"), &format!("{idle:.0} / {after:.0}, peak {peak:.0} MiB"), "flat");
}

/// A config with `n` synthetic API-key integrations (the benchmark's only), for a 10,000-entry catalog.
fn synthetic_catalog(n: usize) -> String {
    const CATEGORIES: &[&str] = &["CRM", "Communication", "Developer tools", "Marketing", "Finance", "Productivity"];
    let mut toml = String::from("[[projects]]\nid = \"bench\"\n");
    for i in 0..n {
        toml.push_str(&format!(
            "[[projects.customIntegrations]]\nplatform = \"synthetic-{i:05}\"\nname = \"Synthetic App {i:05}\"\ncategory = \"{}\"\n\
             description = \"A synthetic integration for the catalog benchmark.\"\nauthMethod = \"api_key\"\napiBaseUrl = \"https://api.synthetic-{i:05}.example\"\n\
             [[projects.customIntegrations.fields]]\nname = \"api_key\"\nlabel = \"API key\"\nsecret = true\n\
             [projects.customIntegrations.inject]\ntype = \"header\"\nname = \"x-api-key\"\nvalue = \"{{api_key}}\"\n",
            CATEGORIES[i % CATEGORIES.len()]
        ));
    }
    toml
}

/// The widget's list (page 1) and a search, with the built-in catalog and with 10,000 entries.
async fn catalog_scale(setup: &Setup) {
    let builtin = plugboard::catalog::Catalog::builtin().expect("the built-in catalog").all().len();
    let sizes = [(builtin, 0), (10_000, 10_000 - builtin)];
    let mut results = Vec::new();
    for (size, synthetic) in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("plugboard.toml");
        std::fs::write(&config, synthetic_catalog(synthetic)).expect("write the config");
        let key = SecretKey::generate(Environment::Test);
        let db_url = format!("sqlite://{}/plugboard.db", dir.path().display());
        let node = server(setup, dir.path(), &db_url, &key, &["--config", &config.display().to_string()]).await;
        let token = plugboard_tests::session_token(&node, "bench-user").await;
        let headers = vec![format!("Authorization: Bearer {token}")];
        let list = format!("{}/v1/widget/integrations?page=1&limit=20", node.url);
        let search = format!("{}/v1/widget/integrations?search=mail&page=1&limit=20", node.url);
        // A typo: nothing matches directly, so the near-miss search runs (and finds Slack).
        let typo = format!("{}/v1/widget/integrations?search=slak&page=1&limit=20", node.url);
        let (l, s, t) = blocking(move || {
            wrk(&list, &Load::Get { headers: &headers }, 2, 8);
            let l = wrk(&list, &Load::Get { headers: &headers }, 5, 8);
            let s = wrk(&search, &Load::Get { headers: &headers }, 5, 8);
            let t = wrk(&typo, &Load::Get { headers: &headers }, 5, 8);
            (l, s, t)
        })
        .await;
        let (rss, _) = rss_mib(node.pid());
        println!("catalog of {size}: list p50 {:.2} ms p99 {:.2} ms ({:.0} req/s); search p50 {:.2} ms p99 {:.2} ms ({:.0} req/s); typo p50 {:.2} ms p99 {:.2} ms ({:.0} req/s); RSS {rss:.0} MiB", l.p50_ms, l.p99_ms, l.rps, s.p50_ms, s.p99_ms, s.rps, t.p50_ms, t.p99_ms, t.rps);
        results.push((size, l, s, t, rss));
    }
    let [(a, la, sa, ta, ra), (b, lb, sb, tb, rb)] = [results[0], results[1]];
    table_row(
        &format!("widget catalog list, page 1 (wrk -c8): {a} / {b} entries"),
        &format!("p50 {:.2} / {:.2} ms, p99 {:.2} / {:.2} ms", la.p50_ms, lb.p50_ms, la.p99_ms, lb.p99_ms),
        "flat",
    );
    table_row(
        &format!("widget catalog search `mail`: {a} / {b} entries"),
        &format!("p50 {:.2} / {:.2} ms, p99 {:.2} / {:.2} ms", sa.p50_ms, sb.p50_ms, sa.p99_ms, sb.p99_ms),
        "flat",
    );
    table_row(
        &format!("widget catalog search with a typo, `slak`: {a} / {b} entries"),
        &format!("p50 {:.2} / {:.2} ms, p99 {:.2} / {:.2} ms", ta.p50_ms, tb.p50_ms, ta.p99_ms, tb.p99_ms),
        "flat",
    );
    table_row(&format!("server memory (RSS) with {a} / {b} catalog entries"), &format!("{ra:.0} / {rb:.0} MiB"), "flat");
}

/// The token endpoint of the refresher benchmark: answers each refresh after a provider-like 20 ms, counting how
/// many it holds at once and how many came after the token they renew had expired.
#[derive(Default)]
struct Provider {
    base: AtomicI64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    refreshed: AtomicUsize,
    late: AtomicUsize,
    last_ms: AtomicI64,
}

const REFRESHER_N: usize = 10_000;

/// Token `i` expires this many milliseconds after the base: spread evenly from 10 s to 70 s.
fn expiry_offset_ms(i: usize) -> i64 {
    10_000 + (60_000 * i as i64) / REFRESHER_N as i64
}

async fn token(State(p): State<Arc<Provider>>, Form(form): Form<BTreeMap<String, String>>) -> Json<serde_json::Value> {
    let now = plugboard::clock::now_ms();
    let held = p.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    p.max_in_flight.fetch_max(held, Ordering::SeqCst);
    let i: usize = form.get("refresh_token").and_then(|t| t.strip_prefix("rt-")).and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
    if i < REFRESHER_N && now >= p.base.load(Ordering::SeqCst) + expiry_offset_ms(i) {
        p.late.fetch_add(1, Ordering::SeqCst);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.in_flight.fetch_sub(1, Ordering::SeqCst);
    p.refreshed.fetch_add(1, Ordering::SeqCst);
    p.last_ms.store(plugboard::clock::now_ms(), Ordering::SeqCst);
    Json(serde_json::json!({ "access_token": format!("at-new-{i}"), "refresh_token": format!("rt-{i}"), "expires_in": 3600, "token_type": "Bearer" }))
}

fn refresher_config(provider: SocketAddr) -> String {
    format!(
        "[[projects]]\nid = \"bench\"\n[projects.oauth.synthetic-oauth]\nclientId = \"bench-client\"\nclientSecretEnv = \"BENCH_CLIENT_SECRET\"\n\
         [[projects.customIntegrations]]\nplatform = \"synthetic-oauth\"\nname = \"Synthetic OAuth\"\ncategory = \"Developer tools\"\n\
         description = \"The refresher benchmark's provider.\"\nauthMethod = \"oauth2\"\napiBaseUrl = \"http://{provider}/api\"\n\
         [projects.customIntegrations.oauth]\nauthorizationUrl = \"http://{provider}/authorize\"\ntokenUrl = \"http://{provider}/token\"\n"
    )
}

/// 10,000 connections whose access tokens (received an hour ago) expire over the next 10 to 70 seconds, then a
/// node started with them: are they all refreshed before they expire, and how hard is the provider hit?
async fn refresher(setup: &Setup, postgres: bool) {
    let store_name = if postgres { "PostgreSQL" } else { "SQLite" };
    let provider = Arc::new(Provider::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.9:0").await.expect("bind the provider");
    let provider_addr = listener.local_addr().expect("its address");
    let app = Router::new().route("/token", post(token)).with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let (db_url, _db) = database(dir.path(), postgres).await;
    let config = dir.path().join("plugboard.toml");
    std::fs::write(&config, refresher_config(provider_addr)).expect("write the config");
    let key = SecretKey::generate(Environment::Test);
    let cfg = config.display().to_string();
    let args = ["--config", cfg.as_str(), "--refresh-interval-secs", "1"];
    std::env::set_var("BENCH_CLIENT_SECRET", "bench-client-secret");
    // A first start creates the project and the tables; the connections go in while no node runs.
    let mut first = server(setup, dir.path(), &db_url, &key, &args).await;
    first.terminate_and_wait(Duration::from_secs(40));

    let started = Instant::now();
    let store = plugboard::store::connect(&db_url, &PoolSettings::default()).await.expect("the store opens");
    let vault = Vault::from_spec(TEST_MASTER_KEY).expect("the master key");
    let now = plugboard::clock::now_ms();
    let mut inserting = futures_util::stream::FuturesUnordered::new();
    for i in 0..REFRESHER_N {
        let id = uuid::Uuid::new_v4().to_string();
        let offset_s = expiry_offset_ms(i) / 1000;
        let creds = Credentials {
            access_token: Some(SecretString::new(format!("at-{i}"))),
            refresh_token: Some(SecretString::new(format!("rt-{i}"))),
            expires_at: Some(offset_s),
            ..Default::default()
        };
        let row = ConnectionRow {
            key: format!("test::synthetic-oauth::default::{i:032x}"),
            sealed: vault.seal_credentials(&creds, &id),
            id,
            project_id: "bench".into(),
            environment: Environment::Test,
            platform: "synthetic-oauth".into(),
            identity: format!("user-{i}"),
            identity_type: IdentityType::User,
            name: String::new(),
            state: ConnectionState::Operational,
            config: BTreeMap::new(),
            is_oauth: true,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted: false,
            secret_version: 1,
            // Relative to a base set just before the node starts (below).
            token_expires_at: Some(offset_s),
            token_refresh_at: Some(offset_s - 300),
            hold_401_until: None,
            refreshable: true,
            refresh_failures: 0,
            next_refresh_at: None,
            account: None,
            choices: Default::default(),
            end_user_name: None,
            end_user_username: None,
        };
        let store = store.clone();
        inserting.push(async move { store.save_connection(&row, false, None, None, None, u32::MAX).await.expect("a connection saved") });
        if inserting.len() >= 8 {
            futures_util::StreamExt::next(&mut inserting).await;
        }
    }
    while futures_util::StreamExt::next(&mut inserting).await.is_some() {}
    eprintln!("[bench-server] {REFRESHER_N} connections stored in {:.1} s", started.elapsed().as_secs_f64());

    let pool = TestDb::pool_for(&db_url).await;
    let base_ms = plugboard::clock::now_ms();
    let base = base_ms / 1000;
    // The sealed expiry (seconds) is only read after a refresh; the clear one decides what is due.
    sqlx::query("UPDATE connections SET token_expires_at = token_expires_at + $1, token_refresh_at = token_refresh_at + $1")
        .bind(base)
        .execute(&pool)
        .await
        .expect("expiries set");
    provider.base.store(base * 1000, Ordering::SeqCst);
    let start = Instant::now();
    let node = server(setup, dir.path(), &db_url, &key, &args).await;
    while provider.refreshed.load(Ordering::SeqCst) < REFRESHER_N && start.elapsed() < Duration::from_secs(150) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = Duration::from_millis((provider.last_ms.load(Ordering::SeqCst) - base_ms).max(0) as u64);
    // The provider counts a refresh when it answers; the node stores the new token a moment later.
    let counted = Instant::now();
    let stored = loop {
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE token_expires_at > $1")
            .bind(base + 3000)
            .fetch_one(&pool)
            .await
            .expect("count");
        if stored as usize >= REFRESHER_N || counted.elapsed() > Duration::from_secs(5) {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (refreshed, late, max) =
        (provider.refreshed.load(Ordering::SeqCst), provider.late.load(Ordering::SeqCst), provider.max_in_flight.load(Ordering::SeqCst));
    drop(node);
    println!("refresher ({store_name}): {refreshed} refresh requests, {stored} new tokens stored, {late} after expiry, all done {:.1} s after the start, at most {max} at once at the provider", took.as_secs_f64());
    table_row(
        &format!("background refresher: 10,000 tokens expiring over 10–70 s ({store_name}; provider answers in 20 ms)"),
        &format!("{stored} refreshed and stored, **{late} late**, done at {:.1} s, ≤ {max} at once at the provider", took.as_secs_f64()),
        "all before expiry, provider concurrency bounded (16)",
    );
}

#[tokio::main]
async fn main() {
    let setup = Setup {
        bin: std::env::var("PLUGBOARD_BIN").unwrap_or_else(|_| "target/release/plugboard".into()),
        secs: std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10),
    };
    let postgres = plugboard_tests::db::on_postgres();
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    if runs("token") {
        token_mint(&setup, false).await;
        if postgres {
            token_mint(&setup, true).await;
        }
    }
    if runs("catalog") {
        catalog_scale(&setup).await;
    }
    if runs("refresher") {
        refresher(&setup, false).await;
        if postgres {
            refresher(&setup, true).await;
        }
    }
}
