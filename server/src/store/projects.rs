//! Projects and what belongs to each: its secret keys (digests only), its settings, its own OAuth clients and its
//! webhook endpoint.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{environment, sealed::sealed, Store, StoreError, StoreResult};
use crate::{clock::now, keys::Environment, vault::Sealed};

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
    pub settings: BTreeMap<String, String>,
    /// Scopes by nested token name (see [`crate::config::OAuthClient::token_scopes`]); a JSON object, none as NULL.
    pub token_scopes: BTreeMap<String, Vec<String>>,
    pub sealed: Sealed,
}

/// What an authenticated secret key grants: a project in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub project: Project,
    pub environment: Environment,
}

/// A project's webhook endpoint; the signing secret sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub url: String,
    pub sealed: Sealed,
}

/// `environment` as stored: `test`, `live`, or `both` for `None`.
fn client_environment(environment: Option<Environment>) -> &'static str {
    environment.map_or("both", Environment::as_str)
}

fn stored_client_environment(s: &str) -> StoreResult<Option<Environment>> {
    match s {
        "both" => Ok(None),
        other => environment(other).map(Some),
    }
}

fn client_row(r: &sqlx::any::AnyRow) -> StoreResult<ProjectClientRow> {
    let json = |column: &str| -> Option<String> { r.get(column) };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    Ok(ProjectClientRow {
        client_id: r.get("client_id"),
        scopes: json("scopes").map(|j| serde_json::from_str(&j).map_err(corrupt)).transpose()?,
        settings: json("settings").map(|j| serde_json::from_str(&j).map_err(corrupt)).transpose()?.unwrap_or_default(),
        token_scopes: json("token_scopes").map(|j| serde_json::from_str(&j).map_err(corrupt)).transpose()?.unwrap_or_default(),
        sealed: sealed(r),
    })
}

