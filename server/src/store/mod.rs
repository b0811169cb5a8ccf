//! The storage seam: everything that must survive a restart goes through [`Store`]. One implementation
//! ([`SqlStore`]) serves SQLite (one node) and PostgreSQL (any number of nodes, README: Running more than one node); the few differences
//! between them are in [`dialect`].

pub mod dialect;
mod sql;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
pub use sql::SqlStore;

use std::collections::BTreeMap;

use plugboard_shared::{ConnectionRecord, ConnectionSettings, ConnectionState, FlowStatus, IdentityType, Throughput};

use crate::{catalog::stable_id, keys::Environment, vault::Sealed};

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
    /// The OAuth app's settings (see [`crate::config::OAuthClient::settings`]); stored as a JSON object, none
    /// as NULL.
    pub settings: std::collections::BTreeMap<String, String>,
    /// Scopes by nested token name (see [`crate::config::OAuthClient::token_scopes`]); a JSON object, none as NULL.
    pub token_scopes: std::collections::BTreeMap<String, Vec<String>>,
    pub sealed: Sealed,
}

/// What an authenticated secret key grants: a project in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub project: Project,
    pub environment: Environment,
}

pub use crate::session::Session;

/// An auth link or a hosted connection session (README, Without an embed), by the digest of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    pub token_hash: String,
    pub kind: LinkKind,
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: plugboard_shared::IdentityType,
    pub end_user_name: Option<String>,
    pub end_user_username: Option<String>,
    pub categories: Option<Vec<String>>,
    pub integration: Option<String>,
    pub reconnect_key: Option<String>,
    pub connection_name: Option<String>,
    pub redirect_url: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub connection_key: Option<String>,
    pub revoked_at: Option<i64>,
}

/// StackOne's auth link (a page, days long) or One Runtime's hosted session (a popup, minutes long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Link,
    Hosted,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Hosted => "hosted",
        }
    }
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
    /// Bumped by the store whenever the sealed secrets change (a refresher compares it to know whether another
    /// process already refreshed).
    pub secret_version: i64,
    /// When the access token expires (unix seconds), in the clear so the refresher can find what is due.
    pub token_expires_at: Option<i64>,
    /// When to refresh it ahead of expiry (unix seconds); `None` when the expiry is unknown.
    pub token_refresh_at: Option<i64>,
    /// Until when 401s are passed through without a refresh (unix seconds; see `refresh::HOLD_401_SECS`).
    pub hold_401_until: Option<i64>,
    /// The secrets hold a refresh token.
    pub refreshable: bool,
    /// Transient refresh failures in a row, and when the next attempt may run (unix seconds).
    pub refresh_failures: i64,
    pub next_refresh_at: Option<i64>,
    /// Who the connection signs in as, for people to read (see `connect::account`); never a secret.
    pub account: Option<String>,
    /// Every place the grant reaches, by config key, where the integration lists them (see `Metadata::choices`).
    pub choices: crate::connect::metadata::Granted,
    /// The end user's name and username (or email) as the auth link or hosted session it was connected through
    /// named them (StackOne's `origin_owner_name`, `origin_username`); `None` for the embedded widget's. Written by
    /// [`Store::save_connection`] from the link itself, never from this field.
    pub end_user_name: Option<String>,
    pub end_user_username: Option<String>,
}

impl ConnectionRow {
    /// The connection record (README, Embedding) of a stored row: the seed's fields, never a secret.
    pub fn record(&self) -> ConnectionRecord {
        ConnectionRecord {
            id: self.id.clone(),
            platform_version: "1.0.0".into(),
            connection_definition_id: stable_id(&[&self.platform]).to_string(),
            name: self.name.clone(),
            key: self.key.clone(),
            environment: self.environment.as_str().into(),
            platform: self.platform.clone(),
            secrets_service_id: format!("pbv_{}", self.id.replace('-', "")),
            identity: Some(self.identity.clone()),
            identity_type: Some(self.identity_type),
            settings: ConnectionSettings { parse_webhook_body: false, show_secret: false, allow_custom_events: false, oauth: self.is_oauth },
            throughput: Throughput { key: self.key.clone(), limit: 100 },
            created_at: self.created_at,
            updated_at: self.updated_at,
            updated: self.version > 1,
            version: format!("{}.0.0", self.version),
            last_modified_by: "plugboard".into(),
            deleted: self.deleted,
            tags: Vec::new(),
            active: !self.deleted,
            deprecated: false,
            state: self.state,
            connection_config: self.config.clone(),
            account: self.account.clone(),
            choices: self.choices.clone(),
        }
    }
}

