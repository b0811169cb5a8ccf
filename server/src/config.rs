//! Settings from command-line flags and `PLUGBOARD_*` environment variables (flags win), shared by every command.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::{catalog::Integration, keys::SecretKey, vault::SecretString};

/// An OAuth client registered at a provider (per platform).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Scopes to request instead of the catalog's defaults.
    pub scopes: Option<Vec<String>>,
    /// Settings of this OAuth app that the provider's endpoints depend on, by name (Microsoft's `tenant`), as
    /// the catalog entry declares them ([`crate::catalog::OAuthSpec::client_settings`]); checked at start.
    pub settings: BTreeMap<String, String>,
    /// Scopes for the entry's nested tokens, by token name (Slack's `user` token: its `user_scope`), instead of
    /// the catalog's; see [`crate::catalog::NestedToken`].
    pub token_scopes: BTreeMap<String, Vec<String>>,
}

pub type OAuthClients = BTreeMap<String, OAuthClient>;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the API and widget listen on.
    #[arg(long, env = "PLUGBOARD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Public origin of this server as browsers reach it (default: http://<bind>).
    #[arg(long, env = "PLUGBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Config file (TOML) with `[[projects]]` settings, applied at start.
    #[arg(long, env = "PLUGBOARD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Directory for the SQLite database and generated keys.
    #[arg(long, env = "PLUGBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://<file>` (default: sqlite://<data-dir>/plugboard.db) for one node, or
    /// `postgres://user:password@host/db` for any number of nodes sharing it.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most connections this node opens to the database: 1 to 500.
    #[arg(long, env = "PLUGBOARD_DB_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub db_max_connections: u32,

    /// Seconds a request waits for a free database connection before it answers 503: 1 to 300.
    #[arg(long, env = "PLUGBOARD_DB_ACQUIRE_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_acquire_timeout_secs: u64,

    /// Id of the project created at start.
    #[arg(long, env = "PLUGBOARD_PROJECT_ID", default_value = "default")]
    pub project_id: String,

    /// Display name of the project created at start.
    #[arg(long, env = "PLUGBOARD_PROJECT_NAME", default_value = "Default project")]
    pub project_name: String,

    /// Secret key(s) of that project, comma-separated (`sk_test_…` / `sk_live_…`); stored hashed.
    #[arg(long, env = "PLUGBOARD_SECRET_KEY", value_delimiter = ',')]
    pub secret_key: Vec<SecretKey>,

    /// Lifetime of widget session tokens, in seconds: 60 to 86 400 (a day), as a project's `sessionTtlSecs`.
    #[arg(long, env = "PLUGBOARD_SESSION_TTL", default_value_t = 900, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub session_ttl_secs: u64,

    /// Master key(s) for secrets at rest: `<id>:<base64 of 32 bytes>`, comma-separated, current first.
    /// Without it a key is generated into `<data-dir>/master-key`.
    #[arg(long, env = "PLUGBOARD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<SecretString>,

    /// How long a provider has to start answering a passthrough call — and to finish a small answer (≤ 256 KB),
    /// which is passed on whole — in seconds (then 504): 1 to 3600.
    #[arg(long, env = "PLUGBOARD_PASSTHROUGH_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub passthrough_timeout_secs: u64,

    /// How long a client has to send a request body, in seconds: on Plugboard's own routes the whole request, body
    /// and answer, gets this long; a passthrough call's small body (≤ 256 KB) must arrive whole within it and a
    /// larger one may not pause longer (then 408 `timeout`, and the connection is closed): 1 to 600.
    #[arg(long, env = "PLUGBOARD_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout_secs: u64,

    /// How often the background refresher looks for access tokens about to expire, in seconds: 1 to 3600.
    #[arg(long, env = "PLUGBOARD_REFRESH_INTERVAL", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub refresh_interval_secs: u64,

    /// How often each node looks for operator alerts to send (docs/operators.md, Alerts), in seconds: 1 to 3600.
    #[arg(long, env = "PLUGBOARD_ALERT_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub alert_interval_secs: u64,

    /// Background token refreshes this node runs at once: the most requests it sends any one provider's token
    /// endpoint at a time. When more are due than one pass takes, the refresher goes on without pausing. 1 to 1000.
    #[arg(long, env = "PLUGBOARD_REFRESH_CONCURRENCY", default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub refresh_concurrency: usize,

    /// First retry delay of a failed webhook delivery (and of a failed token refresh), in milliseconds; doubles
    /// with each attempt, with jitter. 10 to 3 600 000 (an hour).
    #[arg(long, env = "PLUGBOARD_RETRY_BASE_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub retry_base_ms: u64,

    /// A webhook delivery still failing this long after its event is given up and listed as failed, in seconds: 60
    /// to 2 592 000 (30 days).
    #[arg(long, env = "PLUGBOARD_WEBHOOK_GIVE_UP", default_value_t = 259_200, value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
    pub webhook_give_up_secs: u64,

    /// How many days passthrough call logs, connect-funnel counts and webhook delivery attempts are kept: 1 to 365.
    #[arg(long, env = "PLUGBOARD_LOG_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub log_retention_days: u32,

    /// Passthrough calls waiting to be written to the call log: past this many (the database slower than the
    /// calls) a call is left out of the log, never delayed, and counted in `plugboard_passthrough_log_dropped_total`.
    /// 1 to 1 000 000.
    #[arg(long, env = "PLUGBOARD_CALL_LOG_BUFFER", default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub call_log_buffer: usize,

    /// Passthrough calls answered below 400 that this node writes to the call log per second; past it a
    /// successful call is left out of the log (counted in `plugboard_passthrough_log_dropped_total`), a failed one
    /// never. 0 = every call; at most 1 000 000.
    #[arg(long, env = "PLUGBOARD_CALL_LOG_RATE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub call_log_rate: u32,

    /// Abuse limits: rate limits, caps and connection timeouts.
    #[command(flatten)]
    pub limits: Limits,

    /// Operator single sign-on through an OpenID Connect provider (off unless the issuer is set).
    #[command(flatten)]
    pub sso: SsoSettings,

    /// OAuth clients by platform; from `PLUGBOARD_OAUTH_<PLATFORM>_CLIENT_ID` / `_CLIENT_SECRET` / `_SCOPES`.
    #[arg(skip)]
    pub oauth_clients: OAuthClients,

    /// Integrations beyond the built-in catalog (same schema); may use plain http on loopback.
    #[arg(skip)]
    pub extra_integrations: Vec<Integration>,
}

