//! The webhook outbox: events queued in the transaction of the change they report, leased to one delivering worker
//! at a time, retried, listed and replayed.

use sqlx::{any::AnyRow, AnyConnection, Row};

use super::{Store, StoreError, StoreResult};
use crate::keys::Environment;

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
    /// The connection the event is about (its deliveries join that connection's timeline).
    pub connection_id: Option<String>,
    /// The connection the event is about, and its environment.
    pub connection_key: String,
    pub environment: Environment,
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
    /// The connection the event is about and its environment (`None` on events queued before they were kept).
    pub connection_key: Option<String>,
    pub environment: Option<Environment>,
}

/// One delivery attempt's measure, kept beside its outcome (`delivery_attempts`).
#[derive(Debug, Clone, Copy)]
pub struct AttemptTiming {
    /// Unix milliseconds, when the attempt started.
    pub started_at: i64,
    pub latency_ms: i64,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    Delivered { status: i64, at: i64 },
    Retry { status: Option<i64>, error: String, at: i64 },
    GiveUp { status: Option<i64>, error: String },
}

/// How long a delivered webhook event is kept, for `webhook deliveries` and replays.
pub const DELIVERED_KEEP_SECS: i64 = 7 * 86_400;

pub(super) fn outbox_row(row: &AnyRow) -> StoreResult<OutboxRow> {
    let status: String = row.get("status");
    Ok(OutboxRow {
        id: row.get("id"),
        project_id: row.get("project_id"),
        event_type: row.get("event_type"),
        body: row.get("body"),
        created_at: row.get("created_at"),
        status: DeliveryStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("unknown delivery status {status:?}")))?,
        attempts: row.get("attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        give_up_at: row.get("give_up_at"),
        last_status: row.get("last_status"),
        last_error: row.get("last_error"),
        delivered_at: row.get("delivered_at"),
        connection_key: row.get("connection_key"),
        environment: row.get::<Option<String>, _>("environment").as_deref().map(super::environment).transpose()?,
    })
}

/// Queues `event` inside `tx`, only when the project has a webhook endpoint (decided in the same transaction).
pub(super) async fn queue_event(tx: &mut AnyConnection, event: Option<&OutboxEvent>) -> StoreResult<()> {
    let Some(e) = event else { return Ok(()) };
    sqlx::query(
        "INSERT INTO webhook_outbox (id, project_id, event_type, body, created_at, status, next_attempt_at, give_up_at, connection_id, connection_key, environment)
         SELECT $1, $2, $3, $4, $5, 'pending', $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM webhooks WHERE project_id = $2)",
    )
    .bind(&e.id)
    .bind(&e.project_id)
    .bind(&e.event_type)
    .bind(&e.body)
    .bind(e.created_at)
    .bind(e.give_up_at)
    .bind(&e.connection_id)
    .bind(&e.connection_key)
    .bind(e.environment.as_str())
    .execute(tx)
    .await?;
    Ok(())
}

