//! Operator alerts: each project's alert destination (its URL sealed) and thresholds, when each alert last went
//! out, and the counts the alerts are computed from.

use sqlx::Row;

use super::{sealed::sealed, Store, StoreResult};
use crate::vault::Sealed;

/// A project's alert destination and thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertConfigRow {
    pub project_id: String,
    /// `json` or `slack`.
    pub format: String,
    /// `scheme://host` of the URL, to show; the URL itself is sealed.
    pub url_hint: String,
    pub sealed: Sealed,
    pub refresh_failure_percent: i64,
    pub min_refreshes: i64,
    pub connect_errors: i64,
    pub window_secs: i64,
}

fn config(r: &sqlx::any::AnyRow) -> AlertConfigRow {
    AlertConfigRow {
        project_id: r.get("project_id"),
        format: r.get("format"),
        url_hint: r.get("url_hint"),
        sealed: sealed(r),
        refresh_failure_percent: r.get("refresh_failure_percent"),
        min_refreshes: r.get("min_refreshes"),
        connect_errors: r.get("connect_errors"),
        window_secs: r.get("window_secs"),
    }
}

impl Store {
    /// Sets (or replaces) the project's alert destination and thresholds.
    pub async fn set_alert_config(&self, c: &AlertConfigRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO project_alerts (project_id, format, url_hint, secret_key_id, secret_nonce, secret_ciphertext,
                 refresh_failure_percent, min_refreshes, connect_errors, window_secs, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (project_id) DO UPDATE SET format = excluded.format, url_hint = excluded.url_hint,
                 secret_key_id = excluded.secret_key_id, secret_nonce = excluded.secret_nonce,
                 secret_ciphertext = excluded.secret_ciphertext, refresh_failure_percent = excluded.refresh_failure_percent,
                 min_refreshes = excluded.min_refreshes, connect_errors = excluded.connect_errors, window_secs = excluded.window_secs",
        )
        .bind(&c.project_id)
        .bind(&c.format)
        .bind(&c.url_hint)
        .bind(&c.sealed.key_id)
        .bind(&c.sealed.nonce)
        .bind(&c.sealed.ciphertext)
        .bind(c.refresh_failure_percent)
        .bind(c.min_refreshes)
        .bind(c.connect_errors)
        .bind(c.window_secs)
        .bind(crate::clock::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn alert_config(&self, project_id: &str) -> StoreResult<Option<AlertConfigRow>> {
        let row = sqlx::query("SELECT * FROM project_alerts WHERE project_id = $1").bind(project_id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(config))
    }

    /// Every project's alert configuration.
    pub async fn alert_configs(&self) -> StoreResult<Vec<AlertConfigRow>> {
        let rows = sqlx::query("SELECT * FROM project_alerts ORDER BY project_id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(config).collect())
    }

    /// Removes the project's alert destination; answers whether it had one.
    pub async fn delete_alert_config(&self, project_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM project_alerts WHERE project_id = $1").bind(project_id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims the right to send alert `kind` about `subject` now (unix seconds): true for exactly one caller over
    /// every node when it was not sent within `cooldown_secs`.
    pub async fn claim_alert(&self, project_id: &str, kind: &str, subject: &str, now: i64, cooldown_secs: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO alert_state (project_id, kind, subject, last_sent_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, kind, subject) DO UPDATE SET last_sent_at = excluded.last_sent_at
             WHERE alert_state.last_sent_at <= $5",
        )
        .bind(project_id)
        .bind(kind)
        .bind(subject)
        .bind(now)
        .bind(now - cooldown_secs)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Webhook deliveries of the project given up (failed for good) whose last attempt was at `since_ms` or later.
    pub async fn given_up_deliveries_since(&self, project_id: &str, since_ms: i64) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_outbox o WHERE o.project_id = $1 AND o.status = 'failed'
               AND (SELECT MAX(a.at) FROM delivery_attempts a WHERE a.event_id = o.id) >= $2",
        )
            .bind(project_id)
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}

impl Store {
    /// Per integration of the project: refreshes that failed and refreshes in all since `since_ms` (unix
    /// milliseconds), from the connections' health timelines. Integrations without a refresh are left out.
    pub async fn refresh_outcomes_since(&self, project_id: &str, since_ms: i64) -> StoreResult<Vec<(String, u64, u64)>> {
        let rows = sqlx::query(
            "SELECT c.platform, SUM(CASE WHEN e.kind = 'refresh_failed' THEN 1 ELSE 0 END) AS failed, COUNT(*) AS total
             FROM connection_events e JOIN connections c ON c.id = e.connection_id
             WHERE e.project_id = $1 AND e.at >= $2 AND e.kind IN ('refreshed', 'refresh_failed')
             GROUP BY c.platform ORDER BY c.platform",
        )
        .bind(project_id)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("platform"), r.get::<i64, _>("failed") as u64, r.get::<i64, _>("total") as u64)).collect())
    }

    /// Connect errors end users met since `since` (unix seconds), counted by the hour: the hour `since` falls in
    /// counts whole.
    pub async fn connect_errors_since(&self, project_id: &str, since: i64) -> StoreResult<u64> {
        self.connect_errors_since_hour(project_id, since.div_euclid(3600)).await
    }
}
