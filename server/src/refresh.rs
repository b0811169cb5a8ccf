//! Keeping OAuth access tokens fresh (docs/architecture.md, Background refresh): before expiry by a background worker, and on demand by the
//! passthrough. Exactly one refresh per connection runs at a time across every process and node: the refresher
//! takes a lease in the database (one conditional UPDATE), re-reads the connection, and refreshes only if nobody
//! else did since the caller looked — providers rotate refresh tokens, so a second refresh would burn the
//! connection. Inside one process, callers for the same connection queue on a local lock first, so only one of
//! them polls the database.
//!
//! How much ahead: a fifth of the token's lifetime, at most 5 minutes ([`refresh_at`]), so a token is refreshed
//! about once per lifetime whatever its length (a 60 s token at 48 s, an hour's at 55 min). A token of unknown
//! lifetime (`expires_in` absent or 0) is refreshed when the provider answers 401 — and a 401 right after a
//! refresh is the provider's answer about something else (a missing scope), passed through without refreshing
//! again for [`HOLD_401_SECS`]. Dead grants in any shape fail the connection; 429/5xx/network failures degrade
//! it and back off (honouring `Retry-After`), and while backing off the provider is not asked again.
//!
//! Long on purpose: the hot cache, the lease, the refresh and the worker share one invariant (one refresh per token
//! lifetime across nodes) that is easier to check in one file.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use plugboard_shared::ConnectionState;

use crate::{
    connect::{
        client_credentials::TokenFailure,
        schedule::{refresh_at, HotEntry},
        Connections,
    },
    oauth::{
        credentials::{credentials_from, renew_named},
        token_endpoint::{self as token, ClientAuth, Grant, TokenError},
    },
};

use crate::{
    clock::{now, now_ms},
    store::{ConnectionRow, RefreshOutcome, StoreError},
    vault::{Credentials, VaultError},
    webhooks::{self, EventType},
};

/// After a freshly refreshed token met a 401, further 401s are passed through for this long (no refresh).
pub const HOLD_401_SECS: i64 = 300;
/// How long a refresher may hold the lease (judged by the database's clock); longer than a token request may
/// take (the provider client's 15 s timeout), so a live holder never loses it.
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
    /// The provider asked to wait (or failed recently): not asked again before `retry_at` (unix seconds).
    #[error("{message}")]
    Backoff { message: String, retry_at: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}


/// What a caller of a connection that can no longer work is told.
fn unrenewable(row: &ConnectionRow) -> RefreshError {
    RefreshError::Refused(format!("the {} connection must be reconnected: its access ended and it holds nothing to renew it", row.platform))
}

/// Why a refresh is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The token is due, by its expiry (or the caller knows no better).
    Due,
    /// The provider answered 401. Not refreshed while the connection holds 401s ([`HOLD_401_SECS`]); the new
    /// token is stored holding 401s until the caller's retry shows it works ([`Connections::release_401_hold`]), so
    /// that concurrent 401s of a provider that means something else (Jira's missing scope) cause one refresh.
    Unauthorized,
    /// An operator asked for it (`POST /operator/v1/connections/{key}/refresh`): our own backoff after a transient
    /// failure does not hold it back (one person's click is not a retry storm).
    Operator,
}



impl Connections {
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

    /// `entry`, or its refreshed successor when its access token is due ([`refresh_at`]). While the old token is
    /// still valid, a refresh that cannot happen now (provider down, backing off) is not the caller's problem:
    /// the old token is used. Answers whether a refresh happened.
    pub async fn ensure_fresh(&self, entry: HotEntry) -> Result<(HotEntry, bool), RefreshError> {
        let row = &entry.0;
        let t = now();
        if !row.refreshable && row.is_oauth {
            if row.state == ConnectionState::Failed {
                return Err(unrenewable(row));
            }
            if row.token_expires_at.is_some_and(|exp| exp <= t) {
                if let Some(e) = self.fail_unrenewable(row).await {
                    return Err(e);
                }
                // Reconnected meanwhile (on another node): the connection as it is now.
                return Ok((self.hot_entry(&row.key).await?, false));
            }
        }
        if !row.refreshable || row.token_refresh_at.is_none_or(|at| at > t) {
            return Ok((entry, false));
        }
        let still_valid = row.token_expires_at.is_some_and(|exp| exp > t);
        match self.refresh(&row.key, row.secret_version, Cause::Due).await {
            Ok(fresh) => {
                let refreshed = fresh.0.secret_version != row.secret_version;
                Ok((fresh, refreshed))
            }
            Err(RefreshError::Transient(_) | RefreshError::Backoff { .. } | RefreshError::Busy) if still_valid => Ok((entry, false)),
            Err(e) => Err(e),
        }
    }