impl Store {
    /// Leases up to `limit` pending deliveries due at `now_ms`, so one worker (of any node) attempts each. The lease
    /// lasts `lease_until_ms - now_ms` on the database's clock.
    pub async fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: u64) -> StoreResult<Vec<OutboxRow>> {
        // The outer conditions are checked again on each row as it is updated, so two nodes never both lease one.
        // The lease is judged by the database's clock (like the refresh lease): nodes whose clocks disagree still
        // never hold one delivery at once. When it is due stays the node's business.
        let (skip_locked, db_now) = (self.dialect.skip_locked(), self.dialect.now_ms());
        let rows = sqlx::query(&format!(
            "UPDATE webhook_outbox SET lease_until = {db_now} + $1
             WHERE id IN (SELECT id FROM webhook_outbox
                          WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < {db_now})
                          ORDER BY next_attempt_at LIMIT $3{skip_locked})
               AND status = 'pending' AND (lease_until IS NULL OR lease_until < {db_now})
             RETURNING *"
        ))
        .bind(lease_until_ms - now_ms)
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Records how attempt number `attempt` (1-based) of delivering event `id` went: the outbox row's last outcome
    /// and, in the same transaction, the attempt itself (`delivery_attempts`: when, status or error, latency).
    pub async fn finish_delivery(&self, id: &str, attempt: i64, timing: AttemptTiming, outcome: &DeliveryOutcome) -> StoreResult<()> {
        let q = match outcome {
            DeliveryOutcome::Delivered { status, at } => sqlx::query(
                "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, last_status = $1,
                        last_error = NULL, delivered_at = $2, lease_until = NULL WHERE id = $3",
            )
            .bind(*status)
            .bind(*at),
            DeliveryOutcome::Retry { status, error, at } => sqlx::query(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_status = $1, last_error = $2,
                        next_attempt_at = $3, lease_until = NULL WHERE id = $4",
            )
            .bind(*status)
            .bind(error)
            .bind(*at),
            DeliveryOutcome::GiveUp { status, error } => sqlx::query(
                "UPDATE webhook_outbox SET status = 'failed', attempts = attempts + 1, last_status = $1,
                        last_error = $2, lease_until = NULL WHERE id = $3",
            )
            .bind(*status)
            .bind(error),
        };
        let mut tx = self.pool.begin().await?;
        q.bind(id).execute(&mut *tx).await?;
        let (status, error) = match outcome {
            DeliveryOutcome::Delivered { status, .. } => (Some(*status), None),
            DeliveryOutcome::Retry { status, error, .. } | DeliveryOutcome::GiveUp { status, error } => (*status, Some(error.clone())),
        };
        let row = super::AttemptRow { event_id: id.to_owned(), attempt, at: timing.started_at, status, error, latency_ms: timing.latency_ms };
        super::logs::record_attempt(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A project's outbox, newest first, optionally only one status.
    pub async fn list_deliveries(&self, project_id: &str, status: Option<DeliveryStatus>, limit: u64) -> StoreResult<Vec<OutboxRow>> {
        self.list_deliveries_of(project_id, status, None, limit).await
    }

    /// [`Store::list_deliveries`], optionally only the events about connection `connection_key`.
    pub async fn list_deliveries_of(&self, project_id: &str, status: Option<DeliveryStatus>, connection_key: Option<&str>, limit: u64) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_outbox WHERE project_id = $1 AND ($2 IS NULL OR status = $2) AND ($4 IS NULL OR connection_key = $4)
             ORDER BY created_at DESC, id LIMIT $3",
        )
        .bind(project_id)
        .bind(status.map(DeliveryStatus::as_str))
        .bind(limit as i64)
        .bind(connection_key)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// One outbox event by id, if it is (still) kept.
    pub async fn delivery(&self, id: &str) -> StoreResult<Option<OutboxRow>> {
        let row = sqlx::query("SELECT * FROM webhook_outbox WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(outbox_row).transpose()
    }

    /// Queues deliveries again: the one event `event_id`, or every failed one (of `environment` only, when given;
    /// events queued before environments were kept count as live); answers how many.
    pub async fn replay_deliveries(&self, project_id: &str, event_id: Option<&str>, environment: Option<Environment>, now_ms: i64, give_up_at: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_outbox SET status = 'pending', next_attempt_at = $1, give_up_at = $2, lease_until = NULL
             WHERE project_id = $3 AND (($4 IS NULL AND status = 'failed') OR id = $4)
               AND ($5 IS NULL OR COALESCE(environment, 'live') = $5)",
        )
        .bind(now_ms)
        .bind(give_up_at)
        .bind(project_id)
        .bind(event_id)
        .bind(environment.map(Environment::as_str))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Removes the events delivered [`DELIVERED_KEEP_SECS`] before `now` (unix seconds), inside the purge's
/// transaction; failed and pending ones stay.
pub(super) async fn purge(tx: &mut AnyConnection, now: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM webhook_outbox WHERE status = 'delivered' AND delivered_at < $1")
        .bind((now - DELIVERED_KEEP_SECS) * 1000)
        .execute(tx)
        .await?
        .rows_affected())
}
