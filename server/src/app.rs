//! Builds the application from settings: opens the store, seeds the project, binds the listener.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::{
    catalog::{Catalog, CatalogError},
    config::Settings,
    connect::{self, Connections},
    projects::{managed::Managed, ConfigFile, ProjectError, ProjectSettings, Projects},
    vault::{Vault, VaultError},
    http::{self, AppState},
    keys::{Environment, SecretKey},
    store::{self, Project, SharedStore, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("config file {path}: {message}")]
    Config { path: String, message: String },
    /// On a shared database every node must seal with the same key: one generated here would open nothing sealed
    /// by the others, and they nothing sealed by it.
    #[error("set PLUGBOARD_MASTER_KEY (--master-key) to the same key(s) on every node: on PostgreSQL a node does not generate its own")]
    MasterKeyRequired,
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    /// A limit outside its range (`Limits::check`).
    #[error("{0}")]
    Limits(String),
    /// The deployment's OAuth client for an integration has a setting the integration does not allow.
    #[error("{0}")]
    OAuthClient(String),
    /// Operator single sign-on is misconfigured (`PLUGBOARD_SSO_*`, named in the message).
    #[error("single sign-on: {0}")]
    Sso(String),
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    refresh_interval: Duration,
    alert_interval: Duration,
    limits: crate::config::Limits,
    log_retention_days: u32,
    call_log: Option<crate::passthrough::log::CallLogReceiver>,
}

impl Application {
    /// Binds first (port 0 picks a free port) so the public URL can name the real address.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        settings.limits.check().map_err(StartError::Limits)?;
        let sso_config = crate::operators::sso::SsoConfig::from_settings(&settings.sso).map_err(StartError::Sso)?;
        let listener =
            TcpListener::bind(settings.bind).await.map_err(|source| StartError::Bind { addr: settings.bind, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: settings.bind, source })?;
        let public_url = settings.public_url.clone().map_or_else(|| format!("http://{addr}"), |u| u.trim_end_matches('/').to_owned());

        http::metrics::init();
        let catalog = Arc::new(Catalog::with_extra(settings.extra_integrations.clone())?);
        // The deployment's own OAuth clients' settings (`PLUGBOARD_OAUTH_<PLATFORM>_<SETTING>`), checked like a
        // project's: a bad tenant stops the start, naming the variable and the value.
        for (platform, client) in &settings.oauth_clients {
            if let Some(entry) = catalog.get(platform) {
                entry.check_client_settings(&client.settings).map_err(|why| {
                    StartError::OAuthClient(format!("the deployment's {} OAuth client ({}*): {why}", entry.name, Settings::oauth_env_var(platform, "")))
                })?;
            }
        }
        let store = store::connect(&settings.database_url(), &settings.pool_settings()).await?;
        seed_project(&store, settings).await?;
        let vault = Arc::new(open_vault(settings)?);
        for (key_id, values) in crate::rekey::unconfigured(&store, &vault).await? {
            tracing::warn!(key_id = %key_id, values, "sealed values use a master key id that is not configured: they cannot be opened until PLUGBOARD_MASTER_KEY has that key again (see `plugboard vault status`)");
        }

        let projects = Arc::new(Projects::new(store.clone(), vault.clone(), catalog, settings.oauth_clients.clone()));
        if let Some(path) = &settings.config {
            apply_config_file(&store, &projects, path).await?;
        }
        release_unmanaged(&store, settings.config.as_deref()).await?;