/// How long a node may answer from memory what another node could have changed (revoked keys, deleted
/// connections, project settings).
pub const HOT_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an expired OAuth flow is kept (unix seconds): a widget may still ask how it ended.
pub const FLOW_KEEP_SECS: i64 = 86_400;
/// How long an auth link or hosted session is kept past its expiry, used or not (seconds): its page says "already
/// used" or "expired" for that day, and `connect.js` can still ask what became of a hosted session; then the row
/// goes and the page says the link is not valid.
pub const LINK_KEEP_SECS: i64 = 86_400;
/// How long a delivered webhook event is kept, for `webhook deliveries` and replays.
pub const DELIVERED_KEEP_SECS: i64 = 7 * 86_400;

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Revoked sessions past their expiry (an expired token is refused anyway).
    pub sessions: u64,
    pub flows: u64,
    pub deliveries: u64,
    /// Auth links and hosted sessions [`LINK_KEEP_SECS`] past their expiry.
    pub links: u64,
}

/// What `GET /v1/vault/connections` filters on; the project and environment come from the secret key.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub project_id: String,
    pub environment: Option<Environment>,
    pub identity: Option<String>,
    pub identity_type: Option<IdentityType>,
    pub platform: Option<String>,
}

/// How a refresh that held the lease ended.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// New tokens: stored, state operational, failures cleared.
    /// `config`: the connection's new non-secret config, when the answer changed it.
    Refreshed {
        sealed: Sealed,
        token_expires_at: Option<i64>,
        token_refresh_at: Option<i64>,
        hold_401_until: Option<i64>,
        refreshable: bool,
        config: Option<BTreeMap<String, String>>,
    },
    /// The provider refused (`Failed`) or could not be reached (`Degraded`, retried at `next_refresh_at`).
    Failed { state: ConnectionState, failures: i64, next_refresh_at: Option<i64> },
}

/// An event for the webhook outbox, written in the same transaction as the change it reports — and only when the
/// project has a webhook endpoint.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: String,
    pub project_id: String,
    pub event_type: String,
    pub body: String,
    /// Unix milliseconds, as every outbox time.
    pub created_at: i64,
    pub give_up_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// An outbox entry and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub project_id: String,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub give_up_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered { status: i64, at: i64 },
    Retry { status: Option<i64>, error: String, at: i64 },
    GiveUp { status: Option<i64>, error: String },
}

/// A project's webhook endpoint; the signing secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub url: String,
    pub sealed: Sealed,
}

/// An OAuth authorization-code flow in progress (README, Embedding: How connecting works): lives in the database so any node can finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub id: String,
    pub state_hash: String,
    pub binding_hash: Option<String>,
    /// Digest of the one-time proof the starting widget hands its popup ([`crate::connect::authorization_code`]).
    pub proof_hash: Option<String>,
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
    /// The auth link or hosted session the flow was started from.
    pub link_hash: Option<String>,
    /// Where the flow ends: the widget's popup, or the page itself (same-tab redirect).
    pub display: FlowDisplay,
    /// The host page a same-tab flow of the embedded widget returns to (its result is then parked for a claim).
    pub return_to: Option<String>,
    /// `@withone/auth`'s same-tab flow: `return_to` is the host's origin until the package names its page in
    /// `state`, which is then checked and kept in `return_to`; the result comes back in that page's query.
    pub return_in_state: bool,
    /// Digest of the parked result, until it is claimed.
    pub result_hash: Option<String>,
    pub parked_at: Option<i64>,
}

/// How an OAuth flow is shown: in the widget's popup (the callback page tells the widget and closes), or in the
/// page that started it by a same-tab redirect (the callback page is where it ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowDisplay {
    #[default]
    Popup,
    Page,
}

/// A table with a sealed column (`secret_key_id`, `secret_nonce`, `secret_ciphertext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealedTable {
    Connections,
    OAuthFlows,
    ProjectOAuthClients,
    Webhooks,
    Revocations,
}

