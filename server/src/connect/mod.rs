//! Connecting accounts: credential forms, the OAuth2 authorization-code flow and client credentials. Produces
//! connection rows (secrets sealed by the vault) and the seed's connection record.

pub mod account;
pub mod authorization_code;
pub mod callback;
pub mod client_credentials;
pub mod counted;
pub mod fields;
pub mod links;
pub mod metadata;
pub mod schedule;
pub mod verify;

use client_credentials::TokenFailure;

use std::{collections::BTreeMap, sync::Arc};

use plugboard_shared::{
    AuthMethod, ConnectRequest, ConnectionRecord, ConnectionState, IdentityType,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{
    catalog::Integration,
    oauth::{
        discovery::{self, DiscoveryError},
        token_endpoint::TokenError,
    },
    catalog::inject,
    clock::now_ms,
    keys::Environment,
    projects::{ProjectError, Projects},
    session::Session,
    store::{ConnectionRow, SharedStore, StoreError},
    vault::{Credentials, SecretString, Vault, VaultError},
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotConfigured(String),
    /// The caller cannot prove it owns what it names (an OAuth popup without its widget's proof): 403.
    #[error("{0}")]
    Forbidden(String),
    /// A cap was reached (429).
    #[error("{0}")]
    TooMany(String),
    /// The auth link or hosted session the session came from can no longer connect.
    #[error(transparent)]
    Link(#[from] links::LinkError),
    /// The provider looked at the credential and said no (422).
    #[error("{0}")]
    ProviderRefused(String),
    /// The provider could not be reached or failed (502).
    #[error("{0}")]
    ProviderFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<ProjectError> for ConnectError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::Unknown(p) => Self::NotFound(format!("no project {p:?}")),
            ProjectError::Store(e) => Self::Store(e),
            ProjectError::Vault(e) => Self::Vault(e),
            other => Self::NotConfigured(other.to_string()),
        }
    }
}

/// What a flow keeps sealed until the callback: the provider URL (it carries the state) and the PKCE verifier.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FlowSecrets {
    pub authorize_url: Option<SecretString>,
    pub pkce_verifier: Option<SecretString>,
    /// A same-tab flow's result, waiting for its widget's claim: the connection's config and credentials.
    pub parked: Option<(BTreeMap<String, String>, Credentials)>,
    /// And the account it signs in as (see [`account`]).
    pub parked_account: Option<String>,
    /// And the places the grant reaches (see [`plugboard_shared::Granted`]); the end user may still have to pick one.
    pub parked_choices: plugboard_shared::Granted,
}

/// Everything connecting needs; shared by the HTTP handlers.
pub struct Connections {
    pub store: SharedStore,
    /// Sign-ins an end user may have open at once ([`crate::config::Limits::max_open_flows`]).
    pub max_open_flows: u32,
    /// Live connections an end user may have ([`crate::config::Limits::max_connections_per_identity`]).
    pub max_connections: u32,
    pub vault: Arc<Vault>,
    pub projects: Arc<Projects>,
    /// Provider calls: no redirects followed (SSRF), bounded time.
    pub http: reqwest::Client,
    pub public_url: Arc<str>,
    /// Names this process in refresh leases (diagnostics only; each refresh adds a random suffix).
    pub node_id: String,
    pub refresh_locks: schedule::LocalLocks,
    /// Background refreshes run at once ([`crate::config::Settings::refresh_concurrency`], at least 1).
    pub refresh_concurrency: usize,
    /// Live connections with their opened credentials, by key, for the passthrough (see [`schedule::HotEntry`]).
    pub hot: moka::sync::Cache<String, schedule::HotEntry>,
    /// Retry schedule after a transient refresh failure.
    pub refresh_backoff: crate::webhooks::DeliveryPolicy,
    /// When events written now are given up if undeliverable.
    pub webhooks: crate::webhooks::DeliveryPolicy,
    /// OpenID discovery documents of entries that name one, by URL.
    pub discovery: moka::sync::Cache<String, Arc<discovery::Discovery>>,
}

impl Connections {
    /// The entry's OAuth settings, completed from its discovery document when it names one.
    pub async fn oauth_spec<'a>(&self, entry: &'a Integration) -> Result<std::borrow::Cow<'a, crate::catalog::OAuthSpec>, ConnectError> {
        discovery::complete(&self.http, &self.discovery, entry).await.map_err(|e| match e {
            DiscoveryError::NotOAuth(_) => ConnectError::BadInput(e.to_string()),
            DiscoveryError::Unreadable(_) => ConnectError::ProviderFailed(e.to_string()),
        })
    }
}

