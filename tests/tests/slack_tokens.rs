//! Slack installs with user scopes (oauth.v2.access's `authed_user`): the quirk provider's `slack-user` and
//! `slack-both` shapes answer as Slack does. A user-only install connects on its user token; a bot-and-user
//! install keeps both, sealed; the host picks one per passthrough call with `Plugboard-Token`; token rotation
//! renews each with its own refresh token; neither token reaches the record or the logs.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use plugboard::keys::SecretKey;
use plugboard_shared::ConnectionState;
use plugboard_tests::{
    eventually, follow_redirect, free_addr, oauth_connect,
    quirks::{Quirks, CLIENT_SECRET, SLACK_BOT_USER_ID, SLACK_USER_ID},
    spawn_app_with, Server, TestApp,
};
use serde_json::Value;

async fn connect(app: &impl Server, shape: &str) -> plugboard_shared::ConnectionRecord {
    let out = oauth_connect(app, "alice", &format!("quirk-{shape}"), None, follow_redirect).await;
    assert_eq!(out.status, 200, "{shape}: {}", out.page);
    out.connection()
}

/// `auth.test` through the passthrough, as the host calls it, with `Plugboard-Token: <token>` when given.
async fn auth_test(app: &impl Server, key: &str, shape: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = plugboard_tests::passthrough(app, key, reqwest::Method::POST, &format!("quirk-{shape}/auth.test"));
    if let Some(t) = token {
        req = req.header("Plugboard-Token", t);
    }
    req.send().await.unwrap()
}

/// Who Slack says the presented token is: the user id, and whether it is a bot token.
async fn who(app: &impl Server, key: &str, shape: &str, token: Option<&str>) -> (String, bool) {
    let res = auth_test(app, key, shape, token).await;
    assert_eq!(res.status(), 200, "{token:?}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ok"], true, "{token:?}: {body}");
    (body["user_id"].as_str().unwrap().to_owned(), body.get("bot_id").is_some())
}

async fn record_text(app: &impl Server, key: &str) -> String {
    app.get_connection(key).await.text().await.unwrap()
}

async fn quirk_app(q: &Quirks) -> TestApp {
    spawn_app_with(|s| {
        q.register(s);
        // Refreshes happen on the passthrough here, in the order the test expects.
        s.refresh_interval_secs = 3600;
    })
    .await
}

#[tokio::test]
async fn a_user_scopes_only_install_connects_on_its_user_token() {
    let q = Quirks::spawn().await;
    let app = quirk_app(&q).await;
    let conn = connect(&app, "slack-user").await;
    assert_eq!(conn.state, ConnectionState::Operational);
    assert_eq!(conn.account.as_deref(), Some("Quirk Workspace"));
    // No header: the only token there is. Asked for by name: the same.
    assert_eq!(who(&app, &conn.key, "slack-user", None).await, (SLACK_USER_ID.to_owned(), false));
    assert_eq!(who(&app, &conn.key, "slack-user", Some("user")).await, (SLACK_USER_ID.to_owned(), false));
    // A bot token this install never had: said so, nothing sent to Slack.
    let calls = q.counts("slack-user").api_calls;
    let res = auth_test(&app, &conn.key, "slack-user", Some("bot")).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "token_unavailable", "{body}");
    assert!(body["error"].as_str().unwrap().contains("holds no bot token"), "{body}");
    assert_eq!(q.counts("slack-user").api_calls, calls);
    let text = record_text(&app, &conn.key).await;
    assert!(!text.contains("xox"), "{text}");
}

#[tokio::test]
async fn a_bot_and_user_install_keeps_both_tokens_and_the_host_picks_one_per_call() {
    let q = Quirks::spawn().await;
    let app = quirk_app(&q).await;
    let conn = connect(&app, "slack-both").await;
    let key = &conn.key;
    // Default: the bot token, as before user scopes existed.
    assert_eq!(who(&app, key, "slack-both", None).await, (SLACK_BOT_USER_ID.to_owned(), true));
    assert_eq!(who(&app, key, "slack-both", Some("bot")).await, (SLACK_BOT_USER_ID.to_owned(), true));
    assert_eq!(who(&app, key, "slack-both", Some("user")).await, (SLACK_USER_ID.to_owned(), false));
    // A name Slack connections do not have, and any name on an integration with one token: 400, named.
    for (shape, token, says) in [("slack-both", "admin", "use bot or user"), ("slack-both", "User", "use bot or user"), ("textbook", "user", "hold one token")] {
        let key = if shape == "textbook" { connect(&app, "textbook").await.key } else { key.clone() };
        let res = auth_test(&app, &key, shape, Some(token)).await;
        assert_eq!(res.status(), 400, "{shape} {token}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unknown_token", "{body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{body}");
    }
    // The header is Plugboard's: Slack never sees it.
    let echo: Value = plugboard_tests::passthrough(&app, key, reqwest::Method::GET, "quirk-slack-both/echo/conversations.list")
        .header("Plugboard-Token", "user")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(echo["headers"]["authorization"].as_str().unwrap().starts_with("Bearer xoxe.xoxp-"), "{echo}");
    assert!(echo["headers"].get("plugboard-token").is_none(), "{echo}");
    let text = record_text(&app, key).await;
    assert!(!text.contains("xox"), "{text}");
}