impl SealedTable {
    pub const ALL: [Self; 5] = [Self::Connections, Self::OAuthFlows, Self::ProjectOAuthClients, Self::Webhooks, Self::Revocations];

    pub fn name(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::OAuthFlows => "oauth_flows",
            Self::ProjectOAuthClients => "project_oauth_clients",
            Self::Webhooks => "webhooks",
            Self::Revocations => "revocations",
        }
    }
}

/// One sealed value and the row it lives in: `id` is the row's id (the project id for webhooks and project
/// clients, with `platform` for the latter).
#[derive(Debug, Clone)]
pub struct SealedCell {
    pub table: SealedTable,
    pub id: String,
    pub platform: Option<String>,
    pub sealed: Sealed,
}

/// A token still to be revoked at the provider after its connection was deleted (RFC 7009).
#[derive(Debug, Clone)]
pub struct RevocationRow {
    pub id: String,
    pub project_id: String,
    pub platform: String,
    pub connection_key: String,
    pub config: BTreeMap<String, String>,
    /// `{token, hint}` sealed with the associated data `revocation:<id>`.
    pub sealed: Sealed,
    pub attempts: i64,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    pub created_at: i64,
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
    /// The platforms the project has its own OAuth client for.
    async fn project_client_platforms(&self, project_id: &str) -> StoreResult<Vec<String>>;
    /// Removes the project's own OAuth client for `platform`; answers whether there was one.
    async fn delete_project_client(&self, project_id: &str, platform: &str) -> StoreResult<bool>;
    /// The project and environment a key digest grants, if the key is active.
    async fn find_key(&self, digest: &str) -> StoreResult<Option<KeyGrant>>;
    /// Puts session `id` of `project_id` on the revocation list until `expires_at` (unix seconds), when its token
    /// dies anyway. Revoking twice is one revocation.
    async fn revoke_session(&self, id: &str, project_id: &str, expires_at: i64) -> StoreResult<()>;
    /// Whether session `id` is on the revocation list.
    async fn session_revoked(&self, id: &str) -> StoreResult<bool>;
    /// Removes what is of no more use at `now` (unix seconds): revocations of expired sessions, OAuth flows expired for
    /// [`FLOW_KEEP_SECS`], deliveries delivered [`DELIVERED_KEEP_SECS`] ago, links (used, withdrawn or not) expired
    /// for [`LINK_KEEP_SECS`]. Failed and pending deliveries stay (they can be replayed). Answers how many of each.
    async fn purge_expired(&self, now: i64) -> StoreResult<Purged>;

    /// Inserts (or, with `update`, replaces the secrets, name and state of) a connection and, in the same
    /// transaction, marks `flow_id` connected to it, queues `event` (when the project has a webhook) and spends the
    /// link with digest `link_hash` — only if it is unused, unrevoked and unexpired, else nothing is saved
    /// ([`StoreError::LinkSpent`]), and the end user's name and username the link holds are written to the
    /// connection. A new connection is inserted only while its end user (project, environment,
    /// identity type, identity) has fewer than `max_live` live ones, else nothing is saved
    /// ([`StoreError::TooManyConnections`]); count and insert cannot interleave with another save for that user.
    async fn save_connection(
        &self,
        row: &ConnectionRow,
        update: bool,
        flow_id: Option<&str>,
        event: Option<&OutboxEvent>,
        link_hash: Option<&str>,
        max_live: u32,
    ) -> StoreResult<()>;

    async fn insert_link(&self, link: &LinkRow) -> StoreResult<()>;
    async fn find_link(&self, token_hash: &str) -> StoreResult<Option<LinkRow>>;
    /// Counts one more session opened from the link, if fewer than `max` were: false (nothing counted) when `max`
    /// were already opened. One statement, so concurrent openings cannot overshoot.
    async fn count_link_session(&self, token_hash: &str, max: u32) -> StoreResult<bool>;
    /// Revokes an unused link of the project; false when there is none.
    async fn revoke_link(&self, token_hash: &str, project_id: &str, now: i64) -> StoreResult<bool>;
    async fn get_connection(&self, key: &str) -> StoreResult<Option<ConnectionRow>>;
    async fn count_connections(&self, project_id: &str) -> StoreResult<u64>;
    /// Live (not deleted) connections matching `filter`, newest first: one page and the total.
    async fn list_connections(&self, filter: &ConnectionFilter, offset: u64, limit: u64) -> StoreResult<(Vec<ConnectionRow>, u64)>;
    /// Marks a live connection deleted, overwriting its sealed secrets, and queues `event`, in one transaction;
    /// `false` when it was already gone.
    async fn delete_connection(&self, id: &str, now_ms: i64, event: Option<&OutboxEvent>, revocation: Option<&RevocationRow>) -> StoreResult<bool>;

