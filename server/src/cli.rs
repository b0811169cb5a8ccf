//! The `plugboard` command line: serve, demo, migrate, project management.

use std::{net::SocketAddr, process::ExitCode};

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::{app::Application, config::Settings, keys::SecretKey};

#[derive(Parser)]
#[command(name = "plugboard", version, about = "Self-hosted connect-your-apps widget and credential vault")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the widget.
    Serve(#[command(flatten)] Settings),
    /// Run the server plus a demo host page on a second origin, all local.
    Demo {
        #[command(flatten)]
        settings: Settings,
        /// Address of the demo host page.
        #[arg(long, env = "PLUGBOARD_DEMO_BIND", default_value = "127.0.0.1:8081")]
        demo_bind: SocketAddr,
        /// Address of the demo's mock OAuth2 provider.
        #[arg(long, env = "PLUGBOARD_DEMO_PROVIDER_BIND", default_value = "127.0.0.1:8082")]
        provider_bind: SocketAddr,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate(#[command(flatten)] Settings),
    /// The master keys sealing secrets at rest: what each key id seals, and re-encrypting under the current key.
    Vault {
        #[command(flatten)]
        settings: Settings,
        #[command(subcommand)]
        action: VaultAction,
    },
    /// Operator accounts for the operator API and console.
    Operator {
        #[command(flatten)]
        settings: Settings,
        #[command(subcommand)]
        action: OperatorAction,
    },
    /// Manage projects and their secret keys (settings go in the config file: --config).
    Project {
        #[command(flatten)]
        settings: Settings,
        #[command(subcommand)]
        action: ProjectAction,
    },
}

#[derive(Subcommand)]
enum OperatorAction {
    /// Create an operator. With --password-stdin the password is read from standard input (one line); else a
    /// one-time setup link is printed (valid 72 hours), for the operator to choose their own.
    Create {
        email: String,
        /// admin, developer or support.
        #[arg(long, value_parser = ["admin", "developer", "support"])]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators.
    List,
    /// Print a new one-time setup link for an operator (a forgotten password; their sessions end when it is used).
    Reset { email: String },
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Create a project and its first secret key (shown once).
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Make the key a live key (sk_live_…) instead of a test key.
        #[arg(long)]
        live: bool,
    },
    /// List projects with their active keys.
    List,
    /// Show a project's settings.
    Show { id: String },
    /// Secret keys of a project.
    #[command(subcommand)]
    Key(KeyAction),
    /// The project's webhook endpoint and its deliveries.
    #[command(subcommand)]
    Webhook(WebhookAction),
}

#[derive(Subcommand)]
enum WebhookAction {
    /// Send the project's events to URL; prints a new signing secret (shown once).
    Set { id: String, url: String },
    /// Show the endpoint (never the secret).
    Show { id: String },
    /// Stop sending events.
    Remove { id: String },
    /// List recent deliveries, newest first.
    Deliveries {
        id: String,
        /// Only the deliveries that were given up.
        #[arg(long)]
        failed: bool,
        /// How many, 1 to 1000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
    },
    /// Deliver again: one event by id, or every failed one.
    Replay { id: String, event: Option<String> },
}

#[derive(Subcommand)]
enum VaultAction {
    /// Sealed values per master key id and table; key ids missing from PLUGBOARD_MASTER_KEY are flagged.
    Status,
    /// Re-encrypt every sealed value under the current (first) key, beside running servers; afterwards the other
    /// keys can be removed from PLUGBOARD_MASTER_KEY.
    Rewrap,
}

#[derive(Subcommand)]
enum KeyAction {
    /// Add a key (shown once); older keys stay valid until revoked, for rotation.
    Create {
        id: String,
        #[arg(long)]
        live: bool,
    },
    /// List a project's keys by their first characters.
    List { id: String },
    /// Revoke the keys of a project that start with HINT (e.g. `sk_test_AbCd`).
    Revoke { id: String, hint: String },
}

/// Runs the command line: parses the arguments, sets up logging, runs the command. The `plugboard` binary is
/// this and an allocator.
#[tokio::main]
pub async fn main() -> ExitCode {
    // Logs go to stderr; stdout carries only what a command prints for the user (e.g. a new key).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "plugboard=info,tower_http=warn".into()),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Adds the OAuth clients configured in the environment for every built-in integration.
fn with_env_clients(mut settings: Settings) -> Result<Settings, Box<dyn std::error::Error>> {
    let catalog = crate::catalog::Catalog::builtin()?;
    settings.oauth_clients_from_env(catalog.all());
    Ok(settings)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve(settings) => {
            Application::build(&with_env_clients(settings)?).await?.run_until(shutdown_signal()).await?
        }
        Command::Project { settings, action } => project(settings, action).await?,
        Command::Vault { settings, action } => vault(settings, action).await?,
        Command::Operator { settings, action } => operator(settings, action).await?,
        Command::Migrate(settings) => {
            crate::store::connect(&settings.database_url(), &settings.pool_settings()).await?;
            tracing::info!("database is up to date");
        }
        Command::Demo { settings, demo_bind, provider_bind } => {
            // The built-in mock OAuth2 provider, so the whole flow runs with no third-party account.
            let mut settings = with_env_clients(settings)?;
            let provider_listener = TcpListener::bind(provider_bind).await?;
            let provider_url = format!("http://{}", provider_listener.local_addr()?);
            let public = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.bind));
            let cfg = crate::demo::mock_provider_config(&public, &provider_url);
            crate::demo::register_mock_client(&mut settings, &cfg, &provider_url);
            let provider = crate::demo::provider::MockProvider::new(cfg);
            tokio::spawn(async move { axum::serve(provider_listener, provider.router()).await });
            tracing::info!("demo OAuth2 provider: {provider_url}");

            let app = Application::build(&settings).await?;
            crate::demo::feature_mock_apps(&app.projects(), &settings.project_id).await?;
            let key: SecretKey = match settings.secret_key.first() {
                Some(key) => key.clone(),
                None => std::fs::read_to_string(settings.data_dir.join("secret-key"))
                    .map_err(|e| format!("demo needs the project's key in {}/secret-key: {e}", settings.data_dir.display()))?
                    .parse()?,
            };
            let listener = TcpListener::bind(demo_bind).await?;
            let host_url = format!("http://{}", listener.local_addr()?);
            let public = app.public_url().to_owned();
            tokio::spawn(async move {
                if let Err(e) = crate::demo::serve(listener, &public, key, shutdown_signal()).await {
                    tracing::error!(error = %e, "demo host page stopped");
                }
            });
            tracing::info!("demo host page: {host_url}  (open it in a browser and click Connect)");
            app.run_until(shutdown_signal()).await?;
        }
    }
    Ok(())
}

