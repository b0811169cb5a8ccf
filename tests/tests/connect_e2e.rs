//! Connecting accounts end to end in headless Chromium: host page on another origin → widget → OAuth popup on the
//! mock provider → popup closes → the host page's onSuccess gets the record; API-key forms; failures users see.

use plugboard_tests::{fantoccini::Locator, spawn_host, spawn_with_provider, Browser, TestApp};

async fn open_widget(b: &Browser, host: &str, query: &str) {
    b.client.goto(&format!("{host}/{query}")).await.unwrap();
    b.click("#connect").await;
    b.enter_widget().await;
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_in_a_popup_ends_in_on_success_with_the_record_and_an_encrypted_vault_row() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "?user=alice").await;
    b.pick("mock-oauth").await;
    let scopes = b.js("return [...document.querySelectorAll('.pb-scopes li')].map(l => l.textContent)").await;
    // The catalog says `profile` and `email` in plain words, once.
    assert_eq!(scopes, serde_json::json!(["See your name and email address"]), "the user sees what will be shared");
    b.click(".pb-form button[type=submit]").await;

    let main = b.switch_to_popup().await;
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page");
    b.click("#allow").await;
    // The callback page tells the widget and closes itself.
    plugboard_tests::eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    b.client.switch_to_window(main).await.unwrap();

    let record = b.success_record().await;
    assert_eq!((record.platform.as_str(), record.identity.as_deref(), record.environment.as_str()), ("mock-oauth", Some("alice"), "test"));
    assert!(record.key.starts_with("test::mock-oauth::default::") && record.settings.oauth);
    b.wait_js("the promise", "return document.getElementById('log').textContent.includes('promise connected')").await;
    b.enter_widget().await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')?.textContent === 'Mock OAuth is connected'").await;
    b.leave_widget().await;

    let row = app.store.get_connection(&record.key).await.unwrap().expect("the vault row");
    assert_eq!(row.identity, "alice");
    let db = app.db.stored_bytes().await;
    assert!(!db.windows(8).any(|w| w == b"mock-at-" || w == b"mock-rt-"), "no plaintext token at rest");
    assert!(!b.host_log().await.contains("onError"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_the_popup_goes_back_quietly_and_denying_calls_on_error() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "").await;
    b.pick("mock-oauth").await;
    b.click(".pb-form button[type=submit]").await;
    let main = b.switch_to_popup().await;
    b.client.wait().for_element(Locator::Css("#allow")).await.unwrap();
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(main.clone()).await.unwrap();
    b.enter_widget().await;
    b.wait_js("the connect button again", "const s = document.querySelector('.pb-form button[type=submit]'); return s && !s.hidden && s.textContent === 'Continue with Mock OAuth'").await;
    assert_eq!(b.js("return [...document.querySelectorAll('[role=alert]')].filter(a => a.checkVisibility()).length").await, 0, "no error for a closed popup");

    // Second try: the user denies access.
    b.click(".pb-form button[type=submit]").await;
    b.leave_widget().await;
    b.switch_to_popup().await;
    b.client.wait().for_element(Locator::Css("#deny")).await.unwrap();
    b.click("#deny").await;
    plugboard_tests::eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    b.client.switch_to_window(main).await.unwrap();
    b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError connect_failed: You declined to connect Mock OAuth.')").await;
    assert!(!b.host_log().await.contains("onClose"), "closing the popup is not closing the modal");
    b.enter_widget().await;
    let alert = b.wait_js("the error in the widget", "return document.querySelector('[role=alert]')?.textContent").await;
    assert_eq!(alert, "You declined to connect Mock OAuth.");
    assert_eq!(connections(&app).await, 0);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_popup_offers_continue_and_a_severed_opener_still_completes() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "").await;
    b.pick("mock-oauth").await;
    // Simulate a popup blocker for the first attempt.
    b.js("window.__open = window.open; window.open = () => null; return 1").await;
    b.click(".pb-form button[type=submit]").await;
    b.wait_js("the Continue button", "const c = document.querySelector('.pb-continue'); return c && !c.hidden").await;
    b.js("window.open = window.__open; return 1").await;
    b.click(".pb-continue").await;
    b.leave_widget().await;
    let main = b.switch_to_popup().await;
    b.client.wait().for_element(Locator::Css("#allow")).await.unwrap();
    // As a provider's Cross-Origin-Opener-Policy would: sever window.opener, so the callback page cannot
    // message the widget. The widget's polling must still finish the flow (and close the popup).
    b.js("window.opener = null; return 1").await;
    b.click("#allow").await;
    plugboard_tests::eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    b.client.switch_to_window(main).await.unwrap();
    assert_eq!(b.success_record().await.platform, "mock-oauth");
    assert_eq!(connections(&app).await, 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn selected_connection_opens_the_form_which_checks_inline_and_reports_the_providers_reason() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    // Display name, any case: straight to the form, with a name input.
    open_widget(&b, &host, "?select=mock%20API%20key&nameInput").await;
    b.wait_js("the form", "return document.querySelector('input[name=api_key]')").await;
    assert_eq!(b.js("return document.querySelector('input[name=api_key]').type").await, "password");

    let key = b.client.find(Locator::Css("input[name=api_key]")).await.unwrap();
    key.send_keys("oops").await.unwrap();
    b.js("document.querySelector('input[name=api_key]').blur(); return 1").await;
    let inline = b.wait_js("inline validation", "return document.querySelector('#pb-err-api_key')?.textContent").await;
    assert_eq!(inline, "API key does not look right");
    assert_eq!(b.js("return document.querySelector('input[name=api_key]').getAttribute('aria-invalid')").await, "true");

    // Well-formed but wrong: the provider's reason reaches the user and onError.
    b.js("const i = document.querySelector('input[name=api_key]'); i.value = ''; return 1").await;
    key.send_keys("mock-key-wrong00").await.unwrap();
    b.click(".pb-form button[type=submit]").await;
    let alert = b.wait_js("the refusal", "return document.querySelector('[role=alert]')?.textContent").await;
    assert_eq!(alert, "Mock API Key refused the credential: Invalid API key provided");
    b.leave_widget().await;
    b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError connect_failed: Mock API Key refused')").await;

    b.enter_widget().await;
    b.js("const i = document.querySelector('input[name=api_key]'); i.value = ''; return 1").await;
    key.send_keys("mock-key-0123456789").await.unwrap();
    let name = b.client.find(Locator::Css("input[name=pb-name]")).await.unwrap();
    b.js("document.querySelector('input[name=pb-name]').value = ''; return 1").await;
    name.send_keys("Work key").await.unwrap();
    b.click(".pb-form button[type=submit]").await;
    b.leave_widget().await;
    let record = b.success_record().await;
    assert_eq!((record.platform.as_str(), record.name.as_str()), ("mock-api-key", "Work key"));
    assert_eq!(connections(&app).await, 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_selected_connection_shows_the_list_with_a_notice() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "?select=Nonexistent%20App").await;
    let notice = b.wait_js("the notice", "return document.querySelector('.pb-notice')?.textContent").await;
    assert_eq!(notice, "\u{201c}Nonexistent App\u{201d} is not available here. Pick another app.");
    assert!(b.js("return document.querySelectorAll('.pb-row').length").await.as_u64().unwrap() > 5);
    b.close().await;
}

