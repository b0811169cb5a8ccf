//! panva's certified `oidc-provider` (npm, pinned in `scripts/package.json`) as a real authorization server:
//! PKCE required, refresh tokens rotated on every use (a reused one revokes the whole grant), RFC 9207 `iss`,
//! RFC 7009 revocation, short access tokens. `tests/oidc/provider.mjs` runs it; this starts one per test.

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdin, Command, Stdio},
};

use plugboard::catalog::Integration;
use serde_json::Value;

pub const CLIENT_ID: &str = "plugboard-test";
pub const CLIENT_SECRET: &str = "oidc-secret-0123456789";

/// A running oidc-provider; stops when dropped (its stdin closes, and it is killed).
pub struct Oidc {
    /// The issuer: `http://127.0.0.5:<port>`.
    pub url: String,
    child: Child,
    _stdin: ChildStdin,
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub token_requests: u64,
    pub codes_exchanged: u64,
    pub refreshes: u64,
    pub revocations: u64,
    pub api_calls: u64,
}

impl Oidc {
    /// Starts the provider for a client whose one redirect URI is `redirect_uri`, issuing access tokens that live
    /// `access_ttl` seconds.
    pub fn start(redirect_uri: &str, access_ttl: u64) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("OIDC_HOST", "127.0.0.5")
            .env("OIDC_PORT", "0")
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .env("OIDC_TOKEN_AUTH", "client_secret_basic")
            .env("OIDC_ACCESS_TTL", access_ttl.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs tests/oidc/provider.mjs (scripts/setup-test installs oidc-provider)");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("the provider's first line");
        let url = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("oidc-provider did not start: {line:?}")).to_owned();
        Self { url, child, _stdin: stdin }
    }

    pub async fn stats(&self) -> Stats {
        reqwest::get(format!("{}/_stats", self.url)).await.expect("stats").json().await.expect("stats JSON")
    }

    /// Every token request from now on waits `ms` before being handled.
    pub async fn delay_token_requests(&self, ms: u64) {
        let res = reqwest::Client::new().post(format!("{}/_control", self.url)).json(&serde_json::json!({ "tokenDelayMs": ms })).send().await.expect("control");
        assert_eq!(res.status(), 204);
    }

    /// A custom integration `oidc` that knows only the provider's discovery URL: issuer, endpoints and PKCE come
    /// from the discovery document.
    pub fn integration(&self) -> Integration {
        let text = format!(
            r#"
platform = "oidc"
name = "Certified OIDC"
category = "Developer tools"
description = "panva's oidc-provider, a certified OpenID provider."
authMethod = "oauth2"
apiBaseUrl = "{url}/api"
[oauth]
discoveryUrl = "{url}/.well-known/openid-configuration"
scopes = ["openid", "offline_access", "api:read"]
tokenAuth = "client_secret_basic"
"#,
            url = self.url
        );
        toml::from_str(&text).expect("a valid entry")
    }

    /// Adds or replaces the account `id` with `claims` (`email`, `email_verified`, `name`, `groups`); the next
    /// sign-in as it carries them.
    pub async fn set_account(&self, id: &str, claims: Value) {
        let res = reqwest::Client::new().post(format!("{}/_control", self.url)).json(&serde_json::json!({ "accounts": { id: claims } })).send().await.expect("control");
        assert_eq!(res.status(), 204);
    }

    /// Answers the login+consent page as the user would (`allow` or deny) and follows the provider's redirects
    /// with a cookie jar until it sends the browser to Plugboard; answers that callback URL.
    pub async fn consent(&self, authorize_url: &str, allow: bool, plugboard: &str) -> String {
        self.consent_as("alice", authorize_url, allow, plugboard).await
    }

    /// [`Self::consent`], signing in as the account `login`.
    pub async fn consent_as(&self, login: &str, authorize_url: &str, allow: bool, plugboard: &str) -> String {
        let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().expect("client");
        let mut url = authorize_url.to_owned();
        for _ in 0..10 {
            if url.starts_with(plugboard) {
                return url;
            }
            let res = c.get(&url).send().await.expect("provider page");
            if res.status().is_redirection() {
                url = absolute(&self.url, res.headers()["location"].to_str().expect("location"));
                continue;
            }
            let page = res.text().await.expect("html");
            let action = page.split(r#"action=""#).nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("no consent form: {page}"));
            let res = c
                .post(absolute(&self.url, action))
                .form(&[("decision", if allow { "allow" } else { "deny" }), ("login", login)])
                .send()
                .await
                .expect("decision");
            url = absolute(&self.url, res.headers()["location"].to_str().expect("redirect after the decision"));
        }
        panic!("the provider never sent the browser back to Plugboard");
    }

    /// `/.well-known/openid-configuration`.
    pub async fn discovery(&self) -> Value {
        reqwest::get(format!("{}/.well-known/openid-configuration", self.url)).await.expect("discovery").json().await.expect("JSON")
    }
}

fn absolute(origin: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("{origin}{location}")
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