        let public_url: Arc<str> = public_url.into();
        let policy = settings.delivery_policy();
        let connections = Arc::new(Connections {
            store: store.clone(),
            max_open_flows: settings.limits.max_open_flows,
            max_connections: settings.limits.max_connections_per_identity,
            vault,
            projects: projects.clone(),
            http: connect::provider_client(),
            public_url: public_url.clone(),
            node_id: format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]),
            refresh_locks: Default::default(),
            refresh_concurrency: settings.refresh_concurrency.max(1),
            hot: crate::connect::schedule::hot_cache(),
            refresh_backoff: crate::webhooks::DeliveryPolicy { max_delay: Duration::from_secs(600), ..policy.clone() },
            webhooks: policy,
            discovery: crate::oauth::discovery::cache(),
        });
        let operators = crate::operators::accounts::Accounts::new(store.clone());
        let sso = match sso_config {
            Some(c) => Some(crate::operators::sso::Sso::new(c, &public_url, connections.vault.clone(), operators.clone()).map_err(StartError::Sso)?),
            None => None,
        };
        let (call_log, call_log_rx) = crate::passthrough::log::CallLog::channel(settings.call_log_buffer, settings.call_log_rate);
        let state = AppState {
            store,
            projects,
            public_url,
            session_ttl: settings.session_ttl(),
            connections,
            passthrough: crate::passthrough::upstream::Upstream::new(),
            passthrough_timeout: Duration::from_secs(settings.passthrough_timeout_secs.max(1)),
            request_timeout: Duration::from_secs(settings.request_timeout_secs.max(1)),
            grants: http::grant_cache(),
            guard: Arc::new(http::limits::Guard::new(&settings.limits)),
            operators,
            sso,
            call_log,
            widget_events: http::widget_events::cache(),
        };
        let refresh_interval = Duration::from_secs(settings.refresh_interval_secs.max(1));
        let alert_interval = Duration::from_secs(settings.alert_interval_secs.max(1));
        Ok(Self { listener, state, refresh_interval, alert_interval, limits: settings.limits.clone(), log_retention_days: settings.log_retention_days, call_log: Some(call_log_rx) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    pub fn store(&self) -> SharedStore {
        self.state.store.clone()
    }

    pub fn projects(&self) -> Arc<Projects> {
        self.state.projects.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and stops the background workers.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Background work beside the API; every node runs it, the database leases keep them from colliding.
        let connections = self.state.connections.clone();
        let deliverer = crate::webhooks::Deliverer {
            store: connections.store.clone(),
            vault: connections.vault.clone(),
            http: connect::provider_client(),
            policy: connections.webhooks.clone(),
        };
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let refresher = tokio::spawn(connections.clone().run_refresher(self.refresh_interval, stopping));
        let workers = [
            tokio::spawn(purge(self.state.store.clone(), self.log_retention_days)),
            tokio::spawn(crate::passthrough::log::write(self.state.store.clone(), self.call_log.take().expect("run once"))),
            // One cheap indexed read every 2 s; a revocation's backoff starts at 1 s.
            tokio::spawn(connections.clone().run_revoker(Duration::from_secs(2))),
            tokio::spawn(deliverer.run()),
            tokio::spawn(
                Arc::new(crate::alerts::Alerts { store: connections.store.clone(), vault: connections.vault.clone(), http: connect::provider_client() })
                    .run(self.alert_interval),
            ),
            tokio::spawn(http::metrics::upkeep()),
            tokio::spawn(self.state.guard.clone().upkeep()),
        ];
        tracing::info!(url = %self.state.public_url, bind = %self.local_addr(), "plugboard listening");
        let header_read_timeout = Duration::from_secs(self.limits.header_read_timeout_secs.max(1));
        let service = http::Service::new(self.state, &self.limits);
        let served = http::serve::serve(self.listener, service, header_read_timeout, shutdown).await;
        // In-flight requests are done. The refresher finishes the refresh in hand; the others stop where they
        // are (a revocation or delivery they held is retried by any node once its short claim runs out).
        for worker in workers {
            worker.abort();
        }
        let _ = stop.send(true);
        if tokio::time::timeout(Duration::from_secs(10), refresher).await.is_err() {
            tracing::warn!("the refresher was still busy 10 s after shutdown began");
        }
        // Leases this node still holds (a request cut off mid-refresh) go now, not when they run out.
        match connections.store.release_leases(&format!("{}:", connections.node_id)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "released refresh leases at shutdown"),
            Err(e) => tracing::warn!(error = %e, "could not release refresh leases at shutdown"),
        }
        served
    }
}

/// Creates (or renames) the configured project and registers its keys. A project with no key at all gets one
/// generated and written to `<data-dir>/secret-key` (mode 0600) — never to the log.
async fn seed_project(store: &SharedStore, settings: &Settings) -> Result<(), StartError> {
    let project = Project { id: settings.project_id.clone(), name: settings.project_name.clone() };
    store.upsert_project(&project).await?;
    for key in &settings.secret_key {
        store.add_secret_key(&project.id, key.environment(), &key.digest(), &key.hint()).await?;
    }
    if store.count_active_keys(&project.id).await? == 0 {
        let key = SecretKey::generate(Environment::Test);
        let path = settings.data_dir.join("secret-key");
        write_secret_file(&path, key.expose())?;
        store.add_secret_key(&project.id, key.environment(), &key.digest(), &key.hint()).await?;
        tracing::warn!(project = %project.id, file = %path.display(), "generated a secret key for the project; it is in this file (shown nowhere else)");
    }
    Ok(())
}

