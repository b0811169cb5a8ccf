//! Operator accounts, their browser sessions, API tokens and setup links (digests and Argon2id hashes only), and
//! the append-only audit trail.

use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::{
    clock::now,
    operators::{Role, TokenScope},
};

/// An operator account as stored (the password hash included: never leaves the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub sso_subject: Option<String>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub failed_sign_ins: i64,
    pub locked_until: Option<i64>,
}

/// An API token as listed (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorTokenRow {
    pub id: String,
    pub operator_id: String,
    pub name: String,
    pub scope: TokenScope,
    /// The token's last four characters.
    pub hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A live browser session: whose, and the digest of its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSessionRow {
    pub operator: OperatorRow,
    pub csrf_hash: String,
    pub expires_at: i64,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Its place in the trail (ascending).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// An operator's email, `cli` or `config file`; for a failed sign-in, the email that was tried.
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// What was done, `noun.verb` (`operator.sign_in`, `settings.update`, `connection.delete`, …).
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// What it was done to (an operator's email, a connection key, an integration), when not the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `ok`, or `refused` (a failed sign-in, a change refused for lack of rights).
    pub outcome: String,
    /// What changed, secrets redacted (`"clientSecret": "[redacted]"`).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An entry to append: [`AuditEntry`] without its id.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    pub actor: String,
    pub operator_id: Option<String>,
    pub client_ip: Option<String>,
    pub action: String,
    pub project_id: Option<String>,
    pub target: Option<String>,
    pub refused: bool,
    pub details: serde_json::Value,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries after this id (the next page of an export), ascending.
    pub after_id: Option<i64>,
    pub project_id: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u64,
}

fn operator(r: &sqlx::any::AnyRow) -> StoreResult<OperatorRow> {
    let role: String = r.get("role");
    Ok(OperatorRow {
        id: r.get("id"),
        email: r.get("email"),
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        password_hash: r.get("password_hash"),
        sso_subject: r.get("sso_subject"),
        created_at: r.get("created_at"),
        disabled_at: r.get("disabled_at"),
        failed_sign_ins: r.get("failed_sign_ins"),
        locked_until: r.get("locked_until"),
    })
}

fn token(r: &sqlx::any::AnyRow) -> StoreResult<OperatorTokenRow> {
    let scope: String = r.get("scope");
    Ok(OperatorTokenRow {
        id: r.get("id"),
        operator_id: r.get("operator_id"),
        name: r.get("name"),
        scope: TokenScope::parse(&scope).ok_or_else(|| StoreError::Corrupt(format!("unknown token scope {scope:?}")))?,
        hint: r.get("hint"),
        created_at: r.get("created_at"),
        last_used_at: r.get("last_used_at"),
        revoked_at: r.get("revoked_at"),
    })
}

const OPERATOR_COLUMNS: &str = "id, email, role, password_hash, sso_subject, created_at, disabled_at, failed_sign_ins, locked_until";

