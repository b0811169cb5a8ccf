//! End to end in headless Chromium: a host page on another origin (127.0.0.2) loads `embed.js` by script tag,
//! opens the widget, sees integrations, pages, searches and closes it — as an end user would.

use plugboard_tests::fantoccini::actions::{InputSource, KeyAction, KeyActions};
use plugboard_tests::{spawn_app, spawn_host, Browser};

/// No widget on screen (a hidden one, loaded ahead of the next open(), may be there).
const NOTHING_SHOWN: &str = "return ![...document.querySelectorAll('iframe')].some(f => f.checkVisibility())";

/// Waits until the widget lists exactly `n` rows and answers their names.
async fn rows_when(b: &Browser, n: usize) -> serde_json::Value {
    let js = format!(
        "const n = [...document.querySelectorAll('.pb-row .pb-name')].map(e => e.textContent); return n.length === {n} && n"
    );
    b.wait_js(&format!("{n} rows"), &js).await
}

/// Waits until the list shows exactly `names` (a new search's answer, not the last one's still on screen).
async fn rows_are(b: &Browser, names: &[&str]) -> serde_json::Value {
    let want = serde_json::to_string(names).unwrap();
    let js = format!("const n = [...document.querySelectorAll('.pb-row .pb-name')].map(e => e.textContent); return JSON.stringify(n) === {want:?} && n");
    b.wait_js(&format!("the rows {want}"), &js).await
}

async fn host_log(b: &Browser) -> String {
    b.js("return document.getElementById('log').textContent").await.as_str().unwrap_or_default().to_owned()
}

