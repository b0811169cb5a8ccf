//! Where SQLite and PostgreSQL differ, and nothing else: opening a pool (SQLite's pragmas), the migrations, the
//! database's clock, row locks, and what a delete leaves behind. Everything else is the same SQL, in the aggregates'
//! files beside this one.

use std::str::FromStr;

use sqlx::{any::AnyPoolOptions, AnyConnection, AnyPool, Executor};

use super::{PoolSettings, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sqlite:…` or `postgres:`/`postgresql:…`; anything else is [`StoreError::UnsupportedUrl`].
    pub fn of(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// A bounded pool on `url` (waiting at most `acquire_timeout` for a connection), migrated.
    pub async fn open(self, url: &str, settings: &PoolSettings) -> StoreResult<AnyPool> {
        sqlx::any::install_default_drivers();
        let options = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout);
        match self {
            Self::Sqlite => {
                let file = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
                let path = file.get_filename();
                // Create the file when missing, unless the URL says otherwise (`mode=ro`, `mode=memory`): for its
                // owner only, in a folder for its owner only (0600, 0700), as SQLite's `-wal` and `-shm` files then
                // are too; then sqlx's `mode=rwc` opens it.
                let creates = !url.contains("mode=") || url.contains("mode=rwc");
                if creates && path.as_os_str() != ":memory:" {
                    crate::vault::create_private_file(path).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                }
                let url = if url.contains("mode=") { url.to_owned() } else { format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' }) };
                let pool = options
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never wait for the writer. secure_delete: freed space is overwritten with
                            // zeros, so a deleted connection's sealed secrets do not linger in free pages (SECURITY.md).
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA secure_delete = ON",
                                "PRAGMA busy_timeout = 5000",
                            ] {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                Ok(pool)
            }
            Self::Postgres => {
                let pool = options.connect(url).await?;
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                Ok(pool)
            }
        }
    }

    /// The database's clock in unix milliseconds: leases are judged by one clock, whatever the nodes' clocks say.
    pub fn now_ms(self) -> &'static str {
        match self {
            Self::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
            Self::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// Appended to a `SELECT … LIMIT n` that picks rows to lease: PostgreSQL skips rows another node is leasing
    /// right now instead of waiting for them. SQLite has one writer at a time, so nothing to add.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Makes the rest of `tx` exclusive per `key`: a PostgreSQL advisory lock held until the transaction ends.
    /// SQLite transactions already run one writer at a time.
    pub async fn serialize_on(self, tx: &mut AnyConnection, key: &str) -> StoreResult<()> {
        if self == Self::Postgres {
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS l")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// After a delete or a rewrap: SQLite folds and truncates its write-ahead log, where overwritten ciphertext
    /// would otherwise stay until the next checkpoint. PostgreSQL's old row versions are vacuumed by autovacuum
    /// (SECURITY.md, "Deletion and revocation").
    pub async fn forget_overwritten(self, pool: &AnyPool) -> StoreResult<()> {
        if self == Self::Sqlite {
            // A reader in the middle of a transaction can keep part of the log busy: that part is folded in later.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
        }
        Ok(())
    }
}