pub fn provider_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("Plugboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with default TLS settings builds")
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Who is connecting: the parts of a session (or flow) a connection is owned by.
#[derive(Debug, Clone)]
pub struct Owner {
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: IdentityType,
}

impl From<&Session> for Owner {
    fn from(s: &Session) -> Self {
        Self { project_id: s.project_id.clone(), environment: s.environment, identity: s.identity.clone(), identity_type: s.identity_type }
    }
}

/// The longest connection name (in characters), whether the host names it when minting a session or the end
/// user when connecting.
pub const MAX_NAME_LEN: usize = 200;

/// What an end user reads when an app is listed nowhere because the project cannot connect it (no OAuth client
/// configured for it), yet is asked for by name.
pub fn not_set_up(entry: &Integration) -> String {
    format!("{} is not set up here yet, so it cannot be connected. Pick another app, or ask the team behind this app to set it up.", entry.name)
}

impl Connections {
    /// The catalog entry for `platform`, if this session may connect it: project visibility and the session's own
    /// list both allow it (else [`ConnectError::NotFound`]), and the project can connect it — an OAuth app has its
    /// OAuth client (else [`ConnectError::NotConfigured`], in words for the end user: see [`not_set_up`]).
    pub async fn entry(&self, session: &Session, platform: &str) -> Result<Integration, ConnectError> {
        let view = self.projects.view(&session.project_id, session.environment).await?;
        let allowed = view.only(session.allowed_integrations.as_deref()).is_none_or(|list| list.iter().any(|p| p == platform));
        let entry = view.catalog
            .get(platform)
            .filter(|_| allowed)
            // Named back cut at 64 characters (no platform id is longer): an invented name is not echoed whole.
            .ok_or_else(|| ConnectError::NotFound(format!("no integration {:?} here", platform.chars().take(64).collect::<String>())))?;
        if !view.catalog.is_ready(platform) {
            return Err(ConnectError::NotConfigured(not_set_up(entry)));
        }
        Ok(entry.clone())
    }