/// Creates or updates the projects a config file describes: the settings, own OAuth clients and webhook it names
/// (recorded as the file's: see [`crate::projects::managed`]); what it does not name stays as stored.
async fn apply_config_file(store: &SharedStore, projects: &Projects, path: &Path) -> Result<(), StartError> {
    let fail = |message: String| StartError::Config { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let raw: toml::Table = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let tables: Vec<toml::Table> = match raw.get("projects") {
        Some(toml::Value::Array(items)) => items.iter().map(|t| t.as_table().cloned().unwrap_or_default()).collect(),
        _ => Vec::new(),
    };
    for (p, table) in file.projects.iter().zip(tables.iter()) {
        let declared = Managed::declared(table);
        let file_settings = p.settings();
        file_settings.validate(&p.id, &projects.builtin)?;
        p.check_client_settings(&projects.builtin)?;
        let clients = p.clients()?;
        let webhook = p.webhook()?;
        store.upsert_project(&Project { id: p.id.clone(), name: p.name.clone().unwrap_or_else(|| p.id.clone()) }).await?;
        let before = Managed::load(store, &p.id).await?;
        let stored: ProjectSettings = match store.project_config(&p.id).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => ProjectSettings::default(),
        };
        let settings = crate::projects::managed::merge(&stored, &file_settings, &declared, &before).map_err(|e| fail(format!("project {}: {e}", p.id)))?;
        projects.save_settings(&p.id, &settings).await?;
        for (platform, client) in &clients {
            projects.save_client(&p.id, platform, None, client).await?;
        }
        // A client the file named at the last start and no longer names goes; the operator API's stay.
        let keep: Vec<&str> = clients.iter().map(|(platform, _)| platform.as_str()).collect();
        for platform in projects.retain_clients(&p.id, &before.oauth, &keep).await? {
            tracing::info!(project = %p.id, %platform, "removed the project's own OAuth client, which the config file no longer names");
        }
        if let Some((url, secret)) = &webhook {
            store.set_webhook(&p.id, Some(&crate::webhooks::seal(projects.vault(), &p.id, url, secret))).await?;
        }
        declared.save(store, &p.id).await?;
        tracing::info!(project = %p.id, "applied project settings from the config file");
    }
    Ok(())
}

/// Forgets what an earlier config file declared of projects the current one (if any) does not name: the operator
/// API may change all of theirs now.
async fn release_unmanaged(store: &SharedStore, path: Option<&Path>) -> Result<(), StartError> {
    let named: Vec<String> = match path.and_then(|p| std::fs::read_to_string(p).ok()).and_then(|t| toml::from_str::<ConfigFile>(&t).ok()) {
        Some(file) => file.projects.into_iter().map(|p| p.id).collect(),
        None => Vec::new(),
    };
    for project in store.list_projects().await? {
        if !named.contains(&project.id) && store.project_managed(&project.id).await?.is_some() {
            store.set_project_managed(&project.id, None).await?;
        }
    }
    Ok(())
}

/// The master key from settings, or the one kept in `<data-dir>/master-key` (generated on first start).
pub fn open_vault(settings: &Settings) -> Result<Vault, StartError> {
    if let Some(spec) = &settings.master_key {
        return Ok(Vault::from_spec(spec.expose())?);
    }
    if crate::store::dialect::Dialect::of(&settings.database_url()).is_ok_and(|d| d == crate::store::dialect::Dialect::Postgres) {
        return Err(StartError::MasterKeyRequired);
    }
    let path = settings.data_dir.join("master-key");
    let (vault, created) = Vault::load_or_create(&path)?;
    if created {
        tracing::warn!(file = %path.display(), "GENERATED A MASTER KEY for secrets at rest. Back this file up: without it stored credentials cannot be read. In production set PLUGBOARD_MASTER_KEY instead.");
    } else {
        tracing::warn!(file = %path.display(), "using the master key kept in the data directory (set PLUGBOARD_MASTER_KEY in production)");
    }
    Ok(vault)
}

/// [`crate::vault::write_secret_file`], failing as a start error naming the file.
fn write_secret_file(path: &Path, contents: &str) -> Result<(), StartError> {
    crate::vault::write_secret_file(path, contents).map_err(|source| StartError::Write { path: path.display().to_string(), source })
}

/// Every 10 minutes: revocations of expired sessions, expired flows and links, long-delivered webhook events, and
/// call logs, funnel counts and delivery attempts older than `log_retention_days` go.
async fn purge(store: SharedStore, log_retention_days: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match store.purge_expired(crate::clock::now(), log_retention_days).await {
            Ok(purged) if purged != Default::default() => tracing::debug!(?purged, "purged expired rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
    }
}