/// Abuse limits (SECURITY.md, "Abuse"). Rate limits answer 429 with `Retry-After`; bursts of 5× the rate pass.
/// Each limit is per node, and refused at start outside its range.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Requests per second per client IP (an IPv6 client by its /64) on what browsers call: the widget API
    /// (connect included), the link pages and the OAuth pages; and secret-key lookups the database is asked for
    /// keys not known from memory. 0 = no limit; at most 1000000. Not the host backend's secret-key calls (token
    /// minting, links, the vault API, the passthrough).
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_IP", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_ip: u32,

    /// Widget requests per second per project, over all its end users (each first within its own
    /// `--rate-limit-identity`). 0 = no limit; at most 1000000.
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_PROJECT", default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_project: u32,

    /// Widget requests per second per end user (project, environment, identity type and identity), counted
    /// before the project's: one user's flood spends this, not the project's budget. 0 = no limit; at most
    /// 1000000.
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_IDENTITY", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_identity: u32,

    /// Requests per second per project and environment on what the host backend calls with its secret key to
    /// make sessions and links (token minting, auth links, hosted sessions): a budget no browser traffic touches.
    /// 0 = no limit; at most 1000000.
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_BACKEND", default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_backend: u32,

    /// Operator sign-in attempts (password or setup link) per minute per client IP, on top of each account's
    /// lockout after 5 failures in a row. 0 = no limit; at most 1000.
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_SIGN_IN", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub rate_limit_sign_in: u32,

    /// Take the client IP from the last `X-Forwarded-For` entry (the one the nearest proxy added). Only behind a
    /// proxy that sets it: otherwise a client could pick its own rate-limit key.
    #[arg(long, env = "PLUGBOARD_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// OAuth sign-ins one end user (project, environment, identity type and identity) may have open at once
    /// (started, not finished, not expired), over all their sessions; 1 to 1000.
    #[arg(long, env = "PLUGBOARD_MAX_OPEN_FLOWS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_open_flows: u32,

    /// Live connections one end user (project, environment, identity type and identity) may have; past it a new
    /// connection is refused with 409 `too_many_connections` (a reconnect still works); 1 to 1000000.
    #[arg(long, env = "PLUGBOARD_MAX_CONNECTIONS_PER_IDENTITY", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_identity: u32,

    /// Seconds a client has to send a request's headers, on a new or an idle kept-alive connection; a
    /// connection that stays silent this long is closed. 1 to 300.
    #[arg(long, env = "PLUGBOARD_HEADER_READ_TIMEOUT", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout_secs: u64,
}

