//! Connections as stored: saved (with the link, flow and event that go with them, in one transaction), read,
//! listed and deleted.

use std::collections::BTreeMap;

use sqlx::{any::AnyRow, Row};

use plugboard_shared::{ConnectionState, IdentityType};

use super::{
    connection_events::{self, EventKind},
    config, config_json, environment, identity_type, outbox::{queue_event, OutboxEvent}, owner_lock,
    revocations::{queue_revocation, RevocationRow}, sealed::sealed, Store, StoreError, StoreResult,
};
use crate::{clock::now, keys::Environment, vault::Sealed};

/// A connection as stored: the record's fields plus its sealed credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRow {
    pub id: String,
    pub key: String,
    pub project_id: String,
    pub environment: Environment,
    pub platform: String,
    pub identity: String,
    pub identity_type: IdentityType,
    pub name: String,
    pub state: ConnectionState,
    /// Non-secret fields (e.g. `subdomain`).
    pub config: BTreeMap<String, String>,
    pub sealed: Sealed,
    pub is_oauth: bool,
    pub version: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted: bool,
    /// Bumped by the store whenever the sealed secrets change (a refresher compares it to know whether another
    /// process already refreshed).
    pub secret_version: i64,
    /// When the access token expires (unix seconds), in the clear so the refresher can find what is due.
    pub token_expires_at: Option<i64>,
    /// When to refresh it ahead of expiry (unix seconds); `None` when the expiry is unknown.
    pub token_refresh_at: Option<i64>,
    /// Until when 401s are passed through without a refresh (unix seconds; see `refresh::HOLD_401_SECS`).
    pub hold_401_until: Option<i64>,
    /// The secrets hold a refresh token.
    pub refreshable: bool,
    /// Transient refresh failures in a row, and when the next attempt may run (unix seconds).
    pub refresh_failures: i64,
    pub next_refresh_at: Option<i64>,
    /// Who the connection signs in as, for people to read (see `connect::account`); never a secret.
    pub account: Option<String>,
    /// Every place the grant reaches, by config key, where the integration lists them (see `Metadata::choices`).
    pub choices: plugboard_shared::Granted,
    /// The end user's name and username (or email) as the auth link or hosted session it was connected through
    /// named them (StackOne's `origin_owner_name`, `origin_username`); `None` for the embedded widget's. Written by
    /// [`Store::save_connection`] from the link itself, never from this field.
    pub end_user_name: Option<String>,
    pub end_user_username: Option<String>,
}

/// What `GET /v1/vault/connections` filters on; the project and environment come from the secret key.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub project_id: String,
    pub environment: Option<Environment>,
    pub identity: Option<String>,
    pub identity_type: Option<IdentityType>,
    pub platform: Option<String>,
}

