//! The widget as end users meet it, in headless Chromium: every screen in both themes at 1280 and 320 px wide,
//! checked by axe-core (WCAG 2.2 AA) and for non-text contrast (WCAG 1.4.11), saved as screenshots to look at;
//! the list scrolled with the wheel; keyboard-only use; and the host's usual mistakes (a token endpoint that
//! answers too little, answers nonsense or never answers), a revoked session, a closed widget with its sign-in
//! window still open. Each test asserts what a user would notice: what is on screen, where the focus is, what
//! the host page receives.

use plugboard_tests::Server;
use std::time::Duration;

use axum::{http::StatusCode, response::IntoResponse, routing::post, Json};
use plugboard_tests::{
    eventually,
    fantoccini::{
        actions::{InputSource, KeyAction, KeyActions, WheelAction, WheelActions},
        Locator,
    },
    http, spawn_with_provider, Browser, TestApp,
};
use tokio::net::TcpListener;

/// The demo host page and backend (as `spawn_host`) plus token endpoints with a host's usual mistakes:
/// `/api/token-bare` answers `{token, expiresAt}` only, `/api/token-hang` never answers, `/api/token-nonsense`
/// answers 200 with a token that is not a string.
async fn spawn_host(app: &TestApp) -> String {
    let listener = TcpListener::bind("127.0.0.2:0").await.expect("bind 127.0.0.2");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let (base, key) = (app.url.clone(), app.key.expose().to_owned());
    let bare = move || {
        let (base, key) = (base.clone(), key.clone());
        async move {
            let full: serde_json::Value = http()
                .post(format!("{base}/v1/authkit/token"))
                .header("X-One-Secret", key)
                .json(&serde_json::json!({ "identity": "bare-user", "identityType": "user" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            Json(serde_json::json!({ "token": full["token"], "expiresAt": full["expiresAt"] }))
        }
    };
    let router = plugboard::demo::router(&app.url, app.key.clone())
        .route("/api/token-bare", post(bare))
        .route("/api/token-hang", post(|| async { tokio::time::sleep(Duration::from_secs(120)).await; StatusCode::OK }))
        .route("/api/token-shape", post(|| async { Json(serde_json::json!({ "token": "pbs_x", "rows": "none" })).into_response() }))
        .route("/api/token-nonsense", post(|| async { Json(serde_json::json!({ "token": 42, "rows": "none" })).into_response() }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn open_widget(b: &Browser, host: &str, query: &str) {
    b.client.goto(&format!("{host}/{query}")).await.unwrap();
    b.click("#connect").await;
    b.enter_widget().await;
}

/// Control boundaries under 3:1 against what is behind them (WCAG 1.4.11), which axe does not check: fields,
/// chips and bordered buttons, by their border or their fill, whichever shows more.
const NON_TEXT_CONTRAST: &str = r#"
const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => { const f = c => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const opaque = c => c.length < 4 || c[3] > 0;
const behind = el => { for (let e = el.parentElement; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (opaque(c)) return c.slice(0, 3); } return [255, 255, 255]; };
return [...document.querySelectorAll('input, .pb-chip, .pb-button, .pb-reveal')].filter(e => e.checkVisibility()).flatMap(e => {
  const s = getComputedStyle(e), back = behind(e), fill = rgb(s.backgroundColor);
  const best = Math.max(ratio(rgb(s.borderTopColor).slice(0, 3), back), opaque(fill) ? ratio(fill.slice(0, 3), back) : 0);
  return best >= 3 ? [] : [`${e.tagName.toLowerCase()}.${e.className}: ${best.toFixed(2)}:1`];
});"#;

/// One look at the current screen: axe and 1.4.11 find nothing, nothing spills sideways, and the whole window is
/// saved as `widget-<screen>-<theme>-<width>.png`.
async fn look(b: &Browser, screen: &str, theme: &str, width: u32) {
    let name = format!("widget-{screen}-{theme}-{width}");
    let violations = b.axe().await;
    assert!(violations.is_empty(), "{name}: axe found\n{}", violations.join("\n"));
    let weak = b.js(NON_TEXT_CONTRAST).await;
    assert_eq!(weak, serde_json::json!([]), "{name}: control boundaries under 3:1");
    let spill = b.js("return document.scrollingElement.scrollWidth - innerWidth").await;
    assert_eq!(spill, 0, "{name}: the widget scrolls sideways");
    b.screenshot(&name).await;
}

/// Where `css` is on screen in the current frame: [top, bottom].
async fn rect(b: &Browser, css: &str) -> (f64, f64) {
    let r = b.js(&format!("const r = document.querySelector('{css}').getBoundingClientRect(); return [r.top, r.bottom]")).await;
    (r[0].as_f64().unwrap(), r[1].as_f64().unwrap())
}

async fn wheel(b: &Browser, x: i64, y: i64, delta: i64) {
    let mut w = WheelActions::new("wheel".into());
    w.push(WheelAction::Scroll { duration: None, x, y, delta_x: 0, delta_y: delta });
    b.client.perform_actions(w).await.expect("wheel");
}

async fn press(b: &Browser, key: char) {
    let keys = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    b.client.perform_actions(keys).await.expect("a key press");
}

const TAB: char = '\u{E004}';
const ENTER: char = '\u{E007}';
const ESCAPE: char = '\u{E00C}';
const DOWN: char = '\u{E015}';
const UP: char = '\u{E013}';

async fn type_into(b: &Browser, css: &str, text: &str) {
    b.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).send_keys(text).await.unwrap();
}

async fn clear_search(b: &Browser) {
    b.js("const i = document.querySelector('input[type=search]'); i.value = ''; i.dispatchEvent(new Event('input')); return 1").await;
}

async fn search(b: &Browser, text: &str) {
    clear_search(b).await;
    type_into(b, "input[type=search]", text).await;
}

/// A deployment that set up the popular OAuth apps (their clients), as a real one would: these are offered.
fn with_popular_clients(s: &mut plugboard::config::Settings) {
    for platform in ["gmail", "google-calendar", "google-drive", "slack", "hubspot", "salesforce", "notion", "github", "microsoft-teams", "zoom"] {
        let client = plugboard::config::OAuthClient {
            client_id: format!("{platform}-client"),
            client_secret: plugboard::vault::SecretString::new("a-client-secret"),
            scopes: None,
            settings: Default::default(), token_scopes: Default::default(),
        };
        s.oauth_clients.insert(platform.into(), client);
    }
}

/// Every screen a user can reach, in one theme at one width.
async fn every_screen(theme: &str, width: u32) {
    let (app, _provider) = spawn_with_provider(|s, _| with_popular_clients(s)).await;
    // The link page takes the project's theme.
    plugboard_tests::configure_project(&app, |s| s.theme = Some(theme.to_owned())).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.set_window_size(width, 760).await.unwrap();
    b.client.goto(&format!("{host}/?theme={theme}&user=ux")).await.unwrap();
    assert_eq!(b.js("return innerWidth").await, width, "the window is {width} px wide");
    let frame = {
        b.click("#connect").await;
        b.wait_js("the frame", "const f = document.querySelector('iframe'); return f && f.checkVisibility()").await;
        let r = b.js("const r = document.querySelector('iframe').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]").await;
        r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as i64).collect::<Vec<_>>()
    };
    // The whole widget is in view: not under the host page's scrollbar, not past the window's edge.
    let visible = b.js("return document.documentElement.clientWidth").await.as_i64().unwrap();
    assert!(frame[0] >= 0 && frame[0] + frame[2] <= visible, "the widget {frame:?} sticks out of the {visible} px the host page shows");
    b.enter_widget().await;
    b.wait_js("the list", "return document.querySelectorAll('.pb-row').length === 20").await;
    look(&b, "list", theme, width).await;

    // The wheel scrolls the list, and only the list: the header and search box stay where they were, the page
    // itself does not move, and what comes into view is drawn on the widget's own background.
    let header = rect(&b, ".pb-header").await;
    let search_box = rect(&b, "input[type=search]").await;
    wheel(&b, frame[0] + frame[2] / 2, frame[1] + frame[3] - 60, 600).await;
    b.wait_js("the list to scroll", "return document.querySelector('.pb-scroll').scrollTop > 200").await;
    assert_eq!(rect(&b, ".pb-header").await, header, "the header stays put");
    assert_eq!(rect(&b, "input[type=search]").await, search_box, "the search box stays put");
    assert_eq!(b.js("return document.scrollingElement.scrollTop").await, 0, "the page itself never scrolls");
    let bottom = b.js("const e = document.elementFromPoint(innerWidth / 2, innerHeight - 30); return !!e.closest('.pb-root')").await;
    assert_eq!(bottom, true, "the bottom of the frame is the widget, not the host page showing through");
    look(&b, "list-scrolled", theme, width).await;

    search(&b, "mail").await;
    b.wait_js("Gmail in the top 3", "return [...document.querySelectorAll('.pb-row .pb-name')].slice(0, 3).some(n => n.textContent === 'Gmail')").await;
    look(&b, "search", theme, width).await;
    search(&b, "zzqqxxw").await;
    b.wait_js("the empty result", "return document.querySelector('.pb-empty')?.textContent.includes('zzqqxxw')").await;
    look(&b, "search-empty", theme, width).await;

    // A form: the first field takes the focus; submitting it empty marks the field and keeps the focus there.
    search(&b, "mock api").await;
    b.wait_js("the row", "return document.querySelector('[data-platform=mock-api-key]')").await;
    b.click("[data-platform=mock-api-key]").await;
    b.wait_js("the form", "return document.activeElement?.name === 'api_key'").await;
    look(&b, "form", theme, width).await;
    b.click(".pb-form .pb-primary").await;
    b.wait_js("the field's error", "return document.querySelector('.pb-field-error')?.textContent === 'API key is required'").await;
    b.wait_js("the focus on the field to fix", "return document.activeElement.name === 'api_key'").await;
    look(&b, "form-errors", theme, width).await;
    type_into(&b, "input[name=api_key]", "mock-key-wrong99").await;
    b.click(".pb-form .pb-primary").await;
    b.wait_js("the refusal", "return document.querySelector('.pb-form [role=alert]')?.checkVisibility()").await;
    let shown = b.js("return [...document.querySelectorAll('.pb-form button')].filter(b => b.checkVisibility()).map(b => b.textContent)").await;
    assert_eq!(shown, serde_json::json!(["Show", "Try again"]), "a first connection has one way on: no 'another account'");
    look(&b, "connect-error", theme, width).await;

    // OAuth: the connect screen, the waiting screen while the sign-in window is open, then success.
    press(&b, ESCAPE).await;
    b.wait_js("back on the list", "return document.activeElement?.dataset.platform === 'mock-api-key'").await;
    search(&b, "mock oauth").await;
    b.wait_js("the row", "return document.querySelector('[data-platform=mock-oauth]')").await;
    b.click("[data-platform=mock-oauth]").await;
    b.wait_js("the connect screen", "return document.querySelector('.pb-form .pb-primary')?.textContent === 'Continue with Mock OAuth'").await;
    look(&b, "connect-oauth", theme, width).await;
    b.click(".pb-form .pb-primary").await;
    b.wait_js("the waiting screen", "return document.querySelector('.pb-form [role=status]')?.textContent.includes('window that opened')").await;
    look(&b, "waiting", theme, width).await;
    b.leave_widget().await;
    let main = b.switch_to_popup().await;
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page");
    b.click("#allow").await;
    eventually("the popup to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    b.client.switch_to_window(main).await.unwrap();
    b.enter_widget().await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')?.textContent === 'Mock OAuth is connected'").await;
    b.wait_js("Done has the focus", "return document.activeElement?.textContent === 'Done'").await;
    look(&b, "success", theme, width).await;
    b.leave_widget().await;

    // A start the host got wrong: plain words and two ways forward.
    b.client.goto(&format!("{host}/?theme={theme}&user=")).await.unwrap();
    b.click("#connect").await;
    b.enter_widget().await;
    b.wait_js("the start error", "return document.querySelector('.pb-stopped h2')").await;
    look(&b, "start-error", theme, width).await;
    b.leave_widget().await;

    // An auth link opened from an email.
    let link: serde_json::Value = app.create_connect_session(&serde_json::json!({ "identity": "ux", "name": "Ada Lovelace" })).await
        .json()
        .await
        .unwrap();
    let url = link["authLinkUrl"].as_str().unwrap().to_owned();
    b.client.goto(&url).await.unwrap();
    b.wait_js("the link page", "return document.querySelectorAll('.pb-row').length > 5").await;
    b.wait_js("who it is for", "return document.querySelector('.pb-notice')?.textContent.includes('Ada Lovelace')").await;
    look(&b, "link", theme, width).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_light_1280() {
    every_screen("light", 1280).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_light_320() {
    every_screen("light", 320).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_dark_1280() {
    every_screen("dark", 1280).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_dark_320() {
    every_screen("dark", 320).await;
}

/// Keyboard only: the first app is one key away from the search box, the chips are one Tab stop walked with the
/// arrows, the focus follows every screen change, and Escape steps back before it closes.
#[tokio::test(flavor = "multi_thread")]
async fn keyboard_only_reaches_everything_and_escape_steps_back() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "?pageSize=5").await;
    b.wait_js("the list", "return document.querySelectorAll('.pb-row').length === 5").await;
    assert_eq!(b.js("return document.activeElement.type").await, "search");

    // ↓: the first app; ↓ again: the second; ↑ twice: back in the search box.
    press(&b, DOWN).await;
    let first = b.js("return document.querySelector('.pb-row').dataset.platform").await;
    // The focus moves on the next frame: wait for it, as the user's eye would.
    b.wait_js("one key from the search box to the first app", "return document.activeElement === document.querySelector('.pb-row')").await;
    press(&b, DOWN).await;
    let second = b.js("return document.querySelectorAll('.pb-row')[1].dataset.platform").await;
    assert_eq!(b.js("return document.activeElement.dataset.platform").await, second);
    press(&b, UP).await;
    press(&b, UP).await;
    assert_eq!(b.js("return document.activeElement.type").await, "search");

    // Tab: the chips are one stop (the pressed one), → moves along them; Tab again: the first app.
    b.wait_js("the chips", "return document.querySelectorAll('.pb-chip').length > 5").await;
    press(&b, TAB).await;
    assert_eq!(b.js("return document.activeElement.textContent").await, "All");
    press(&b, '\u{E014}').await; // →
    let second_chip = b.js("return document.querySelectorAll('.pb-chip')[1].textContent").await;
    assert_eq!(b.js("return document.activeElement.textContent").await, second_chip);
    press(&b, '\u{E012}').await; // ←
    press(&b, TAB).await;
    assert_eq!(b.js("return document.activeElement.dataset.platform").await, first, "two Tabs from the search box to the first app");

    // "Load more" hands the focus to the first new app.
    b.js("document.querySelector('.pb-more').focus(); return 1").await;
    press(&b, ENTER).await;
    b.wait_js("ten rows", "return document.querySelectorAll('.pb-row').length === 10").await;
    b.wait_js("the sixth app focused", "return document.activeElement === document.querySelectorAll('.pb-row')[5]").await;

    // Typing then Escape clears the search and keeps the widget open; Escape on an empty search closes it.
    b.js("document.querySelector('input[type=search]').focus(); return 1").await;
    type_into(&b, "input[type=search]", "mock").await;
    b.wait_js("the search", "return document.querySelectorAll('.pb-row').length <= 3").await;
    press(&b, DOWN).await;
    let platform = b.wait_js("an app focused", "return document.activeElement.dataset.platform").await.as_str().unwrap().to_owned();
    press(&b, ENTER).await;
    // The connect screen: the focus on its first field, or its heading.
    b.wait_js("the connect screen's focus", "return document.activeElement.closest('.pb-connect') && document.activeElement.matches('h2, input')").await;
    press(&b, ESCAPE).await;
    b.wait_js("back to the chosen app", &format!("return document.activeElement?.dataset.platform === '{platform}'")).await;
    b.js("document.querySelector('input[type=search]').focus(); return 1").await;
    press(&b, ESCAPE).await;
    b.wait_js("the search cleared", "return document.querySelector('input[type=search]').value === '' && document.querySelectorAll('.pb-row').length === 5").await;
    b.leave_widget().await;
    assert!(!b.host_log().await.contains("onClose"), "Escape with text in the search box does not close");
    b.enter_widget().await;
    let down = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: ESCAPE });
    b.client.perform_actions(down).await.unwrap();
    b.leave_widget().await;
    b.client.release_actions().await.unwrap();
    b.wait_js("onClose", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.close().await;
}

/// A token endpoint that forwards only `{token, expiresAt}` works; one that never answers or answers nonsense
/// gets, within seconds, plain words with Try again and Close in the widget, and a coded error on the host page;
/// the promise rejects once, when the user closes.
#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_token_mistakes_never_leave_the_user_waiting() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;

    open_widget(&b, &host, "?tokenUrl=/api/token-bare").await;
    b.wait_js("the list without a first page in the token answer", "return document.querySelectorAll('.pb-row').length === 20").await;
    b.leave_widget().await;
    assert!(!b.host_log().await.contains("onError"));

    for (endpoint, code) in [("/api/token-nonsense", "token_invalid"), ("/api/token-shape", "token_invalid"), ("/api/token-hang", "token_timeout")] {
        b.client.goto(&format!("{host}/?tokenUrl={endpoint}")).await.unwrap();
        let started = std::time::Instant::now();
        b.click("#connect").await;
        b.enter_widget().await;
        let words = b.wait_js("the start error", "return document.querySelector('.pb-stopped')?.textContent").await;
        // The token deadline is 8 s; the rest of the bound is this test's own round trips to a loaded browser.
        assert!(started.elapsed() < Duration::from_secs(13), "{endpoint}: shown after {:?}", started.elapsed());
        let words = words.as_str().unwrap();
        assert!(!words.contains("token") && !words.contains("endpoint"), "plain words for the user: {words}");
        let buttons = b.js("return [...document.querySelectorAll('.pb-stopped button')].map(b => b.textContent)").await;
        assert_eq!(buttons, serde_json::json!(["Try again", "Close"]));
        // The focus moves on the frame after the screen appears.
        b.wait_js("the focus on what happened", "return document.activeElement.tagName === 'H2'").await;
        b.leave_widget().await;
        let log = b.host_log().await;
        assert!(log.contains(&format!("onError {code}: ")), "{endpoint}: {log}");
        assert!(!log.contains("promise"), "nothing settled while the widget is open: {log}");
        b.enter_widget().await;
        b.click(".pb-stopped button:last-child").await;
        b.leave_widget().await;
        b.wait_js("the promise to reject", &format!("return document.getElementById('log').textContent.includes('promise rejected {code}')")).await;
        b.js("document.getElementById('log').textContent = ''; return 1").await;
    }
    b.close().await;
}

/// A wrong key is only a step: the user fixes it, and the promise says connected (it did not reject at the
/// first error); onError told the host of the refusal with a code.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_the_user_then_fixes_ends_connected() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "").await;
    b.pick("mock-api-key").await;
    type_into(&b, "input[name=api_key]", "mock-key-wrong99").await;
    b.click(".pb-form .pb-primary").await;
    b.wait_js("the refusal", "return document.querySelector('.pb-form [role=alert]')?.checkVisibility()").await;
    // Show what was typed, fix it.
    b.click(".pb-reveal").await;
    assert_eq!(b.js("return document.querySelector('input[name=api_key]').type").await, "text");
    b.js("const i = document.querySelector('input[name=api_key]'); i.value = ''; i.dispatchEvent(new Event('input')); return 1").await;
    type_into(&b, "input[name=api_key]", "mock-key-0123456789").await;
    b.click(".pb-form .pb-primary").await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')?.textContent === 'Mock API Key is connected'").await;
    b.leave_widget().await;
    let log = b.wait_js("the promise", "const l = document.getElementById('log').textContent; return l.includes('promise connected') && l").await;
    let log = log.as_str().unwrap();
    assert!(log.contains("onError connect_failed: "), "{log}");
    assert!(!log.contains("promise rejected"), "{log}");
    b.close().await;
}

/// A session revoked while the widget is open: the next thing the user does says so (not a silent search), in
/// place of the list, and the host page hears `session_expired`.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_session_says_so_at_once_and_tells_the_host() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&host).await.unwrap();
    // Keep the token the page receives, as the host's backend would know it.
    b.js("const f = window.fetch; window.fetch = (...a) => f(...a).then(async (r) => { const c = r.clone(); if (String(a[0]).includes('plugboard-token')) window.lastToken = (await c.json()).token; return r; }); return 1").await;
    b.click("#connect").await;
    let token = b.wait_js("the token", "return window.lastToken").await;
    b.enter_widget().await;
    b.wait_js("the list", "return document.querySelectorAll('.pb-row').length === 20").await;
    let res = app.revoke_session(token.as_str().unwrap()).await;
    assert_eq!(res.status(), 204);
    tokio::time::sleep(Duration::from_millis(2500)).await; // other nodes' caches: the revocation list is re-read within 2 s
    type_into(&b, "input[type=search]", "slack").await;
    let words = b.wait_js("the session's end", "return document.querySelector('.pb-stopped')?.textContent").await;
    assert!(words.as_str().unwrap().contains("This session has ended"), "{words}");
    assert_eq!(b.js("return document.querySelector('.pb-screen').hidden").await, true, "the list is not left under it");
    b.leave_widget().await;
    b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError session_expired: ')").await;
    b.close().await;
}

/// Closing the widget while its sign-in window is open closes that window too: no connection is made for a
/// widget the host already closed.
#[tokio::test(flavor = "multi_thread")]
async fn closing_the_widget_closes_its_sign_in_window() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "").await;
    b.pick("mock-oauth").await;
    b.click(".pb-form .pb-primary").await;
    b.leave_widget().await;
    let main = b.switch_to_popup().await;
    b.client.wait().for_element(Locator::Css("#allow")).await.expect("the consent page");
    b.client.switch_to_window(main).await.unwrap();
    // The host closes the widget from code (as after a route change), not with the widget's own button.
    b.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1").await;
    eventually("the sign-in window to close", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 0);
    b.close().await;
}

/// An app the user already connected is marked in the list; its screen offers to reconnect it (the same
/// connection, updated) or to add another account.
#[tokio::test(flavor = "multi_thread")]
async fn connected_apps_are_marked_and_reconnect_updates_the_same_connection() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let first = plugboard_tests::connect_fields(&app, "marked", "mock-api-key", serde_json::json!({ "api_key": "mock-key-0123456789" })).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    open_widget(&b, &host, "?user=marked").await;
    search(&b, "mock").await;
    b.wait_js("the badge", "return document.querySelector('[data-platform=mock-api-key] .pb-badge')?.textContent === 'Connected'").await;
    assert_eq!(b.js("return document.querySelector('[data-platform=mock-oauth] .pb-badge')").await, serde_json::Value::Null);
    b.click("[data-platform=mock-api-key]").await;
    b.wait_js("the choice", "return document.querySelector('.pb-form .pb-primary')?.textContent === 'Reconnect Mock API Key'").await;
    assert_eq!(b.js("return document.querySelectorAll('.pb-form button[type=submit]')[1].textContent").await, "Connect another account");
    type_into(&b, "input[name=api_key]", "mock-key-0123456789").await;
    b.click(".pb-form .pb-primary").await;
    b.wait_js("the success screen", "return document.querySelector('.pb-done h2')").await;
    b.leave_widget().await;
    let record = b.success_record().await;
    assert_eq!(record.key, first.key, "reconnect updates the connection the user had");
    assert_eq!(app.store.count_connections("test-project").await.unwrap(), 1);
    b.close().await;
}