    /// How many sealed values each table holds under each master key id (wiped values are not counted).
    async fn sealed_key_counts(&self) -> StoreResult<Vec<(SealedTable, String, u64)>>;
    /// Up to `limit` sealed values of `table` under a key id other than `key_id`.
    async fn sealed_cells_not_under(&self, table: SealedTable, key_id: &str, limit: u32) -> StoreResult<Vec<SealedCell>>;
    /// Replaces `cell`'s sealed value with `new` if it is still the one read (same nonce): false when something
    /// else (a refresh, a reconnect) rewrote it meanwhile. Nothing else in the row changes.
    async fn replace_sealed(&self, cell: &SealedCell, new: &Sealed) -> StoreResult<bool>;

    /// Makes what was overwritten or deleted unrecoverable from the files: SQLite folds its write-ahead log into the
    /// database (where `secure_delete` zeroes freed content) and truncates the log, which would otherwise keep
    /// older page images — earlier versions of sealed secrets — until some later checkpoint. Called after a delete,
    /// a finished revocation and a rewrap. Backups taken before keep what they hold.
    async fn forget_overwritten(&self) -> StoreResult<()>;

    /// Revocations whose next attempt is due at `now_ms`, oldest first.
    async fn due_revocations(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<RevocationRow>>;
    /// Takes a due revocation for this process until `until_ms` (a conditional update on its `next_attempt_at`):
    /// false when another process took it first.
    async fn claim_revocation(&self, r: &RevocationRow, until_ms: i64) -> StoreResult<bool>;
    /// Removes a revocation that is done (confirmed, or given up); secure_delete wipes its sealed token.
    async fn finish_revocation(&self, id: &str) -> StoreResult<()>;
    /// Records a failed attempt and when to try again.
    async fn retry_revocation(&self, id: &str, attempts: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()>;

    /// Takes the refresh lease of a connection for `lease_ms` if nobody holds an unexpired one. Works across
    /// processes and nodes: the database decides, with one conditional update, by its own clock.
    async fn try_lease(&self, id: &str, owner: &str, lease_ms: i64) -> StoreResult<bool>;
    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()>;
    /// Records a refresh's outcome and releases `owner`'s lease, in one transaction with `event`. New tokens are
    /// stored if the secrets are still at `seen_version` (compare-and-set: a reconnect meanwhile wins, and a lease
    /// that ran out does not lose a rotated token); a failure only if `owner` still holds the lease as well.
    /// Answers whether anything was stored.
    async fn finish_refresh(
        &self,
        id: &str,
        owner: &str,
        seen_version: i64,
        outcome: &RefreshOutcome,
        now_ms: i64,
        event: Option<&OutboxEvent>,
    ) -> StoreResult<bool>;
    /// Passes 401s through until `until` (unix seconds; `None` ends the hold) while the secrets are still at
    /// `secret_version`.
    async fn hold_401(&self, id: &str, secret_version: i64, until: Option<i64>) -> StoreResult<()>;
    /// Keys of live, refreshable, not failed connections whose refresh is due at `now` (unix seconds) and whose
    /// backoff allows a try.
    async fn due_refreshes(&self, now: i64, limit: u64) -> StoreResult<Vec<String>>;
    /// Keys of live, not failed OAuth connections that nothing can renew (no refresh token) whose access token
    /// expired by `now` (unix seconds), earliest first.
    async fn due_expiries(&self, now: i64, limit: u64) -> StoreResult<Vec<String>>;
    /// Marks the connection failed and queues `event` in the same transaction, unless it is failed or deleted
    /// already or its secrets changed since `seen_version` (a reconnect landed). Answers whether it did.
    async fn fail_connection(&self, id: &str, seen_version: i64, now_ms: i64, event: &OutboxEvent) -> StoreResult<bool>;

    async fn set_webhook(&self, project_id: &str, webhook: Option<&WebhookRow>) -> StoreResult<()>;
    async fn webhook(&self, project_id: &str) -> StoreResult<Option<WebhookRow>>;
    /// Leases up to `limit` pending deliveries due at `now_ms`, so one worker (of any node) attempts each. The lease
    /// lasts `lease_until_ms - now_ms` on the database's clock.
    async fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: u64) -> StoreResult<Vec<OutboxRow>>;
    async fn finish_delivery(&self, id: &str, outcome: &DeliveryOutcome) -> StoreResult<()>;
    /// A project's outbox, newest first, optionally only one status.
    async fn list_deliveries(&self, project_id: &str, status: Option<DeliveryStatus>, limit: u64) -> StoreResult<Vec<OutboxRow>>;
    /// Queues deliveries again: the one event `event_id`, or every failed one; answers how many.
    async fn replay_deliveries(&self, project_id: &str, event_id: Option<&str>, now_ms: i64, give_up_at: i64) -> StoreResult<u64>;

    /// Releases every refresh lease whose owner starts with `owner_prefix` (a node's id, at shutdown); answers
    /// how many.
    async fn release_leases(&self, owner_prefix: &str) -> StoreResult<u64>;
    /// Whether the database answers now (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// The pool's open and idle connections (`/metrics`).
    fn pool_usage(&self) -> (u32, u32);

    /// Inserts a flow unless its end user (project, environment, identity type, identity) already has `max_open`
    /// open ones (pending, unconsumed, unexpired at the flow's creation), whichever sessions started them; count and
    /// insert cannot interleave with another start for that user. Answers whether it was inserted.
    async fn insert_flow(&self, flow: &FlowRow, max_open: u32) -> StoreResult<bool>;
    async fn get_flow(&self, id: &str) -> StoreResult<Option<FlowRow>>;
    /// Records the popup's browser binding; only once, only while pending and unexpired.
    /// Binds a pending, unredirected flow to a browser, once; `return_page` (checked by the caller) replaces its
    /// `return_to` when given.
    async fn mark_flow_redirected(&self, id: &str, binding_hash: &str, now: i64, return_page: Option<&str>) -> StoreResult<Option<FlowRow>>;
    /// Consumes the flow whose state digest is `state_hash`, atomically: exactly one caller gets `Fresh`.
    async fn consume_flow(&self, state_hash: &str, now: i64) -> StoreResult<Consumed>;
    async fn fail_flow(&self, id: &str, error: &str) -> StoreResult<()>;
    /// Parks a flow's result: its sealed secrets now hold the provider's tokens, claimed with `result_hash`. Only
    /// while no other result is parked: a flow parks again only after its earlier result was claimed (the end
    /// user's choice among places, then the widget's claim of a same-tab result).
    async fn park_flow(&self, id: &str, sealed: &Sealed, result_hash: &str, now: i64) -> StoreResult<bool>;
    /// Takes a parked result for good if `result_hash` is its digest and it was parked at or after `parked_since`
    /// (unix seconds): exactly one caller gets the flow.
    async fn claim_parked(&self, id: &str, result_hash: &str, parked_since: i64) -> StoreResult<Option<FlowRow>>;
    /// Ends a parked flow without a connection, in one transaction: fails it with `error`, wipes its sealed
    /// secrets (the provider's tokens) and queues `revocation`. Answers whether it was still parked and pending
    /// (exactly one caller voids it).
    async fn void_parked(&self, id: &str, error: &str, revocation: Option<&RevocationRow>) -> StoreResult<bool>;
    /// Pending flows parked before `parked_before` (unix seconds) whose result nobody presented, oldest first.
    async fn unclaimed_parked(&self, parked_before: i64, limit: u32) -> StoreResult<Vec<FlowRow>>;
}

pub type DynStore = Arc<dyn Store>;

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
pub async fn connect(url: &str, pool: &PoolSettings) -> StoreResult<DynStore> {
    Ok(Arc::new(SqlStore::connect(url, pool).await?))
}