/// The names the widget should list, in the server's order (featured apps first, then by name; only what can
/// connect), and how many there are: what the widget API answers for a session of the demo user.
async fn listed_names(app: &plugboard_tests::TestApp) -> (Vec<String>, u64) {
    let token = plugboard_tests::session_token(app, "demo-user").await;
    let page: plugboard_shared::IntegrationsPage = plugboard_tests::http()
        .get(format!("{}/v1/widget/integrations?limit=100", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (page.rows.into_iter().map(|r| r.title).collect(), page.total)
}

async fn search(b: &Browser, text: &str) {
    b.js("const i = document.querySelector('input[type=search]'); i.value = ''; i.dispatchEvent(new Event('input')); return 1").await;
    b.client.find(fantoccini::Locator::Css("input[type=search]")).await.unwrap().send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn host_page_opens_pages_searches_and_closes_the_widget() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    assert_ne!(url_origin(&host), url_origin(&app.url), "the host page must be on another origin");
    let (names, total) = listed_names(&app).await;
    let b = Browser::start().await;

    b.client.goto(&format!("{host}/?pageSize=5")).await.unwrap();
    b.click("#connect").await;
    b.enter_widget().await;

    // First page: five rows in the server's order, with the host's title and company in the header.
    let first = rows_when(&b, 5).await;
    assert_eq!(first, serde_json::json!(names[..5]));
    assert_eq!(b.js("return document.querySelector('h1').textContent").await, "Connect your tools");
    assert_eq!(b.js("return document.querySelector('.pb-company').textContent").await, "Acme");
    assert_eq!(b.js("return document.querySelector('.pb-count').textContent").await, format!("{total} apps"));
    // The search box has focus, so the user can type at once.
    assert_eq!(b.js("return document.activeElement.type").await, "search");

    // "Load more" appends the second page.
    b.click(".pb-more").await;
    assert_eq!(rows_when(&b, 10).await, serde_json::json!(names[..10]));

    // Searching replaces the list.
    search(&b, "1password").await;
    assert_eq!(rows_when(&b, 1).await, serde_json::json!(["1Password"]));
    assert_eq!(b.js("return document.querySelector('.pb-more')").await, serde_json::Value::Null, "one page only");
    // Brand logos load from the server; an integration without one shows its monogram instead.
    b.wait_js("the logo to load", "const i = document.querySelector('.pb-row img'); return i && i.complete && i.naturalWidth > 0").await;
    search(&b, "freshdesk").await;
    assert_eq!(rows_are(&b, &["Freshdesk"]).await, serde_json::json!(["Freshdesk"]));
    assert_eq!(b.js("return document.querySelector('[data-platform=freshdesk] .pb-monogram').textContent").await, "F");

    // Category chips narrow the list; the count says how many.
    search(&b, "").await;
    b.wait_js("the chips", "return [...document.querySelectorAll('.pb-chip')].find(c => c.textContent === 'AI')").await;
    b.js("[...document.querySelectorAll('.pb-chip')].find(c => c.textContent === 'AI').click(); return 1").await;
    let token = plugboard_tests::session_token(&app, "demo-user").await;
    let chips: Vec<plugboard_shared::CategoryCount> =
        plugboard_tests::http().get(format!("{}/v1/widget/categories", app.url)).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    let ai_total = chips.iter().find(|c| c.name == "AI").expect("an AI chip").count;
    b.wait_js("the AI apps", &format!("return document.querySelector('.pb-count').textContent === '{ai_total} apps'")).await;
    let shown = b.js("return [...document.querySelectorAll('.pb-row .pb-category')].map(e => e.textContent)").await;
    assert!(shown.as_array().unwrap().iter().all(|c| c == "AI") && !shown.as_array().unwrap().is_empty(), "{shown}");
    assert_eq!(b.js("return document.querySelector('.pb-chip[aria-pressed=true]').textContent").await, "AI");

    b.js("document.querySelector('.pb-close').click(); return 1").await;
    b.leave_widget().await;
    b.wait_js("onClose on the host page", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.wait_js("the promise to resolve", "return document.getElementById('log').textContent.includes('promise closed')").await;
    assert_eq!(b.js(NOTHING_SHOWN).await, true, "the modal is gone");
    assert_eq!(b.js("return document.activeElement.id").await, "connect", "focus returns to the opener");
    assert!(!host_log(&b).await.contains("onError"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_closes_and_the_widget_reopens_fresh() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&host).await.unwrap();

    for round in 1..=2 {
        b.click("#connect").await;
        b.enter_widget().await;
        let expected = listed_names(&app).await.0.len().min(20);
        b.wait_js("rows", &format!("return document.querySelectorAll('.pb-row').length === {expected}")).await;
        // Escape inside the widget closes it. Only the key press is sent in the frame: the frame is gone by the
        // time a key release would arrive, and chromedriver can wait forever to deliver one into a removed frame.
        let press = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: '\u{E00C}' });
        b.client.perform_actions(press).await.unwrap();
        b.leave_widget().await;
        b.client.release_actions().await.unwrap();
        b.wait_js("the modal to close", NOTHING_SHOWN).await;
        let closes = host_log(&b).await.matches("onClose").count();
        assert_eq!(closes, round, "exactly one onClose per open");
    }

    // The backdrop closes it too.
    b.click("#connect").await;
    b.wait_js("the overlay", "return [...document.querySelectorAll('iframe')].some(f => f.checkVisibility())").await;
    b.js("document.querySelector('iframe').parentElement.dispatchEvent(new MouseEvent('click', {bubbles: true})); return 1").await;
    b.wait_js("the modal to close", NOTHING_SHOWN).await;
    assert_eq!(host_log(&b).await.matches("onClose").count(), 3);
    b.close().await;
    // The widget reported each open to the connect funnel, and each close it made itself (the backdrop is the
    // host page's).
    plugboard_tests::eventually("the funnel counted the opens and closes", || async {
        let counts = app.store.funnel(&Default::default()).await.unwrap();
        let n = |kind: &str| counts.iter().filter(|c| c.kind == kind).map(|c| c.count).sum::<i64>();
        (n("opened") >= 3 && n("closed") >= 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_request_shows_an_error_and_calls_on_error() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    // No user id: the host backend answers 401 {"error":"Unauthorized"}, as the seed's handler does.
    b.client.goto(&format!("{host}/?user=")).await.unwrap();
    b.click("#connect").await;
    // The host page hears a code and the endpoint's own words; the user reads plain words, with ways forward.
    b.wait_js("onError", "return document.getElementById('log').textContent.includes('onError token_request_failed: The token endpoint /api/plugboard-token answered 401: Unauthorized')").await;
    b.enter_widget().await;
    let alert = b.wait_js("the error in the widget", "const a = document.querySelector('[role=alert]'); return a && a.textContent").await;
    assert_eq!(alert, "Something went wrongThe app could not start connecting right now. Try again in a moment.Try againClose");
    // The promise settles once, when the user gives up: rejected with that error.
    b.click(".pb-stopped button:last-child").await;
    b.leave_widget().await;
    b.wait_js("the promise to reject", "return document.getElementById('log').textContent.includes('promise rejected token_request_failed')").await;
    b.close().await;
}

fn url_origin(url: &str) -> &str {
    url.trim_end_matches('/')
}

#[tokio::test(flavor = "multi_thread")]
async fn opened_from_the_hosts_own_modal_dialog_the_widget_is_on_top_and_the_dialog_works_again_after() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&host).await.unwrap();
    b.click("#open-settings").await;
    b.wait_js("the host's dialog", "return document.getElementById('settings').open && document.getElementById('settings').matches(':modal')").await;
    b.click("#settings-connect").await;
    b.wait_js("the widget frame", "return document.querySelector('iframe')").await;
    // What the user sees in the middle of the screen is the widget, not the host's dialog over it.
    b.wait_js(
        "the widget on top",
        "const f = document.querySelector('iframe').getBoundingClientRect(); \
         return document.elementFromPoint(f.left + f.width / 2, f.top + f.height / 2)?.tagName === 'IFRAME'",
    )
    .await;
    b.enter_widget().await;
    b.wait_js("rows", "return document.querySelectorAll('.pb-row').length > 5").await;
    b.click(".pb-row").await;
    b.wait_js("the connect screen", "return document.querySelector('.pb-back')").await;
    // Clicked from a script: the frame is removed while a WebDriver click would still be waiting on it.
    b.js("document.querySelector('.pb-close').click(); return 1").await;
    b.leave_widget().await;
    b.wait_js("the widget to close", NOTHING_SHOWN).await;

    // The host's dialog is still open and works: typing, then its own button.
    assert_eq!(b.js("return document.getElementById('settings').open").await, true);
    b.client.find(fantoccini::Locator::Css("#team-name")).await.unwrap().send_keys("Acme").await.unwrap();
    assert_eq!(b.js("return document.getElementById('team-name').value").await, "Acme");
    b.click("#settings-close").await;
    assert_eq!(b.js("return document.getElementById('settings').open").await, false);
    assert!(host_log(&b).await.contains("onClose"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_answering_like_picas_authkit_token_opens_the_widget() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&host).await.unwrap();
    // The host backend answers as @picahq/authkit-token's merged result does: no `token`, the session in `requestId`.
    b.js(
        "const f = window.fetch; window.fetch = (...a) => f(...a).then(async (r) => { \
           const { token, ...rest } = await r.json(); \
           return new Response(JSON.stringify({ ...rest, requestId: token, isWhiteLabel: false }), { status: r.status, headers: { 'content-type': 'application/json' } }); \
         }); return 1",
    )
    .await;
    b.click("#connect").await;
    b.enter_widget().await;
    b.wait_js("the list", "return document.querySelectorAll('.pb-row').length > 5").await;
    b.leave_widget().await;
    assert!(!host_log(&b).await.contains("onError"));
    b.close().await;
}

/// The host page's token requests so far: (start, end) in ms on the page's clock, oldest first.
async fn token_requests(b: &Browser) -> Vec<(f64, f64)> {
    let js = "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/plugboard-token')).map(e => [e.startTime, e.responseEnd])";
    serde_json::from_value(b.js(js).await).unwrap()
}

async fn open_mark(b: &Browser) -> f64 {
    b.wait_js("open()", "const m = performance.getEntriesByName('plugboard:open').pop(); return m && m.startTime").await.as_f64().unwrap()
}

/// By default `create()` loads the widget out of sight (no token: the host's endpoint is called only by open()),
/// so open() waits for no page, wasm or process; after a close the next one is loaded again.
#[tokio::test(flavor = "multi_thread")]
async fn by_default_the_widget_loads_hidden_with_the_page_and_the_token_is_asked_for_at_open() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&format!("{host}/?pageSize=5")).await.unwrap();
    b.wait_js("the hidden frame", "const f = document.querySelectorAll('iframe'); return f.length === 1 && !f[0].checkVisibility()").await;
    b.enter_widget().await;
    b.wait_js("the wasm loaded before open()", "return performance.getEntriesByType('resource').some(e => e.name.endsWith('.wasm') && e.responseEnd > 0)").await;
    b.leave_widget().await;
    assert_eq!(b.js("return document.elementFromPoint(10, 10).tagName").await, "HTML", "the page stays usable");
    assert!(token_requests(&b).await.is_empty(), "no token before open()");
    b.click("#connect").await;
    b.enter_widget().await;
    assert_eq!(rows_when(&b, 5).await, serde_json::json!(listed_names(&app).await.0[..5]));
    b.leave_widget().await;
    assert_eq!(token_requests(&b).await.len(), 1);
    assert_eq!(b.js("return document.querySelectorAll('iframe').length").await, 1, "the hidden frame was the one shown");
    b.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1").await;
    b.wait_js("onClose", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.wait_js("the next hidden frame", "const f = document.querySelectorAll('iframe'); return f.length === 1 && !f[0].checkVisibility()").await;
    assert_eq!(token_requests(&b).await.len(), 1, "still no token until the next open()");
    assert!(!host_log(&b).await.contains("onError"));

    // A page that calls create() again and again (a component re-created on every mount) still holds one hidden
    // frame, and the first handle still opens.
    b.js("window.extra = [1, 2, 3].map(() => Plugboard.create({ token: { url: '/api/plugboard-token' } })); return 1").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    b.wait_js("one hidden frame", "const f = document.querySelectorAll('iframe'); return f.length === 1 && !f[0].checkVisibility()").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(b.js("return document.querySelectorAll('iframe').length").await, 1, "one hidden frame per page");
    b.click("#connect").await;
    // The first handle's hidden frame went to the last one: it opens a new frame, beside that hidden one.
    let shown = b.wait_js("the shown frame", "const i = [...document.querySelectorAll('iframe')].findIndex(f => f.checkVisibility()); return i >= 0 && String(i)").await;
    b.client.enter_frame(Some(shown.as_str().unwrap().parse().unwrap())).await.unwrap();
    rows_when(&b, 5).await;
    b.leave_widget().await;
    b.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1").await;
    b.wait_js("the widget to close", NOTHING_SHOWN).await;

    // `preload: "none"`: nothing is loaded before the click, and the widget still opens.
    b.client.goto(&format!("{host}/?pageSize=5&preload=none")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(b.js("return document.querySelectorAll('iframe').length").await, 0, "no frame before open()");
    b.click("#connect").await;
    b.enter_widget().await;
    rows_when(&b, 5).await;
    b.leave_widget().await;
    b.close().await;
}

/// `preload`: the token request and the widget start with the page, before any click; the click only shows them.
/// After closing, the next open is preloaded again.
#[tokio::test(flavor = "multi_thread")]
async fn preload_asks_for_the_token_before_the_click_and_opens_with_it() {
    let app = spawn_app().await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&format!("{host}/?preload&pageSize=5")).await.unwrap();
    b.wait_js("the token answer", "return performance.getEntriesByType('resource').some(e => e.name.includes('/api/plugboard-token') && e.responseEnd > 0)").await;
    // The widget loads out of sight: nothing covers the page until the user asks.
    b.wait_js("the hidden frame", "const f = document.querySelector('iframe'); return f && !f.checkVisibility()").await;
    assert_eq!(b.js("return document.elementFromPoint(10, 10).tagName").await, "HTML", "the page stays usable");
    b.click("#connect").await;
    let opened = open_mark(&b).await;
    b.enter_widget().await;
    assert_eq!(rows_when(&b, 5).await, serde_json::json!(listed_names(&app).await.0[..5]));
    b.leave_widget().await;
    let requests = token_requests(&b).await;
    assert_eq!(requests.len(), 1, "the preloaded token is the one used: {requests:?}");
    assert!(requests[0].0 < opened, "the token request started before open(): {requests:?}, open at {opened}");
    assert_eq!(b.js("return document.querySelectorAll('iframe').length").await, 1);

    // Closed, then opened again: a new session, preloaded again while the page sat there.
    b.js("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1").await;
    b.wait_js("onClose", "return document.getElementById('log').textContent.includes('onClose')").await;
    b.wait_js("the next preload", "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/plugboard-token')).length === 2").await;
    b.wait_js("one hidden frame", "const f = document.querySelectorAll('iframe'); return f.length === 1 && !f[0].checkVisibility()").await;
    b.click("#connect").await;
    b.enter_widget().await;
    rows_when(&b, 5).await;
    b.leave_widget().await;
    assert_eq!(token_requests(&b).await.len(), 2);
    assert!(!host_log(&b).await.contains("onError"));
    b.close().await;
}

/// A preloaded token that is about to expire is not handed to the widget: open() fetches a fresh one.
#[tokio::test(flavor = "multi_thread")]
async fn preload_fetches_a_fresh_token_when_the_preloaded_one_is_stale() {
    // Sessions of 61 s: a preloaded one is kept for use only until a minute before it expires, so after a second.
    let app = plugboard_tests::spawn_app_with(|s| s.session_ttl_secs = 61).await;
    let host = spawn_host(&app).await;
    let b = Browser::start().await;
    b.client.goto(&format!("{host}/?preload&pageSize=5")).await.unwrap();
    b.wait_js("the token answer", "return performance.getEntriesByType('resource').some(e => e.name.includes('/api/plugboard-token') && e.responseEnd > 0)").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    b.click("#connect").await;
    let opened = open_mark(&b).await;
    b.enter_widget().await;
    assert_eq!(rows_when(&b, 5).await, serde_json::json!(listed_names(&app).await.0[..5]));
    b.leave_widget().await;
    let requests = token_requests(&b).await;
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].0 < opened && requests[1].0 >= opened, "stale at open(), so fetched again: {requests:?}, open at {opened}");
    assert!(!host_log(&b).await.contains("onError"));
    b.close().await;
}
