//! Tokens still to be revoked at their provider (RFC 7009) after their connection was deleted or their sign-in
//! voided: queued inside the transaction that let them go, then claimed, retried and finished by the revoker.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::{config, config_json, diagnostic, environment, sealed::sealed, Store, StoreResult};
use crate::{keys::Environment, vault::Sealed};

/// A token still to be revoked at the provider after its connection was deleted (RFC 7009).
#[derive(Debug, Clone)]
pub struct RevocationRow {
    pub id: String,
    pub project_id: String,
    pub platform: String,
    pub connection_key: String,
    /// The grant's environment (its OAuth client may be the environment's own); `None` for rows queued before
    /// environments had clients of their own.
    pub environment: Option<Environment>,
    pub config: BTreeMap<String, String>,
    /// `{token, hint}` sealed with the associated data `revocation:<id>`.
    pub sealed: Sealed,
    pub attempts: i64,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    pub created_at: i64,
}

/// Queues a token for revocation at the provider, inside the caller's transaction.
pub(super) async fn queue_revocation(tx: &mut AnyConnection, r: &RevocationRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO revocations (id, project_id, platform, connection_key, config, secret_key_id, secret_nonce,
                secret_ciphertext, attempts, next_attempt_at, created_at, environment)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&r.id)
    .bind(&r.project_id)
    .bind(&r.platform)
    .bind(&r.connection_key)
    .bind(config_json(&r.config))
    .bind(&r.sealed.key_id)
    .bind(&r.sealed.nonce)
    .bind(&r.sealed.ciphertext)
    .bind(r.attempts)
    .bind(r.next_attempt_at)
    .bind(r.created_at)
    .bind(r.environment.map(Environment::as_str))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Revocations whose next attempt is due at `now_ms`, oldest first.
    pub async fn due_revocations(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<RevocationRow>> {
        let rows = sqlx::query("SELECT * FROM revocations WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2")
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(RevocationRow {
                    id: row.get("id"),
                    project_id: row.get("project_id"),
                    platform: row.get("platform"),
                    connection_key: row.get("connection_key"),
                    environment: row.get::<Option<String>, _>("environment").as_deref().map(environment).transpose()?,
                    config: config(row.get("config"))?,
                    sealed: sealed(row),
                    attempts: row.get("attempts"),
                    next_attempt_at: row.get("next_attempt_at"),
                    created_at: row.get("created_at"),
                })
            })
            .collect()
    }

    /// Takes a due revocation for this process until `until_ms` (a conditional update on its `next_attempt_at`):
    /// false when another process took it first.
    pub async fn claim_revocation(&self, r: &RevocationRow, until_ms: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE revocations SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3")
            .bind(until_ms)
            .bind(&r.id)
            .bind(r.next_attempt_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a revocation that is done (confirmed, or given up); secure_delete wipes its sealed token.
    pub async fn finish_revocation(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM revocations WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub async fn retry_revocation(&self, id: &str, attempts: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE revocations SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4")
            .bind(attempts)
            .bind(next_attempt_ms)
            .bind(diagnostic(error))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