/// A page on a third origin (127.0.0.4) that posts a forged `plugboard:init` into the widget frame.
async fn spawn_attacker() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.4:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let page = r#"<!doctype html><script>
      const p = new URLSearchParams(location.hash.slice(1));
      const forged = { type: "plugboard:init", nonce: p.get("nonce"), options: { title: "Forged" },
        session: { token: "pbs_forged", expiresAt: "2030-01-01T00:00:00Z", total: 1, pages: 1, page: 1, requestId: "",
          rows: [{ id: 1, connectionDefId: 1, platform: "evil", type: "api", title: "Evil App", image: "", category: "X",
                   authMethod: "none", environment: "test", tags: [], active: true }] } };
      parent.frames[0].postMessage(forged, p.get("target"));
      document.title = "sent";
    </script>"#;
    let router = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn the_widget_ignores_messages_from_a_foreign_origin() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let attacker = spawn_attacker().await;
    let b = Browser::start().await;
    open_widget(&b, &host, "").await;
    b.wait_js("the real list", "return document.querySelectorAll('.pb-row').length > 5").await;
    b.leave_widget().await;
    // The attacker knows the nonce (we hand it over) and aims at the right origin: only its origin is wrong.
    let nonce = b.js("return new URLSearchParams(document.querySelector('iframe').src.split('#')[1]).get('nonce')").await;
    let script = format!(
        "const f = document.createElement('iframe'); f.src = '{attacker}/#' + new URLSearchParams({{nonce: '{}', target: '{}'}}); document.body.appendChild(f); return 1",
        nonce.as_str().unwrap(),
        app.url
    );
    b.js(&script).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    b.enter_widget().await;
    assert_eq!(b.js("return document.querySelector('h1').textContent").await, "Connect your tools");
    assert_eq!(b.js("return [...document.querySelectorAll('.pb-name')].some(n => n.textContent === 'Evil App')").await, false);

    // Control: the same message from the real host page is accepted, so the check above is about the origin.
    b.leave_widget().await;
    let control = format!(
        "document.querySelector('iframe').contentWindow.postMessage({{ type: 'plugboard:init', nonce: '{}', options: {{ title: 'Forged' }}, session: {{ token: 'pbs_x', expiresAt: '2030-01-01T00:00:00Z', total: 1, pages: 1, page: 1, requestId: '', rows: [] }} }}, '{}'); return 1",
        nonce.as_str().unwrap(),
        app.url
    );
    b.js(&control).await;
    b.enter_widget().await;
    b.wait_js("the control message to land", "return document.querySelector('h1').textContent === 'Forged'").await;
    b.close().await;
}

