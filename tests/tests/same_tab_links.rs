//! Same-tab sign-in links in another end user's hands (SECURITY.md, "Cross-user account linking"). Mallory, an end
//! user of the host app, starts a same-tab sign-in with her own widget session, so she holds its proof, and gets
//! a victim to open the link in the victim's own browser (a fresh headless Chromium) and allow access at the
//! provider. Whichever page she asks the sign-in to come back to, the victim is asked first, nothing reaches
//! her page, no connection is made for her identity, and the grant the victim gave is revoked at the provider.

use std::sync::{Arc, Mutex};

use axum::{routing::get, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use plugboard::demo::provider::MockProvider;
use plugboard_shared::OAuthStart;
use plugboard_tests::{eventually, spawn_host, spawn_with_provider, Browser, SeedHost, TestApp};
use reqwest::StatusCode;

/// Mallory's own site on another address: records every request that reaches it, and its page reports its whole
/// address, fragment included, as a real attacker's page would.
struct Catcher {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Catcher {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.9:0").await.expect("bind 127.0.0.9");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (on_get, on_post) = (seen.clone(), seen.clone());
        let router = Router::new()
            .route(
                "/catch",
                get(move |uri: axum::http::Uri| async move {
                    on_get.lock().unwrap().push(uri.to_string());
                    axum::response::Html("<script>fetch('/seen', { method: 'POST', body: location.href })</script>")
                }),
            )
            .route(
                "/seen",
                axum::routing::post(move |body: String| async move {
                    on_post.lock().unwrap().push(body);
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn connections_of(app: &TestApp, identity: &str) -> usize {
    let filter = plugboard::store::ConnectionFilter {
        project_id: "test-project".into(),
        environment: None,
        identity: Some(identity.into()),
        identity_type: None,
        platform: None,
    };
    app.store.list_connections(&filter, 0, 100).await.expect("listed").0.len()
}

/// Mallory's start, as her widget would send it: answers the status and, when it worked, the flow.
async fn mallory_starts(app: &TestApp, origin: &str, return_to: &str, in_state: bool) -> (StatusCode, Option<OAuthStart>, serde_json::Value) {
    let token = plugboard_tests::session_token(app, "mallory").await;
    let res = plugboard_tests::start_same_tab(app, &token, origin, return_to, in_state).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    let start = status.is_success().then(|| serde_json::from_value(body.clone()).expect("an OAuthStart"));
    (status, start, body)
}

/// Mallory claims with her proof and `result` (what she might learn of the victim's return).
async fn mallory_claims(app: &TestApp, origin: &str, start: &OAuthStart, result: &str) -> StatusCode {
    plugboard_tests::http()
        .post(format!("{}/v1/widget/oauth/flows/{}/claim", app.url, start.flow_id))
        .bearer_auth(plugboard_tests::session_token(app, "mallory").await)
        .header("Plugboard-Origin", origin)
        .json(&serde_json::json!({ "result": result, "proof": start.proof }))
        .send()
        .await
        .unwrap()
        .status()
}

/// The victim opens `link`, reads the question Plugboard's page asks, and (the worst case) clicks Continue.
async fn victim_continues(victim: &Browser, link: &str) -> String {
    victim.client.goto(link).await.unwrap();
    let asked = victim.wait_js("the question", "return document.getElementById('continue') && document.querySelector('h1').textContent").await;
    victim.wait_js("Continue to work", "return !document.getElementById('continue').disabled").await;
    victim.click("#continue").await;
    asked.as_str().unwrap().to_owned()
}

async fn grants_revoked(provider: &MockProvider) {
    eventually("the victim's grant revoked at the provider", || async { (provider.valid_refresh_tokens() == 0).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_return_page_on_mallorys_own_site_is_refused_and_a_registered_one_voids_the_victims_sign_in() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let catcher = Catcher::start().await;
    let catch = format!("{}/catch", catcher.url);

    // Her own site as the return page, with her own site as the origin she claims to be on: refused, first because
    // same-tab sign-in is off until the project registers pages, then because hers is not one of them.
    let (status, _, body) = mallory_starts(&app, &catcher.url, &catch, false).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("same_tab_not_allowed")));
    plugboard_tests::register_return_urls(&app, &[&format!("{host}/")]).await;
    let (status, _, body) = mallory_starts(&app, &catcher.url, &catch, false).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("same_tab_not_allowed")));

    // So she takes the host's registered page, the only one there is, and sends the link to a victim.
    let (status, start, _) = mallory_starts(&app, &host, &format!("{host}/"), false).await;
    assert_eq!(status, StatusCode::OK);
    let start = start.unwrap();
    let victim = Browser::start().await;
    let asked = victim_continues(&victim, &start.authorize_url).await;
    assert_eq!(asked, "Connect Mock OAuth to Test project as mallory?", "the victim is told whose account this would be");
    victim.wait_js("the provider's consent page", "return document.querySelector('#allow')").await;
    victim.click("#allow").await;

    // Back on the host's page in the victim's browser; its widget (the victim's session) did not start the
    // sign-in, so it voids it and says so.
    victim.wait_js("onError", "return document.getElementById('log')?.textContent.includes('onError')").await;
    let url = victim.client.current_url().await.unwrap();
    assert_eq!(url.origin().ascii_serialization(), host, "the registered page and nowhere else");
    assert!(!url.as_str().contains("plugboard_result"), "the result is taken out of the address bar: {url}");
    assert_eq!(mallory_claims(&app, &host, &start, "a-guess").await, StatusCode::NOT_FOUND);
    assert_eq!(connections_of(&app, "mallory").await, 0);
    assert_eq!(connections_of(&app, "demo-user").await, 0);
    assert!(catcher.seen().is_empty(), "{:?}", catcher.seen());
    grants_revoked(&provider).await;
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_redirect_on_the_hosts_allowed_origin_carries_nothing_out() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let catcher = Catcher::start().await;
    let page = format!("{}/one", host.url);
    plugboard_tests::configure_project(&app, |s| {
        s.allowed_origins = vec![host.url.clone()];
        s.return_urls = vec![page.clone()];
    })
    .await;
    // The host's /logout sends anyone anywhere (a common mistake): a page on the allowed origin, not a registered one.
    let bounce = format!("{}/logout?next={}", host.url, url::form_urlencoded::byte_serialize(format!("{}/catch", catcher.url).as_bytes()).collect::<String>());
    let (status, _, body) = mallory_starts(&app, &host.url, &bounce, false).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("same_tab_not_allowed")));

    // Through @withone/auth's return (the page named in `state`), which the victim's browser carries: the victim is
    // asked, and continuing is refused before the provider is even asked.
    let (status, start, _) = mallory_starts(&app, &host.url, &format!("{}/", host.url), true).await;
    assert_eq!(status, StatusCode::OK, "a page on this origin is registered: the package names it later");
    let start = start.unwrap();
    let link = format!("{}?state={}~{}", start.authorize_url, start.flow_id, URL_SAFE_NO_PAD.encode(&bounce));
    let victim = Browser::start().await;
    victim_continues(&victim, &link).await;
    let said = victim.wait_js("the refusal", "const s = document.querySelector('[role=status]').textContent; return s.includes('returnUrls') && s").await;
    assert!(said.as_str().unwrap().contains("not one of the project's returnUrls"), "{said}");
    assert!(victim.client.current_url().await.unwrap().as_str().starts_with(&app.url), "never sent to the provider");
    assert_eq!(provider.counters.token_requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(app.store.get_flow(&start.flow_id).await.unwrap().unwrap().redirected_at, None, "nothing bound");
    assert!(catcher.seen().is_empty(), "{:?}", catcher.seen());
    assert_eq!(connections_of(&app, "mallory").await, 0);
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_withone_auth_page_voids_the_victims_sign_in_and_mallory_gets_nothing() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let page = format!("{}/one?user=victim&hold=1", host.url);
    plugboard_tests::register_return_urls(&app, &[&page]).await;

    // A page the project did not register, even on its origin, is refused when the victim continues.
    let (_, start, _) = mallory_starts(&app, &host.url, &format!("{}/", host.url), true).await;
    let start = start.unwrap();
    let unregistered = format!("{}/one?user=victim", host.url);
    let victim = Browser::start().await;
    victim_continues(&victim, &format!("{}?state={}~{}", start.authorize_url, start.flow_id, URL_SAFE_NO_PAD.encode(&unregistered))).await;
    victim.wait_js("the refusal", "return document.querySelector('[role=status]').textContent.includes('returnUrls')").await;

    // The registered page: the victim allows access at the provider and comes back there.
    let (_, start, _) = mallory_starts(&app, &host.url, &format!("{}/", host.url), true).await;
    let start = start.unwrap();
    let asked = victim_continues(&victim, &format!("{}?state={}~{}", start.authorize_url, start.flow_id, URL_SAFE_NO_PAD.encode(&page))).await;
    assert_eq!(asked, "Connect Mock OAuth to Test project as mallory?");
    victim.wait_js("the provider's consent page", "return document.querySelector('#allow')").await;
    victim.click("#allow").await;
    let back = victim.wait_js("the return", "return location.search.includes('one_auth_state=') && location.href").await;
    let back = url::Url::parse(back.as_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(&page), "{back}");
    // Suppose the address leaked (it is in this page's query, where the package looks: SECURITY.md's known limits).
    let state = back.query_pairs().find(|(k, _)| k == "one_auth_state").unwrap().1.into_owned();
    let (_, result) = state.split_once('.').expect("<flow>.<result>");

    // The package opens the widget there; that widget did not start the sign-in, so it says so and voids it.
    victim.js("startOneAuth(); return 1").await;
    victim.wait_js("onError", "return document.getElementById('log').textContent.includes('onError')").await;
    assert!(victim.host_log().await.contains("started somewhere else"), "{}", victim.host_log().await);
    // Mallory, holding the proof and the result, gets nothing.
    assert_eq!(mallory_claims(&app, &host.url, &start, result).await, StatusCode::NOT_FOUND, "voided");
    assert_eq!(connections_of(&app, "mallory").await, 0);
    assert_eq!(connections_of(&app, "victim").await, 0);
    grants_revoked(&provider).await;
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_question_reads_in_both_themes_at_1280_and_320_px_and_is_answered_by_keyboard() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let page = "http://127.0.0.2:4000/settings";
    plugboard_tests::register_return_urls(&app, &[page]).await;
    // A long end-user id (an email address, say) must wrap, not widen the page.
    let token = plugboard_tests::session_token(&app, "alexandra.konstantinopoulou-vanderberg@long-company-name.example").await;
    for (theme, b) in [("light", Browser::start().await), ("dark", Browser::start_dark().await)] {
        for width in [1280u32, 320] {
            let start: OAuthStart = plugboard_tests::start_same_tab(&app, &token, "http://127.0.0.2:4000", page, false).await.json().await.unwrap();
            b.client.set_window_size(width, 720).await.unwrap();
            b.client.goto(&start.authorize_url).await.unwrap();
            b.wait_js("the question, ready", "const c = document.getElementById('continue'); return c && !c.disabled").await;
            let shown = b.js("return [innerWidth, document.documentElement.scrollWidth, matchMedia('(prefers-color-scheme: dark)').matches]").await;
            let (inner, scroll) = (shown[0].as_u64().unwrap(), shown[1].as_u64().unwrap());
            assert!(inner <= u64::from(width), "{theme} {width}: the window is {inner} px wide");
            assert!(scroll <= inner, "{theme} {width}: nothing sticks out sideways ({scroll} > {inner})");
            assert_eq!(shown[2].as_bool(), Some(theme == "dark"));
            let violations = b.axe().await;
            assert!(violations.is_empty(), "{theme} {width}: {violations:#?}");
            b.screenshot(&format!("same-tab-question-{theme}-{width}")).await;

            // Keyboard only: the question has the focus (not Continue: a held Enter must not answer it), Tab reaches
            // Continue, then Cancel, and Enter cancels; nothing is bound.
            assert_eq!(b.js("return document.activeElement.tagName").await.as_str(), Some("H1"));
            b.client.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap(); // Tab
            assert_eq!(b.js("return document.activeElement.id").await.as_str(), Some("continue"));
            b.client.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap(); // Tab
            assert_eq!(b.js("return document.activeElement.id").await.as_str(), Some("cancel"));
            b.client.active_element().await.unwrap().send_keys("\u{E007}").await.unwrap(); // Enter
            // Cancel goes back where the user came from, or, in a tab opened from a link, says so.
            b.wait_js(
                "the answer",
                &format!("return !location.href.startsWith({:?}) || document.querySelector('[role=status]').textContent.includes('Nothing was connected')", start.authorize_url),
            )
            .await;
            assert_eq!(app.store.get_flow(&start.flow_id).await.unwrap().unwrap().redirected_at, None, "{theme} {width}");
        }
        b.close().await;
    }
    assert_eq!(provider.counters.token_requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// The accessibility check above can fail: on a page with faint text, an image without a text alternative and a
/// nameless button, it names each.
#[tokio::test(flavor = "multi_thread")]
async fn the_accessibility_check_sees_a_bad_page() {
    let b = Browser::start().await;
    b.client
        .goto("data:text/html,<!doctype html><html lang=en><title>t</title><p style='color:%23ccc'>faint</p><img src='data:,x'><button></button></html>")
        .await
        .unwrap();
    let violations = b.axe().await.join("\n");
    for rule in ["color-contrast", "image-alt", "button-name"] {
        assert!(violations.contains(rule), "{rule} in {violations}");
    }
    b.close().await;
}
