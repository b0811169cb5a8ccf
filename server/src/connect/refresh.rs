//! Keeping OAuth access tokens fresh (SPEC §3.8): before expiry by a background worker, and on demand by the
//! passthrough. Exactly one refresh per connection runs at a time across every process and node: the refresher
//! takes a lease in the database (one conditional UPDATE), re-reads the connection, and refreshes only if nobody
//! else did since the caller looked — providers rotate refresh tokens, so a second refresh would burn the
//! connection. Inside one process, callers for the same connection queue on a local lock first, so only one of
//! them polls the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use oauth2::{
    basic::{BasicClient, BasicErrorResponseType},
    ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use plugboard_shared::ConnectionState;

use super::{fields, now_ms, oauth::now, Connector};
use crate::http::HOT_TTL;
use crate::{
    store::{ConnectionRow, RefreshOutcome, StoreError},
    vault::{Credentials, SecretString, VaultError},
    webhooks::{self, EventType},
};

/// A token that expires within this is refreshed before use.
pub const EXPIRY_SKEW_SECS: i64 = 60;
/// How long a refresher may hold the lease; a crashed holder blocks others no longer than this.
const LEASE_MS: i64 = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("no such connection")]
    NotFound,
    /// The provider refused the refresh token (`invalid_grant`): the user must reconnect.
    #[error("{0}")]
    Refused(String),
    /// The provider could not be reached or failed; retried later with backoff.
    #[error("{0}")]
    Transient(String),
    #[error("another refresh of this connection is taking too long; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Whether the connection's access can be renewed without the user: it holds a refresh token, or it is a
/// client-credentials connection (a new token is one more client-credentials grant).
pub fn renewable(entry: &crate::catalog::Integration, creds: &Credentials) -> bool {
    creds.refresh_token.is_some() || entry.auth_method == plugboard_shared::AuthMethod::Oauth2ClientCredentials
}

/// A live connection and its opened credentials, shared by the passthrough calls of one node.
pub type HotEntry = Arc<(ConnectionRow, Credentials)>;

pub fn hot_cache() -> moka::sync::Cache<String, HotEntry> {
    moka::sync::Cache::builder().max_capacity(100_000).time_to_live(HOT_TTL).build()
}

/// Per-process queue of refreshers by connection key (entries vanish with their last waiter).
#[derive(Default)]
pub struct LocalLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl LocalLocks {
    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().expect("lock");
        if let Some(lock) = map.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

impl Connector {
    /// The live connection `key` with its opened credentials: from memory when read within [`HOT_TTL`], else
    /// from the database. Stale credentials are harmless: a 401 makes the caller refresh, and the refresh finds
    /// the newer version another node stored.
    pub async fn hot_entry(&self, key: &str) -> Result<HotEntry, RefreshError> {
        if let Some(entry) = self.hot.get(key) {
            return Ok(entry);
        }
        let row = self.live_connection(key).await?;
        let creds = self.vault.open_credentials(&row.sealed, &row.id)?;
        let entry = Arc::new((row, creds));
        self.hot.insert(key.to_owned(), entry.clone());
        Ok(entry)
    }

    /// `entry`, or its refreshed successor when its access token has expired or is about to.
    pub async fn ensure_fresh(&self, entry: HotEntry) -> Result<HotEntry, RefreshError> {
        let row = &entry.0;
        let expiring = row.token_expires_at.is_some_and(|t| t <= now() + EXPIRY_SKEW_SECS);
        if row.refreshable && expiring {
            return self.refresh(&row.key, row.secret_version).await;
        }
        Ok(entry)
    }

    /// Refreshes the connection unless its secrets changed since the caller saw `seen_version` (another caller,
    /// process or node refreshed meanwhile); either way answers the current credentials, and remembers them.
    pub async fn refresh(&self, key: &str, seen_version: i64) -> Result<HotEntry, RefreshError> {
        match self.refresh_or_reuse(key, seen_version).await {
            Ok((row, creds)) => {
                let entry = Arc::new((row, creds));
                self.hot.insert(key.to_owned(), entry.clone());
                Ok(entry)
            }
            Err(e) => {
                self.hot.invalidate(key);
                Err(e)
            }
        }
    }