/// An attacker's flow, started with the attacker's own session straight against the API (no widget): the link
/// they would send a victim ("please reconnect your Gmail") and its proof, which they know too.
async fn attackers_link(app: &TestApp) -> plugboard_shared::OAuthStart {
    let token = plugboard_tests::session_token(app, "attacker").await;
    plugboard_tests::start_oauth(app, &token, "mock-oauth").await
}

const ONLY_ITS_WINDOW: &str = "This sign-in link works only in the window your app opened for it.";

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_link_opened_in_another_browser_cannot_link_that_browsers_account() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let start = attackers_link(&app).await;
    // The victim: another browser profile, signed in at the provider, opens the link from a message.
    let victim = Browser::start().await;
    victim.client.goto(&start.authorize_url).await.unwrap();
    let status = victim.wait_js("the refusal", "return document.querySelector('[role=status]')?.textContent").await;
    assert!(status.as_str().unwrap().starts_with(ONLY_ITS_WINDOW), "{status}");
    assert!(victim.client.current_url().await.unwrap().as_str().starts_with(&app.url), "never sent to the provider");
    assert_eq!(provider.counters.token_requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    let flow = app.store.get_flow(&start.flow_id).await.unwrap().unwrap();
    assert_eq!(flow.redirected_at, None, "no browser was bound to the flow");
    assert_eq!(connections(&app).await, 0);
    victim.close().await;
}

