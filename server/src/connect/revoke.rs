//! Deleting a connection (SPEC §3.6): revoke its tokens at the provider where the catalog has a revoke URL
//! (RFC 7009), then mark it deleted and queue `connection.deleted`, in one transaction.

use plugboard_shared::ConnectionRecord;

use super::{fields, token::ClientAuth, ConnectError, Connector};
use crate::{
    clock::now_ms,
    store::ConnectionRow,
    webhooks::{self, EventType},
};

/// Whether the provider confirmed the revocation; deletion goes ahead either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Yes,
    NotSupported,
    Failed,
}

impl Connector {
    /// Revokes (best effort) and deletes `row`; answers its final record and how revocation went.
    pub async fn delete_connection(&self, row: ConnectionRow) -> Result<(ConnectionRecord, Revoked), ConnectError> {
        let revoked = self.revoke(&row).await;
        let mut gone = row.clone();
        gone.deleted = true;
        gone.version += 1;
        gone.updated_at = now_ms();
        let event = webhooks::event(EventType::Deleted, &gone, &self.webhooks);
        self.hot.invalidate(&row.key);
        if !self.store.delete_connection(&row.id, gone.updated_at, Some(&event)).await? {
            return Err(ConnectError::NotFound("no such connection".into()));
        }
        tracing::info!(key = %row.key, platform = %row.platform, ?revoked, "connection deleted");
        Ok((gone.record(), revoked))
    }

    async fn revoke(&self, row: &ConnectionRow) -> Revoked {
        let Ok(view) = self.projects.view(&row.project_id).await else { return Revoked::Failed };
        let Some(entry) = view.catalog.get(&row.platform) else { return Revoked::NotSupported };
        let Ok(oauth) = self.oauth_spec(entry).await else { return Revoked::Failed };
        let Some(url) = oauth.revoke_url.as_ref().map(|u| fields::render(u, &row.config)) else {
            return Revoked::NotSupported;
        };
        let Ok(creds) = self.vault.open_credentials(&row.sealed, &row.id) else { return Revoked::Failed };
        // Revoking the refresh token revokes the grant at most providers; else the access token.
        let (token, hint) = match (&creds.refresh_token, &creds.access_token) {
            (Some(r), _) => (r, "refresh_token"),
            (None, Some(a)) => (a, "access_token"),
            (None, None) => return Revoked::NotSupported,
        };
        let Ok(client) = self.oauth_client(&row.project_id, entry).await else { return Revoked::Failed };
        let mut form = vec![("token", token.expose().to_owned()), ("token_type_hint", hint.to_owned())];
        let auth = ClientAuth { client_id: &client.client_id, client_secret: client.client_secret.expose(), method: oauth.token_auth };
        let req = auth.apply(self.http.post(&url), &mut form);
        match req.form(&form).send().await {
            Ok(res) if res.status().is_success() => Revoked::Yes,
            Ok(res) => {
                tracing::warn!(key = %row.key, status = res.status().as_u16(), "the provider refused to revoke the token");
                Revoked::Failed
            }
            Err(e) => {
                tracing::warn!(key = %row.key, error = %e.without_url(), "revoking the token failed");
                Revoked::Failed
            }
        }
    }
}
