//! The one implementation of [`Store`], over SQL that SQLite and PostgreSQL agree on (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`, conditional updates), through sqlx's `Any` driver. What differs between the two is
//! in [`Dialect`] and the two migration folders.

use async_trait::async_trait;
use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};

use plugboard_shared::{ConnectionState, FlowStatus, IdentityType};

use super::{
    ConnectionFilter, ConnectionRow, Consumed, DeliveryOutcome, DeliveryStatus, FlowRow, KeyGrant, KeyInfo, OutboxEvent,
    FlowDisplay, LinkKind, LinkRow, OutboxRow, Project, ProjectClientRow, Purged, RefreshOutcome, RevocationRow, SealedCell,
    SealedTable, Store,
    StoreError, StoreResult, WebhookRow, DELIVERED_KEEP_SECS, FLOW_KEEP_SECS, LINK_KEEP_SECS,
};
use super::dialect::Dialect;
use crate::{clock::now, keys::Environment, vault::Sealed};

/// A store on SQLite (`sqlite://…`) or PostgreSQL (`postgres://…`).
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

fn environment(s: &str) -> StoreResult<Environment> {
    Environment::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown environment {s:?}")))
}

fn identity_type(s: &str) -> StoreResult<IdentityType> {
    IdentityType::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown identity type {s:?}")))
}

fn config(json: &str) -> StoreResult<std::collections::BTreeMap<String, String>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn config_json(c: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "{}".into())
}

/// The columns naming a row of a sealed table: its id, and (project clients only) the platform, else NULL.
fn sealed_row_id(table: SealedTable) -> (&'static str, &'static str) {
    match table {
        SealedTable::Connections | SealedTable::OAuthFlows | SealedTable::Revocations => ("id", "NULL"),
        SealedTable::Webhooks => ("project_id", "NULL"),
        SealedTable::ProjectOAuthClients => ("project_id", "platform"),
    }
}

fn sealed(row: &AnyRow) -> Sealed {
    Sealed { key_id: row.get("secret_key_id"), nonce: row.get("secret_nonce"), ciphertext: row.get("secret_ciphertext") }
}

fn connection_row(row: &AnyRow) -> StoreResult<ConnectionRow> {
    Ok(ConnectionRow {
        id: row.get("id"),
        key: row.get("key"),
        project_id: row.get("project_id"),
        environment: environment(row.get("environment"))?,
        platform: row.get("platform"),
        identity: row.get("identity"),
        identity_type: identity_type(row.get("identity_type"))?,
        name: row.get("name"),
        state: ConnectionState::parse(row.get("state")),
        config: config(row.get("config"))?,
        sealed: sealed(row),
        is_oauth: row.get::<i64, _>("is_oauth") != 0,
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        deleted: row.get::<Option<i64>, _>("deleted_at").is_some(),
        secret_version: row.get("secret_version"),
        token_expires_at: row.get("token_expires_at"),
        token_refresh_at: row.get("token_refresh_at"),
        hold_401_until: row.get("hold_401_until"),
        refreshable: row.get::<i64, _>("refreshable") != 0,
        refresh_failures: row.get("refresh_failures"),
        next_refresh_at: row.get("next_refresh_at"),
        account: row.get("account"),
        choices: match row.get::<Option<String>, _>("choices") {
            Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => Default::default(),
        },
        end_user_name: row.get("end_user_name"),
        end_user_username: row.get("end_user_username"),
    })
}

/// The JSON kept in `connections.choices`; NULL for none.
fn choices_json(c: &crate::connect::metadata::Granted) -> Option<String> {
    (!c.is_empty()).then(|| serde_json::to_string(c).unwrap_or_else(|_| "{}".into()))
}

fn outbox_row(row: &AnyRow) -> StoreResult<OutboxRow> {
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
    })
}

/// A message kept for people to read (why a sign-in or a revocation failed), which may quote a provider's answer:
/// control characters become U+FFFD, so SQLite and PostgreSQL (whose text cannot hold NUL) store the same.
fn diagnostic(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' { '\u{FFFD}' } else { c }).collect()
}

