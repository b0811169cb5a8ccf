//! Renewing connections' tokens: the refresh lease (one holder across processes and nodes, judged by the
//! database's clock), which connections are due, what a refresh writes, and failing a connection nothing can renew.

use std::collections::BTreeMap;

use plugboard_shared::ConnectionState;

use super::{
    config_json,
    connection_events::{self, EventKind},
    outbox::{queue_event, OutboxEvent},
    Store, StoreResult,
};
use crate::vault::Sealed;

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
    /// `was`: the state before; `reason` (words for people) and `code` (the provider's error code, or its HTTP
    /// status) go to the connection's timeline, so they never hold a token.
    Failed { state: ConnectionState, was: ConnectionState, failures: i64, next_refresh_at: Option<i64>, reason: String, code: Option<String> },
}

/// Lets go of connection `id`'s refresh lease if `owner` still holds it.
async fn release<'e>(db: impl sqlx::Executor<'e, Database = sqlx::Any>, id: &str, owner: &str) -> StoreResult<()> {
    sqlx::query("UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
        .bind(id)
        .bind(owner)
        .execute(db)
        .await?;
    Ok(())
}

impl Store {
    /// Takes the refresh lease of a connection for `lease_ms` if nobody holds an unexpired one. Works across
    /// processes and nodes: the database decides, with one conditional update, by its own clock.
    pub async fn try_lease(&self, id: &str, owner: &str, lease_ms: i64) -> StoreResult<bool> {
        let db_now = self.dialect.now_ms();
        let done = sqlx::query(&format!(
            "UPDATE connections SET lease_owner = $1, lease_until = {db_now} + $2
             WHERE id = $3 AND (lease_until IS NULL OR lease_until < {db_now})"
        ))
        .bind(owner)
        .bind(lease_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        release(&self.pool, id, owner).await
    }

    /// Releases every refresh lease whose owner starts with `owner_prefix` (a node's id, at shutdown); answers
    /// how many.
    pub async fn release_leases(&self, owner_prefix: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE connections SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner IS NOT NULL AND substr(lease_owner, 1, length($1)) = $1",
        )
        .bind(owner_prefix)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Records a refresh's outcome and releases `owner`'s lease, in one transaction with `event`. New tokens are
    /// stored if the secrets are still at `seen_version` (compare-and-set: a reconnect meanwhile wins, and a lease
    /// that ran out does not lose a rotated token); a failure only if `owner` still holds the lease as well.
    /// Answers whether anything was stored.
    pub async fn finish_refresh(
        &self,
        id: &str,
        owner: &str,
        seen_version: i64,
        outcome: &RefreshOutcome,
        now_ms: i64,
        event: Option<&OutboxEvent>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = match outcome {
            RefreshOutcome::Refreshed { sealed, token_expires_at, token_refresh_at, hold_401_until, refreshable, config } => {
                // Compare-and-set on the secret version, not on the lease: new tokens are stored even if the lease
                // ran out meanwhile (nobody else changed the secrets), and never over a reconnect.
                sqlx::query(
                    "UPDATE connections SET secret_key_id = $1, secret_nonce = $2, secret_ciphertext = $3,
                            token_expires_at = $4, refreshable = $5, secret_version = secret_version + 1,
                            state = 'operational', refresh_failures = 0, next_refresh_at = NULL,
                            token_refresh_at = $8, hold_401_until = $10, config = COALESCE($11, config),
                            lease_owner = CASE WHEN lease_owner = $7 THEN NULL ELSE lease_owner END,
                            lease_until = CASE WHEN lease_owner = $7 THEN NULL ELSE lease_until END
                     WHERE id = $6 AND secret_version = $9 AND deleted_at IS NULL",
                )
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(token_expires_at)
                .bind(i64::from(*refreshable))
                .bind(id)
                .bind(owner)
                .bind(token_refresh_at)
                .bind(seen_version)
                .bind(hold_401_until)
                .bind(config.as_ref().map(config_json))
                .execute(&mut *tx)
                .await?
            }
            RefreshOutcome::Failed { state, failures, next_refresh_at, .. } => {
                sqlx::query(
                    "UPDATE connections SET state = $1, refresh_failures = $2, next_refresh_at = $3,
                            updated_at = CASE WHEN state = $1 THEN updated_at ELSE $4 END,
                            lease_owner = NULL, lease_until = NULL
                     WHERE id = $5 AND lease_owner = $6 AND secret_version = $7 AND deleted_at IS NULL",
                )
                .bind(state.as_str())
                .bind(failures)
                .bind(next_refresh_at)
                .bind(now_ms)
                .bind(id)
                .bind(owner)
                .bind(seen_version)
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() == 0 {
            // Nothing of ours to store; let go of the lease if it is still ours.
            release(&mut *tx, id, owner).await?;
            tx.commit().await?;
            return Ok(false);
        }
        queue_event(&mut tx, event).await?;
        match outcome {
            RefreshOutcome::Refreshed { token_expires_at, .. } => {
                let detail = serde_json::json!({ "tokenExpiresAt": token_expires_at });
                connection_events::record_for(&mut tx, id, now_ms, EventKind::Refreshed, detail).await?;
            }
            RefreshOutcome::Failed { state, was, failures, next_refresh_at, reason, code } => {
                let detail = serde_json::json!({
                    "reason": reason, "code": code, "state": state.as_str(), "failures": failures, "retryAt": next_refresh_at,
                });
                connection_events::record_for(&mut tx, id, now_ms, EventKind::RefreshFailed, detail).await?;
                if let Some(kind) = EventKind::entering(*state).filter(|_| state != was) {
                    connection_events::record_for(&mut tx, id, now_ms, kind, serde_json::json!({ "reason": reason })).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Passes 401s through until `until` (unix seconds; `None` ends the hold) while the secrets are still at
    /// `secret_version`.
    pub async fn hold_401(&self, id: &str, secret_version: i64, until: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE connections SET hold_401_until = $1 WHERE id = $2 AND secret_version = $3")
            .bind(until)
            .bind(id)
            .bind(secret_version)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keys of live, refreshable, not failed connections whose refresh is due at `now` (unix seconds) and whose
    /// backoff allows a try.
    pub async fn due_refreshes(&self, now: i64, limit: u64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key FROM connections
             WHERE refreshable = 1 AND deleted_at IS NULL AND state <> 'failed' AND token_refresh_at <= $1
               AND (next_refresh_at IS NULL OR next_refresh_at <= $1)
             ORDER BY token_refresh_at LIMIT $2",
        )
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Keys of live, not failed OAuth connections that nothing can renew (no refresh token) whose access token
    /// expired by `now` (unix seconds), earliest first.
    pub async fn due_expiries(&self, now: i64, limit: u64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key FROM connections
             WHERE refreshable = 0 AND is_oauth = 1 AND deleted_at IS NULL AND state <> 'failed' AND token_expires_at <= $1
             ORDER BY token_expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Marks the connection failed and queues `event` and its timeline's `failed` event (with `reason`) in the same
    /// transaction, unless it is failed or deleted already or its secrets changed since `seen_version` (a reconnect
    /// landed). Answers whether it did.
    pub async fn fail_connection(&self, id: &str, seen_version: i64, now_ms: i64, event: &OutboxEvent, reason: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE connections SET state = 'failed', updated_at = $1, next_refresh_at = NULL
             WHERE id = $2 AND secret_version = $3 AND deleted_at IS NULL AND state <> 'failed'",
        )
        .bind(now_ms)
        .bind(id)
        .bind(seen_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        queue_event(&mut tx, Some(event)).await?;
        connection_events::record(&mut tx, id, &event.project_id, now_ms, EventKind::Failed, serde_json::json!({ "reason": reason })).await?;
        tx.commit().await?;
        Ok(true)
    }
}
