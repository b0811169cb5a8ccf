//! OAuth authorization-code flows in progress: started under a per-user limit, bound to a browser, consumed once at
//! the callback, failed, or parked until their result is claimed or voided.

use std::collections::BTreeMap;

use sqlx::{any::AnyRow, AnyConnection, Row};

use plugboard_shared::{FlowStatus, IdentityType};

use super::{
    config, config_json, diagnostic, environment, identity_type, owner_lock,
    revocations::{queue_revocation, RevocationRow}, sealed::sealed, Store, StoreError, StoreResult,
};
use crate::{keys::Environment, vault::Sealed};

/// An OAuth authorization-code flow in progress (README, Embedding: How connecting works): lives in the database so any node can finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub id: String,
    pub state_hash: String,
    pub binding_hash: Option<String>,
    /// Digest of the one-time proof the starting widget hands its popup ([`crate::connect::authorization_code`]).
    pub proof_hash: Option<String>,
    pub session_hash: String,
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: IdentityType,
    pub platform: String,
    pub name: Option<String>,
    pub reconnect_key: Option<String>,
    pub config: BTreeMap<String, String>,
    /// [`crate::connect::FlowSecrets`], sealed.
    pub sealed: Sealed,
    pub redirect_uri: String,
    pub status: FlowStatus,
    pub error: Option<String>,
    pub connection_key: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub redirected_at: Option<i64>,
    pub consumed_at: Option<i64>,
    /// The auth link or hosted session the flow was started from.
    pub link_hash: Option<String>,
    /// Where the flow ends: the widget's popup, or the page itself (same-tab redirect).
    pub display: FlowDisplay,
    /// The host page a same-tab flow of the embedded widget returns to (its result is then parked for a claim).
    pub return_to: Option<String>,
    /// `@withone/auth`'s same-tab flow: `return_to` is the host's origin until the package names its page in
    /// `state`, which is then checked and kept in `return_to`; the result comes back in that page's query.
    pub return_in_state: bool,
    /// Digest of the parked result, until it is claimed.
    pub result_hash: Option<String>,
    pub parked_at: Option<i64>,
}

/// How an OAuth flow is shown: in the widget's popup (the callback page tells the widget and closes), or in the
/// page that started it by a same-tab redirect (the callback page is where it ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowDisplay {
    #[default]
    Popup,
    Page,
}

/// What presenting a `state` at the callback finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// First use: the flow is now consumed.
    Fresh(FlowRow),
    /// The state was presented before.
    Reused(FlowRow),
    Unknown,
}

/// How long an expired OAuth flow is kept (unix seconds): a widget may still ask how it ended.
pub const FLOW_KEEP_SECS: i64 = 86_400;

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

impl Store {
    /// Inserts a flow unless its end user (project, environment, identity type, identity) already has `max_open`
    /// open ones (pending, unconsumed, unexpired at the flow's creation), whichever sessions started them; count and
    /// insert cannot interleave with another start for that user. Answers whether it was inserted.
    pub async fn insert_flow(&self, f: &FlowRow, max_open: u32) -> StoreResult<bool> {
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

    pub async fn get_flow(&self, id: &str) -> StoreResult<Option<FlowRow>> {
        let row = sqlx::query("SELECT * FROM oauth_flows WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(flow_row).transpose()
    }

    /// Records the popup's browser binding; only once, only while pending and unexpired.
    /// Binds a pending, unredirected flow to a browser, once; `return_page` (checked by the caller) replaces its
    /// `return_to` when given.
    pub async fn mark_flow_redirected(&self, id: &str, binding_hash: &str, now: i64, return_page: Option<&str>) -> StoreResult<Option<FlowRow>> {
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

    /// Consumes the flow whose state digest is `state_hash`, atomically: exactly one caller gets `Fresh`.
    pub async fn consume_flow(&self, state_hash: &str, now: i64) -> StoreResult<Consumed> {
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

    pub async fn fail_flow(&self, id: &str, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE oauth_flows SET status = 'failed', error = $1 WHERE id = $2 AND status = 'pending'")
            .bind(diagnostic(error))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Parks a flow's result: its sealed secrets now hold the provider's tokens, claimed with `result_hash`. Only
    /// while no other result is parked: a flow parks again only after its earlier result was claimed (the end
    /// user's choice among places, then the widget's claim of a same-tab result).
    pub async fn park_flow(&self, id: &str, sealed: &Sealed, result_hash: &str, now: i64) -> StoreResult<bool> {
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

    /// Takes a parked result for good if `result_hash` is its digest and it was parked at or after `parked_since`
    /// (unix seconds): exactly one caller gets the flow.
    pub async fn claim_parked(&self, id: &str, result_hash: &str, parked_since: i64) -> StoreResult<Option<FlowRow>> {
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

    /// Ends a parked flow without a connection, in one transaction: fails it with `error`, wipes its sealed
    /// secrets (the provider's tokens) and queues `revocation`. Answers whether it was still parked and pending
    /// (exactly one caller voids it).
    pub async fn void_parked(&self, id: &str, error: &str, revocation: Option<&RevocationRow>) -> StoreResult<bool> {
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

    /// Pending flows parked before `parked_before` (unix seconds) whose result nobody presented, oldest first.
    pub async fn unclaimed_parked(&self, parked_before: i64, limit: u32) -> StoreResult<Vec<FlowRow>> {
        let rows = sqlx::query("SELECT * FROM oauth_flows WHERE status = 'pending' AND result_hash IS NOT NULL AND parked_at < $1 ORDER BY parked_at LIMIT $2")
            .bind(parked_before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(flow_row).collect()
    }
}

/// Removes the flows expired for [`FLOW_KEEP_SECS`] at `now` (unix seconds), inside the purge's transaction.
pub(super) async fn purge(tx: &mut AnyConnection, now: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM oauth_flows WHERE expires_at < $1").bind(now - FLOW_KEEP_SECS).execute(tx).await?;
    Ok(done.rows_affected())
}