async fn operator(settings: Settings, action: OperatorAction) -> Result<(), Box<dyn std::error::Error>> {
    use crate::operators::{accounts::Accounts, audit::Actor, Role};
    let store = crate::store::connect(&settings.database_url(), &settings.pool_settings()).await?;
    let accounts = Accounts::new(store.clone());
    let public = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.bind));
    let public = public.trim_end_matches('/');
    match action {
        OperatorAction::Create { email, role, password_stdin } => {
            let role = Role::parse(&role).ok_or("role must be admin, developer or support")?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let row = accounts.create(&email, role, password.as_deref(), &Actor::cli()).await?;
            match password {
                Some(_) => println!("created {} ({}); sign in at {public}/console", row.email, role.as_str()),
                None => {
                    let token = accounts.setup_link(&row.id).await?;
                    println!("created {} ({}); send them this one-time link (valid 72 hours) to choose a password:", row.email, role.as_str());
                    println!("{public}/console/setup#{token}");
                }
            }
        }
        OperatorAction::List => {
            for o in store.list_operators().await? {
                let state = if o.disabled_at.is_some() { "disabled" } else if o.password_hash.is_none() && o.sso_subject.is_none() { "invited" } else { "active" };
                println!("{}\t{}\t{state}", o.email, o.role.as_str());
            }
        }
        OperatorAction::Reset { email } => {
            let email = crate::operators::accounts::normalize_email(&email)?;
            let row = store.operator_by_email(&email).await?.ok_or("no operator with this email")?;
            let token = accounts.setup_link(&row.id).await?;
            crate::operators::audit::record(&store, &Actor::cli(), crate::operators::audit::Change { action: "operator.reset_link", target: Some(&row.email), ..Default::default() }).await?;
            println!("{public}/console/setup#{token}");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn vault(settings: Settings, action: VaultAction) -> Result<(), Box<dyn std::error::Error>> {
    let store = crate::store::connect(&settings.database_url(), &settings.pool_settings()).await?;
    let vault = crate::app::open_vault(&settings)?;
    match action {
        VaultAction::Status => {
            println!("current key: {}", vault.current_key_id());
            println!("{:<12} {:<24} {:>8}", "key id", "table", "values");
            for (key_id, tables) in crate::rekey::status(&store).await? {
                let note = if vault.has_key(&key_id) { "" } else { "  (not configured: these cannot be opened)" };
                for (table, n) in tables {
                    println!("{key_id:<12} {:<24} {n:>8}{note}", table.name());
                }
            }
        }
        VaultAction::Rewrap => {
            let done = crate::rekey::rewrap(&store, &vault).await?;
            println!("rewrapped {} sealed values under key {} ({} changed meanwhile and were already current)", done.rewrapped, vault.current_key_id(), done.raced);
            let left: u64 = crate::rekey::status(&store).await?.into_iter().filter(|(id, _)| id != vault.current_key_id()).map(|(_, t)| t.values().sum::<u64>()).sum();
            println!("values under other keys: {left}");
        }
    }
    Ok(())
}

async fn project(settings: Settings, action: ProjectAction) -> Result<(), Box<dyn std::error::Error>> {
    use crate::{
        keys::Environment,
        store::{self, Project},
    };
    let store = store::connect(&settings.database_url(), &settings.pool_settings()).await?;
    let env = |live: bool| if live { Environment::Live } else { Environment::Test };
    let new_key = |id: &str, live: bool| {
        let store = store.clone();
        let id = id.to_owned();
        async move {
            let key = SecretKey::generate(env(live));
            store.add_secret_key(&id, key.environment(), &key.digest(), &key.hint()).await?;
            println!("secret key for {id} (shown only now, store it safely):\n{}", key.expose());
            Ok::<_, Box<dyn std::error::Error>>(())
        }
    };
    let exists = |id: String| {
        let store = store.clone();
        async move { store.project_config(&id).await?.ok_or_else(|| format!("no project {id:?}").into()) }
    };
    match action {
        ProjectAction::Create { id, name, live } => {
            let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err("a project id is 1 to 64 letters, digits, dashes or underscores".into());
            }
            if store.project_config(&id).await?.is_some() {
                return Err(format!("project {id:?} exists already; add a key with `plugboard project key create {id}`").into());
            }
            store.upsert_project(&Project { id: id.clone(), name: name.unwrap_or_else(|| id.clone()) }).await?;
            new_key(&id, live).await?;
        }
        ProjectAction::List => {
            for p in store.list_projects().await? {
                let keys = store.list_keys(&p.id).await?;
                let active: Vec<String> = keys.iter().filter(|k| !k.revoked).map(|k| k.hint.clone()).collect();
                println!("{}\t{}\t{} active key(s): {}", p.id, p.name, active.len(), active.join(", "));
            }
        }
        ProjectAction::Show { id } => {
            let config: Result<String, Box<dyn std::error::Error>> = exists(id.clone()).await;
            let value: serde_json::Value = serde_json::from_str(&config?)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        ProjectAction::Key(KeyAction::Create { id, live }) => {
            let _: String = exists(id.clone()).await?;
            new_key(&id, live).await?;
        }
        ProjectAction::Key(KeyAction::List { id }) => {
            let _: String = exists(id.clone()).await?;
            for k in store.list_keys(&id).await? {
                let state = if k.revoked { "revoked" } else { "active" };
                println!("{}\t{}\t{state}", k.hint, k.environment.as_str());
            }
        }
        ProjectAction::Webhook(action) => webhook(&settings, &store, action).await?,
        ProjectAction::Key(KeyAction::Revoke { id, hint }) => {
            if hint.len() < 10 {
                return Err("give at least the first 10 characters of the key (e.g. sk_test_Ab)".into());
            }
            let n = store.revoke_keys(&id, &hint).await?;
            println!("revoked {n} key(s) of {id}");
        }
    }
    Ok(())
}

async fn webhook(settings: &Settings, store: &crate::store::SharedStore, action: WebhookAction) -> Result<(), Box<dyn std::error::Error>> {
    use crate::{store::DeliveryStatus, webhooks};
    let id = match &action {
        WebhookAction::Set { id, .. }
        | WebhookAction::Show { id }
        | WebhookAction::Remove { id }
        | WebhookAction::Deliveries { id, .. }
        | WebhookAction::Replay { id, .. } => id.clone(),
    };
    if store.project_config(&id).await?.is_none() {
        return Err(format!("no project {id:?}").into());
    }
    let now_ms = crate::clock::now_ms();
    match action {
        WebhookAction::Set { url, .. } => {
            if !webhooks::valid_url(&url) {
                return Err(format!("{url:?} is not an http(s) URL").into());
            }
            let vault = crate::app::open_vault(settings)?;
            let secret = webhooks::generate_secret();
            store.set_webhook(&id, Some(&webhooks::seal(&vault, &id, &url, &secret))).await?;
            println!("events of {id} go to {url}; signing secret (shown only now, store it safely):\n{}", secret.expose());
        }
        WebhookAction::Show { .. } => match store.webhook(&id).await? {
            Some(w) => println!("{}", w.url),
            None => println!("{id} has no webhook endpoint"),
        },
        WebhookAction::Remove { .. } => {
            store.set_webhook(&id, None).await?;
            println!("{id} no longer sends webhooks");
        }
        WebhookAction::Deliveries { failed, limit, .. } => {
            let status = failed.then_some(DeliveryStatus::Failed);
            for d in store.list_deliveries(&id, status, limit.clamp(1, 1000)).await? {
                let last = match (d.last_status, &d.last_error) {
                    (_, Some(e)) => e.clone(),
                    (Some(s), None) => format!("HTTP {s}"),
                    (None, None) => String::new(),
                };
                println!("{}\t{}\t{}\t{} attempt(s)\t{last}", d.id, d.event_type, d.status.as_str(), d.attempts);
            }
        }
        WebhookAction::Replay { event, .. } => {
            let window = settings.delivery_policy().give_up_after.as_millis() as i64;
            let n = store.replay_deliveries(&id, event.as_deref(), None, now_ms, now_ms + window).await?;
            println!("queued {n} delivery(ies) of {id} again");
        }
    }
    Ok(())
}