impl Store {
    /// Adds an operator; [`StoreError::is_conflict`] when the email (or the SSO subject) is taken.
    pub async fn insert_operator(&self, row: &OperatorRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operators (id, email, role, password_hash, sso_subject, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.email)
        .bind(row.role.as_str())
        .bind(&row.password_hash)
        .bind(&row.sso_subject)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn operator_by_email(&self, email: &str) -> StoreResult<Option<OperatorRow>> {
        let row = sqlx::query(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(operator).transpose()
    }

    pub async fn operator_by_id(&self, id: &str) -> StoreResult<Option<OperatorRow>> {
        let row = sqlx::query(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(operator).transpose()
    }

    pub async fn operator_by_sso_subject(&self, subject: &str) -> StoreResult<Option<OperatorRow>> {
        let row = sqlx::query(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE sso_subject = $1"))
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(operator).transpose()
    }

    pub async fn list_operators(&self) -> StoreResult<Vec<OperatorRow>> {
        let rows = sqlx::query(&format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY email")).fetch_all(&self.pool).await?;
        rows.iter().map(operator).collect()
    }

    pub async fn count_admins(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operators WHERE role = 'admin' AND disabled_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Changes an operator's role, links their SSO subject, or disables them (each `None` keeps the stored value);
    /// disabling ends their sessions. Answers whether the operator exists.
    pub async fn update_operator(&self, id: &str, role: Option<Role>, sso_subject: Option<&str>, disabled: Option<bool>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE operators SET role = COALESCE($1, role), sso_subject = COALESCE($2, sso_subject),
             disabled_at = CASE WHEN $3 = 1 THEN COALESCE(disabled_at, $4) WHEN $3 = 0 THEN NULL ELSE disabled_at END
             WHERE id = $5",
        )
        .bind(role.map(Role::as_str))
        .bind(sso_subject)
        .bind(disabled.map(i64::from))
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if disabled == Some(true) {
            sqlx::query("DELETE FROM operator_sessions WHERE operator_id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the password hash, clears the lockout, and ends the operator's other sessions.
    pub async fn set_operator_password(&self, id: &str, hash: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE operators SET password_hash = $1, failed_sign_ins = 0, locked_until = NULL WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM operator_sessions WHERE operator_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts a failed password sign-in; once `max_failures` follow each other, locks password sign-in until
    /// `locked_until`. Answers the count.
    pub async fn record_failed_sign_in(&self, id: &str, max_failures: i64, locked_until: i64) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "UPDATE operators SET failed_sign_ins = failed_sign_ins + 1,
             locked_until = CASE WHEN failed_sign_ins + 1 >= $1 THEN $2 ELSE locked_until END
             WHERE id = $3 RETURNING failed_sign_ins",
        )
        .bind(max_failures)
        .bind(locked_until)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    pub async fn clear_failed_sign_ins(&self, id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE operators SET failed_sign_ins = 0, locked_until = NULL WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn insert_operator_session(&self, token_hash: &str, operator_id: &str, csrf_hash: &str, expires_at: i64, client_ip: Option<&str>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operator_sessions (token_hash, operator_id, csrf_hash, created_at, expires_at, client_ip) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(operator_id)
        .bind(csrf_hash)
        .bind(now())
        .bind(expires_at)
        .bind(client_ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired session with this digest, of an operator who is not disabled.
    pub async fn operator_session(&self, token_hash: &str) -> StoreResult<Option<OperatorSessionRow>> {
        let columns = OPERATOR_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(&format!(
            "SELECT {columns}, s.csrf_hash, s.expires_at AS session_expires_at FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND o.disabled_at IS NULL"
        ))
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(OperatorSessionRow { operator: operator(&r)?, csrf_hash: r.get("csrf_hash"), expires_at: r.get("session_expires_at") })).transpose()
    }

    pub async fn delete_operator_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM operator_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn insert_operator_token(&self, row: &OperatorTokenRow, token_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO operator_tokens (id, token_hash, operator_id, name, scope, hint, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(token_hash)
        .bind(&row.operator_id)
        .bind(&row.name)
        .bind(row.scope.as_str())
        .bind(&row.hint)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unrevoked token with this digest and its operator (not disabled); marks it used.
    pub async fn use_operator_token(&self, token_hash: &str) -> StoreResult<Option<(OperatorTokenRow, OperatorRow)>> {
        let columns = OPERATOR_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ");
        let row = sqlx::query(&format!(
            "SELECT {columns}, t.id AS token_id, t.operator_id, t.name, t.scope, t.hint, t.created_at AS token_created_at, t.last_used_at, t.revoked_at
             FROM operator_tokens t JOIN operators o ON o.id = t.operator_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND o.disabled_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let scope: String = r.get("scope");
        let t = OperatorTokenRow {
            id: r.get("token_id"),
            operator_id: r.get("operator_id"),
            name: r.get("name"),
            scope: TokenScope::parse(&scope).ok_or_else(|| StoreError::Corrupt(format!("unknown token scope {scope:?}")))?,
            hint: r.get("hint"),
            created_at: r.get("token_created_at"),
            last_used_at: r.get("last_used_at"),
            revoked_at: r.get("revoked_at"),
        };
        // At most once a minute per token: a busy automation does not write on every call.
        sqlx::query("UPDATE operator_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
            .bind(now())
            .bind(&t.id)
            .bind(now() - 60)
            .execute(&self.pool)
            .await?;
        Ok(Some((t, operator(&r)?)))
    }

    /// API tokens, of one operator or (`None`) of all.
    pub async fn list_operator_tokens(&self, operator_id: Option<&str>) -> StoreResult<Vec<OperatorTokenRow>> {
        let rows = sqlx::query(
            "SELECT id, operator_id, name, scope, hint, created_at, last_used_at, revoked_at FROM operator_tokens
             WHERE ($1 IS NULL OR operator_id = $1) ORDER BY created_at, id",
        )
        .bind(operator_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token).collect()
    }

    /// Revokes the token `id` (of `operator_id` when given); answers whether one was revoked now.
    pub async fn revoke_operator_token(&self, id: &str, operator_id: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE operator_tokens SET revoked_at = $1 WHERE id = $2 AND ($3 IS NULL OR operator_id = $3) AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .bind(operator_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_setup_link(&self, token_hash: &str, operator_id: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO operator_setup_links (token_hash, operator_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(operator_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Spends the unexpired, unused setup link with this digest: answers its operator, once.
    pub async fn use_setup_link(&self, token_hash: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "UPDATE operator_setup_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING operator_id",
        )
        .bind(now())
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Appends to the audit trail.
    pub async fn append_audit(&self, e: &NewAudit) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, operator_id, client_ip, action, project_id, target, outcome, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(now())
        .bind(&e.actor)
        .bind(&e.operator_id)
        .bind(&e.client_ip)
        .bind(&e.action)
        .bind(&e.project_id)
        .bind(&e.target)
        .bind(if e.refused { "refused" } else { "ok" })
        .bind(if e.details.is_null() { "{}".to_owned() } else { e.details.to_string() })
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Audit entries matching `f`, oldest first, at most `f.limit`.
    pub async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, operator_id, client_ip, action, project_id, target, outcome, details FROM audit_log
             WHERE id > $1 AND ($2 IS NULL OR project_id = $2) AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR actor = $4)
               AND at >= $5 AND at <= $6
             ORDER BY id LIMIT $7",
        )
        .bind(f.after_id.unwrap_or(0))
        .bind(&f.project_id)
        .bind(&f.action)
        .bind(&f.actor)
        .bind(f.since.unwrap_or(0))
        .bind(f.until.unwrap_or(i64::MAX))
        .bind(f.limit.min(i64::MAX as u64) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.get("details");
                Ok(AuditEntry {
                    id: r.get("id"),
                    at: r.get("at"),
                    actor: r.get("actor"),
                    operator_id: r.get("operator_id"),
                    client_ip: r.get("client_ip"),
                    action: r.get("action"),
                    project_id: r.get("project_id"),
                    target: r.get("target"),
                    outcome: r.get("outcome"),
                    details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }
}
