//! The storage seam: everything that must survive a restart goes through [`Store`]. SQLite implements it now;
//! PostgreSQL implements the same trait for multi-node deployments (SPEC §8).

mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
pub use sqlite::SqliteStore;

use std::collections::BTreeMap;

use plugboard_shared::{ConnectionState, FlowStatus, IdentityType};

use crate::{keys::Environment, vault::Sealed};

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

/// A secret key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub hint: String,
    pub environment: Environment,
    pub created_at: i64,
    pub revoked: bool,
}

/// A project's own OAuth client for one integration, secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectClientRow {
    pub client_id: String,
    pub scopes: Option<Vec<String>>,
    pub sealed: Sealed,
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

/// A connection as stored: the record's fields plus its sealed credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRow {
    pub id: String,
    pub key: String,
    pub project_id: String,
    pub environment: Environment,
    pub platform: String,
    pub identity: String,
    pub identity_type: IdentityType,
    pub name: String,
    pub state: ConnectionState,
    /// Non-secret fields (e.g. `subdomain`).
    pub config: BTreeMap<String, String>,
    pub sealed: Sealed,
    pub is_oauth: bool,
    pub version: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
}

/// An OAuth authorization-code flow in progress (SPEC §3.4): lives in the database so any node can finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub id: String,
    pub state_hash: String,
    pub binding_hash: Option<String>,
    pub session_hash: String,
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: IdentityType,
    pub platform: String,
    pub name: Option<String>,
    pub reconnect_key: Option<String>,
    pub config: BTreeMap<String, String>,
    /// [`crate::connect::FlowSecrets`], sealed.
    pub sealed: Sealed,
    pub redirect_uri: String,
    pub status: FlowStatus,
    pub error: Option<String>,
    pub connection_key: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub redirected_at: Option<i64>,
    pub consumed_at: Option<i64>,
}

/// What presenting a `state` at the callback finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// First use: the flow is now consumed.
    Fresh(FlowRow),
    /// The state was presented before.
    Reused(FlowRow),
    Unknown,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the project, or renames it when it exists.
    async fn upsert_project(&self, project: &Project) -> StoreResult<()>;
    /// Registers a secret key digest for a project; a no-op when that digest is already registered to it.
    async fn add_secret_key(&self, project_id: &str, env: Environment, digest: &str, hint: &str) -> StoreResult<()>;
    async fn count_active_keys(&self, project_id: &str) -> StoreResult<u64>;
    async fn list_projects(&self) -> StoreResult<Vec<Project>>;
    async fn list_keys(&self, project_id: &str) -> StoreResult<Vec<KeyInfo>>;
    /// Revokes the active keys of `project_id` whose hint starts with `hint_prefix`; answers how many.
    async fn revoke_keys(&self, project_id: &str, hint_prefix: &str) -> StoreResult<u64>;
    /// The project's settings JSON (`{}` when never set); `None` for an unknown project.
    async fn project_config(&self, project_id: &str) -> StoreResult<Option<String>>;
    async fn set_project_config(&self, project_id: &str, json: &str) -> StoreResult<()>;
    async fn set_project_client(&self, project_id: &str, platform: &str, client: &ProjectClientRow) -> StoreResult<()>;
    async fn project_client(&self, project_id: &str, platform: &str) -> StoreResult<Option<ProjectClientRow>>;
    /// The project and environment a key digest grants, if the key is active.
    async fn find_key(&self, digest: &str) -> StoreResult<Option<KeyGrant>>;
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    /// Removes sessions that expired before `now`; answers how many.
    async fn purge_expired_sessions(&self, now: i64) -> StoreResult<u64>;

    /// Inserts (or, with `update`, replaces the secrets, name and state of) a connection and, in the same
    /// transaction, marks `flow_id` connected to it.
    async fn save_connection(&self, row: &ConnectionRow, update: bool, flow_id: Option<&str>) -> StoreResult<()>;
    async fn get_connection(&self, key: &str) -> StoreResult<Option<ConnectionRow>>;
    async fn count_connections(&self, project_id: &str) -> StoreResult<u64>;

    async fn insert_flow(&self, flow: &FlowRow) -> StoreResult<()>;
    async fn get_flow(&self, id: &str) -> StoreResult<Option<FlowRow>>;
    /// Records the popup's browser binding; only once, only while pending and unexpired.
    async fn mark_flow_redirected(&self, id: &str, binding_hash: &str, now: i64) -> StoreResult<Option<FlowRow>>;
    /// Consumes the flow whose state digest is `state_hash`, atomically: exactly one caller gets `Fresh`.
    async fn consume_flow(&self, state_hash: &str, now: i64) -> StoreResult<Consumed>;
    async fn fail_flow(&self, id: &str, error: &str) -> StoreResult<()>;
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