#[tokio::test]
async fn token_rotation_renews_each_token_with_its_own_refresh_token() {
    let q = Quirks::spawn().await;
    q.set_slack_lifetime(6);
    let app = quirk_app(&q).await;
    let key = connect(&app, "slack-both").await.key;
    for round in 1..=2 {
        // Due a fifth of the lifetime before expiry: after about 4.8 s.
        tokio::time::sleep(Duration::from_millis(5_200)).await;
        assert_eq!(who(&app, &key, "slack-both", Some("user")).await, (SLACK_USER_ID.to_owned(), false), "round {round}");
        assert_eq!(who(&app, &key, "slack-both", Some("bot")).await, (SLACK_BOT_USER_ID.to_owned(), true), "round {round}");
        // Each kind renewed once per round, with the refresh token of its own kind (the quirk rotates refresh
        // tokens: a mixed-up or reused one would be refused and fail the connection).
        assert_eq!(q.slack_refreshes(), ["bot", "user"].repeat(round), "round {round}");
    }
    let text = record_text(&app, &key).await;
    assert!(text.contains("\"state\":\"operational\"") && !text.contains("xox"), "{text}");
}

/// A `plugboard serve` process whose log (debug level) is kept for reading.
struct LoggedServer {
    url: String,
    key: SecretKey,
    child: Child,
}

impl Server for LoggedServer {
    fn url(&self) -> &str {
        &self.url
    }
    fn key(&self) -> &SecretKey {
        &self.key
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn neither_token_is_ever_logged() {
    let q = Quirks::spawn().await;
    q.set_slack_lifetime(6);
    let dir = tempfile::tempdir().unwrap();
    let var = "SLACK_QUIRK_CLIENT_SECRET";
    let config = dir.path().join("plugboard.toml");
    std::fs::write(&config, q.config_file(&["slack-user", "slack-both"], var)).unwrap();
    let log = dir.path().join("server.log");
    let (addr, url): (SocketAddr, String) = free_addr();
    let key = SecretKey::generate(plugboard::keys::Environment::Test);
    let child = Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
        .arg("serve")
        .args(["--bind", &addr.to_string(), "--public-url", &url, "--secret-key", key.expose(), "--project-id", "test-project"])
        .args(["--data-dir", &dir.path().join("data").display().to_string(), "--config", &config.display().to_string()])
        .args(["--refresh-interval-secs", "3600", "--rate-limit-ip", "0", "--rate-limit-identity", "0", "--rate-limit-project", "0", "--rate-limit-backend", "0"])
        .env(var, CLIENT_SECRET)
        .env("RUST_LOG", "plugboard=trace,tower_http=trace")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = LoggedServer { url: url.clone(), key, child };
    eventually("the server answers", || async { reqwest::get(format!("{url}/healthz")).await.ok().filter(|r| r.status() == 200) }).await;

    let user_only = connect(&server, "slack-user").await.key;
    assert_eq!(who(&server, &user_only, "slack-user", None).await.0, SLACK_USER_ID);
    let both = connect(&server, "slack-both").await.key;
    assert!(who(&server, &both, "slack-both", None).await.1);
    assert!(!who(&server, &both, "slack-both", Some("user")).await.1);
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    assert!(who(&server, &both, "slack-both", Some("bot")).await.1, "after a refresh");
    assert_eq!(q.slack_refreshes(), ["bot", "user"]);
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("oauth connection saved") && text.contains("access token refreshed"), "the log is the server's: {text}");
    assert!(!text.contains("xox"), "a token in the log:\n{text}");
}
