//! Settings from command-line flags and `PLUGBOARD_*` environment variables (flags win), shared by every command.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::keys::SecretKey;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the API and widget listen on.
    #[arg(long, env = "PLUGBOARD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Public origin of this server as browsers reach it (default: http://<bind>).
    #[arg(long, env = "PLUGBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Directory for the SQLite database and generated keys.
    #[arg(long, env = "PLUGBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL (default: sqlite://<data-dir>/plugboard.db).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Id of the project created at start.
    #[arg(long, env = "PLUGBOARD_PROJECT_ID", default_value = "default")]
    pub project_id: String,

    /// Display name of the project created at start.
    #[arg(long, env = "PLUGBOARD_PROJECT_NAME", default_value = "Default project")]
    pub project_name: String,

    /// Secret key(s) of that project, comma-separated (`sk_test_…` / `sk_live_…`); stored hashed.
    #[arg(long, env = "PLUGBOARD_SECRET_KEY", value_delimiter = ',')]
    pub secret_key: Vec<SecretKey>,

    /// Lifetime of widget session tokens, in seconds.
    #[arg(long, env = "PLUGBOARD_SESSION_TTL", default_value_t = 900)]
    pub session_ttl_secs: u64,
}

impl Settings {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/plugboard.db", self.data_dir.display()))
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }
}
