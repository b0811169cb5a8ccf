//! `scripts/bench-scale`: the vault's list-by-identity latency on PostgreSQL with 1,000 and with 1,000,000 stored
//! connections, side by side, and the plan PostgreSQL picks for it (`EXPLAIN`). Prints numbers; asserts nothing.
//!
//! A fresh database on the server `PLUGBOARD_TEST_POSTGRES` names (scripts/setup-test's default:
//! postgres://postgres:postgres@127.0.0.1:5432/postgres), a Plugboard server on it in this process, rows written
//! straight into the database (10 connections per end user), then `GET /v1/vault/connections?identity=…` timed
//! over HTTP: 50 warm-up calls, then 500 calls on random users.

use std::time::{Duration, Instant};

use plugboard_tests::{db::TestDb, http, spawn_app_with};
use sqlx::Executor;

const PER_USER: i64 = 10;
const CALLS: usize = 500;

#[tokio::main]
async fn main() {
    if !plugboard_tests::db::on_postgres() {
        std::env::set_var(plugboard_tests::db::POSTGRES_ENV, "postgres://postgres:postgres@127.0.0.1:5432/postgres");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::fresh(dir.path()).await;
    let url = db.url.clone();
    let app = spawn_app_with(|s| {
        s.database_url = Some(url);
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_project = 0;
        s.limits.rate_limit_identity = 0;
        s.limits.rate_limit_backend = 0;
    })
    .await;
    let pool = db.pool().await;
    let mut results = Vec::new();
    let mut stored = 0i64;
    for target in [1_000i64, 1_000_000] {
        let started = Instant::now();
        insert(&pool, stored, target).await;
        eprintln!("[bench-scale] {target} connections stored in {:.1} s", started.elapsed().as_secs_f64());
        stored = target;
        pool.execute("ANALYZE connections").await.expect("analyze");
        let users = target / PER_USER;
        let mut times = Vec::with_capacity(CALLS);
        for i in 0..(50 + CALLS) {
            let user = format!("user-{}", (i as i64 * 7919) % users);
            let t = Instant::now();
            let res = http()
                .get(format!("{}/v1/vault/connections?identity={user}&identityType=user&limit=20", app.url))
                .header("X-One-Secret", app.key.expose())
                .send()
                .await
                .expect("list");
            assert_eq!(res.status(), 200);
            let body: serde_json::Value = res.json().await.expect("json");
            assert_eq!(body["total"], PER_USER, "each user has {PER_USER}");
            if i >= 50 {
                times.push(t.elapsed());
            }
        }
        times.sort();
        results.push((target, pct(&times, 0.5), pct(&times, 0.99)));
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN SELECT * FROM connections WHERE project_id = 'test-project' AND deleted_at IS NULL AND environment = 'test'
               AND identity = 'user-7' AND identity_type = 'user' ORDER BY created_at DESC, id LIMIT 20",
        )
        .fetch_all(&pool)
        .await
        .expect("explain");
        println!("EXPLAIN with {target} connections:\n  {}", plan.join("\n  "));
    }
    println!();
    println!("| stored connections | list by identity p50 | p99 |");
    println!("| --- | --- | --- |");
    for (n, p50, p99) in &results {
        println!("| {n} | {:.2} ms | {:.2} ms |", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    if let [(a, a50, a99), (b, b50, b99)] = results.as_slice() {
        plugboard_bench::table_row(
            &format!("vault list by identity, PostgreSQL: {a} / {b} stored connections"),
            &format!("p50 {:.2} / {:.2} ms, p99 {:.2} / {:.2} ms (index scan)", ms(a50), ms(b50), ms(a99), ms(b99)),
            "flat",
        );
    }
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// Rows `from..to`, written by PostgreSQL itself (`generate_series`): connection `n` belongs to `user-{n / 10}`.
async fn insert(pool: &sqlx::AnyPool, from: i64, to: i64) {
    let sql = format!(
        "INSERT INTO connections (id, key, project_id, environment, platform, identity, identity_type, name, state, config,
                secret_key_id, secret_nonce, secret_ciphertext, is_oauth, version, created_at, updated_at)
         SELECT 'bench-' || n, 'test::hacker-news::user-' || (n / {PER_USER}) || '::' || n, 'test-project', 'test', 'hacker-news',
                'user-' || (n / {PER_USER}), 'user', 'Hacker News', 'operational', '{{}}', 'k1', '\\x00'::bytea, '\\x00'::bytea, 0, 1,
                1700000000000 + n, 1700000000000 + n
         FROM generate_series({from}, {to} - 1) AS n"
    );
    pool.execute(sql.as_str()).await.expect("insert");
}