pub(super) fn connection_row(row: &AnyRow) -> StoreResult<ConnectionRow> {
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
fn choices_json(c: &plugboard_shared::Granted) -> Option<String> {
    (!c.is_empty()).then(|| serde_json::to_string(c).unwrap_or_else(|_| "{}".into()))
}

impl Store {
    /// Inserts (or, with `update`, replaces the secrets, name and state of) a connection and, in the same
    /// transaction, marks `flow_id` connected to it, queues `event` (when the project has a webhook) and spends the
    /// link with digest `link_hash` — only if it is unused, unrevoked and unexpired, else nothing is saved
    /// ([`StoreError::LinkSpent`]), and the end user's name and username the link holds are written to the
    /// connection. A new connection is inserted only while its end user (project, environment,
    /// identity type, identity) has fewer than `max_live` live ones, else nothing is saved
    /// ([`StoreError::TooManyConnections`]); count and insert cannot interleave with another save for that user.
    /// The timeline's `created` or `reconnected` event is recorded in the same transaction.
    pub async fn save_connection(
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
        let kind = if update { EventKind::Reconnected } else { EventKind::Created };
        connection_events::record(&mut tx, &c.id, &c.project_id, c.updated_at, kind, serde_json::json!({ "throughLink": link_hash.is_some() })).await?;
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

    pub async fn get_connection(&self, key: &str) -> StoreResult<Option<ConnectionRow>> {
        let row = sqlx::query("SELECT * FROM connections WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(connection_row).transpose()
    }

    pub async fn count_connections(&self, project_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Live (not deleted) connections matching `filter`, newest first: one page and the total.
    pub async fn list_connections(&self, f: &ConnectionFilter, offset: u64, limit: u64) -> StoreResult<(Vec<ConnectionRow>, u64)> {
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

    /// Marks a live connection deleted, overwriting its sealed secrets, and queues `event` (and the grant's
    /// `revocation`) and records the `deleted` event of its timeline, in one transaction; `false` when it was
    /// already gone.
    pub async fn delete_connection(&self, id: &str, now_ms: i64, event: Option<&OutboxEvent>, revocation: Option<&RevocationRow>) -> StoreResult<bool> {
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
        let detail = serde_json::json!({ "revocationQueued": revocation.is_some() });
        connection_events::record_for(&mut tx, id, now_ms, EventKind::Deleted, detail).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// What the operator search filters on; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ConnectionSearch {
    pub project_id: Option<String>,
    pub environment: Option<Environment>,
    pub identity: Option<String>,
    pub platform: Option<String>,
    pub state: Option<ConnectionState>,
    /// Matched case-insensitively, as a substring, against the end user's name and username (or email) and the
    /// account the connection signs in as.
    pub text: Option<String>,
    /// Unix milliseconds: created at or after / strictly before.
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
}

/// A `LIKE` pattern matching `text` anywhere, its own `%`, `_` and `\` taken literally (with `ESCAPE '\'`).
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Live (not deleted) connections of every project matching `f`, newest first: one page and the total.
    pub async fn search_connections(&self, f: &ConnectionSearch, offset: u64, limit: u64) -> StoreResult<(Vec<ConnectionRow>, u64)> {
        // NULL parameters match everything, so one statement serves every combination of filters.
        const WHERE: &str = "WHERE deleted_at IS NULL AND ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR environment = $2)
             AND ($3 IS NULL OR identity = $3) AND ($4 IS NULL OR platform = $4) AND ($5 IS NULL OR state = $5)
             AND ($6 IS NULL OR created_at >= $6) AND ($7 IS NULL OR created_at < $7)
             AND ($8 IS NULL OR LOWER(COALESCE(end_user_name, '')) LIKE LOWER($8) ESCAPE '\\'
                  OR LOWER(COALESCE(end_user_username, '')) LIKE LOWER($8) ESCAPE '\\'
                  OR LOWER(COALESCE(account, '')) LIKE LOWER($8) ESCAPE '\\')";
        let pattern = f.text.as_deref().map(contains_pattern);
        let count_sql = format!("SELECT COUNT(*) AS n FROM connections {WHERE}");
        let total: i64 = bind_search(sqlx::query(&count_sql), f, &pattern).fetch_one(&self.pool).await?.get("n");
        let page_sql = format!("SELECT * FROM connections {WHERE} ORDER BY created_at DESC, id LIMIT $9 OFFSET $10");
        let rows = bind_search(sqlx::query(&page_sql), f, &pattern).bind(limit as i64).bind(offset as i64).fetch_all(&self.pool).await?;
        Ok((rows.iter().map(connection_row).collect::<StoreResult<_>>()?, total as u64))
    }
}

/// Binds the search's eight parameters, in order.
fn bind_search<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    f: &ConnectionSearch,
    pattern: &Option<String>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(f.project_id.clone())
        .bind(f.environment.map(|e| e.as_str()))
        .bind(f.identity.clone())
        .bind(f.platform.clone())
        .bind(f.state.map(|s| s.as_str()))
        .bind(f.created_after)
        .bind(f.created_before)
        .bind(pattern.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_take_wildcards_literally_and_ignore_case() {
        assert_eq!(contains_pattern("Ada"), "%ada%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
