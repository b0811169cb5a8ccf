//! The database under each test server. By default a fresh SQLite file in the test's data directory. When
//! `PLUGBOARD_TEST_POSTGRES` names a PostgreSQL server (`postgres://user:password@host:port/db`; `scripts/test` sets
//! it for its second run of the suite), a fresh PostgreSQL database on that server, dropped when the test ends.

use std::path::Path;

use sqlx::{any::AnyPoolOptions, AnyPool, Connection, Executor, Row};

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_ENV: &str = "PLUGBOARD_TEST_POSTGRES";

/// Whether this run of the suite is on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty())
}

pub struct TestDb {
    /// What the server is given as `DATABASE_URL`.
    pub url: String,
    /// PostgreSQL: the server's URL and the database's name, to drop it at the end.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database for one test (its SQLite file lives in `data_dir`).
    pub async fn fresh(data_dir: &Path) -> Self {
        let Some(admin) = std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty()) else {
            return Self { url: format!("sqlite://{}/plugboard.db", data_dir.display()), postgres: None };
        };
        let name = format!("pbt_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| panic!("{POSTGRES_ENV}={admin}: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create the test database");
        let _ = conn.close().await;
        let url = match admin.rsplit_once('/') {
            Some((server, _db)) => format!("{server}/{name}"),
            None => panic!("{POSTGRES_ENV} must end in /<database>"),
        };
        Self { url, postgres: Some((admin, name)) }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A pool on the same database, for a test that looks inside or changes a row by hand (`$n` parameters work
    /// on both).
    pub async fn pool(&self) -> AnyPool {
        Self::pool_for(&self.url).await
    }

    /// Holds a write lock on the database until dropped: any request that writes waits for it. SQLite: the
    /// database's one write lock; PostgreSQL: the tables requests write to, locked against writes (reads go on).
    pub async fn hold_write_lock(&self) -> sqlx::pool::PoolConnection<sqlx::Any> {
        let pool = self.pool().await;
        let mut conn = pool.acquire().await.expect("a connection");
        if self.is_postgres() {
            sqlx::query("BEGIN").execute(&mut *conn).await.expect("BEGIN");
            sqlx::query("LOCK TABLE oauth_flows, revoked_sessions, connections, projects IN EXCLUSIVE MODE").execute(&mut *conn).await.expect("LOCK");
        } else {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await.expect("BEGIN IMMEDIATE");
        }
        conn
    }

    /// A small pool on the database at `url` (SQLite or PostgreSQL).
    pub async fn pool_for(url: &str) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPoolOptions::new().max_connections(2).connect(url).await.expect("the test database opens")
    }

    /// Everything the database holds, as bytes, to search for a secret that must not be stored in plaintext:
    /// SQLite's file and write-ahead log as they are on disk; PostgreSQL's every value of every table (text as
    /// UTF-8, `bytea` as its raw bytes).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        if !self.is_postgres() {
            let file = self.url.trim_start_matches("sqlite://");
            let mut bytes = std::fs::read(file).unwrap_or_default();
            bytes.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
            return bytes;
        }
        let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("the test database opens");
        let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut conn)
            .await
            .expect("list tables");
        let mut bytes = Vec::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT * FROM \"{table}\"")).fetch_all(&mut conn).await.expect("read a table");
            for row in rows {
                for i in 0..row.len() {
                    if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        bytes.extend(b);
                    } else if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        bytes.extend(s.into_bytes());
                    }
                }
                bytes.push(b'\n');
            }
        }
        bytes
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else { return };
        // Drop runs outside any runtime's async context: a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                }
            });
        })
        .join();
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target` (`host:port`) that can be cut (every connection through it
/// closed, new ones refused) and restored: a database that goes away and comes back, for one server only.
pub struct CutProxy {
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl CutProxy {
    pub async fn start(target: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("bound").port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (target, open2, cut2) = (target.to_owned(), open.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let target = target.clone();
                let mut cut = cut2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { port, open, cut }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
