//! The storage seam: everything that must survive a restart goes through [`Store`]. SQLite implements it now;
//! PostgreSQL implements the same trait for multi-node deployments (SPEC §8).

mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
pub use sqlite::SqliteStore;

use crate::keys::Environment;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite://…)")]
    UnsupportedUrl,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
}

/// What an authenticated secret key grants: a project in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub project: Project,
    pub environment: Environment,
}

/// A widget session as stored (the token itself is only kept as a digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: plugboard_shared::IdentityType,
    pub allowed_integrations: Option<Vec<String>>,
    pub name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the project, or renames it when it exists.
    async fn upsert_project(&self, project: &Project) -> StoreResult<()>;
    /// Registers a secret key digest for a project; a no-op when that digest is already registered to it.
    async fn add_secret_key(&self, project_id: &str, env: Environment, digest: &str, hint: &str) -> StoreResult<()>;
    async fn count_active_keys(&self, project_id: &str) -> StoreResult<u64>;
    /// The project and environment a key digest grants, if the key is active.
    async fn find_key(&self, digest: &str) -> StoreResult<Option<KeyGrant>>;
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    /// Removes sessions that expired before `now`; answers how many.
    async fn purge_expired_sessions(&self, now: i64) -> StoreResult<u64>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the database named by `url`, creating it when missing, and runs migrations.
pub async fn connect(url: &str) -> StoreResult<DynStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