    pub fn connection_name(req_name: Option<&str>, session: &Session, entry: &Integration) -> Result<String, ConnectError> {
        let name = req_name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > MAX_NAME_LEN) {
            return Err(ConnectError::BadInput(format!("the connection name is limited to {MAX_NAME_LEN} characters")));
        }
        Ok(name.map(str::to_owned).or_else(|| session.name.clone()).unwrap_or_else(|| entry.name.clone()))
    }

    /// The existing connection `key` names, if it belongs to this owner and platform (for reconnects).
    pub async fn reconnect_target(&self, owner: &Owner, platform: &str, key: Option<&str>) -> Result<Option<ConnectionRow>, ConnectError> {
        let Some(key) = key else { return Ok(None) };
        let row = self.store.get_connection(key).await?;
        let mine = row.filter(|r| {
            r.project_id == owner.project_id
                && r.environment == owner.environment
                && r.identity == owner.identity
                && r.identity_type == owner.identity_type
                && r.platform == platform
                && !r.deleted
        });
        mine.map(Some).ok_or_else(|| ConnectError::NotFound("there is no such connection to reconnect".into()))
    }

    /// The metric label of `platform` in the project's catalog (`unknown` when it has no such integration).
    pub async fn integration_label(&self, project_id: &str, platform: &str) -> counted::IntegrationLabel {
        // Whether the project has the integration at all: the same in both environments.
        match self.projects.view(project_id, crate::keys::Environment::Live).await {
            Ok(view) => counted::IntegrationLabel::of(&view.catalog, platform),
            Err(_) => counted::IntegrationLabel::unknown(),
        }
    }

    /// Builds the row to store: a new connection, or the reconnected one with fresh secrets.
    pub fn build_row(
        &self,
        owner: &Owner,
        entry: &Integration,
        name: String,
        config: BTreeMap<String, String>,
        creds: &Credentials,
        previous: Option<ConnectionRow>,
    ) -> ConnectionRow {
        let now = now_ms();
        let is_oauth = matches!(entry.auth_method, AuthMethod::Oauth2 | AuthMethod::Oauth2ClientCredentials);
        let mut row = previous.unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().to_string();
            ConnectionRow {
                key: format!("{}::{}::default::{}", owner.environment.as_str(), entry.platform, random_hex(16)),
                sealed: self.vault.seal(b"", id.as_bytes()),
                id,
                project_id: owner.project_id.clone(),
                environment: owner.environment,
                platform: entry.platform.clone(),
                identity: owner.identity.clone(),
                identity_type: owner.identity_type,
                name: String::new(),
                state: ConnectionState::Operational,
                config: BTreeMap::new(),
                is_oauth,
                version: 0,
                created_at: now,
                updated_at: now,
                deleted: false,
                secret_version: 0,
                token_expires_at: None,
                token_refresh_at: None,
                hold_401_until: None,
                refreshable: false,
                refresh_failures: 0,
                next_refresh_at: None,
                account: None,
                choices: Default::default(),
                end_user_name: None,
                end_user_username: None,
            }
        });
        row.name = name;
        row.config = config;
        row.choices = Default::default();
        row.state = ConnectionState::Operational;
        row.sealed = self.vault.seal_credentials(creds, &row.id);
        row.token_expires_at = creds.earliest_expiry();
        row.token_refresh_at = schedule::refresh_at(creds.earliest_renewable_expiry(), crate::clock::now());
        row.hold_401_until = None;
        row.refreshable = schedule::renewable(entry, creds);
        row.version += 1;
        row.updated_at = now;
        row
    }

    /// The webhook event of saving `row`: `connection.updated` for a reconnect, else `connection.created`.
    /// `connection.created` / `connection.updated` for `row`, naming the end user of the link it came through.
    pub async fn saved_event(&self, row: &ConnectionRow, update: bool, link_hash: Option<&str>) -> Result<crate::store::OutboxEvent, ConnectError> {
        let kind = if update { crate::webhooks::EventType::Updated } else { crate::webhooks::EventType::Created };
        let end_user = match link_hash {
            Some(hash) => self.store.find_link(hash).await?.map(|l| crate::webhooks::EndUser {
                id: l.identity,
                name: l.end_user_name,
                username: l.end_user_username,
            }),
            None => None,
        };
        Ok(crate::webhooks::event_by(kind, row, &self.webhooks, end_user))
    }

    /// For a session opened from an auth link or hosted session: that the link can still connect (checked before
    /// anything is asked of the user or the provider; the save checks again, atomically).
    pub async fn link_still_open(&self, session: &Session) -> Result<(), ConnectError> {
        let Some(hash) = &session.link_hash else { return Ok(()) };
        links::usable(self.store.find_link(hash).await?, crate::clock::now())?;
        Ok(())
    }

    /// `POST /v1/widget/connect/{platform}`: API key, basic, custom fields, client credentials or nothing.
    pub async fn connect_with_fields(&self, session: &Session, platform: &str, req: &ConnectRequest) -> Result<ConnectionRecord, ConnectError> {
        self.link_still_open(session).await?;
        let entry = &self.entry(session, platform).await?;
        if entry.auth_method == AuthMethod::Oauth2 {
            return Err(ConnectError::BadInput(format!("{} connects through its sign-in window (OAuth)", entry.name)));
        }
        let owner = Owner::from(session);
        let name = Self::connection_name(req.name.as_deref(), session, entry)?;
        let previous = self.reconnect_target(&owner, platform, req.reconnect.as_deref()).await?;
        let (config, secrets) = fields::validate(entry, &req.fields).map_err(ConnectError::BadInput)?;
        let mut creds = Credentials { fields: secrets, ..Default::default() };
        if entry.auth_method == AuthMethod::Oauth2ClientCredentials {
            client_credentials::client_credentials(self, &session.project_id, session.environment, entry, &config, &mut creds).await.map_err(|f| match f {
                TokenFailure::Setup(e) => e,
                TokenFailure::Token(e @ TokenError::Refused { .. }) => ConnectError::ProviderRefused(e.message(&entry.name)),
                TokenFailure::Token(e) => ConnectError::ProviderFailed(e.message(&entry.name)),
            })?;
        } else if let Some(v) = &entry.verify {
            verify::probe(&self.http, entry, v, &inject::template_values(&config, &creds)).await?;
        }
        let update = previous.is_some();
        let row = self.build_row(&owner, entry, name, config, &creds, previous);
        let event = self.saved_event(&row, update, session.link_hash.as_deref()).await?;
        self.store.save_connection(&row, update, None, Some(&event), session.link_hash.as_deref(), self.max_connections).await?;
        self.hot.invalidate(&row.key);
        tracing::info!(platform, key = %row.key, update, "connection saved");
        Ok(row.record())
    }
}