impl Limits {
    /// Refuses a limit outside its documented range (the flags' parsers do the same for the command line; this
    /// is for settings made in code), naming the flag.
    pub fn check(&self) -> Result<(), String> {
        let ranges: [(&str, u64, std::ops::RangeInclusive<u64>); 7] = [
            ("--rate-limit-sign-in", self.rate_limit_sign_in.into(), 0..=1000),
            ("--rate-limit-ip", self.rate_limit_ip.into(), 0..=1_000_000),
            ("--rate-limit-project", self.rate_limit_project.into(), 0..=1_000_000),
            ("--rate-limit-identity", self.rate_limit_identity.into(), 0..=1_000_000),
            ("--rate-limit-backend", self.rate_limit_backend.into(), 0..=1_000_000),
            ("--max-open-flows", self.max_open_flows.into(), 1..=1000),
            ("--max-connections-per-identity", self.max_connections_per_identity.into(), 1..=1_000_000),
        ];
        match ranges.into_iter().find(|(_, value, range)| !range.contains(value)) {
            Some((flag, value, range)) => Err(format!("{flag} must be from {} to {}, not {value}", range.start(), range.end())),
            None => Ok(()),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate_limit_ip: 20,
            rate_limit_project: 200,
            rate_limit_identity: 10,
            rate_limit_backend: 200,
            rate_limit_sign_in: 10,
            trust_proxy: false,
            max_open_flows: 10,
            max_connections_per_identity: 100,
            header_read_timeout_secs: 20,
        }
    }
}

/// Operator single sign-on (docs/operators.md, Single sign-on), as given; checked and parsed at start by the
/// operators' single sign-on (`SsoConfig::from_settings` in `operators/sso.rs`), which names the variable of a bad
/// value.
#[derive(Debug, Clone, Args)]
pub struct SsoSettings {
    /// The OpenID provider's issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`);
    /// https, or http on loopback only. Setting it turns single sign-on on.
    #[arg(long = "sso-issuer", env = "PLUGBOARD_SSO_ISSUER")]
    pub issuer: Option<String>,

    /// The client id Plugboard is registered with at the provider (its redirect URI:
    /// `<public URL>/operator/v1/sso/callback`).
    #[arg(long = "sso-client-id", env = "PLUGBOARD_SSO_CLIENT_ID")]
    pub client_id: Option<String>,

    /// That client's secret.
    #[arg(long = "sso-client-secret", env = "PLUGBOARD_SSO_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<SecretString>,

