//! The client-credentials grant (RFC 6749 §4.4) for entries whose connect form is a client id and secret.

use std::collections::BTreeMap;

use super::{ConnectError, Connections};
use crate::{
    catalog::Integration,
    oauth::{
        credentials::credentials_from,
        token_endpoint::{self as token, ClientAuth, Grant, TokenError},
    },
    vault::Credentials,
};

/// Client credentials (`oauth2_client_credentials`, RFC 6749 §4.4): the user's own `client_id`/`client_secret`
/// fields when the entry asks for them, else the server's configured client.
pub async fn client_credentials(
    c: &Connections,
    project_id: &str,
    environment: crate::keys::Environment,
    entry: &Integration,
    config: &BTreeMap<String, String>,
    creds: &mut Credentials,
) -> Result<(), TokenFailure> {
    let oauth = c.oauth_spec(entry).await.map_err(TokenFailure::Setup)?;
    let (id, secret, settings) = match (config.get("client_id"), creds.fields.get("client_secret")) {
        (Some(id), Some(secret)) => {
            // The user's own client; the operator's settings still apply when the operator has a client too.
            let settings = match oauth.client_settings.is_empty() {
                true => BTreeMap::new(),
                false => c.projects.oauth_client(project_id, &entry.platform, environment).await.ok().flatten().map(|c| c.settings.clone()).unwrap_or_default(),
            };
            (id.clone(), secret.expose().to_owned(), settings)
        }
        _ => {
            let client = c.oauth_client(project_id, Some(environment), entry).await.map_err(TokenFailure::Setup)?;
            (client.client_id.clone(), client.client_secret.expose().to_owned(), client.settings.clone())
        }
    };
    let scope = (!oauth.scopes.is_empty()).then(|| oauth.scopes.join(&oauth.scope_separator));
    let auth = ClientAuth { client_id: &id, client_secret: &secret, method: oauth.token_auth };
    let token_url = crate::catalog::template::render_oauth(&oauth.token_url, &oauth, &settings, config);
    let answer = token::request(&c.http, &token_url, &auth, &Grant::ClientCredentials { scope }, &[]).await.map_err(TokenFailure::Token)?;
    let fields = std::mem::take(&mut creds.fields);
    *creds = credentials_from(answer, fields, None);
    Ok(())
}

/// Why a grant at the token endpoint did not give a token.
#[derive(Debug)]
pub enum TokenFailure {
    /// Plugboard could not even ask (no client configured, discovery failed).
    Setup(ConnectError),
    Token(TokenError),
}

