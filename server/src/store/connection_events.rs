//! What operators read about connections (docs/operators.md, Connections): the search across projects, and each
//! connection's health timeline — the append-only `connection_events` (written inside the transaction of the change
//! each records) and the webhook deliveries about it from the outbox.

use sqlx::{any::AnyRow, AnyConnection, Row};

use plugboard_shared::ConnectionState;

use super::{connections::connection_row, outbox::outbox_row, ConnectionRow, OutboxRow, Store, StoreError, StoreResult};
use crate::keys::Environment;

/// How long a connection event is kept (the purge removes older ones).
pub const EVENT_KEEP_SECS: i64 = 90 * 86_400;

/// What happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    /// Connected again in place (`reconnect`): fresh credentials, same key.
    Reconnected,
    /// New tokens from the provider.
    Refreshed,
    /// A refresh the provider refused or could not answer; the detail holds its reason.
    RefreshFailed,
    /// The state became `degraded` (refreshes are being retried).
    Degraded,
    /// The state became `failed` (the end user must reconnect).
    Failed,
    Deleted,
    /// The provider confirmed the grant's revocation after a delete.
    Revoked,
    /// A webhook delivery about the connection (merged from the outbox when read, never stored here).
    Webhook,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Reconnected => "reconnected",
            Self::Refreshed => "refreshed",
            Self::RefreshFailed => "refresh_failed",
            Self::Degraded => "degraded",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
            Self::Revoked => "revoked",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Reconnected,
            Self::Refreshed,
            Self::RefreshFailed,
            Self::Degraded,
            Self::Failed,
            Self::Deleted,
            Self::Revoked,
            Self::Webhook,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The event of a connection entering `state`, if that state has one.
    pub fn entering(state: ConnectionState) -> Option<Self> {
        match state {
            ConnectionState::Degraded => Some(Self::Degraded),
            ConnectionState::Failed => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One stored event of a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionEventRow {
    /// Unix milliseconds.
    pub at: i64,
    pub kind: EventKind,
    /// JSON object; never a secret (a failure's `reason` and `code` come from the provider's error answer).
    pub detail: serde_json::Value,
}

/// What the operator search filters on; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ConnectionSearch {
    pub project_id: Option<String>,
    pub environment: Option<Environment>,
    pub identity: Option<String>,
    pub platform: Option<String>,
    pub state: Option<ConnectionState>,
    /// Matched case-insensitively, as a substring, against the end user's name and username (or email) and the
    /// account the connection signs in as.
    pub text: Option<String>,
    /// Unix milliseconds: created at or after / strictly before.
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
}

/// A `LIKE` pattern matching `text` anywhere, its own `%`, `_` and `\` taken literally (with `ESCAPE '\'`).
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Appends an event of connection `id` (of `project_id`) inside the caller's transaction.
pub(super) async fn record(tx: &mut AnyConnection, id: &str, project_id: &str, at: i64, kind: EventKind, detail: serde_json::Value) -> StoreResult<()> {
    sqlx::query("INSERT INTO connection_events (connection_id, project_id, at, kind, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(project_id)
        .bind(at)
        .bind(kind.as_str())
        .bind(super::diagnostic(&detail.to_string()))
        .execute(tx)
        .await?;
    Ok(())
}

/// [`record`] for connection `id` whose project is read in the same statement.
pub(super) async fn record_for(tx: &mut AnyConnection, id: &str, at: i64, kind: EventKind, detail: serde_json::Value) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO connection_events (connection_id, project_id, at, kind, detail)
         SELECT id, project_id, $2, $3, $4 FROM connections WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(kind.as_str())
    .bind(super::diagnostic(&detail.to_string()))
    .execute(tx)
    .await?;
    Ok(())
}

fn event_row(row: &AnyRow) -> StoreResult<ConnectionEventRow> {
    let kind: String = row.get("kind");
    let detail: String = row.get("detail");
    Ok(ConnectionEventRow {
        at: row.get("at"),
        kind: EventKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown connection event {kind:?}")))?,
        detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

impl Store {
    /// Appends an event of the connection with `key`; `false` when there is no such connection (a voided
    /// sign-in's revocation is labelled with no key).
    pub async fn record_event_by_key(&self, key: &str, at: i64, kind: EventKind, detail: serde_json::Value) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO connection_events (connection_id, project_id, at, kind, detail)
             SELECT id, project_id, $1, $2, $3 FROM connections WHERE key = $4",
        )
        .bind(at)
        .bind(kind.as_str())
        .bind(super::diagnostic(&detail.to_string()))
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The latest `limit` events of connection `id`, oldest first.
    pub async fn connection_events(&self, id: &str, limit: u64) -> StoreResult<Vec<ConnectionEventRow>> {
        let rows = sqlx::query("SELECT at, kind, detail FROM connection_events WHERE connection_id = $1 ORDER BY at DESC, id DESC LIMIT $2")
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut events = rows.iter().map(event_row).collect::<StoreResult<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }

    /// The latest `limit` webhook events about connection `id` with how their delivery went, oldest first.
    pub async fn connection_deliveries(&self, id: &str, limit: u64) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query("SELECT * FROM webhook_outbox WHERE connection_id = $1 ORDER BY created_at DESC, id LIMIT $2")
            .bind(id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut out = rows.iter().map(outbox_row).collect::<StoreResult<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Live (not deleted) connections of every project matching `f`, newest first: one page and the total.
    pub async fn search_connections(&self, f: &ConnectionSearch, offset: u64, limit: u64) -> StoreResult<(Vec<ConnectionRow>, u64)> {
        // NULL parameters match everything, so one statement serves every combination of filters.
        const WHERE: &str = "WHERE deleted_at IS NULL AND ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR environment = $2)
             AND ($3 IS NULL OR identity = $3) AND ($4 IS NULL OR platform = $4) AND ($5 IS NULL OR state = $5)
             AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7)
             AND ($8 IS NULL OR LOWER(COALESCE(end_user_name, '')) LIKE LOWER($8) ESCAPE '\\'
                  OR LOWER(COALESCE(end_user_username, '')) LIKE LOWER($8) ESCAPE '\\'
                  OR LOWER(COALESCE(account, '')) LIKE LOWER($8) ESCAPE '\\')";
        let pattern = f.text.as_deref().map(contains_pattern);
        let count_sql = format!("SELECT COUNT(*) AS n FROM connections {WHERE}");
        let total: i64 = bind_search(sqlx::query(&count_sql), f, &pattern).fetch_one(&self.pool).await?.get("n");
        let page_sql = format!("SELECT * FROM connections {WHERE} ORDER BY created_at DESC, id LIMIT $9 OFFSET $10");
        let rows = bind_search(sqlx::query(&page_sql), f, &pattern).bind(limit as i64).bind(offset as i64).fetch_all(&self.pool).await?;
        Ok((rows.iter().map(connection_row).collect::<StoreResult<_>>()?, total as u64))
    }
}

/// Binds the search's eight parameters, in order.
fn bind_search<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    f: &ConnectionSearch,
    pattern: &Option<String>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(f.project_id.clone())
        .bind(f.environment.map(|e| e.as_str()))
        .bind(f.identity.clone())
        .bind(f.platform.clone())
        .bind(f.state.map(|s| s.as_str()))
        .bind(f.created_after)
        .bind(f.created_before)
        .bind(pattern.clone())
}

/// Removes the connection events older than [`EVENT_KEEP_SECS`] at `now` (unix seconds), inside the purge's
/// transaction.
pub(super) async fn purge(tx: &mut AnyConnection, now: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM connection_events WHERE at < $1").bind((now - EVENT_KEEP_SECS) * 1000).execute(tx).await?.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_take_wildcards_literally_and_ignore_case() {
        assert_eq!(contains_pattern("Ada"), "%ada%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn kinds_round_trip() {
        for k in ["created", "reconnected", "refreshed", "refresh_failed", "degraded", "failed", "deleted", "revoked", "webhook"] {
            assert_eq!(EventKind::parse(k).map(EventKind::as_str), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