    /// The claim (in the ID token, else from the userinfo endpoint) whose value — a string or an array of
    /// strings — picks the role through `--sso-roles`.
    #[arg(long = "sso-role-claim", env = "PLUGBOARD_SSO_ROLE_CLAIM", default_value = "groups")]
    pub role_claim: String,

    /// Claim values to roles, comma-separated `value=role` (`plugboard-admins=admin,plugboard-devs=developer`);
    /// roles are `admin`, `developer`, `support`. Several matches: the most powerful role wins.
    #[arg(long = "sso-roles", env = "PLUGBOARD_SSO_ROLES")]
    pub roles: Option<String>,

    /// The role of a user whose claim matches no mapping; absent: such a user is refused.
    #[arg(long = "sso-default-role", env = "PLUGBOARD_SSO_DEFAULT_ROLE")]
    pub default_role: Option<String>,

    /// Email domains allowed to sign in, comma-separated (`example.com,example.org`); absent: any.
    #[arg(long = "sso-allowed-domains", env = "PLUGBOARD_SSO_ALLOWED_DOMAINS")]
    pub allowed_domains: Option<String>,
}

impl Default for SsoSettings {
    fn default() -> Self {
        Self { issuer: None, client_id: None, client_secret: None, role_claim: "groups".into(), roles: None, default_role: None, allowed_domains: None }
    }
}

