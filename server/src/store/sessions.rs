//! The revocation list of widget sessions: a revoked session's id, kept until its token would have expired anyway.

use sqlx::AnyConnection;

use super::{Store, StoreResult};

impl Store {
    /// Puts session `id` of `project_id` on the revocation list until `expires_at` (unix seconds), when its token
    /// dies anyway. Revoking twice is one revocation.
    pub async fn revoke_session(&self, id: &str, project_id: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_sessions (id, project_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(project_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether session `id` is on the revocation list.
    pub async fn session_revoked(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS revoked FROM revoked_sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }
}

/// Removes the revocations of sessions expired by `now` (unix seconds), inside the purge's transaction.
pub(super) async fn purge(tx: &mut AnyConnection, now: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM revoked_sessions WHERE expires_at < $1").bind(now).execute(tx).await?.rows_affected())
}
