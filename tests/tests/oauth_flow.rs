//! The OAuth2 authorization-code flow against the strict mock provider, over real HTTP: the happy path and every
//! state / browser-binding / expiry / `iss` / PKCE / client failure — each leaving no connection behind.

use std::sync::atomic::Ordering;

use plugboard::demo::provider::MockProvider;
use plugboard_shared::{FlowState, FlowStatus, OAuthStart, TokenResponse};
use plugboard_tests::{spawn_with_provider, TestApp};
use reqwest::{redirect::Policy, Client, StatusCode};

fn client() -> Client {
    // A request stuck behind a lock fails the test instead of hanging it.
    Client::builder().redirect(Policy::none()).timeout(std::time::Duration::from_secs(60)).build().unwrap()
}

async fn session(app: &TestApp, identity: &str) -> String {
    let res = client()
        .post(format!("{}/v1/authkit/token", app.url))
        .header("X-One-Secret", app.key.expose())
        .body(format!(r#"{{"identity":"{identity}","identityType":"user"}}"#))
        .send()
        .await
        .unwrap();
    res.json::<TokenResponse>().await.unwrap().token
}

async fn start(app: &TestApp, token: &str) -> OAuthStart {
    let res = client()
        .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url))
        .bearer_auth(token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Follows Plugboard's authorize link as the popup would: answers the provider URL and the binding cookie.
async fn authorize(start: &OAuthStart) -> (String, String) {
    plugboard_tests::popup_authorize(start).await
}

/// The user answers the provider's consent page; answers where the provider sends the browser back.
async fn consent(provider_url: &str, allow: bool) -> String {
    let page = client().get(provider_url).send().await.unwrap().text().await.unwrap();
    let request = page.split(r#"name="request" value=""#).nth(1).and_then(|s| s.split('"').next()).expect("consent form");
    let origin = &provider_url[..provider_url.find("/authorize").unwrap()];
    let res = client()
        .post(format!("{origin}/authorize/decision"))
        .form(&[("request", request), ("decision", if allow { "allow" } else { "deny" })])
        .send()
        .await
        .unwrap();
    res.headers()["location"].to_str().unwrap().to_owned()
}

async fn callback(url: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut req = client().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn flow_state(app: &TestApp, token: &str, id: &str) -> FlowState {
    let res = client().get(format!("{}/v1/widget/oauth/flows/{id}", app.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

async fn database_bytes(app: &TestApp) -> Vec<u8> {
    app.db.stored_bytes().await
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

struct Flow {
    app: TestApp,
    provider: MockProvider,
    token: String,
    start: OAuthStart,
    cookie: String,
    provider_url: String,
}

async fn begin() -> Flow {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, "user-42").await;
    let start = start(&app, &token).await;
    let (provider_url, cookie) = authorize(&start).await;
    Flow { app, provider, token, start, cookie, provider_url }
}

#[tokio::test]
async fn a_completed_flow_stores_the_tokens_encrypted_and_reports_the_record() {
    let f = begin().await;
    // The provider is asked with PKCE S256 and the exact redirect URI.
    assert_eq!(param(&f.provider_url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&f.provider_url, "redirect_uri"), Some(format!("{}/oauth/callback", f.app.url)));
    assert!(param(&f.provider_url, "state").is_some_and(|s| s.len() >= 43));
    assert!(!f.start.authorize_url.contains("state="), "the state never leaves Plugboard except to the provider");
    assert_eq!(flow_state(&f.app, &f.token, &f.start.flow_id).await.status, FlowStatus::Pending);

    let back = consent(&f.provider_url, true).await;
    let (status, page) = callback(&back, Some(&f.cookie)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Connected") && page.contains(&format!(r#"data-flow="{}""#, f.start.flow_id)));

    let state = flow_state(&f.app, &f.token, &f.start.flow_id).await;
    assert_eq!(state.status, FlowStatus::Connected);
    let record = state.connection.expect("the record");
    assert_eq!((record.platform.as_str(), record.identity.as_deref(), record.environment.as_str()), ("mock-oauth", Some("user-42"), "test"));
    assert!(record.key.starts_with("test::mock-oauth::default::"));
    assert!(record.settings.oauth);
    assert_eq!(connections(&f.app).await, 1);
    assert_eq!(f.provider.counters.codes_exchanged.load(Ordering::SeqCst), 1);
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains("mock-at-") && !json.contains("mock-rt-"), "no secret in the record: {json}");
    let db = database_bytes(&f.app).await;
    assert!(!contains(&db, "mock-at-") && !contains(&db, "mock-rt-"), "tokens are not stored in plaintext");
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_changes_nothing() {
    let f = begin().await;
    let back = consent(&f.provider_url, true).await;
    assert_eq!(callback(&back, Some(&f.cookie)).await.0, StatusCode::OK);
    let (status, page) = callback(&back, Some(&f.cookie)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("already completed"));
    assert_eq!(connections(&f.app).await, 1);
    assert_eq!(f.provider.counters.codes_exchanged.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_or_missing_state_is_refused() {
    let f = begin().await;
    for url in [format!("{}/oauth/callback?code=x&state=forged", f.app.url), format!("{}/oauth/callback?code=x", f.app.url)] {
        let (status, page) = callback(&url, Some(&f.cookie)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert!(page.contains("Start again from the app."), "a human page: {page}");
    }
    // Bare: what a result page's reload asks for once its script has cleaned the address bar.
    let (status, page) = callback(&format!("{}/oauth/callback", f.app.url), Some(&f.cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Nothing to finish here") && page.contains("Go back to the app"), "{page}");
    assert_eq!(connections(&f.app).await, 0);
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    for cookie in [None, Some("pb_flow_x=forged")] {
        let f = begin().await;
        let back = consent(&f.provider_url, true).await;
        let forged = cookie.map(|c| c.replace("pb_flow_x", f.cookie.split('=').next().unwrap()));
        let (status, page) = callback(&back, forged.as_deref()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("different browser"));
        let state = flow_state(&f.app, &f.token, &f.start.flow_id).await;
        assert_eq!(state.status, FlowStatus::Failed);
        assert_eq!(connections(&f.app).await, 0);
        assert_eq!(f.provider.counters.codes_exchanged.load(Ordering::SeqCst), 0, "the code is never exchanged");
    }
}

#[tokio::test]
async fn an_expired_flow_is_refused() {
    let f = begin().await;
    let back = consent(&f.provider_url, true).await;
    let db = f.app.db.pool().await;
    sqlx::query("UPDATE oauth_flows SET expires_at = 0").execute(&db).await.unwrap();
    let (status, page) = callback(&back, Some(&f.cookie)).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("expired"));
    assert_eq!(connections(&f.app).await, 0);
}

#[tokio::test]
async fn a_response_from_the_wrong_issuer_is_refused() {
    let f = begin().await;
    *f.provider.iss_override.lock().unwrap() = Some("https://evil.example".into());
    let back = consent(&f.provider_url, true).await;
    let (status, page) = callback(&back, Some(&f.cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("unexpected issuer"));
    assert_eq!(f.provider.counters.codes_exchanged.load(Ordering::SeqCst), 0);
    assert_eq!(connections(&f.app).await, 0);
}

#[tokio::test]
async fn a_code_injected_into_another_flow_fails_pkce() {
    let f = begin().await;
    // The attacker's code (from flow A) is delivered with the state of a second flow B in the victim's browser:
    // state and binding check out, but B's PKCE verifier does not match A's challenge.
    let back_a = consent(&f.provider_url, true).await;
    let start_b = start(&f.app, &f.token).await;
    let (provider_b, cookie_b) = authorize(&start_b).await;
    let injected = format!(
        "{}/oauth/callback?code={}&state={}&iss={}",
        f.app.url,
        param(&back_a, "code").unwrap(),
        param(&provider_b, "state").unwrap(),
        param(&back_a, "iss").unwrap()
    );
    let (status, page) = callback(&injected, Some(&cookie_b)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("PKCE verification failed"), "{page}");
    assert_eq!(flow_state(&f.app, &f.token, &start_b.flow_id).await.status, FlowStatus::Failed);
    assert_eq!(connections(&f.app).await, 0);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_by_the_provider() {
    let (app, provider) = spawn_with_provider(|s, _| {
        s.oauth_clients.get_mut("mock-oauth").unwrap().client_secret = plugboard::vault::SecretString::new("wrong");
    })
    .await;
    let token = session(&app, "u").await;
    let start = start(&app, &token).await;
    let (provider_url, cookie) = authorize(&start).await;
    let back = consent(&provider_url, true).await;
    let (status, page) = callback(&back, Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Client authentication failed"));
    assert!(!page.contains("wrong"), "the secret is never shown");
    assert_eq!(connections(&app).await, 0);
    assert_eq!(provider.counters.codes_exchanged.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_denied_consent_ends_the_flow_with_a_readable_message() {
    let f = begin().await;
    let back = consent(&f.provider_url, false).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let (status, page) = callback(&back, Some(&f.cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("You declined to connect Mock OAuth."), "{page}");
    let state = flow_state(&f.app, &f.token, &f.start.flow_id).await;
    assert_eq!((state.status, state.error.as_deref()), (FlowStatus::Failed, Some("You declined to connect Mock OAuth.")));
    assert_eq!(connections(&f.app).await, 0);
}

#[tokio::test]
async fn the_authorize_link_works_once_and_flows_belong_to_their_session() {
    let f = begin().await;
    let again = client().get(&f.start.authorize_url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(again.text().await.unwrap().contains("already used"));
    let proof = serde_json::json!({ "proof": f.start.proof });
    let again = client().post(&f.start.authorize_url).json(&proof).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "the proof binds one browser, once");
    let other = session(&f.app, "someone-else").await;
    let res = client().get(format!("{}/v1/widget/oauth/flows/{}", f.app.url, f.start.flow_id)).bearer_auth(&other).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_redirect_uri_stops_at_the_provider() {
    let (app, provider) = spawn_with_provider(|_, cfg| cfg.redirect_uri = "http://127.0.0.1:1/elsewhere".into()).await;
    let token = session(&app, "u").await;
    let start = start(&app, &token).await;
    let (provider_url, _) = authorize(&start).await;
    let res = client().get(&provider_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "shown to the user, never redirected");
    assert!(res.text().await.unwrap().contains("redirect_uri_mismatch"));
    assert_eq!(connections(&app).await, 0);
    assert_eq!(provider.counters.token_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_provider_that_requires_pkce_refuses_a_flow_without_it() {
    // A catalog entry that (wrongly) opts out of PKCE: the strict provider refuses at once.
    let (app, provider) = spawn_with_provider(|s, _| {
        let entry = s.extra_integrations.iter_mut().find(|e| e.platform == "mock-oauth").unwrap();
        entry.oauth.as_mut().unwrap().pkce_opt_out = Some("The provider is said to refuse code_challenge.".into());
    })
    .await;
    let token = session(&app, "u").await;
    let start = start(&app, &token).await;
    let (provider_url, cookie) = authorize(&start).await;
    assert_eq!(param(&provider_url, "code_challenge"), None);
    let back = client().get(&provider_url).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
    let (status, page) = callback(&back, Some(&cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Mock OAuth refused the sign-in: PKCE is required"), "{page}");
    assert_eq!(flow_state(&app, &token, &start.flow_id).await.status, FlowStatus::Failed);
    assert_eq!(connections(&app).await, 0);
    assert_eq!(provider.counters.token_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_authorize_link_without_its_widgets_proof_goes_nowhere_and_costs_no_write() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let token = session(&app, "attacker").await;
    let start = start(&app, &token).await;

    let _lock = app.db.hold_write_lock().await;
    // Opening the link (as a victim would, from a message) answers a page that waits for its opener; no cookie,
    // no provider URL, no write.
    let page = client().get(&start.authorize_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("set-cookie").is_none());
    let html = page.text().await.unwrap();
    assert!(!html.contains(&provider.config.issuer) && html.contains("/oauth/authorize.js"), "{html}");
    // Guessing the proof: refused without touching the flow.
    let wrong = client().post(&start.authorize_url).json(&serde_json::json!({ "proof": "guess" })).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["code"], "flow_not_proven");
    // Callbacks and links naming nothing that exists: clear answers, no write (the lock would stall a write).
    let (status, page) = callback(&format!("{}/oauth/callback?code=x&state=forged-state", app.url), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("unknown to Plugboard"));
    let unknown = client().get(format!("{}/oauth/authorize/00000000-0000-0000-0000-000000000000", app.url)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::GONE);
    drop(_lock);

    // The widget's own popup, with the proof, still goes through; the link is then spent.
    let (provider_url, cookie) = authorize(&start).await;
    assert!(provider_url.starts_with(&provider.config.issuer));
    let back = consent(&provider_url, true).await;
    let (status, _) = callback(&back, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(connections(&app).await, 1);
}

#[tokio::test]
async fn a_same_tab_sign_in_comes_back_only_to_a_registered_page_and_needs_what_came_back_and_the_widgets_proof() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let host = "http://127.0.0.2:4000";
    let page = format!("{host}/settings?tab=apps");
    let token = session(&app, "alice").await;
    let start_with = |return_to: &str| {
        client()
            .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url))
            .bearer_auth(&token)
            .header("Plugboard-Origin", host)
            .json(&serde_json::json!({ "display": "page", "returnTo": return_to }))
            .send()
    };
    let refused = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], "same_tab_not_allowed");
    };
    // Off until the project registers the pages to come back to: not even the widget's own page.
    refused(start_with(&page).await.unwrap()).await;
    plugboard_tests::register_return_urls(&app, &[&page]).await;
    // Then only those pages, string for string: not another site (whatever Plugboard-Origin says), not an open
    // redirect on the host's own origin, not the same page with something added.
    for elsewhere in [
        "https://evil.example/catch".to_string(),
        format!("{host}/logout?next=https://evil.example/catch"),
        format!("{page}&x=1"),
        format!("{host}/settings"),
    ] {
        refused(start_with(&elsewhere).await.unwrap()).await;
    }
    refused(start_with(&format!("{host}/")).await.unwrap()).await;
    // @withone/auth's mode starts with the origin's root and names its page in `state` as the tab leaves: that page
    // must be registered; nothing else takes its place.
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let in_state = || {
        client()
            .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "display": "page", "returnTo": format!("{host}/"), "returnInState": true }))
            .send()
    };
    let prove = |url: String, state: Option<String>| async move {
        let res = client().post(url).json(&serde_json::json!({ "proof": "", "state": state })).send().await.unwrap();
        let status = res.status();
        (status, res.json::<serde_json::Value>().await.unwrap())
    };
    for named in [None, Some(format!("{host}/settings")), Some("https://evil.example/catch".to_string())] {
        let start: OAuthStart = in_state().await.unwrap().json().await.unwrap();
        let (status, body) = prove(start.authorize_url.clone(), named.map(|n| format!("{}~{}", start.flow_id, URL_SAFE_NO_PAD.encode(n)))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].as_str().unwrap().contains("returnUrls"), "{body}");
    }
    let start: OAuthStart = in_state().await.unwrap().json().await.unwrap();
    let (status, _) = prove(start.authorize_url.clone(), Some(format!("{}~{}", start.flow_id, URL_SAFE_NO_PAD.encode(&page)))).await;
    assert_eq!(status, StatusCode::OK, "the registered page");
    // The embedded widget's flow takes no page from `state`: that would move its result out of the fragment.
    let start: OAuthStart = start_with(&page).await.unwrap().json().await.unwrap();
    let (status, _) = prove(start.authorize_url.clone(), Some(format!("{}~{}", start.flow_id, URL_SAFE_NO_PAD.encode(&page)))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The authorize link has no opener to vouch for it, so its page asks the person first, naming who asks for
    // what, and goes on only when its button is clicked.
    let start: OAuthStart = start_with(&page).await.unwrap().json().await.unwrap();
    let html = client().get(&start.authorize_url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Connect Mock OAuth to Test project as <strong><bdi>alice</bdi></strong>?"), "{html}");
    assert!(html.contains(r#"id="continue""#) && html.contains(r#"id="cancel""#), "{html}");

    // The tab goes on, then the provider, then back to the registered page with a result in the fragment only.
    let parked = || async {
        let start: OAuthStart = start_with(&page).await.unwrap().json().await.unwrap();
        let proceed = client().post(&start.authorize_url).json(&serde_json::json!({ "proof": "" })).send().await.unwrap();
        assert_eq!(proceed.status(), StatusCode::OK);
        let cookie = proceed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let location = proceed.json::<serde_json::Value>().await.unwrap()["location"].as_str().unwrap().to_owned();
        let back = consent(&location, true).await;
        let res = client().get(&back).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let landed = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        let mut without_fragment = landed.clone();
        without_fragment.set_fragment(None);
        assert_eq!(without_fragment.as_str(), page, "the registered page, its query as it was, nothing added to it");
        let fragment: std::collections::HashMap<String, String> = url::form_urlencoded::parse(landed.fragment().unwrap().as_bytes()).into_owned().collect();
        assert_eq!(fragment["plugboard_flow"], start.flow_id);
        (start, fragment["plugboard_result"].clone())
    };
    let claim = |flow: String, session: String, result: String, proof: String| {
        let url = format!("{}/v1/widget/oauth/flows/{flow}/claim", app.url);
        async move {
            client().post(url).bearer_auth(session).header("Plugboard-Origin", host).json(&serde_json::json!({ "result": result, "proof": proof })).send().await.unwrap()
        }
    };

    // What came back, presented without the proof (the victim of a forwarded sign-in link has only that), is
    // refused and voids the sign-in: whoever holds the proof cannot claim it afterwards, and the grant the victim
    // gave is revoked at the provider.
    for (wrong_user, wrong_proof) in [("alice", "guess"), ("mallory", "")] {
        let (start, result) = parked().await;
        assert_eq!(provider.valid_refresh_tokens(), 1, "the parked sign-in's grant");
        let voiding = claim(start.flow_id.clone(), session(&app, wrong_user).await, result.clone(), wrong_proof.into()).await;
        assert_eq!(voiding.status(), StatusCode::FORBIDDEN);
        let late = claim(start.flow_id.clone(), session(&app, "alice").await, result, start.proof.clone()).await;
        assert_eq!(late.status(), StatusCode::NOT_FOUND, "voided");
        plugboard_tests::eventually("the voided grant revoked", || async { (provider.valid_refresh_tokens() == 0).then_some(()) }).await;
    }
    // Both halves from another end user are refused the same way.
    let (start, result) = parked().await;
    assert_eq!(claim(start.flow_id.clone(), session(&app, "mallory").await, result, start.proof.clone()).await.status(), StatusCode::FORBIDDEN);
    plugboard_tests::eventually("that grant revoked too", || async { (provider.valid_refresh_tokens() == 0).then_some(()) }).await;

    // A result nobody claims in time (the host page never opened the widget) is voided and its grant revoked.
    let (start, result) = parked().await;
    assert_eq!(provider.valid_refresh_tokens(), 1);
    let db = app.db.pool().await;
    sqlx::query("UPDATE oauth_flows SET parked_at = parked_at - 121 WHERE id = $1").bind(&start.flow_id).execute(&db).await.unwrap();
    plugboard_tests::eventually("the unclaimed grant revoked", || async { (provider.valid_refresh_tokens() == 0).then_some(()) }).await;
    assert_eq!(claim(start.flow_id.clone(), session(&app, "alice").await, result, start.proof.clone()).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(connections(&app).await, 0);

    let (start, result) = parked().await;
    assert_eq!(connections(&app).await, 0, "parked, not saved, until the widget claims it");
    // The proof alone (the one who started it has that) is not enough…
    assert_eq!(claim(start.flow_id.clone(), session(&app, "alice").await, "guess".into(), start.proof.clone()).await.status(), StatusCode::NOT_FOUND);
    // …the widget back on the host page, for the same user (a new session after the reload), has both: once.
    let res = claim(start.flow_id.clone(), session(&app, "alice").await, result.clone(), start.proof.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let record: serde_json::Value = res.json().await.unwrap();
    assert_eq!((record["platform"].as_str(), record["identity"].as_str()), (Some("mock-oauth"), Some("alice")));
    assert_eq!(claim(start.flow_id.clone(), session(&app, "alice").await, result, start.proof.clone()).await.status(), StatusCode::NOT_FOUND, "once");
    assert_eq!(connections(&app).await, 1);
    assert_eq!(provider.valid_refresh_tokens(), 1, "the connection's grant");

    // Once the project holds a connection of the integration, a voided grant is wiped but not revoked: at some
    // providers revoking one token ends the account's whole grant to the app, connections included.
    let (start, result) = parked().await;
    assert_eq!(claim(start.flow_id.clone(), session(&app, "mallory").await, result.clone(), start.proof.clone()).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(claim(start.flow_id.clone(), session(&app, "alice").await, result, start.proof.clone()).await.status(), StatusCode::NOT_FOUND, "voided");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(provider.valid_refresh_tokens(), 2, "not revoked");
    let flow = app.store.get_flow(&start.flow_id).await.unwrap().unwrap();
    assert!(flow.sealed.ciphertext.is_empty(), "the parked tokens are wiped");
    assert_eq!(connections(&app).await, 1);

    // A page the project drops meanwhile receives nothing: the provider's answer ends on Plugboard's page.
    let start: OAuthStart = start_with(&page).await.unwrap().json().await.unwrap();
    let proceed = client().post(&start.authorize_url).json(&serde_json::json!({ "proof": "" })).send().await.unwrap();
    let cookie = proceed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let location = proceed.json::<serde_json::Value>().await.unwrap()["location"].as_str().unwrap().to_owned();
    let back = consent(&location, true).await;
    plugboard_tests::register_return_urls(&app, &[]).await;
    let res = client().get(&back).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("returnUrls"));
    assert_eq!(connections(&app).await, 1);
}

#[tokio::test]
async fn only_the_authorize_pages_own_json_binds_and_over_https_a_tossed_cookie_counts_for_nothing() {
    // Served as https (a proxy in front terminates TLS): the binding cookie is `__Host-`, so no sibling subdomain
    // can plant one, and a plain cookie of that name is ignored.
    let (app, _provider) = spawn_with_provider(|s, cfg| {
        s.public_url = Some(format!("https://{}", s.bind));
        cfg.redirect_uri = format!("https://{}/oauth/callback", s.bind);
    })
    .await;
    let http_url = app.url.replacen("https://", "http://", 1);
    let plain = |u: &str| u.replacen("https://", "http://", 1);
    let token = client()
        .post(format!("{http_url}/v1/authkit/token"))
        .header("X-One-Secret", app.key.expose())
        .json(&serde_json::json!({ "identity": "attacker", "identityType": "user" }))
        .send()
        .await
        .unwrap()
        .json::<TokenResponse>()
        .await
        .unwrap()
        .token;
    let start: OAuthStart = client().post(format!("{http_url}/v1/widget/oauth/mock-oauth/start")).bearer_auth(&token).body("{}").send().await.unwrap().json().await.unwrap();
    let authorize = plain(&start.authorize_url);
    // Another site cannot post the proof: not as a form or text (no preflight), not with its Origin.
    let res = client().post(&authorize).header("content-type", "text/plain").body(format!(r#"{{"proof":"{}"}}"#, start.proof)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = client().post(&authorize).header("origin", "https://evil.example").json(&serde_json::json!({ "proof": start.proof })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], "cross_site");
    // The attacker's own browser binds the flow…
    let res = client().post(&authorize).json(&serde_json::json!({ "proof": start.proof })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-pb_flow_") && set.contains("Path=/;") && set.contains("Secure"), "{set}");
    let value = set.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let location = res.json::<serde_json::Value>().await.unwrap()["location"].as_str().unwrap().to_owned();
    // …and tosses a plain cookie with its value into the victim's browser, who then consents.
    let back = plain(&consent(&location, true).await);
    let tossed = format!("{}={value}", plugboard::connect::authorization_code::binding_cookie(&start.flow_id));
    let (status, page) = callback(&back, Some(&tossed)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn an_authorize_link_that_is_no_flow_id_says_so_plainly_on_either_database() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    for id in ["not-a-flow", "a%00b", "00000000-0000-0000-0000-000000000000"] {
        let res = client().get(format!("{}/oauth/authorize/{id}", app.url)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::GONE, "{id}");
        let page = res.text().await.unwrap();
        assert!(page.contains("already used or has expired"), "{id}: {page}");
        assert!(!page.to_lowercase().contains("database"), "{id}: no database text on a page: {page}");
    }
}