impl Settings {
    /// Reads `PLUGBOARD_OAUTH_<PLATFORM>_CLIENT_ID` / `_CLIENT_SECRET` (and optional space-separated `_SCOPES`)
    /// for every entry in `entries` (`google-calendar` → `GOOGLE_CALENDAR`), and the client settings each entry
    /// declares as `PLUGBOARD_OAUTH_<PLATFORM>_<SETTING>` (`PLUGBOARD_OAUTH_OUTLOOK_TENANT`). The settings are
    /// checked against the entries when the application is built.
    pub fn oauth_clients_from_env<'a>(&mut self, entries: impl IntoIterator<Item = &'a Integration>) {
        for entry in entries {
            let platform = &entry.platform;
            let var = |suffix: &str| std::env::var(Self::oauth_env_var(platform, suffix)).ok().filter(|v| !v.is_empty());
            if let (Some(client_id), Some(secret)) = (var("CLIENT_ID"), var("CLIENT_SECRET")) {
                let scopes = var("SCOPES").map(|s| s.split_whitespace().map(str::to_owned).collect());
                let declared = entry.oauth.iter().flat_map(|o| &o.client_settings);
                let settings = declared.filter_map(|s| var(&s.name).map(|v| (s.name.clone(), v))).collect();
                // `PLUGBOARD_OAUTH_SLACK_USER_SCOPES`: the `user` token's scopes, space-separated.
                let nested = entry.oauth.iter().flat_map(|o| &o.nested_tokens);
                let token_scopes = nested
                    .filter_map(|t| var(&format!("{}_SCOPES", t.name)).map(|s| (t.name.clone(), s.split_whitespace().map(str::to_owned).collect())))
                    .collect();
                self.oauth_clients.insert(platform.to_owned(), OAuthClient { client_id, client_secret: SecretString::new(secret), scopes, settings, token_scopes });
            }
        }
    }

    /// `PLUGBOARD_OAUTH_<PLATFORM>_<SUFFIX>`, the platform and suffix upper-cased with `-` as `_`.
    pub fn oauth_env_var(platform: &str, suffix: &str) -> String {
        format!("PLUGBOARD_OAUTH_{}_{}", platform.to_uppercase().replace('-', "_"), suffix.to_uppercase().replace('-', "_"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/plugboard.db", self.data_dir.display()))
    }

    /// The database pool's bounds.
    pub fn pool_settings(&self) -> crate::store::PoolSettings {
        crate::store::PoolSettings {
            max_connections: self.db_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs.max(1)),
        }
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }

    /// Retry schedule of webhook deliveries.
    pub fn delivery_policy(&self) -> crate::webhooks::DeliveryPolicy {
        let base = Duration::from_millis(self.retry_base_ms.max(1));
        crate::webhooks::DeliveryPolicy {
            base_delay: base,
            max_delay: Duration::from_secs(3600).max(base),
            give_up_after: Duration::from_secs(self.webhook_give_up_secs),
            poll: Duration::from_millis(1000.min(self.retry_base_ms.max(50))),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_hides_the_master_key() {
        let w: Wrapper = clap::Parser::parse_from(["x", "--master-key", "k1:c2VjcmV0LWtleS1tYXRlcmlhbA=="]);
        let mut s = w.settings;
        s.oauth_clients.insert(
            "gmail".into(),
            super::OAuthClient { client_id: "id".into(), client_secret: crate::vault::SecretString::new("cs-hidden"), scopes: None, settings: Default::default(), token_scopes: Default::default() },
        );
        s.sso.client_secret = Some(crate::vault::SecretString::new("sso-hidden"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("c2VjcmV0") && !shown.contains("cs-hidden") && !shown.contains("sso-hidden"), "{shown}");
    }

    #[test]
    fn limits_outside_their_range_are_refused_at_start() {
        use clap::Parser;
        for args in [["--max-connections-per-identity", "0"], ["--max-open-flows", "0"], ["--rate-limit-identity", "-1"], ["--rate-limit-backend", "1000001"]] {
            assert!(Wrapper::try_parse_from(["x", args[0], args[1]]).is_err(), "{args:?}");
        }
        let w = Wrapper::try_parse_from(["x", "--max-connections-per-identity", "7", "--rate-limit-identity", "0"]).unwrap();
        assert_eq!((w.settings.limits.max_connections_per_identity, w.settings.limits.rate_limit_identity), (7, 0));
        assert_eq!(w.settings.limits.check(), Ok(()));
        assert_eq!(super::Limits::default().check(), Ok(()));
        let zero = super::Limits { max_connections_per_identity: 0, ..Default::default() };
        assert_eq!(zero.check().unwrap_err(), "--max-connections-per-identity must be from 1 to 1000000, not 0");
    }

    #[test]
    fn every_numeric_flag_has_a_range_and_its_default_is_in_it() {
        let parse = |args: &[&str]| <Wrapper as clap::Parser>::try_parse_from(std::iter::once("x").chain(args.iter().copied())).map(|w| w.settings);
        let s = parse(&[]).expect("the defaults are in range");
        assert_eq!((s.session_ttl_secs, s.request_timeout_secs, s.limits.max_open_flows), (900, 30, 10));
        for (flag, low, high) in [
            ("--db-max-connections", "0", "501"),
            ("--db-acquire-timeout-secs", "0", "301"),
            ("--session-ttl-secs", "59", "86401"),
            ("--passthrough-timeout-secs", "0", "3601"),
            ("--request-timeout-secs", "0", "601"),
            ("--refresh-interval-secs", "0", "3601"),
            ("--refresh-concurrency", "0", "1001"),
            ("--retry-base-ms", "9", "3600001"),
            ("--webhook-give-up-secs", "59", "2592001"),
            ("--rate-limit-ip", "-1", "1000001"),
            ("--rate-limit-project", "-1", "1000001"),
            ("--rate-limit-identity", "-1", "1000001"),
            ("--rate-limit-backend", "-1", "1000001"),
            ("--max-open-flows", "0", "1001"),
            ("--max-connections-per-identity", "0", "1000001"),
            ("--header-read-timeout-secs", "0", "301"),
            ("--log-retention-days", "0", "366"),
            ("--call-log-buffer", "0", "1000001"),
        ] {
            for bad in [low, high, "99999999999999999999", "1.5"] {
                let err = parse(&[&format!("{flag}={bad}")]).err().unwrap_or_else(|| panic!("{flag} {bad} was accepted"));
                assert!(err.to_string().contains(flag), "{flag} {bad}: {err}");
            }
        }
    }

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: super::Settings,
    }
}
