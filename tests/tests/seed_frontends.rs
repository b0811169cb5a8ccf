//! The seeds' frontend packages against Plugboard in headless Chromium: `@withone/auth` (`useOneAuth`) and
//! `@picahq/authkit` (`useAuthKit`), pinned in scripts/package.json, bundled by esbuild into a host page on another
//! origin exactly as their READMEs show, with `baseUrl` set to the Plugboard server and the seeds' backend token
//! endpoints behind them (tests/seeds/host.mjs). The only change from the hosted products is that URL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use plugboard_tests::{fantoccini::Locator, spawn_with_provider, Browser, TestApp};

/// tests/seeds/host.mjs as a child process; killed when dropped.
struct SeedHost {
    url: String,
    child: Child,
}

impl SeedHost {
    fn start(app: &TestApp, bind: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/host.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args([&app.url, app.key.expose(), bind])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (scripts/setup installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("the host says where it listens");
        let url = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("host did not start: {line:?}")).to_owned();
        Self { url, child }
    }
}

impl Drop for SeedHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `page` (`/one?…` or `/pica?…`) on the host, clicks its button and enters the package's iframe.
async fn open(b: &Browser, host: &SeedHost, page: &str) {
    b.client.goto(&format!("{}{page}", host.url)).await.unwrap();
    b.click("#connect").await;
    b.wait_js("the package's iframe", "return document.getElementById('event-link')").await;
    b.enter_widget().await;
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    b.js(&format!("document.querySelector('{css}').value = ''; return 1")).await;
    b.client.find(Locator::Css(css)).await.unwrap().send_keys(text).await.unwrap();
}