    /// Fails `row` for good: its access token expired, or the provider called it invalid (RFC 6750 §3.1
    /// `invalid_token`), and nothing can renew it — the provider gave no refresh token (RFC 6749 §1.5 makes one
    /// optional: Dropbox's short-lived tokens without `token_access_type=offline`, GitHub OAuth apps). Stored once,
    /// with `connection.failed` in the same transaction. Answers the error the caller gets (409, reconnect), or
    /// `None` when the connection changed meanwhile (a reconnect landed): the caller reads it again.
    pub async fn fail_unrenewable(&self, row: &ConnectionRow) -> Option<RefreshError> {
        let mut failed = row.clone();
        failed.state = ConnectionState::Failed;
        let event = webhooks::event(EventType::Failed, &failed, &self.webhooks);
        let reason = "the access token expired and nothing can renew it (the provider gave no refresh token)";
        let stored = self.store.fail_connection(&row.id, row.secret_version, now_ms(), &event, reason).await;
        self.hot.invalidate(&row.key);
        match stored {
            Ok(true) => {
                metrics::counter!("plugboard_refreshes_total", "outcome" => "expired").increment(1);
                tracing::warn!(key = %row.key, platform = %row.platform, "the connection's access ended and nothing can renew it");
                Some(unrenewable(row))
            }
            // Failed already (by another call or node), deleted, or reconnected: only the last may go on.
            Ok(false) => match self.live_connection(&row.key).await {
                Ok(now) if now.secret_version != row.secret_version && now.state != ConnectionState::Failed => None,
                Ok(_) => Some(unrenewable(row)),
                Err(e) => Some(e),
            },
            Err(e) => Some(e.into()),
        }
    }

    /// Remembers that the current token of `key` (version `secret_version`) met a 401 right after it was
    /// obtained: the provider's 401s are about something else, passed through for [`HOLD_401_SECS`].
    pub async fn hold_401(&self, key: &str, id: &str, secret_version: i64) -> Result<(), RefreshError> {
        self.store.hold_401(id, secret_version, Some(now() + HOLD_401_SECS)).await?;
        self.hot.invalidate(key);
        Ok(())
    }

    /// The token refreshed after a 401 works (the retry did not get one): 401s mean expiry again.
    pub async fn release_401_hold(&self, key: &str, id: &str, secret_version: i64) -> Result<(), RefreshError> {
        self.store.hold_401(id, secret_version, None).await?;
        self.hot.invalidate(key);
        Ok(())
    }