    async fn refresh_or_reuse(&self, key: &str, seen_version: i64) -> Result<(ConnectionRow, Credentials), RefreshError> {
        let local = self.refresh_locks.get(key);
        let _queued = local.lock().await;
        let owner = format!("{}:{}", self.node_id, uuid::Uuid::new_v4().simple());
        let deadline = Instant::now() + Duration::from_millis(LEASE_MS as u64 * 2);
        loop {
            let row = self.live_connection(key).await?;
            if row.secret_version != seen_version {
                return self.opened(row);
            }
            if row.state == ConnectionState::Failed {
                return Err(RefreshError::Refused(format!("the {} connection must be reconnected: its access was revoked or expired", row.platform)));
            }
            let t = now_ms();
            if self.store.try_lease(&row.id, &owner, t, t + LEASE_MS).await? {
                // Re-read under the lease: another node may have refreshed between the read above and the lease.
                let row = self.live_connection(key).await?;
                if row.secret_version != seen_version {
                    self.store.release_lease(&row.id, &owner).await?;
                    return self.opened(row);
                }
                return self.refresh_holding_lease(row, &owner).await;
            }
            if Instant::now() > deadline {
                return Err(RefreshError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn live_connection(&self, key: &str) -> Result<ConnectionRow, RefreshError> {
        self.store.get_connection(key).await?.filter(|r| !r.deleted).ok_or(RefreshError::NotFound)
    }

    fn opened(&self, row: ConnectionRow) -> Result<(ConnectionRow, Credentials), RefreshError> {
        let creds = self.vault.open_credentials(&row.sealed, &row.id)?;
        Ok((row, creds))
    }

    async fn refresh_holding_lease(&self, row: ConnectionRow, owner: &str) -> Result<(ConnectionRow, Credentials), RefreshError> {
        let creds = match self.vault.open_credentials(&row.sealed, &row.id) {
            Ok(c) => c,
            Err(e) => {
                self.store.release_lease(&row.id, owner).await?;
                return Err(e.into());
            }
        };
        let outcome = match self.request_refresh(&row, &creds).await {
            Ok(fresh) => {
                let sealed = self.vault.seal_credentials(&fresh, &row.id);
                // Renewable before, renewable still: a provider that stops sending refresh tokens on rotation
                // keeps the old one, and client-credentials connections never had one.
                let outcome = RefreshOutcome::Refreshed { sealed, token_expires_at: fresh.expires_at, refreshable: true };
                if !self.store.finish_refresh(&row.id, owner, &outcome, now_ms(), None).await? {
                    // The lease expired mid-refresh and someone else took it: their write stands.
                    tracing::warn!(key = %row.key, "refresh lease lost before the new tokens were stored");
                }
                tracing::info!(key = %row.key, platform = %row.platform, "access token refreshed");
                return self.opened(self.live_connection(&row.key).await?);
            }
            Err(e) => e,
        };
        let (state, failures, next, event, err) = match outcome {
            RefreshError::Refused(message) => {
                let mut failed = row.clone();
                failed.state = ConnectionState::Failed;
                let event = webhooks::event(EventType::Failed, &failed, &self.webhooks);
                (ConnectionState::Failed, row.refresh_failures, None, Some(event), RefreshError::Refused(message))
            }
            other => {
                let failures = row.refresh_failures + 1;
                let delay = webhooks::backoff(&self.refresh_backoff, failures as u32);
                (ConnectionState::Degraded, failures, Some(now() + delay.as_secs() as i64), None, other)
            }
        };
        let outcome = RefreshOutcome::Failed { state, failures, next_refresh_at: next };
        self.store.finish_refresh(&row.id, owner, &outcome, now_ms(), event.as_ref()).await?;
        tracing::warn!(key = %row.key, platform = %row.platform, state = state.as_str(), error = %err, "refresh failed");
        Err(err)
    }

    /// One refresh-token grant at the provider. Keeps the old refresh token when the provider sends no new one.
    async fn request_refresh(&self, row: &ConnectionRow, creds: &Credentials) -> Result<Credentials, RefreshError> {
        let view = self.projects.view(&row.project_id).await.map_err(|e| RefreshError::Transient(e.to_string()))?;
        let entry = view.catalog.get(&row.platform).ok_or_else(|| RefreshError::Refused(format!("{} is no longer in the catalog", row.platform)))?;
        let oauth = entry.oauth.as_ref().ok_or_else(|| RefreshError::Refused(format!("{} does not use OAuth", entry.name)))?;
        if entry.auth_method == plugboard_shared::AuthMethod::Oauth2ClientCredentials {
            let mut fresh = creds.clone();
            return super::oauth::client_credentials(self, &row.project_id, entry, &row.config, &mut fresh).await.map(|()| fresh).map_err(|e| match e {
                super::ConnectError::ProviderRefused(m) => RefreshError::Refused(m),
                other => RefreshError::Transient(other.to_string()),
            });
        }
        let refresh_token = creds.refresh_token.as_ref().ok_or_else(|| RefreshError::Refused("the connection has no refresh token".into()))?;
        let client = self.oauth_client(&row.project_id, entry).await.map_err(|e| RefreshError::Transient(e.to_string()))?;
        let token_url = TokenUrl::new(fields::render(&oauth.token_url, &row.config))
            .map_err(|_| RefreshError::Refused("the token URL is not valid".into()))?;
        let basic = BasicClient::new(ClientId::new(client.client_id.clone()))
            .set_client_secret(ClientSecret::new(client.client_secret.expose().to_owned()))
            .set_token_uri(token_url)
            .set_auth_type(super::oauth::auth_type(oauth.token_auth));
        let answer = basic
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
            .request_async(&self.http)
            .await;
        match answer {
            Ok(token) => Ok(Credentials {
                access_token: Some(SecretString::new(token.access_token().secret().clone())),
                refresh_token: token.refresh_token().map(|r| SecretString::new(r.secret().clone())).or_else(|| creds.refresh_token.clone()),
                expires_at: token.expires_in().map(|d| now() + d.as_secs() as i64),
                scope: token.scopes().map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")).or_else(|| creds.scope.clone()),
                fields: creds.fields.clone(),
            }),
            Err(RequestTokenError::ServerResponse(r)) if *r.error() == BasicErrorResponseType::InvalidGrant => {
                Err(RefreshError::Refused(format!("{} refused to refresh the connection (invalid_grant): the user must reconnect", entry.name)))
            }
            Err(RequestTokenError::ServerResponse(r)) => Err(RefreshError::Transient(format!("{} refused the refresh: {}", entry.name, r.error()))),
            Err(RequestTokenError::Request(e)) => Err(RefreshError::Transient(format!("could not reach {}: {}", entry.name, e))),
            Err(_) => Err(RefreshError::Transient(format!("{} answered the refresh in a way Plugboard does not understand", entry.name))),
        }
    }

    /// The background refresher: every `every`, refreshes connections whose tokens expire within `ahead`.
    pub async fn run_refresher(self: Arc<Self>, every: Duration, ahead: Duration) {
        loop {
            let t = now();
            match self.store.due_refreshes(t + ahead.as_secs() as i64, t, 100).await {
                Ok(keys) => {
                    for key in keys {
                        let Ok(Some(row)) = self.store.get_connection(&key).await else { continue };
                        if let Err(e) = self.refresh(&key, row.secret_version).await {
                            tracing::debug!(%key, error = %e, "background refresh did not succeed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking for connections to refresh failed"),
            }
            tokio::time::sleep(every).await;
        }
    }
}
