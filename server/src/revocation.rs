//! Deleting a connection (docs/architecture.md, Deletion and provider revocation): mark it deleted, wipe its sealed secrets and queue `connection.deleted` in
//! one transaction — and, where the catalog has a revoke URL (RFC 7009), queue the token for revocation at the
//! provider in that same transaction. The queue is tried once right away and then retried with backoff by the
//! background worker of any node until the provider confirms, so an outage at the provider does not leave a live
//! grant behind (RFC 9700 §2.2.2 asks clients to revoke what they no longer need).

use std::time::Duration;

use plugboard_shared::ConnectionRecord;
use serde::{Deserialize, Serialize};

use crate::{
    connect::{ConnectError, Connections},
    oauth::token_endpoint::ClientAuth,
};
use crate::{
    clock::now_ms,
    store::{ConnectionRow, RevocationRow},
    vault::SecretString,
    webhooks::{self, EventType},
};

/// Attempts before a revocation is given up (the backoff below spreads them over about a day).
pub const MAX_ATTEMPTS: i64 = 20;
/// How long one node holds a claimed revocation before another may try it.
const CLAIM_MS: i64 = 60_000;

/// Delay before attempt `n + 1` after `n` failures: 2ⁿ seconds, at most 3 hours.
pub fn backoff(failures: i64) -> Duration {
    Duration::from_secs(1u64 << failures.clamp(0, 14)).min(Duration::from_secs(3 * 3600))
}

/// Whether the provider confirmed the revocation; deletion goes ahead either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Yes,
    /// Nothing to revoke: no revoke URL in the catalog, or no token.
    NotSupported,
    /// Not yet: queued for another attempt.
    Queued,
}

/// What a revocation keeps sealed.
#[derive(Serialize, Deserialize)]
struct Pending {
    token: SecretString,
    hint: String,
}

pub(crate) fn aad(id: &str) -> String {
    format!("revocation:{id}")
}

impl Connections {
    /// Deletes `row` (queuing its revocation at the provider where there is one), then tries the revocation once;
    /// answers the final record and how revocation went.
    pub async fn delete_connection(&self, row: ConnectionRow) -> Result<(ConnectionRecord, Revoked), ConnectError> {
        let revocation = self.revocation_for(&row).await;
        let mut gone = row.clone();
        gone.deleted = true;
        gone.version += 1;
        gone.updated_at = now_ms();
        let event = webhooks::event(EventType::Deleted, &gone, &self.webhooks);
        self.hot.invalidate(&row.key);
        if !self.store.delete_connection(&row.id, gone.updated_at, Some(&event), revocation.as_ref()).await? {
            return Err(ConnectError::NotFound("no such connection".into()));
        }
        let revoked = match revocation {
            Some(r) => self.attempt_revocation(r).await,
            None => Revoked::NotSupported,
        };
        if let Err(e) = self.store.forget_overwritten().await {
            tracing::warn!(error = %e, "could not fold the write-ahead log after a delete");
        }
        tracing::info!(key = %row.key, platform = %row.platform, ?revoked, "connection deleted");
        Ok((gone.record(), revoked))
    }

    /// The queue entry for `row`'s grant: its refresh token (revoking it ends the grant at most providers), else
    /// its access token; `None` when the integration has no revoke URL or the connection holds no token.
    async fn revocation_for(&self, row: &ConnectionRow) -> Option<RevocationRow> {
        let creds = self.vault.open_credentials(&row.sealed, &row.id).ok()?;
        self.revocation_of(&row.project_id, row.environment, &row.platform, &row.key, &row.config, creds).await
    }

    /// The queue entry for a grant of `platform` held in `creds`: its refresh token, else its access token; `None`
    /// when the integration has no revoke URL or there is no token. `label` names it in logs (a connection key).
    pub(crate) async fn revocation_of(
        &self,
        project_id: &str,
        environment: crate::keys::Environment,
        platform: &str,
        label: &str,
        config: &std::collections::BTreeMap<String, String>,
        creds: crate::vault::Credentials,
    ) -> Option<RevocationRow> {
        let view = self.projects.view(project_id, environment).await.ok()?;
        let entry = view.catalog.get(platform)?;
        let oauth = self.oauth_spec(entry).await.ok()?;
        oauth.revoke_url.as_ref()?;
        // A grant that holds only nested tokens (a Slack install with user scopes only) is revoked by one of them.
        let nested = creds.tokens.values().next().cloned();
        let (token, hint) = match (creds.refresh_token, creds.access_token, nested) {
            (Some(r), _, _) => (r, "refresh_token"),
            (None, Some(a), _) => (a, "access_token"),
            (None, None, Some(t)) => match t.refresh_token {
                Some(r) => (r, "refresh_token"),
                None => (t.access_token, "access_token"),
            },
            (None, None, None) => return None,
        };
        let id = uuid::Uuid::new_v4().to_string();
        let pending = zeroize::Zeroizing::new(serde_json::to_vec(&Pending { token, hint: hint.into() }).expect("serializable"));
        let now = now_ms();
        Some(RevocationRow {
            sealed: self.vault.seal(&pending, aad(&id).as_bytes()),
            id,
            project_id: project_id.to_owned(),
            platform: platform.to_owned(),
            connection_key: label.to_owned(),
            environment: Some(environment),
            config: config.clone(),
            attempts: 0,
            next_attempt_at: now + CLAIM_MS,
            created_at: now,
        })
    }