/// A page on a third origin that opens the link in a popup and posts the proof into it, as an attacker who knows
/// the proof would: `/#link=…&flow=…&proof=…`.
async fn spawn_link_opener() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.4:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let page = r#"<!doctype html><button id="go">Reconnect</button><script>
      const p = new URLSearchParams(location.hash.slice(1));
      document.getElementById("go").onclick = () => {
        const w = window.open(p.get("link"), "x", "popup");
        const forged = { type: "plugboard:oauth-proof", flowId: p.get("flow"), proof: p.get("proof") };
        // Aimed at Plugboard's origin, as a real attacker would: only the sender's origin is wrong.
        const target = new URL(p.get("link")).origin;
        for (let i = 0; i < 30; i++) setTimeout(() => w.postMessage(forged, target), i * 100);
      };
    </script>"#;
    let router = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(page) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_another_origin_that_opens_the_link_and_posts_the_proof_gets_nowhere() {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let start = attackers_link(&app).await;
    let opener = spawn_link_opener().await;
    let victim = Browser::start().await;
    let fragment = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("link", &start.authorize_url)
        .append_pair("flow", &start.flow_id)
        .append_pair("proof", &start.proof)
        .finish();
    victim.client.goto(&format!("{opener}/#{fragment}")).await.unwrap();
    victim.click("#go").await;
    victim.switch_to_popup().await;
    let status = victim.wait_js("the refusal", &format!("return document.querySelector('[role=status]')?.textContent.startsWith({ONLY_ITS_WINDOW:?})")).await;
    assert_eq!(status, true);
    assert!(victim.client.current_url().await.unwrap().as_str().starts_with(&app.url), "never sent to the provider");
    assert_eq!(app.store.get_flow(&start.flow_id).await.unwrap().unwrap().redirected_at, None);
    assert_eq!(provider.counters.token_requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(connections(&app).await, 0);
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_popup_blocked_twice_signs_in_in_the_same_tab_and_the_host_page_gets_on_success_on_return() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    let blocked_twice = || async {
        b.client.goto("about:blank").await.unwrap(); // a fresh load, not a jump to the same hash
        open_widget(&b, &host, "?user=alice&tab=apps#/settings/integrations").await;
        b.pick("mock-oauth").await;
        // An in-app browser: no popup ever opens.
        b.js("window.open = () => null; return 1").await;
        b.click(".pb-form button[type=submit]").await;
        b.wait_js("the Continue button", "const c = document.querySelector('.pb-continue'); return c && !c.hidden").await;
        b.click(".pb-continue").await;
    };
    // A project that registered no page to come back to: no same-tab sign-in, and the user is told what to do.
    blocked_twice().await;
    let said = b.wait_js("the advice", "return document.querySelector('[role=alert]')?.textContent").await;
    assert!(said.as_str().unwrap().contains("Allow pop-ups for this site"), "{said}");
    assert!(b.js("return !document.querySelector('.pb-same-tab')").await.as_bool().unwrap());

    // Registered: the page itself, as the browser shows it (its query and hash route included).
    plugboard_tests::register_return_urls(&app, &[&format!("{host}/?user=alice&tab=apps#/settings/integrations")]).await;
    blocked_twice().await;
    b.wait_js("the same-tab offer", "return document.querySelector('.pb-same-tab')").await;
    b.click(".pb-same-tab").await;
    b.leave_widget().await;
    // Plugboard's page asks before anything is bound (no opener vouches for a same-tab link), by keyboard too.
    let ask = b.wait_js("the question", "return document.querySelector('h1')?.textContent").await;
    assert_eq!(ask.as_str(), Some("Connect Mock OAuth to Test project as alice?"));
    // The question has the focus, and Continue works only a second after the page shows (a held Enter, a double
    // click meant for the page before cannot answer it): Enter right away does nothing.
    assert_eq!(b.js("return document.activeElement.tagName").await.as_str(), Some("H1"));
    assert!(b.js("return document.getElementById('continue').disabled").await.as_bool().unwrap(), "not yet");
    b.client.active_element().await.unwrap().send_keys("\u{E007}").await.unwrap(); // Enter
    assert!(b.js("return !!document.getElementById('continue')").await.as_bool().unwrap(), "still asking");
    b.wait_js("Continue to work", "return !document.getElementById('continue').disabled").await;
    b.client.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap(); // Tab: to Continue
    assert_eq!(b.js("return document.activeElement.id").await.as_str(), Some("continue"));
    b.client.active_element().await.unwrap().send_keys("\u{E007}").await.unwrap(); // Enter
    // The whole tab goes to the provider, and comes back to the very page it left.
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page, in this tab");
    assert_eq!(b.client.windows().await.unwrap().len(), 1);
    b.click("#allow").await;
    let record = b.success_record().await;
    assert_eq!((record.platform.as_str(), record.identity.as_deref()), ("mock-oauth", Some("alice")));
    let url = b.client.current_url().await.unwrap();
    assert_eq!((url.query(), url.fragment()), (Some("user=alice&tab=apps"), Some("/settings/integrations")), "the user's place is kept, hash route included");
    assert!(!url.as_str().contains("plugboard_"), "the one-time result is taken out of the address bar: {url}");
    b.enter_widget().await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')?.textContent === 'Mock OAuth is connected'").await;
    b.leave_widget().await;
    assert_eq!(connections(&app).await, 1);
    b.close().await;
}