/// Queues `event` inside `tx`, only when the project has a webhook endpoint (decided in the same transaction).
async fn queue_event(tx: &mut AnyConnection, event: Option<&OutboxEvent>) -> StoreResult<()> {
    let Some(e) = event else { return Ok(()) };
    sqlx::query(
        "INSERT INTO webhook_outbox (id, project_id, event_type, body, created_at, status, next_attempt_at, give_up_at)
         SELECT $1, $2, $3, $4, $5, 'pending', $5, $6 WHERE EXISTS (SELECT 1 FROM webhooks WHERE project_id = $2)",
    )
    .bind(&e.id)
    .bind(&e.project_id)
    .bind(&e.event_type)
    .bind(&e.body)
    .bind(e.created_at)
    .bind(e.give_up_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// What serializes the count-then-insert of one end user's rows of `what` (flows, connections) on PostgreSQL.
fn owner_lock(what: &str, project_id: &str, environment: Environment, identity_type: IdentityType, identity: &str) -> String {
    format!("{what}\n{project_id}\n{}\n{}\n{identity}", environment.as_str(), identity_type.as_str())
}

fn flow_status(s: &str) -> StoreResult<FlowStatus> {
    match s {
        "pending" => Ok(FlowStatus::Pending),
        "connected" => Ok(FlowStatus::Connected),
        "failed" => Ok(FlowStatus::Failed),
        other => Err(StoreError::Corrupt(format!("unknown flow status {other:?}"))),
    }
}

fn flow_row(row: &AnyRow) -> StoreResult<FlowRow> {
    Ok(FlowRow {
        id: row.get("id"),
        state_hash: row.get("state_hash"),
        binding_hash: row.get("binding_hash"),
        proof_hash: row.get("proof_hash"),
        session_hash: row.get("session_hash"),
        project_id: row.get("project_id"),
        environment: environment(row.get("environment"))?,
        identity: row.get("identity"),
        identity_type: identity_type(row.get("identity_type"))?,
        platform: row.get("platform"),
        name: row.get("name"),
        reconnect_key: row.get("reconnect_key"),
        config: config(row.get("config"))?,
        sealed: sealed(row),
        redirect_uri: row.get("redirect_uri"),
        status: flow_status(row.get("status"))?,
        error: row.get("error"),
        connection_key: row.get("connection_key"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        redirected_at: row.get("redirected_at"),
        consumed_at: row.get("consumed_at"),
        link_hash: row.get("link_hash"),
        display: if row.get::<String, _>("display") == "page" { FlowDisplay::Page } else { FlowDisplay::Popup },
        return_to: row.get("return_to"),
        return_in_state: row.get::<Option<String>, _>("return_mode").as_deref() == Some("state"),
        result_hash: row.get("result_hash"),
        parked_at: row.get("parked_at"),
    })
}

impl SqlStore {
    /// Opens (creating when missing) the database at `url` and runs its dialect's migrations.
    pub async fn connect(url: &str, pool: &super::PoolSettings) -> StoreResult<Self> {
        let dialect = Dialect::of(url)?;
        let pool = dialect.open(url, pool).await?;
        Ok(Self { pool, dialect })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn upsert_project(&self, project: &Project) -> StoreResult<()> {
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

    async fn add_secret_key(&self, project_id: &str, env: Environment, digest: &str, hint: &str) -> StoreResult<()> {
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

    async fn count_active_keys(&self, project_id: &str) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM secret_keys WHERE project_id = $1 AND revoked_at IS NULL")
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(n as u64)
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        let rows = sqlx::query("SELECT id, name FROM projects ORDER BY id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| Project { id: r.get("id"), name: r.get("name") }).collect())
    }

    async fn list_keys(&self, project_id: &str) -> StoreResult<Vec<KeyInfo>> {
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

    async fn revoke_keys(&self, project_id: &str, hint_prefix: &str) -> StoreResult<u64> {
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

    async fn project_config(&self, project_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT config FROM projects WHERE id = $1").bind(project_id).fetch_optional(&self.pool).await?)
    }

    async fn set_project_config(&self, project_id: &str, json: &str) -> StoreResult<()> {
        sqlx::query("UPDATE projects SET config = $1 WHERE id = $2").bind(json).bind(project_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn set_project_client(&self, project_id: &str, platform: &str, c: &ProjectClientRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO project_oauth_clients (project_id, platform, client_id, scopes, secret_key_id, secret_nonce, secret_ciphertext, settings, token_scopes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (project_id, platform) DO UPDATE SET client_id = excluded.client_id, scopes = excluded.scopes,
                secret_key_id = excluded.secret_key_id, secret_nonce = excluded.secret_nonce,
                secret_ciphertext = excluded.secret_ciphertext, settings = excluded.settings,
                token_scopes = excluded.token_scopes",
        )
        .bind(project_id)
        .bind(platform)
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

    async fn project_client_platforms(&self, project_id: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT platform FROM project_oauth_clients WHERE project_id = $1 ORDER BY platform")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn delete_project_client(&self, project_id: &str, platform: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM project_oauth_clients WHERE project_id = $1 AND platform = $2")
            .bind(project_id)
            .bind(platform)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn project_client(&self, project_id: &str, platform: &str) -> StoreResult<Option<ProjectClientRow>> {
        let row = sqlx::query("SELECT * FROM project_oauth_clients WHERE project_id = $1 AND platform = $2")
            .bind(project_id)
            .bind(platform)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let scopes: Option<String> = r.get("scopes");
            let settings: Option<String> = r.get("settings");
            let token_scopes: Option<String> = r.get("token_scopes");
            Ok(ProjectClientRow {
                client_id: r.get("client_id"),
                scopes: scopes.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()?,
                settings: settings.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()?.unwrap_or_default(),
                token_scopes: token_scopes.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()?.unwrap_or_default(),
                sealed: sealed(&r),
            })
        })
        .transpose()
    }

    async fn find_key(&self, digest: &str) -> StoreResult<Option<KeyGrant>> {
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

    async fn revoke_session(&self, id: &str, project_id: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_sessions (id, project_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(project_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_revoked(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS revoked FROM revoked_sessions WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<Purged> {
        let mut tx = self.pool.begin().await?;
        let sessions = sqlx::query("DELETE FROM revoked_sessions WHERE expires_at < $1").bind(now).execute(&mut *tx).await?.rows_affected();
        let flows = sqlx::query("DELETE FROM oauth_flows WHERE expires_at < $1")
            .bind(now - FLOW_KEEP_SECS)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let deliveries = sqlx::query("DELETE FROM webhook_outbox WHERE status = 'delivered' AND delivered_at < $1")
            .bind((now - DELIVERED_KEEP_SECS) * 1000)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let links = sqlx::query("DELETE FROM connect_links WHERE expires_at < $1")
            .bind(now - LINK_KEEP_SECS)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Purged { sessions, flows, deliveries, links })
    }

    async fn save_connection(
        &self,
        c: &ConnectionRow,
        update: bool,
        flow_id: Option<&str>,
        event: Option<&OutboxEvent>,
        link_hash: Option<&str>,
        max_live: u32,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if !update {
            // Taken first, before any row lock (the link's), so two saves never wait on each other crosswise.
            self.dialect.serialize_on(&mut tx, &owner_lock("connections", &c.project_id, c.environment, c.identity_type, &c.identity)).await?;
        }
        if let Some(link) = link_hash {
            let spent = sqlx::query(
                "UPDATE connect_links SET used_at = $1, connection_key = $2
                 WHERE token_hash = $3 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(now())
            .bind(&c.key)
            .bind(link)
            .execute(&mut *tx)
            .await?;
            if spent.rows_affected() != 1 {
                return Err(StoreError::LinkSpent);
            }
        }
        if update {
            let done = sqlx::query(
                "UPDATE connections SET name = $1, state = $2, config = $3, secret_key_id = $4, secret_nonce = $5,
                        secret_ciphertext = $6, version = $7, updated_at = $8, token_expires_at = $10,
                        refreshable = $11, secret_version = secret_version + 1, refresh_failures = 0,
                        next_refresh_at = NULL, token_refresh_at = $12, hold_401_until = NULL, account = $13, choices = $14
                 WHERE id = $9 AND deleted_at IS NULL",
            )
            .bind(&c.name)
            .bind(c.state.as_str())
            .bind(config_json(&c.config))
            .bind(&c.sealed.key_id)
            .bind(&c.sealed.nonce)
            .bind(&c.sealed.ciphertext)
            .bind(c.version)
            .bind(c.updated_at)
            .bind(&c.id)
            .bind(c.token_expires_at)
            .bind(i64::from(c.refreshable))
            .bind(c.token_refresh_at)
            .bind(&c.account)
            .bind(choices_json(&c.choices))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Corrupt(format!("connection {} vanished during an update", c.key)));
            }
        } else {
            // Counted and inserted in one statement (SQLite: under its one writer; PostgreSQL: under the lock above).
            let done = sqlx::query(
                "INSERT INTO connections (id, key, project_id, environment, platform, identity, identity_type, name,
                        state, config, secret_key_id, secret_nonce, secret_ciphertext, is_oauth, version, created_at,
                        updated_at, token_expires_at, refreshable, token_refresh_at, account, choices)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $22, $23
                 WHERE (SELECT COUNT(*) FROM connections
                        WHERE project_id = $3 AND environment = $4 AND identity = $6 AND identity_type = $7
                          AND deleted_at IS NULL) < $21",
            )
            .bind(&c.id)
            .bind(&c.key)
            .bind(&c.project_id)
            .bind(c.environment.as_str())
            .bind(&c.platform)
            .bind(&c.identity)
            .bind(c.identity_type.as_str())
            .bind(&c.name)
            .bind(c.state.as_str())
            .bind(config_json(&c.config))
            .bind(&c.sealed.key_id)
            .bind(&c.sealed.nonce)
            .bind(&c.sealed.ciphertext)
            .bind(i64::from(c.is_oauth))
            .bind(c.version)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(c.token_expires_at)
            .bind(i64::from(c.refreshable))
            .bind(c.token_refresh_at)
            .bind(i64::from(max_live))
            .bind(&c.account)
            .bind(choices_json(&c.choices))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::TooManyConnections { max: max_live });
            }
        }
        if let Some(link) = link_hash {
            // Who the link names, kept with the connection (the link is purged a day after it expires); a link that
            // names nobody leaves what an earlier one wrote.
            sqlx::query(
                "UPDATE connections SET
                        end_user_name = COALESCE((SELECT end_user_name FROM connect_links WHERE token_hash = $1), end_user_name),
                        end_user_username = COALESCE((SELECT end_user_username FROM connect_links WHERE token_hash = $1), end_user_username)
                 WHERE id = $2",
            )
            .bind(link)
            .bind(&c.id)
            .execute(&mut *tx)
            .await?;
        }
        queue_event(&mut tx, event).await?;
        if let Some(flow) = flow_id {
            // Only a flow still pending: one voided meanwhile (its grant queued for revocation) saves nothing.
            let done = sqlx::query("UPDATE oauth_flows SET status = 'connected', connection_key = $1 WHERE id = $2 AND status = 'pending'")
                .bind(&c.key)
                .bind(flow)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::FlowEnded);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_connection(&self, key: &str) -> StoreResult<Option<ConnectionRow>> {
        let row = sqlx::query("SELECT * FROM connections WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(connection_row).transpose()
    }

    async fn count_connections(&self, project_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn insert_flow(&self, f: &FlowRow, max_open: u32) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The count and the insert must not interleave with another start of the same end user.
        self.dialect.serialize_on(&mut tx, &owner_lock("flows", &f.project_id, f.environment, f.identity_type, &f.identity)).await?;
        let done = sqlx::query(
            "INSERT INTO oauth_flows (id, state_hash, binding_hash, session_hash, project_id, environment, identity,
                    identity_type, platform, name, reconnect_key, config, secret_key_id, secret_nonce,
                    secret_ciphertext, redirect_uri, status, error, connection_key, created_at,
                    expires_at, redirected_at, consumed_at, proof_hash, link_hash, display, return_to, return_mode)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                    $22, $23, $24, $25, $26, $27, $29
             WHERE (SELECT COUNT(*) FROM oauth_flows
                    WHERE project_id = $5 AND environment = $6 AND identity = $7 AND identity_type = $8
                      AND status = 'pending' AND consumed_at IS NULL AND expires_at > $20) < $28",
        )
        .bind(&f.id)
        .bind(&f.state_hash)
        .bind(&f.binding_hash)
        .bind(&f.session_hash)
        .bind(&f.project_id)
        .bind(f.environment.as_str())
        .bind(&f.identity)
        .bind(f.identity_type.as_str())
        .bind(&f.platform)
        .bind(&f.name)
        .bind(&f.reconnect_key)
        .bind(config_json(&f.config))
        .bind(&f.sealed.key_id)
        .bind(&f.sealed.nonce)
        .bind(&f.sealed.ciphertext)
        .bind(&f.redirect_uri)
        .bind(match f.status {
            FlowStatus::Pending => "pending",
            FlowStatus::Connected => "connected",
            FlowStatus::Failed => "failed",
        })
        .bind(&f.error)
        .bind(&f.connection_key)
        .bind(f.created_at)
        .bind(f.expires_at)
        .bind(f.redirected_at)
        .bind(f.consumed_at)
        .bind(&f.proof_hash)
        .bind(&f.link_hash)
        .bind(match f.display {
            FlowDisplay::Popup => "popup",
            FlowDisplay::Page => "page",
        })
        .bind(&f.return_to)
        .bind(i64::from(max_open))
        .bind(f.return_in_state.then_some("state"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_flow(&self, id: &str) -> StoreResult<Option<FlowRow>> {
        let row = sqlx::query("SELECT * FROM oauth_flows WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(flow_row).transpose()
    }

    async fn park_flow(&self, id: &str, sealed: &Sealed, result_hash: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oauth_flows SET secret_key_id = $1, secret_nonce = $2, secret_ciphertext = $3, result_hash = $4, parked_at = $5
             WHERE id = $6 AND result_hash IS NULL AND status = 'pending'",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(result_hash)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_parked(&self, id: &str, result_hash: &str, parked_since: i64) -> StoreResult<Option<FlowRow>> {
        let row = sqlx::query(
            "UPDATE oauth_flows SET result_hash = NULL
             WHERE id = $1 AND result_hash = $2 AND parked_at >= $3 AND status = 'pending' RETURNING *",
        )
        .bind(id)
        .bind(result_hash)
        .bind(parked_since)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow_row).transpose()
    }

    async fn mark_flow_redirected(&self, id: &str, binding_hash: &str, now: i64, return_page: Option<&str>) -> StoreResult<Option<FlowRow>> {
        let row = sqlx::query(
            "UPDATE oauth_flows SET redirected_at = $1, binding_hash = $2, return_to = COALESCE($4, return_to)
             WHERE id = $3 AND redirected_at IS NULL AND status = 'pending' AND expires_at > $1
             RETURNING *",
        )
        .bind(now)
        .bind(binding_hash)
        .bind(id)
        .bind(return_page)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow_row).transpose()
    }

    async fn consume_flow(&self, state_hash: &str, now: i64) -> StoreResult<Consumed> {
        // Read first: a state nobody issued (a scanner, a forged link) must not cost a write.
        let known = sqlx::query("SELECT * FROM oauth_flows WHERE state_hash = $1")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(known) = known else { return Ok(Consumed::Unknown) };
        let known = flow_row(&known)?;
        if known.consumed_at.is_some() {
            return Ok(Consumed::Reused(known));
        }
        let fresh = sqlx::query(
            "UPDATE oauth_flows SET consumed_at = $1 WHERE state_hash = $2 AND consumed_at IS NULL RETURNING *",
        )
        .bind(now)
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match fresh {
            Some(row) => Consumed::Fresh(flow_row(&row)?),
            None => Consumed::Reused(known),
        })
    }

    async fn void_parked(&self, id: &str, error: &str, revocation: Option<&RevocationRow>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE oauth_flows SET status = 'failed', error = $1, result_hash = NULL,
                    secret_key_id = '', secret_nonce = $2, secret_ciphertext = $2
             WHERE id = $3 AND status = 'pending' AND parked_at IS NOT NULL",
        )
        .bind(error)
        .bind(Vec::<u8>::new())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(r) = revocation {
            queue_revocation(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn unclaimed_parked(&self, parked_before: i64, limit: u32) -> StoreResult<Vec<FlowRow>> {
        let rows = sqlx::query("SELECT * FROM oauth_flows WHERE status = 'pending' AND result_hash IS NOT NULL AND parked_at < $1 ORDER BY parked_at LIMIT $2")
            .bind(parked_before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(flow_row).collect()
    }

    async fn fail_flow(&self, id: &str, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_flows SET status = 'failed', error = $1 WHERE id = $2 AND status = 'pending'")
            .bind(diagnostic(error))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_connections(&self, f: &ConnectionFilter, offset: u64, limit: u64) -> StoreResult<(Vec<ConnectionRow>, u64)> {
        // NULL parameters match everything, so one statement serves every combination of filters.
        const WHERE: &str = "WHERE project_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR environment = $2)
             AND ($3 IS NULL OR identity = $3) AND ($4 IS NULL OR identity_type = $4) AND ($5 IS NULL OR platform = $5)";
        let env = f.environment.map(|e| e.as_str());
        let it = f.identity_type.map(|t| t.as_str());
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM connections {WHERE}"))
            .bind(&f.project_id)
            .bind(env)
            .bind(&f.identity)
            .bind(it)
            .bind(&f.platform)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!("SELECT * FROM connections {WHERE} ORDER BY created_at DESC, id LIMIT $6 OFFSET $7"))
            .bind(&f.project_id)
            .bind(env)
            .bind(&f.identity)
            .bind(it)
            .bind(&f.platform)
            .bind(limit as i64)
            .bind(offset as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows.iter().map(connection_row).collect::<StoreResult<_>>()?, total as u64))
    }

    async fn delete_connection(&self, id: &str, now_ms: i64, event: Option<&OutboxEvent>, revocation: Option<&RevocationRow>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            // The sealed secrets go in the same statement: a deleted connection keeps nothing that could be opened.
            "UPDATE connections SET deleted_at = $1, updated_at = $1, version = version + 1,
                    secret_key_id = '', secret_nonce = $3, secret_ciphertext = $3, secret_version = secret_version + 1,
                    refreshable = 0, token_expires_at = NULL, token_refresh_at = NULL, hold_401_until = NULL,
                    lease_owner = NULL, lease_until = NULL
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .bind(Vec::<u8>::new())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        queue_event(&mut tx, event).await?;
        if let Some(r) = revocation {
            queue_revocation(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_link(&self, l: &LinkRow) -> StoreResult<()> {
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

    async fn find_link(&self, token_hash: &str) -> StoreResult<Option<LinkRow>> {
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

    async fn count_link_session(&self, token_hash: &str, max: u32) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE connect_links SET sessions_opened = sessions_opened + 1 WHERE token_hash = $1 AND sessions_opened < $2")
            .bind(token_hash)
            .bind(i64::from(max))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_link(&self, token_hash: &str, project_id: &str, now: i64) -> StoreResult<bool> {
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

    async fn sealed_key_counts(&self) -> StoreResult<Vec<(SealedTable, String, u64)>> {
        let mut out = Vec::new();
        for table in SealedTable::ALL {
            let rows = sqlx::query(&format!(
                "SELECT secret_key_id, COUNT(*) AS n FROM {} WHERE secret_key_id <> '' GROUP BY secret_key_id ORDER BY secret_key_id",
                table.name()
            ))
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.iter().map(|r| (table, r.get::<String, _>("secret_key_id"), r.get::<i64, _>("n") as u64)));
        }
        Ok(out)
    }

    async fn sealed_cells_not_under(&self, table: SealedTable, key_id: &str, limit: u32) -> StoreResult<Vec<SealedCell>> {
        let (id, platform) = sealed_row_id(table);
        let rows = sqlx::query(&format!(
            "SELECT {id} AS id, {platform} AS platform, secret_key_id, secret_nonce, secret_ciphertext FROM {}
             WHERE secret_key_id <> '' AND secret_key_id <> $1 LIMIT $2",
            table.name()
        ))
        .bind(key_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| SealedCell { table, id: r.get("id"), platform: r.get("platform"), sealed: sealed(r) }).collect())
    }

    async fn replace_sealed(&self, cell: &SealedCell, new: &Sealed) -> StoreResult<bool> {
        let (id, platform) = sealed_row_id(cell.table);
        let done = sqlx::query(&format!(
            "UPDATE {} SET secret_key_id = $1, secret_nonce = $2, secret_ciphertext = $3
             WHERE {id} = $4 AND COALESCE({platform}, '') = $5 AND secret_nonce = $6",
            cell.table.name()
        ))
        .bind(&new.key_id)
        .bind(&new.nonce)
        .bind(&new.ciphertext)
        .bind(&cell.id)
        .bind(cell.platform.as_deref().unwrap_or_default())
        .bind(&cell.sealed.nonce)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_leases(&self, owner_prefix: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE connections SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner IS NOT NULL AND substr(lease_owner, 1, length($1)) = $1",
        )
        .bind(owner_prefix)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_usage(&self) -> (u32, u32) {
        (self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX))
    }

    async fn forget_overwritten(&self) -> StoreResult<()> {
        self.dialect.forget_overwritten(&self.pool).await
    }

    async fn due_revocations(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<RevocationRow>> {
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
                    config: config(row.get("config"))?,
                    sealed: sealed(row),
                    attempts: row.get("attempts"),
                    next_attempt_at: row.get("next_attempt_at"),
                    created_at: row.get("created_at"),
                })
            })
            .collect()
    }

    async fn claim_revocation(&self, r: &RevocationRow, until_ms: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE revocations SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3")
            .bind(until_ms)
            .bind(&r.id)
            .bind(r.next_attempt_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_revocation(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM revocations WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn retry_revocation(&self, id: &str, attempts: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE revocations SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4")
            .bind(attempts)
            .bind(next_attempt_ms)
            .bind(diagnostic(error))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn try_lease(&self, id: &str, owner: &str, lease_ms: i64) -> StoreResult<bool> {
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

    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn finish_refresh(
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
            RefreshOutcome::Failed { state, failures, next_refresh_at } => {
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
            sqlx::query("UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(false);
        }
        queue_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn hold_401(&self, id: &str, secret_version: i64, until: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE connections SET hold_401_until = $1 WHERE id = $2 AND secret_version = $3")
            .bind(until)
            .bind(id)
            .bind(secret_version)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_refreshes(&self, now: i64, limit: u64) -> StoreResult<Vec<String>> {
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

    async fn due_expiries(&self, now: i64, limit: u64) -> StoreResult<Vec<String>> {
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

    async fn fail_connection(&self, id: &str, seen_version: i64, now_ms: i64, event: &OutboxEvent) -> StoreResult<bool> {
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
        tx.commit().await?;
        Ok(true)
    }

    async fn set_webhook(&self, project_id: &str, webhook: Option<&WebhookRow>) -> StoreResult<()> {
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

    async fn webhook(&self, project_id: &str) -> StoreResult<Option<WebhookRow>> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE project_id = $1").bind(project_id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| WebhookRow { url: r.get("url"), sealed: sealed(&r) }))
    }

    async fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: u64) -> StoreResult<Vec<OutboxRow>> {
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

    async fn finish_delivery(&self, id: &str, outcome: &DeliveryOutcome) -> StoreResult<()> {
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
        q.bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn list_deliveries(&self, project_id: &str, status: Option<DeliveryStatus>, limit: u64) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_outbox WHERE project_id = $1 AND ($2 IS NULL OR status = $2)
             ORDER BY created_at DESC, id LIMIT $3",
        )
        .bind(project_id)
        .bind(status.map(DeliveryStatus::as_str))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn replay_deliveries(&self, project_id: &str, event_id: Option<&str>, now_ms: i64, give_up_at: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_outbox SET status = 'pending', next_attempt_at = $1, give_up_at = $2, lease_until = NULL
             WHERE project_id = $3 AND (($4 IS NULL AND status = 'failed') OR id = $4)",
        )
        .bind(now_ms)
        .bind(give_up_at)
        .bind(project_id)
        .bind(event_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Queues a token for revocation at the provider, inside the caller's transaction.
async fn queue_revocation(tx: &mut AnyConnection, r: &RevocationRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO revocations (id, project_id, platform, connection_key, config, secret_key_id, secret_nonce,
                secret_ciphertext, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
    .execute(&mut *tx)
    .await?;
    Ok(())
}