    /// One attempt at the provider; on success (or after [`MAX_ATTEMPTS`]) the entry is removed, else rescheduled.
    pub(crate) async fn attempt_revocation(&self, r: RevocationRow) -> Revoked {
        let outcome = self.call_revoke(&r).await;
        let attempts = r.attempts + 1;
        let result = match &outcome {
            Ok(()) => match self.store.finish_revocation(&r.id).await {
                Ok(()) => {
                    // On the connection's timeline (a voided sign-in's grant has no connection: nothing recorded).
                    let detail = serde_json::json!({ "attempts": attempts });
                    if let Err(e) = self.store.record_event_by_key(&r.connection_key, now_ms(), crate::store::EventKind::Revoked, detail).await {
                        tracing::warn!(error = %e, key = %r.connection_key, "could not record the revocation on the connection's timeline");
                    }
                    self.store.forget_overwritten().await
                }
                Err(e) => Err(e),
            },
            Err(why) if attempts >= MAX_ATTEMPTS => {
                tracing::warn!(key = %r.connection_key, platform = %r.platform, attempts, %why, "giving up revoking the token at the provider");
                self.store.finish_revocation(&r.id).await
            }
            Err(why) => {
                tracing::warn!(key = %r.connection_key, platform = %r.platform, attempts, %why, "revoking the token failed; will retry");
                let next = now_ms() + backoff(r.attempts).as_millis() as i64;
                self.store.retry_revocation(&r.id, attempts, next, why).await
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record a revocation attempt");
        }
        if outcome.is_ok() { Revoked::Yes } else { Revoked::Queued }
    }

    async fn call_revoke(&self, r: &RevocationRow) -> Result<(), String> {
        // A row queued before environments had clients of their own: its grant came from the client for both.
        let view = self.projects.view(&r.project_id, r.environment.unwrap_or(crate::keys::Environment::Live)).await.map_err(|e| e.to_string())?;
        let entry = view.catalog.get(&r.platform).ok_or("the integration is no longer in the catalog")?;
        let oauth = self.oauth_spec(entry).await.map_err(|e| e.to_string())?;
        let client = self.oauth_client(&r.project_id, r.environment, entry).await.map_err(|e| e.to_string())?;
        let url = oauth.revoke_url.as_ref().map(|u| crate::catalog::template::render_oauth(u, &oauth, &client.settings, &r.config)).ok_or("no revoke URL any more")?;
        let json = self.vault.open(&r.sealed, aad(&r.id).as_bytes()).map_err(|e| e.to_string())?;
        let pending: Pending = serde_json::from_slice(&json).map_err(|_| "unreadable revocation")?;
        let mut form = vec![("token", pending.token.expose().to_owned()), ("token_type_hint", pending.hint)];
        let auth = ClientAuth { client_id: &client.client_id, client_secret: client.client_secret.expose(), method: oauth.token_auth };
        let req = auth.apply(self.http.post(&url), &mut form);
        match req.form(&form).send().await {
            // RFC 7009 §2.2: 200 also for a token that was already invalid.
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("the provider answered {}", res.status().as_u16())),
            Err(e) => Err(format!("the provider could not be reached: {}", e.without_url())),
        }
    }

    /// Retries due revocations every `every`, across nodes (each entry is claimed before it is tried).
    pub async fn run_revoker(self: std::sync::Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for round in 0u64.. {
            tick.tick().await;
            let due = match self.store.due_revocations(now_ms(), 50).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the revocation queue");
                    continue;
                }
            };
            for r in due {
                if matches!(self.store.claim_revocation(&r, now_ms() + CLAIM_MS).await, Ok(true)) {
                    self.attempt_revocation(r).await;
                }
            }
            // Same-tab results nobody claimed: their grants are revoked like a deleted connection's (every fifth
            // round: a result waits two minutes anyway).
            if round % 5 != 0 {
                continue;
            }
            if let Err(e) = self.void_unclaimed().await {
                tracing::warn!(error = %e, "could not void unclaimed same-tab sign-ins");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(3 * 3600));
        let total: u64 = (0..MAX_ATTEMPTS).map(|n| backoff(n).as_secs()).sum();
        assert!((12 * 3600..48 * 3600).contains(&total), "attempts spread over about a day: {total} s");
    }
}
