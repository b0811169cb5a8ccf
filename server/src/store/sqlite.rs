//! SQLite implementation of [`Store`]: one file, WAL journal, migrations from `migrations/sqlite`.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Row, SqlitePool,
};

use super::{KeyGrant, Project, Session, Store, StoreError, StoreResult};
use crate::keys::Environment;

pub struct SqliteStore {
    pool: SqlitePool,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn environment(s: &str) -> StoreResult<Environment> {
    Environment::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown environment {s:?}")))
}

impl SqliteStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_project(&self, project: &Project) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_secret_key(&self, project_id: &str, env: Environment, digest: &str, hint: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO secret_keys (key_hash, project_id, environment, hint, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(digest)
        .bind(project_id)
        .bind(env.as_str())
        .bind(hint)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_active_keys(&self, project_id: &str) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM secret_keys WHERE project_id = $1 AND revoked_at IS NULL")
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(n as u64)
    }

    async fn find_key(&self, digest: &str) -> StoreResult<Option<KeyGrant>> {
        let row = sqlx::query(
            "SELECT p.id, p.name, k.environment, k.key_hash FROM secret_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // The index lookup already matched; comparing again in constant time costs nothing and keeps the
        // equality check itself free of timing differences whatever the database does.
        let stored: String = row.get("key_hash");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), digest.as_bytes())) {
            return Ok(None);
        }
        Ok(Some(KeyGrant {
            project: Project { id: row.get("id"), name: row.get("name") },
            environment: environment(row.get("environment"))?,
        }))
    }

    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        let allowed = s
            .allowed_integrations
            .as_ref()
            .map(|list| serde_json::to_string(list).unwrap_or_else(|_| "[]".into()));
        sqlx::query(
            "INSERT INTO sessions (token_hash, project_id, environment, identity, identity_type,
                                   allowed_integrations, name, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.token_hash)
        .bind(&s.project_id)
        .bind(s.environment.as_str())
        .bind(&s.identity)
        .bind(s.identity_type.as_str())
        .bind(allowed)
        .bind(&s.name)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let identity_type: String = row.get("identity_type");
        let allowed: Option<String> = row.get("allowed_integrations");
        Ok(Some(Session {
            token_hash: row.get("token_hash"),
            project_id: row.get("project_id"),
            environment: environment(row.get("environment"))?,
            identity: row.get("identity"),
            identity_type: plugboard_shared::IdentityType::parse(&identity_type)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown identity type {identity_type:?}")))?,
            allowed_integrations: allowed
                .map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()?,
            name: row.get("name"),
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
        }))
    }

    async fn purge_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