impl Store {
    /// Creates the project, or renames it when it exists.
    pub async fn upsert_project(&self, project: &Project) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates the project unless one with its id exists; answers whether it was created.
    pub async fn insert_project(&self, project: &Project) -> StoreResult<bool> {
        let done = sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(&project.id)
            .bind(&project.name)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Registers a secret key digest for a project; a no-op when that digest is already registered to it.
    pub async fn add_secret_key(&self, project_id: &str, env: Environment, digest: &str, hint: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO secret_keys (key_hash, project_id, environment, hint, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(digest)
        .bind(project_id)
        .bind(env.as_str())
        .bind(hint)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn count_active_keys(&self, project_id: &str) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM secret_keys WHERE project_id = $1 AND revoked_at IS NULL")
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(n as u64)
    }

    pub async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        let rows = sqlx::query("SELECT id, name FROM projects ORDER BY id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| Project { id: r.get("id"), name: r.get("name") }).collect())
    }

    pub async fn list_keys(&self, project_id: &str) -> StoreResult<Vec<KeyInfo>> {
        let rows = sqlx::query("SELECT hint, environment, created_at, revoked_at FROM secret_keys WHERE project_id = $1 ORDER BY created_at")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    hint: r.get("hint"),
                    environment: environment(r.get("environment"))?,
                    created_at: r.get("created_at"),
                    revoked: r.get::<Option<i64>, _>("revoked_at").is_some(),
                })
            })
            .collect()
    }

    /// Revokes the active keys of `project_id` whose hint starts with `hint_prefix`; answers how many.
    pub async fn revoke_keys(&self, project_id: &str, hint_prefix: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE secret_keys SET revoked_at = $1 WHERE project_id = $2 AND revoked_at IS NULL AND substr(hint, 1, length($3)) = $3",
        )
        .bind(now())
        .bind(project_id)
        .bind(hint_prefix.trim_end_matches('…'))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The project's settings JSON (`{}` when never set); `None` for an unknown project.
    pub async fn project_config(&self, project_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT config FROM projects WHERE id = $1").bind(project_id).fetch_optional(&self.pool).await?)
    }

    pub async fn set_project_config(&self, project_id: &str, json: &str) -> StoreResult<()> {
        sqlx::query("UPDATE projects SET config = $1 WHERE id = $2").bind(json).bind(project_id).execute(&self.pool).await?;
        Ok(())
    }

    /// Stores the project's own OAuth client for `platform` in `environment` (`None`: both environments),
    /// replacing the one there.
    pub async fn set_project_client(&self, project_id: &str, platform: &str, environment: Option<Environment>, c: &ProjectClientRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO project_oauth_clients (project_id, platform, environment, client_id, scopes, secret_key_id, secret_nonce, secret_ciphertext, settings, token_scopes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (project_id, platform, environment) DO UPDATE SET client_id = excluded.client_id, scopes = excluded.scopes,
                secret_key_id = excluded.secret_key_id, secret_nonce = excluded.secret_nonce,
                secret_ciphertext = excluded.secret_ciphertext, settings = excluded.settings,
                token_scopes = excluded.token_scopes",
        )
        .bind(project_id)
        .bind(platform)
        .bind(client_environment(environment))
        .bind(&c.client_id)
        .bind(c.scopes.as_ref().map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into())))
        .bind(&c.sealed.key_id)
        .bind(&c.sealed.nonce)
        .bind(&c.sealed.ciphertext)
        .bind((!c.settings.is_empty()).then(|| serde_json::to_string(&c.settings).unwrap_or_else(|_| "{}".into())))
        .bind((!c.token_scopes.is_empty()).then(|| serde_json::to_string(&c.token_scopes).unwrap_or_else(|_| "{}".into())))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The project's own OAuth client for `platform` stored for exactly `environment` (`None`: the one for both).
    pub async fn project_client(&self, project_id: &str, platform: &str, environment: Option<Environment>) -> StoreResult<Option<ProjectClientRow>> {
        let row = sqlx::query("SELECT * FROM project_oauth_clients WHERE project_id = $1 AND platform = $2 AND environment = $3")
            .bind(project_id)
            .bind(platform)
            .bind(client_environment(environment))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_row).transpose()
    }

    /// Every own OAuth client of the project: platform, environment (`None`: both) and the row, by platform.
    pub async fn project_clients(&self, project_id: &str) -> StoreResult<Vec<(String, Option<Environment>, ProjectClientRow)>> {
        let rows = sqlx::query("SELECT * FROM project_oauth_clients WHERE project_id = $1 ORDER BY platform, environment")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.get("platform"), stored_client_environment(r.get("environment"))?, client_row(r)?))).collect()
    }

    /// The platforms the project has its own OAuth client for, each with its environment (`None`: both).
    pub async fn project_client_slots(&self, project_id: &str) -> StoreResult<Vec<(String, Option<Environment>)>> {
        let rows = sqlx::query("SELECT platform, environment FROM project_oauth_clients WHERE project_id = $1 ORDER BY platform, environment")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.get("platform"), stored_client_environment(r.get("environment"))?))).collect()
    }

    /// Removes the project's own OAuth client for `platform` in exactly `environment` (`None`: the one for both);
    /// answers whether there was one.
    pub async fn delete_project_client(&self, project_id: &str, platform: &str, environment: Option<Environment>) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM project_oauth_clients WHERE project_id = $1 AND platform = $2 AND environment = $3")
            .bind(project_id)
            .bind(platform)
            .bind(client_environment(environment))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// What the config file declared of the project at the last start (JSON, see migration 0022); `None` when
    /// nothing.
    pub async fn project_managed(&self, project_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar::<_, Option<String>>("SELECT managed FROM projects WHERE id = $1").bind(project_id).fetch_optional(&self.pool).await?.flatten())
    }

    pub async fn set_project_managed(&self, project_id: &str, json: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE projects SET managed = $1 WHERE id = $2").bind(json).bind(project_id).execute(&self.pool).await?;
        Ok(())
    }

    /// Revokes the active keys of `project_id` whose hint is exactly `hint`; answers how many.
    pub async fn revoke_key_hint(&self, project_id: &str, hint: &str) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE secret_keys SET revoked_at = $1 WHERE project_id = $2 AND revoked_at IS NULL AND hint = $3")
            .bind(now())
            .bind(project_id)
            .bind(hint)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The project and environment a key digest grants, if the key is active.
    pub async fn find_key(&self, digest: &str) -> StoreResult<Option<KeyGrant>> {
        let row = sqlx::query(
            "SELECT p.id, p.name, k.environment, k.key_hash FROM secret_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // The index lookup already matched; comparing again in constant time costs nothing and keeps the
        // equality check itself free of timing differences whatever the database does.
        let stored: String = row.get("key_hash");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), digest.as_bytes())) {
            return Ok(None);
        }
        Ok(Some(KeyGrant {
            project: Project { id: row.get("id"), name: row.get("name") },
            environment: environment(row.get("environment"))?,
        }))
    }

    pub async fn set_webhook(&self, project_id: &str, webhook: Option<&WebhookRow>) -> StoreResult<()> {
        match webhook {
            None => {
                sqlx::query("DELETE FROM webhooks WHERE project_id = $1").bind(project_id).execute(&self.pool).await?;
            }
            Some(w) => {
                sqlx::query(
                    "INSERT INTO webhooks (project_id, url, secret_key_id, secret_nonce, secret_ciphertext, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (project_id) DO UPDATE SET url = excluded.url, secret_key_id = excluded.secret_key_id,
                        secret_nonce = excluded.secret_nonce, secret_ciphertext = excluded.secret_ciphertext",
                )
                .bind(project_id)
                .bind(&w.url)
                .bind(&w.sealed.key_id)
                .bind(&w.sealed.nonce)
                .bind(&w.sealed.ciphertext)
                .bind(now())
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn webhook(&self, project_id: &str) -> StoreResult<Option<WebhookRow>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE project_id = $1").bind(project_id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| WebhookRow { url: r.get("url"), sealed: sealed(&r) }))
    }
}