/// Closes the widget with its × and waits for the package to remove its iframe.
async fn close_with_x(b: &Browser) {
    b.js("document.querySelector('.pb-close').click(); return 1").await;
    b.leave_widget().await;
    b.wait_js("onClose", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.wait_js("the iframe to go", "return !document.getElementById('event-link')").await;
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_auth_lists_connects_by_form_with_the_hosts_options_and_closes() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let b = Browser::start().await;
    let logo = format!("{}/assets/logos/gmail.svg", app.url);
    let page = format!("/one?user=alice&title=Connect%20your%20tools&companyName=Acme&appTheme=dark&showNameInput=1&imageUrl={}", url::form_urlencoded::byte_serialize(logo.as_bytes()).collect::<String>());
    open(&b, &host, &page).await;

    // The host's options are honoured: title, company name and logo, dark theme.
    b.wait_js("the list", "return document.querySelectorAll('.pb-row').length > 5").await;
    assert_eq!(b.js("return document.querySelector('h1').textContent").await, "Connect your tools");
    assert_eq!(b.js("return document.querySelector('.pb-company').textContent").await, "Acme");
    assert_eq!(b.js("return document.querySelector('.pb-company-logo').src").await, logo.as_str());
    assert_eq!(b.js("return document.querySelector('.pb-root').classList.contains('pb-dark')").await, true);
    // The payload (which can hold the host's token headers) is gone from the frame's address.
    assert_eq!(b.js("return location.search").await, "");

    b.pick("mock-api-key").await;
    type_into(&b, "input[name=api_key]", "mock-key-0123456789").await;
    type_into(&b, "input[name=pb-name]", "Work key").await;
    b.click(".pb-form button[type=submit]").await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')?.textContent === 'Mock API Key is connected'").await;
    b.leave_widget().await;
    let record = b.success_record().await;
    assert_eq!((record.platform.as_str(), record.identity.as_deref(), record.name.as_str()), ("mock-api-key", Some("alice"), "Work key"));
    assert!(record.key.starts_with("test::mock-api-key::"), "{}", record.key);
    assert_eq!(connections(&app).await, 1);

    b.enter_widget().await;
    close_with_x(&b).await;
    assert_eq!(b.host_log().await.matches("onClose").count(), 1);
    assert!(!b.host_log().await.contains("onError"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn authkit_with_a_selected_connection_goes_straight_to_its_form_and_escape_closes() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let b = Browser::start().await;
    // @picahq/authkit-token's merged answer (every row, the session in requestId) is what the frame gets.
    open(&b, &host, "/pica?user=bob&selectedConnection=Mock%20API%20Key&appTheme=light").await;
    b.wait_js("the form", "return document.querySelector('input[name=api_key]')").await;
    assert_eq!(b.js("return document.querySelector('.pb-root').classList.contains('pb-light')").await, true);
    assert_eq!(b.js("return document.querySelector('input[name=pb-name]')").await, serde_json::Value::Null, "no name input unless asked");
    type_into(&b, "input[name=api_key]", "mock-key-0123456789").await;
    b.click(".pb-form button[type=submit]").await;
    b.leave_widget().await;
    let record = b.success_record().await;
    assert_eq!((record.platform.as_str(), record.identity.as_deref()), ("mock-api-key", Some("bob")));

    // Escape in the widget closes it: onClose, and the package removes its frame.
    b.enter_widget().await;
    b.js("window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1").await;
    b.leave_widget().await;
    b.wait_js("onClose", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.wait_js("the iframe to go", "return !document.getElementById('event-link')").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_in_a_popup_ends_in_on_success_with_either_package() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let b = Browser::start().await;
    for (n, page) in ["/pica?user=carol", "/one?user=carol&authWindow=popup"].into_iter().enumerate() {
        open(&b, &host, page).await;
        b.pick("mock-oauth").await;
        b.click(".pb-form button[type=submit]").await;
        b.leave_widget().await;
        let main = b.switch_to_popup().await;
        b.wait_js("the provider's consent page", "return document.querySelector('#allow')").await;
        b.click("#allow").await;
        plugboard_tests::eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
        b.client.switch_to_window(main).await.unwrap();
        let record = b.success_record().await;
        assert_eq!((record.platform.as_str(), record.identity.as_deref()), ("mock-oauth", Some("carol")), "{page}");
        assert!(record.settings.oauth);
        assert_eq!(connections(&app).await, n as u64 + 1, "{page}");
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_auth_redirect_mode_signs_in_in_the_same_tab_and_on_success_fires_on_return() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let b = Browser::start().await;
    // @withone/auth's default: the whole tab goes to the provider and comes back to this very page.
    open(&b, &host, "/one?user=dave&tab=apps").await;
    b.pick("mock-oauth").await;
    b.click(".pb-form button[type=submit]").await;
    b.leave_widget().await;
    b.wait_js("the provider's consent page, in this tab", "return document.querySelector('#allow')").await;
    assert_eq!(b.client.windows().await.unwrap().len(), 1, "no popup");
    b.click("#allow").await;

    // Back on the host page: the package opens the widget with the state Plugboard put on the URL; the widget
    // claims the sign-in with the proof it kept, and onSuccess fires.
    let record = b.success_record().await;
    assert_eq!((record.platform.as_str(), record.identity.as_deref()), ("mock-oauth", Some("dave")));
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/one");
    assert_eq!(url.query(), Some("user=dave&tab=apps"), "the page's own query is kept and ours is taken out");
    b.enter_widget().await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')?.textContent === 'Mock OAuth is connected'").await;
    // The frame stays until the user dismisses it.
    b.js("document.querySelector('.pb-done button').click(); return 1").await;
    b.leave_widget().await;
    b.wait_js("onClose", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.wait_js("the iframe to go", "return !document.getElementById('event-link')").await;
    assert_eq!(connections(&app).await, 1);

    // Denied at the provider: back on the page, onError with the reason; nothing is saved.
    b.click("#connect").await;
    b.enter_widget().await;
    b.pick("mock-oauth").await;
    b.click(".pb-form button[type=submit]").await;
    b.leave_widget().await;
    b.wait_js("the consent page again", "return document.querySelector('#deny')").await;
    b.click("#deny").await;
    b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError You declined to connect Mock OAuth.')").await;
    assert!(!b.host_log().await.contains("onSuccess"), "a fresh page: only what this return brought");
    assert_eq!(connections(&app).await, 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_link_finished_in_another_browser_connects_nothing_for_anyone() {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");

    // Mallory starts a same-tab sign-in as the widget on the host page does (she holds its proof), and sends its
    // authorize link, with a return page of her choosing on the host, to a victim ("please reconnect").
    let mallory = plugboard_tests::session_token(&app, "mallory").await;
    let start: plugboard_shared::OAuthStart = plugboard_tests::http()
        .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url))
        .bearer_auth(&mallory)
        .header("Plugboard-Origin", &host.url)
        .json(&serde_json::json!({ "display": "page", "returnTo": format!("{}/", host.url) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back_to = format!("{}/one?user=victim&hold=1", host.url);
    let link = format!("{}?state={}~{}", start.authorize_url, start.flow_id, URL_SAFE_NO_PAD.encode(&back_to));

    // The victim opens it and allows access at the provider; the tab comes back to the host page with the state.
    let victim = Browser::start().await;
    victim.client.goto(&link).await.unwrap();
    victim.wait_js("the provider's consent page", "return document.querySelector('#allow')").await;
    victim.click("#allow").await;
    let back = victim.wait_js("the return", "return location.search.includes('one_auth_state=') && location.href").await;
    let state = url::Url::parse(back.as_str().unwrap()).unwrap().query_pairs().find(|(k, _)| k == "one_auth_state").unwrap().1.into_owned();
    let (flow, result) = state.split_once('.').expect("<flow>.<result>");
    assert_eq!(flow, start.flow_id);

    // The package opens the widget there; that widget did not start the sign-in, so it says so and voids it.
    victim.js("startOneAuth(); return 1").await;
    victim.wait_js("onError", "return document.getElementById('log').textContent.includes('onError')").await;
    assert!(victim.host_log().await.contains("started somewhere else"), "{}", victim.host_log().await);

    // Mallory, holding the proof and (from a leak of the return URL) the result, gets nothing.
    let claim = plugboard_tests::http()
        .post(format!("{}/v1/widget/oauth/flows/{flow}/claim", app.url))
        .bearer_auth(plugboard_tests::session_token(&app, "mallory").await)
        .header("Plugboard-Origin", &host.url)
        .json(&serde_json::json!({ "result": result, "proof": start.proof }))
        .send()
        .await
        .unwrap();
    assert_eq!(claim.status(), 404, "voided");
    assert_eq!(connections(&app).await, 0);

    // A return page elsewhere on the host is refused before the provider is even asked.
    let elsewhere = format!("{}?state={}~{}", start.authorize_url, start.flow_id, URL_SAFE_NO_PAD.encode("http://127.0.0.9/steal"));
    let refused = plugboard_tests::http().post(elsewhere.split('?').next().unwrap()).json(&serde_json::json!({ "proof": "", "state": elsewhere.split("state=").nth(1).unwrap() })).send().await.unwrap();
    assert_eq!(refused.status(), 400, "only pages on the origin the sign-in started from");
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_calls_on_error_with_either_package() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    let b = Browser::start().await;
    for page in ["/one?wrongKey=1", "/pica?wrongKey=1"] {
        b.client.goto(&format!("{}{page}", host.url)).await.unwrap();
        b.click("#connect").await;
        b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError ')").await;
        let said = b.host_log().await;
        assert!(said.contains("secret key"), "{page}: {said}");
        b.enter_widget().await;
        let alert = b.wait_js("the error in the widget", "return document.querySelector('[role=alert]')?.textContent").await;
        assert!(alert.as_str().unwrap().contains("secret key"), "{alert}");
        close_with_x(&b).await;
    }
    b.close().await;
}
