//! What operators read about connections (docs/operators.md, Connections): the search across projects, and each
//! connection's health timeline — the append-only `connection_events` (written inside the transaction of the change
//! each records) and the webhook deliveries about it from the outbox.

use sqlx::{any::AnyRow, AnyConnection, Row};

use plugboard_shared::ConnectionState;

use super::{outbox::outbox_row, OutboxRow, Store, StoreError, StoreResult};

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
    fn kinds_round_trip() {
        for k in ["created", "reconnected", "refreshed", "refresh_failed", "degraded", "failed", "deleted", "revoked", "webhook"] {
            assert_eq!(EventKind::parse(k).map(EventKind::as_str), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
