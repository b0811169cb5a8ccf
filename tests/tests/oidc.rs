//! Against a certified OpenID provider (panva's `oidc-provider`): connect with PKCE and RFC 9207 `iss`, endpoints
//! from discovery, refresh with rotating refresh tokens (a reused one revokes the whole grant), revocation on
//! delete. Two server processes against it: tests/tests/nodes.rs.

use std::time::Duration;

use plugboard::{config::OAuthClient, vault::SecretString};
use plugboard_shared::{ConnectionState, FlowStatus, WidgetConnection};
use plugboard_tests::{
    free_addr, http, oauth_connect,
    oidc::{Oidc, CLIENT_ID, CLIENT_SECRET},
    passthrough, session_token, spawn_app_with, Server, TestApp,
};
use serde_json::Value;

/// A server with the `oidc` entry (discovery only) registered with the provider's client.
async fn app_for(oidc_ttl: u64, tweak: impl FnOnce(&mut plugboard::catalog::Integration)) -> (TestApp, Oidc) {
    let (addr, url) = free_addr();
    let oidc = Oidc::start(&format!("{url}/oauth/callback"), oidc_ttl);
    let mut entry = oidc.integration();
    tweak(&mut entry);
    let app = spawn_app_with(|s| {
        s.bind = addr;
        s.extra_integrations.push(entry);
        s.oauth_clients.insert("oidc".into(), OAuthClient { client_id: CLIENT_ID.into(), client_secret: SecretString::new(CLIENT_SECRET), scopes: None, settings: Default::default(), token_scopes: Default::default() });
    })
    .await;
    (app, oidc)
}

async fn me(app: &impl Server, key: &str) -> reqwest::Response {
    passthrough(app, key, reqwest::Method::GET, "oidc/me").send().await.unwrap()
}

async fn state(app: &TestApp, key: &str) -> ConnectionState {
    let rec: plugboard_shared::ConnectionRecord =
        app.get_connection(key).await.json().await.unwrap();
    rec.state
}

#[tokio::test]
async fn connects_refreshes_with_rotation_and_revokes_at_a_certified_provider() {
    // 5 s access tokens: each is refreshed a fifth of its life ahead, at 4 s.
    let (app, oidc) = app_for(5, |_| {}).await;
    let discovery = oidc.discovery().await;
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);

    let out = oauth_connect(&app, "alice", "oidc", None, async |url: String| {
        // Endpoints came from discovery, with PKCE (the provider requires it) and the state.
        assert!(url.starts_with(&format!("{}/auth?", oidc.url)), "{url}");
        assert!(url.contains("code_challenge_method=S256") && url.contains("state="), "{url}");
        oidc.consent(&url, true, &app.url).await
    })
    .await;
    assert_eq!(out.status, 200, "{}", out.page);
    let conn = out.connection();
    assert_eq!(oidc.stats().await.codes_exchanged, 1);
    let res = me(&app, &conn.key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["sub"], "alice");

    // Three token lifetimes: each refresh uses the refresh token the previous one rotated in — reusing an old one
    // would revoke the whole grant at this provider.
    for round in 1..=3 {
        tokio::time::sleep(Duration::from_millis(4_200)).await;
        let res = me(&app, &conn.key).await;
        assert_eq!(res.status(), 200, "round {round}");
        assert_eq!(oidc.stats().await.refreshes, round, "one refresh per lifetime");
    }
    assert_eq!(state(&app, &conn.key).await, ConnectionState::Operational);

    // Deleting revokes the grant at the provider (RFC 7009, endpoint from discovery).
    let res = app.delete_connection(&conn.key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(oidc.stats().await.revocations, 1);
}

#[tokio::test]
async fn a_denied_consent_and_a_foreign_issuer_end_the_flow_with_a_clear_message() {
    let (app, oidc) = app_for(60, |_| {}).await;
    let out = oauth_connect(&app, "alice", "oidc", None, async |url: String| oidc.consent(&url, false, &app.url).await).await;
    assert_eq!(out.status, 400);
    assert!(out.page.contains("You declined to connect Certified OIDC."), "{}", out.page);
    assert_eq!(out.flow.status, FlowStatus::Failed);

    // An entry that expects another issuer (a mix-up: the answer comes from a different server) is refused
    // before the code is exchanged.
    let (app, oidc) = app_for(60, |e| e.oauth.as_mut().unwrap().issuer = Some("https://login.example.com".into())).await;
    let out = oauth_connect(&app, "alice", "oidc", None, async |url: String| oidc.consent(&url, true, &app.url).await).await;
    assert_eq!(out.status, 400, "{}", out.page);
    assert!(out.page.contains("unexpected issuer"), "{}", out.page);
    assert_eq!(oidc.stats().await.token_requests, 0);
}


#[tokio::test]
async fn the_connection_names_the_account_its_id_token_signs_in_as() {
    // Asking for `email` and `profile` too: the provider's ID token then carries alice's email and name.
    let (app, oidc) = app_for(60, |e| e.oauth.as_mut().unwrap().scopes.extend(["email".into(), "profile".into()])).await;
    let out = oauth_connect(&app, "alice", "oidc", None, async |url: String| oidc.consent(&url, true, &app.url).await).await;
    assert_eq!(out.status, 200, "{}", out.page);
    let conn = out.connection();
    assert_eq!(conn.account.as_deref(), Some("alice@example.test"));
    let stored: Value = app.get_connection(&conn.key).await.json().await.unwrap();
    assert_eq!(stored["account"], "alice@example.test");
    assert!(!stored.to_string().contains("eyJ"), "no token is kept as a label");
    let token = session_token(&app, "alice").await;
    let mine: Vec<WidgetConnection> = http().get(format!("{}/v1/widget/connections", app.url)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine.iter().map(|c| (c.key.as_str(), c.account.as_deref())).collect::<Vec<_>>(), [(conn.key.as_str(), Some("alice@example.test"))]);

    // Without `email`, the ID token says only who (`sub`): no label rather than an id nobody can read.
    let (app, oidc) = app_for(60, |_| {}).await;
    let out = oauth_connect(&app, "alice", "oidc", None, async |url: String| oidc.consent(&url, true, &app.url).await).await;
    assert_eq!(out.connection().account, None);
}