    /// Refreshes the connection unless its secrets changed since the caller saw `seen_version` (another caller,
    /// process or node refreshed meanwhile); either way answers the current credentials, and remembers them.
    pub async fn refresh(&self, key: &str, seen_version: i64, cause: Cause) -> Result<HotEntry, RefreshError> {
        match self.refresh_or_reuse(key, seen_version, cause).await {
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

    async fn refresh_or_reuse(&self, key: &str, seen_version: i64, cause: Cause) -> Result<(ConnectionRow, Credentials), RefreshError> {
        let local = self.refresh_locks.get(key);
        let _queued = local.lock().await;
        let owner = format!("{}:{}", self.node_id, uuid::Uuid::new_v4().simple());
        let deadline = Instant::now() + Duration::from_millis(LEASE_MS as u64 * 2);
        // Nothing to do: another caller refreshed since `seen_version`, or the connection holds 401s.
        let settled = |row: &ConnectionRow| {
            row.secret_version != seen_version || (cause == Cause::Unauthorized && row.hold_401_until.is_some_and(|until| until > now()))
        };
        loop {
            let row = self.live_connection(key).await?;
            if settled(&row) {
                return self.opened(row);
            }
            if row.state == ConnectionState::Failed {
                return Err(RefreshError::Refused(format!("the {} connection must be reconnected: its access was revoked or expired", row.platform)));
            }
            if let Some(retry_at) = row.next_refresh_at.filter(|&at| at > now() && cause != Cause::Operator) {
                return Err(RefreshError::Backoff {
                    message: format!("{} could not renew this connection's access just now; retrying in {} s", row.platform, retry_at - now()),
                    retry_at,
                });
            }
            if self.store.try_lease(&row.id, &owner, LEASE_MS).await? {
                // Re-read under the lease: another node may have refreshed between the read above and the lease.
                let row = self.live_connection(key).await?;
                if settled(&row) {
                    self.store.release_lease(&row.id, &owner).await?;
                    return self.opened(row);
                }
                return self.refresh_holding_lease(row, &owner, cause).await;
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

    async fn refresh_holding_lease(&self, row: ConnectionRow, owner: &str, cause: Cause) -> Result<(ConnectionRow, Credentials), RefreshError> {
        let creds = match self.vault.open_credentials(&row.sealed, &row.id) {
            Ok(c) => c,
            Err(e) => {
                self.store.release_lease(&row.id, owner).await?;
                return Err(e.into());
            }
        };
        let (failure, code) = match self.request_refresh(&row, &creds).await {
            Ok((fresh, values, retry_at)) => {
                let mut config = row.config.clone();
                config.extend(values);
                let sealed = self.vault.seal_credentials(&fresh, &row.id);
                // Renewable before, renewable still: a provider that stops sending refresh tokens on rotation
                // keeps the old one, and client-credentials connections never had one.
                let outcome = RefreshOutcome::Refreshed {
                    sealed,
                    token_expires_at: fresh.earliest_expiry(),
                    // A token that could not be renewed this time (after another was, see `refresh_token_grant`)
                    // is due again after the backoff, not at once.
                    token_refresh_at: refresh_at(fresh.earliest_renewable_expiry(), now()).map(|at| at.max(retry_at.unwrap_or(at))).or(retry_at),
                    hold_401_until: (cause == Cause::Unauthorized).then(|| now() + HOLD_401_SECS),
                    config: (config != row.config).then_some(config),
                    refreshable: true,
                };
                // The rotated refresh token exists only in this process now: the write is retried until the
                // database answers. It is a compare-and-set on the secret version, so a reconnect that landed
                // meanwhile wins (its tokens are newer than ours).
                let stored = self.finish_with_retries(&row, owner, &outcome, None).await?;
                metrics::counter!("plugboard_refreshes_total", "outcome" => "refreshed").increment(1);
                if stored {
                    tracing::info!(key = %row.key, platform = %row.platform, "access token refreshed");
                } else {
                    tracing::info!(key = %row.key, "the connection changed during the refresh (reconnected or deleted); its new state stands");
                }
                return self.opened(self.live_connection(&row.key).await?);
            }
            Err(e) => e,
        };
        let reason = failure.to_string();
        let (state, failures, next, event, err) = match failure {
            RefreshError::Refused(message) => {
                let mut failed = row.clone();
                failed.state = ConnectionState::Failed;
                let event = webhooks::event(EventType::Failed, &failed, &self.webhooks);
                (ConnectionState::Failed, row.refresh_failures, None, Some(event), RefreshError::Refused(message))
            }
            RefreshError::Backoff { message, retry_at } => {
                // The provider said when: honour it, but never sooner than our own backoff.
                let failures = row.refresh_failures + 1;
                let ours = after(webhooks::backoff(&self.refresh_backoff, failures as u32));
                let retry_at = retry_at.max(ours);
                (ConnectionState::Degraded, failures, Some(retry_at), None, RefreshError::Backoff { message, retry_at })
            }
            other => {
                let failures = row.refresh_failures + 1;
                let delay = webhooks::backoff(&self.refresh_backoff, failures as u32);
                (ConnectionState::Degraded, failures, Some(after(delay)), None, other)
            }
        };
        let outcome = RefreshOutcome::Failed { state, was: row.state, failures, next_refresh_at: next, reason, code };
        let label = if state == ConnectionState::Failed { "expired" } else { "failed" };
        metrics::counter!("plugboard_refreshes_total", "outcome" => label).increment(1);
        self.finish_with_retries(&row, owner, &outcome, event.as_ref()).await?;
        tracing::warn!(key = %row.key, platform = %row.platform, state = state.as_str(), error = %err, "refresh failed");
        Err(err)
    }

    /// Stores a refresh's outcome, retrying database errors (with backoff, for up to ~10 s): answers whether it
    /// was stored (`false`: the connection changed meanwhile, or another holder's failure must not be ours).
    async fn finish_with_retries(&self, row: &ConnectionRow, owner: &str, outcome: &RefreshOutcome, event: Option<&crate::store::OutboxEvent>) -> Result<bool, RefreshError> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.store.finish_refresh(&row.id, owner, row.secret_version, outcome, now_ms(), event).await {
                Ok(stored) => return Ok(stored),
                Err(e) if attempt < 8 => {
                    tracing::warn!(key = %row.key, attempt, error = %e, "storing the refresh failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One refresh at the provider: a refresh-token grant, or a new client-credentials grant. Answers the new
    /// credentials and the metadata values the answer carried again; a failure with the provider's error code
    /// (or `HTTP <status>`) when it gave one.
    async fn request_refresh(
        &self,
        row: &ConnectionRow,
        creds: &Credentials,
    ) -> Result<(Credentials, BTreeMap<String, String>, Option<i64>), (RefreshError, Option<String>)> {
        let view = self.projects.view(&row.project_id, row.environment).await.map_err(|e| (RefreshError::Transient(e.to_string()), None))?;
        let entry = view.catalog.get(&row.platform).ok_or_else(|| (RefreshError::Refused(format!("{} is no longer in the catalog", row.platform)), None))?;
        let answer = if entry.auth_method == plugboard_shared::AuthMethod::Oauth2ClientCredentials {
            let mut fresh = creds.clone();
            crate::connect::client_credentials::client_credentials(self, &row.project_id, row.environment, entry, &row.config, &mut fresh).await.map(|()| (fresh, BTreeMap::new(), None))
        } else {
            self.refresh_token_grant(row, entry, creds).await
        };
        answer.map_err(|failure| match failure {
            TokenFailure::Setup(e) => (RefreshError::Transient(e.to_string()), None),
            TokenFailure::Token(e) => {
                let code = provider_code(&e);
                (refresh_error(&entry.name, e), code)
            }
        })
    }

    /// Renews each of the connection's tokens that has a refresh token — the top-level one, then the nested ones
    /// (Slack's user token), each with its own refresh token. Answers the new credentials, the metadata values
    /// the answers carried again, and, when a later token could not be renewed after an earlier one was (its
    /// rotated refresh token must be stored), when to try again (unix seconds).
    async fn refresh_token_grant(
        &self,
        row: &ConnectionRow,
        entry: &crate::catalog::Integration,
        creds: &Credentials,
    ) -> Result<(Credentials, BTreeMap<String, String>, Option<i64>), TokenFailure> {
        let mut slots: Vec<(Option<&str>, &crate::vault::SecretString)> = creds.refresh_token.iter().map(|t| (None, t)).collect();
        slots.extend(creds.tokens.iter().filter_map(|(name, t)| t.refresh_token.as_ref().map(|rt| (Some(name.as_str()), rt))));
        if slots.is_empty() {
            return Err(TokenFailure::Token(TokenError::Refused { code: "invalid_grant".into(), description: Some("the connection has no refresh token".into()), dead: true }));
        }
        let oauth = self.oauth_spec(entry).await.map_err(TokenFailure::Setup)?;
        let client = self.oauth_client(&row.project_id, Some(row.environment), entry).await.map_err(TokenFailure::Setup)?;
        let auth = ClientAuth { client_id: &client.client_id, client_secret: client.client_secret.expose(), method: oauth.token_auth };
        let url = crate::catalog::template::render_oauth(&oauth.token_url, &oauth, &client.settings, &row.config);
        let mut fresh = creds.clone();
        let mut values = BTreeMap::new();
        for (renewed, (name, refresh_token)) in slots.into_iter().enumerate() {
            let answer = match token::request(&self.http, &url, &auth, &Grant::RefreshToken { refresh_token: refresh_token.expose() }, &[]).await {
                Ok(answer) => answer,
                // A dead grant fails the connection whatever was renewed: the user reconnects for all of it.
                Err(e) if renewed > 0 && !matches!(e, TokenError::Refused { dead: true, .. }) => {
                    let wait = match &e {
                        TokenError::Unavailable { retry_after: Some(d), .. } => (*d).max(self.refresh_backoff.base_delay),
                        _ => self.refresh_backoff.base_delay,
                    };
                    tracing::warn!(key = %row.key, token = name.unwrap_or("top-level"), error = ?e, "one token of the connection could not be renewed; the others were");
                    return Ok((fresh, values, Some(after(wait))));
                }
                Err(e) => return Err(TokenFailure::Token(e)),
            };
            values.extend(crate::connect::metadata::from_refresh(entry, &answer.extra));
            match name {
                None => fresh = credentials_from(answer, fresh.fields.clone(), Some(&fresh)),
                Some(name) => renew_named(&mut fresh, name, answer).map_err(TokenFailure::Token)?,
            }
        }
        Ok((fresh, values, None))
    }

    /// The background refresher: every `every`, refreshes connections whose tokens are due ([`refresh_at`]),
    /// [`Connections::refresh_concurrency`] at a time, earliest first. While a pass finds a full batch and
    /// refreshes something, the next pass starts at once (10,000 tokens due within a minute are all refreshed in
    /// time: see `scripts/bench`). Returns once `stop` turns true, after the refreshes in hand (a rotated refresh
    /// token must be stored).
    pub async fn run_refresher(self: Arc<Self>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        use futures_util::StreamExt;
        // Enough for every slot to stay busy; a small batch keeps the earliest expiries first.
        let batch = self.refresh_concurrency as u64 * 8;
        while !*stop.borrow() {
            let mut more = false;
            match self.store.due_refreshes(now(), batch).await {
                Ok(keys) => {
                    let full = keys.len() as u64 == batch;
                    let refreshed = std::sync::atomic::AtomicUsize::new(0);
                    let (this, stop, refreshed_ref) = (&self, &stop, &refreshed);
                    futures_util::stream::iter(keys)
                        .for_each_concurrent(self.refresh_concurrency, |key| async move {
                            if *stop.borrow() {
                                return;
                            }
                            let Ok(Some(row)) = this.store.get_connection(&key).await else { return };
                            match this.refresh(&key, row.secret_version, Cause::Due).await {
                                Ok(_) => {
                                    refreshed_ref.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                Err(e) => tracing::debug!(%key, error = %e, "background refresh did not succeed"),
                            }
                        })
                        .await;
                    // A full batch where nothing could be refreshed (held elsewhere, failing) waits like any other.
                    more = full && refreshed.into_inner() > 0;
                }
                Err(e) => tracing::warn!(error = %e, "looking for connections to refresh failed"),
            }
            // Connections nothing can renew are failed once their token expired, called or not.
            match self.store.due_expiries(now(), batch).await {
                Ok(keys) => {
                    for key in keys {
                        if let Ok(Some(row)) = self.store.get_connection(&key).await {
                            let _ = self.fail_unrenewable(&row).await;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking for expired connections failed"),
            }
            if more {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// The unix second by which `delay` from now has passed (rounded up: a wait is never cut short).
fn after(delay: Duration) -> i64 {
    now() + delay.as_secs_f64().ceil() as i64
}

/// What the provider's failed answer was, for the connection's timeline: its OAuth error code, or its HTTP
/// status; `None` when it did not answer.
fn provider_code(e: &TokenError) -> Option<String> {
    match e {
        TokenError::Refused { code, .. } => Some(token::clean(code)),
        TokenError::Unavailable { status, .. } | TokenError::Unreadable { status, .. } => Some(format!("HTTP {status}")),
        TokenError::Unreachable => None,
    }
}

/// A failed grant as the refresher sees it: a dead grant fails the connection; a wait the provider asked for is
/// a backoff; the rest is transient.
fn refresh_error(provider: &str, e: TokenError) -> RefreshError {
    let message = e.message(provider);
    match e {
        TokenError::Refused { dead: true, .. } => RefreshError::Refused(format!("{message} The user must reconnect.")),
        TokenError::Unavailable { retry_after: Some(wait), .. } => RefreshError::Backoff { message, retry_at: after(wait) },
        _ => RefreshError::Transient(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_a_fifth_of_their_life_ahead_at_most_five_minutes() {
        assert_eq!(refresh_at(Some(1060), 1000), Some(1048));
        assert_eq!(refresh_at(Some(1300), 1000), Some(1240));
        assert_eq!(refresh_at(Some(4600), 1000), Some(4300));
        assert_eq!(refresh_at(Some(1000), 1000), Some(1000));
        assert_eq!(refresh_at(None, 1000), None);
    }
}
