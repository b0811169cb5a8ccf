//! The storage seam: everything that must survive a restart goes through [`Store`], one pool on SQLite (one node)
//! or PostgreSQL (any number of nodes, README: Running more than one node) and SQL the two agree on (`$n`
//! parameters, `ON CONFLICT`, `RETURNING`, conditional updates) through sqlx's `Any` driver; the few differences are
//! in [`dialect`] and the two migration folders. This file holds what every aggregate shares (the error, the pool,
//! the decoding of common columns, the purge); each aggregate's rows, their mapping and their SQL live in its own
//! file: `projects` (projects, secret keys, OAuth clients, webhook endpoints), `connections`, `connection_events`
//! (the operator search and each connection's health timeline), `refresh` (leases and renewals), `flows`, `links`,
//! `outbox`, `logs` (passthrough calls, the connect funnel, delivery attempts), `revocations`, `sessions`,
//! `operators` (operator accounts and the audit trail), `alerts` and `sealed` (every sealed value, for rekeying).

mod alerts;
mod connection_events;
mod connections;
pub mod dialect;
mod flows;
mod links;
mod logs;
mod operators;
mod outbox;
mod projects;
mod refresh;
mod revocations;
mod sealed;
mod sessions;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use sqlx::AnyPool;

use plugboard_shared::IdentityType;

use crate::keys::Environment;
use dialect::Dialect;

pub use alerts::AlertConfigRow;
pub use connection_events::{ConnectionEventRow, EventKind, EVENT_KEEP_SECS};
pub use connections::{contains_pattern, ConnectionFilter, ConnectionRow, ConnectionSearch};
pub use flows::{Consumed, FlowDisplay, FlowRow, FLOW_KEEP_SECS};
pub use links::{LinkKind, LinkRow, LINK_KEEP_SECS};
pub use logs::{AttemptRow, CallFilter, CallRecord, CallRow, FunnelCount, FunnelFilter, LogsPurged};
pub use operators::{AuditEntry, AuditFilter, NewAudit, OperatorRow, OperatorSessionRow, OperatorTokenRow};
pub use outbox::{AttemptTiming, DeliveryOutcome, DeliveryStatus, OutboxEvent, OutboxRow, DELIVERED_KEEP_SECS};
pub use projects::{KeyGrant, KeyInfo, Project, ProjectClientRow, WebhookRow};
pub use refresh::RefreshOutcome;
pub use revocations::RevocationRow;
pub use sealed::{SealedCell, SealedTable};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite://… or postgres://…)")]
    UnsupportedUrl,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The auth link was used, revoked or expired while its connection was being saved (nothing was saved).
    #[error("this link was already used or is no longer valid")]
    LinkSpent,
    /// The end user already has `max` live connections: a new one was not saved (a reconnect would have been).
    #[error("You already have {max} connections, the most allowed here: remove one, or reconnect an existing one instead.")]
    TooManyConnections { max: u32 },
    /// The sign-in ended (voided, failed or saved) while its connection was being saved: nothing was saved.
    #[error("this sign-in ended before it could be saved")]
    FlowEnded,
}

/// A database's error code, told apart by driver: SQLite's primary result code (the low byte of an extended one),
/// or PostgreSQL's five-character SQLSTATE. (Told apart because both are digits: `22021` read as an SQLite code
/// would be `SQLITE_BUSY`.)
enum DbCode {
    Sqlite(i32),
    Sqlstate(String),
}

