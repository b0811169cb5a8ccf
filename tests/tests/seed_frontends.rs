//! The seeds' frontend packages against Plugboard in headless Chromium: `@withone/auth` (`useOneAuth`) and
//! `@picahq/authkit` (`useAuthKit`), pinned in scripts/package.json, bundled by esbuild into a host page on another
//! origin exactly as their READMEs show, with `baseUrl` set to the Plugboard server and the seeds' backend token
//! endpoints behind them (tests/seeds/host.mjs). The only change from the hosted products is that URL.

use plugboard_tests::{fantoccini::Locator, spawn_with_provider, Browser, SeedHost, TestApp};

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
    // @withone/auth's redirect mode (its default) falls back to the popup while the project registers no page to
    // come back to: same-tab sign-in is off until then.
    // A user each: the same user's second sign-in would offer to reconnect the first connection.
    for (n, (page, user)) in [("/pica?user=carol", "carol"), ("/one?user=dave&authWindow=popup", "dave"), ("/one?user=erin", "erin")].into_iter().enumerate() {
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
        assert_eq!((record.platform.as_str(), record.identity.as_deref()), ("mock-oauth", Some(user)), "{page}");
        assert!(record.settings.oauth);
        assert_eq!(connections(&app).await, n as u64 + 1, "{page}");
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_auth_redirect_mode_signs_in_in_the_same_tab_and_on_success_fires_on_return() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = SeedHost::start(&app, "127.0.0.2");
    // @withone/auth's default, once the project registers the page to come back to: the whole tab goes to the
    // provider and comes back to this very page.
    plugboard_tests::register_return_urls(&app, &[&format!("{}/one?user=dave&tab=apps", host.url)]).await;
    let b = Browser::start().await;
    open(&b, &host, "/one?user=dave&tab=apps").await;
    b.pick("mock-oauth").await;
    b.click(".pb-form button[type=submit]").await;
    b.leave_widget().await;
    // Plugboard's page asks first (nothing vouches for a same-tab link), naming who asks for what.
    let ask = b.wait_js("the question", "return document.getElementById('continue') && document.querySelector('h1').textContent").await;
    assert_eq!(ask.as_str(), Some("Connect Mock OAuth to Test project as dave?"));
    b.wait_js("Continue to work", "return !document.getElementById('continue').disabled").await;
    b.click("#continue").await;
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
    b.wait_js("the question again", "const c = document.getElementById('continue'); return c && !c.disabled").await;
    b.click("#continue").await;
    b.wait_js("the consent page again", "return document.querySelector('#deny')").await;
    b.click("#deny").await;
    b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError You declined to connect Mock OAuth.')").await;
    assert!(!b.host_log().await.contains("onSuccess"), "a fresh page: only what this return brought");
    assert_eq!(connections(&app).await, 1);
    b.close().await;
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
        // The developer's reason went to onError; the user reads plain words, with Try again and Close.
        let alert = b.wait_js("the error in the widget", "return document.querySelector('[role=alert]')?.textContent").await;
        assert!(alert.as_str().unwrap().contains("could not start connecting") && !alert.as_str().unwrap().contains("secret key"), "{alert}");
        close_with_x(&b).await;
    }
    b.close().await;
}
