//! Auth links and hosted connection sessions, by the digest of their token: issued, opened, revoked, and spent by
//! the connection saved through them (see `connections`).

use sqlx::{AnyConnection, Row};

use super::{environment, identity_type, Store, StoreError, StoreResult};
use crate::keys::Environment;

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

/// How long an auth link or hosted session is kept past its expiry, used or not (seconds): its page says "already
/// used" or "expired" for that day, and `connect.js` can still ask what became of a hosted session; then the row
/// goes and the page says the link is not valid.
pub const LINK_KEEP_SECS: i64 = 86_400;

impl Store {
    pub async fn insert_link(&self, l: &LinkRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO connect_links (token_hash, kind, project_id, environment, identity, identity_type, end_user_name,
                    end_user_username, categories, integration, reconnect_key, connection_name, redirect_url, created_at,
                    expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&l.token_hash)
        .bind(l.kind.as_str())
        .bind(&l.project_id)
        .bind(l.environment.as_str())
        .bind(&l.identity)
        .bind(l.identity_type.as_str())
        .bind(&l.end_user_name)
        .bind(&l.end_user_username)
        .bind(l.categories.as_ref().map(|c| serde_json::to_string(c).unwrap_or_else(|_| "[]".into())))
        .bind(&l.integration)
        .bind(&l.reconnect_key)
        .bind(&l.connection_name)
        .bind(&l.redirect_url)
        .bind(l.created_at)
        .bind(l.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_link(&self, token_hash: &str) -> StoreResult<Option<LinkRow>> {
        let row = sqlx::query("SELECT * FROM connect_links WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let categories: Option<String> = row.get("categories");
        Ok(Some(LinkRow {
            token_hash: row.get("token_hash"),
            kind: if row.get::<String, _>("kind") == "hosted" { LinkKind::Hosted } else { LinkKind::Link },
            project_id: row.get("project_id"),
            environment: environment(row.get("environment"))?,
            identity: row.get("identity"),
            identity_type: identity_type(row.get("identity_type"))?,
            end_user_name: row.get("end_user_name"),
            end_user_username: row.get("end_user_username"),
            categories: categories.map(|c| serde_json::from_str(&c).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()?,
            integration: row.get("integration"),
            reconnect_key: row.get("reconnect_key"),
            connection_name: row.get("connection_name"),
            redirect_url: row.get("redirect_url"),
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
            used_at: row.get("used_at"),
            connection_key: row.get("connection_key"),
            revoked_at: row.get("revoked_at"),
        }))
    }

    /// Counts one more session opened from the link, if fewer than `max` were: false (nothing counted) when `max`
    /// were already opened. One statement, so concurrent openings cannot overshoot.
    pub async fn count_link_session(&self, token_hash: &str, max: u32) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE connect_links SET sessions_opened = sessions_opened + 1 WHERE token_hash = $1 AND sessions_opened < $2")
            .bind(token_hash)
            .bind(i64::from(max))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes an unused link of the project; false when there is none.
    pub async fn revoke_link(&self, token_hash: &str, project_id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE connect_links SET revoked_at = $1 WHERE token_hash = $2 AND project_id = $3 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .bind(project_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Removes the links expired for [`LINK_KEEP_SECS`] at `now` (unix seconds), inside the purge's transaction.
pub(super) async fn purge(tx: &mut AnyConnection, now: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM connect_links WHERE expires_at < $1").bind(now - LINK_KEEP_SECS).execute(tx).await?;
    Ok(done.rows_affected())
}