impl StoreError {
    fn db_code(&self) -> Option<DbCode> {
        let Self::Database(sqlx::Error::Database(e)) = self else { return None };
        let code = e.code()?;
        if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
            code.parse::<i32>().ok().map(|n| DbCode::Sqlite(n & 0xff))
        } else {
            Some(DbCode::Sqlstate(code.into_owned()))
        }
    }

    /// Whether the database is unreachable or too busy right now (locked past the busy timeout, pool exhausted,
    /// connection lost) rather than refusing this request: worth a 503 and a retry, not a 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            // A broken wire answers nonsense (`Protocol`: e.g. a connection cut during PostgreSQL's SSLRequest).
            Self::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed,
            ) => true,
            // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with or without an extended code; PostgreSQL: class 08
            // (connection exception), 57P01-03 (shutdown), 53300 (too many connections), and what a new
            // connection meets when the database or the role was switched off meanwhile: 28000/28P01 (login
            // refused), 3D000 (no such database), 55000 (the database does not allow connections).
            _ => match self.db_code() {
                Some(DbCode::Sqlite(n)) => matches!(n, 5 | 6),
                Some(DbCode::Sqlstate(c)) => {
                    c.starts_with("08") || matches!(c.as_str(), "57P01" | "57P02" | "57P03" | "53300" | "28000" | "28P01" | "3D000" | "55000")
                }
                None => false,
            },
        }
    }

    /// Whether the database refused a value this request carried — PostgreSQL's SQLSTATE class 22 (data exception:
    /// 22021 a NUL or invalid byte in text, 22P05 an untranslatable character, 22003 a number out of range, …),
    /// SQLite's `SQLITE_TOOBIG` (18) and `SQLITE_MISMATCH` (20). Sending it again cannot work: a 400, never a 503.
    /// (The edge refuses such values first, `http::input`; this is what a value it let through meets.)
    pub fn is_bad_value(&self) -> bool {
        match self.db_code() {
            Some(DbCode::Sqlite(n)) => matches!(n, 18 | 20),
            Some(DbCode::Sqlstate(c)) => c.starts_with("22"),
            None => false,
        }
    }

    /// Whether the request conflicts with what is stored — an integrity constraint (PostgreSQL class 23: unique,
    /// foreign key, not null, check; SQLite `SQLITE_CONSTRAINT`, 19): a 409, never a 503.
    pub fn is_conflict(&self) -> bool {
        match self.db_code() {
            Some(DbCode::Sqlite(n)) => n == 19,
            Some(DbCode::Sqlstate(c)) => c.starts_with("23"),
            None => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a node may answer from memory what another node could have changed (revoked keys, deleted
/// connections, project settings).
pub const HOT_TTL: Duration = Duration::from_secs(2);

/// The store: a pool on SQLite (`sqlite://…`) or PostgreSQL (`postgres://…`) and that database's dialect. Its
/// methods are written by aggregate, one `impl Store` block in each of this folder's files.
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

/// The store as the application shares it between its tasks.
pub type SharedStore = Arc<Store>;

/// The connection pool's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// At most this many connections to the database.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails (then 503 `database_unavailable`).
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 8, acquire_timeout: Duration::from_secs(5) }
    }
}

/// Opens the database named by `url` (`sqlite://…`, created when missing, or `postgres://…`) and runs its
/// migrations.
pub async fn connect(url: &str, pool: &PoolSettings) -> StoreResult<SharedStore> {
    let dialect = Dialect::of(url)?;
    let pool = dialect.open(url, pool).await?;
    Ok(Arc::new(Store { pool, dialect }))
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Revoked sessions past their expiry (an expired token is refused anyway).
    pub sessions: u64,
    pub flows: u64,
    pub deliveries: u64,
    /// Auth links and hosted sessions [`LINK_KEEP_SECS`] past their expiry.
    pub links: u64,
    /// Connection events older than [`EVENT_KEEP_SECS`].
    pub connection_events: u64,
    /// Passthrough calls, funnel counts and delivery attempts older than the log retention.
    pub logs: LogsPurged,
}

impl Store {
    /// Removes what is of no more use at `now` (unix seconds): revocations of expired sessions, OAuth flows expired for
    /// [`FLOW_KEEP_SECS`], deliveries delivered [`DELIVERED_KEEP_SECS`] ago, links (used, withdrawn or not) expired
    /// for [`LINK_KEEP_SECS`], connection events older than [`EVENT_KEEP_SECS`], and passthrough calls, funnel counts
    /// and delivery attempts older than `log_retention_days`. Failed and pending deliveries stay (they can be
    /// replayed). Answers how many of each.
    pub async fn purge_expired(&self, now: i64, log_retention_days: u32) -> StoreResult<Purged> {
        let mut tx = self.pool.begin().await?;
        let sessions = sessions::purge(&mut tx, now).await?;
        let flows = flows::purge(&mut tx, now).await?;
        let deliveries = outbox::purge(&mut tx, now).await?;
        let links = links::purge(&mut tx, now).await?;
        let connection_events = connection_events::purge(&mut tx, now).await?;
        let logs = logs::purge(&mut tx, now, log_retention_days).await?;
        tx.commit().await?;
        Ok(Purged { sessions, flows, deliveries, links, connection_events, logs })
    }

    /// Whether the database answers now (`/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The pool's open and idle connections (`/metrics`).
    pub fn pool_usage(&self) -> (u32, u32) {
        (self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX))
    }
}

// Columns that several aggregates share (environment, identity type, non-secret config), decoded and encoded once.

fn environment(s: &str) -> StoreResult<Environment> {
    Environment::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown environment {s:?}")))
}

fn identity_type(s: &str) -> StoreResult<IdentityType> {
    IdentityType::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown identity type {s:?}")))
}

fn config(json: &str) -> StoreResult<BTreeMap<String, String>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn config_json(c: &BTreeMap<String, String>) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "{}".into())
}

/// A message kept for people to read (why a sign-in or a revocation failed), which may quote a provider's answer:
/// control characters become U+FFFD, so SQLite and PostgreSQL (whose text cannot hold NUL) store the same.
fn diagnostic(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' { '\u{FFFD}' } else { c }).collect()
}

/// What serializes the count-then-insert of one end user's rows of `what` (flows, connections) on PostgreSQL.
fn owner_lock(what: &str, project_id: &str, environment: Environment, identity_type: IdentityType, identity: &str) -> String {
    format!("{what}\n{project_id}\n{}\n{}\n{identity}", environment.as_str(), identity_type.as_str())
}
