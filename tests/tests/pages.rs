//! The pages end users meet outside the widget — the sign-in window's authorize page, the same-tab question, the
//! callback's result and every error page — reached through real sign-ins against the mock provider, in headless
//! Chromium, light and dark, 1280 and 320 px wide. Each page: axe-core finds no WCAG 2.2 AA violation, control
//! borders and focus rings reach 3:1 (WCAG 1.4.11, computed here), nothing scrolls sideways, the keyboard reaches
//! every action with a visible focus, one true message with a way forward, a clean address bar, the project's
//! name and logo (and the end user's, where a link gave it). Screenshots go to target/screenshots/page-*.png.

use plugboard_tests::Server;
use plugboard_shared::OAuthStart;
use plugboard_tests::{configure_project, eventually, fantoccini::Locator, http, mock_consent, session_token, spawn_with_provider, start_oauth, Browser, TestApp};
use serde_json::{json, Value};

const COMPANY: &str = "Acme Robotics";
/// A page the project registers for same-tab sign-ins (nothing listens there: no test goes back to it).
const RETURN_ORIGIN: &str = "http://127.0.0.9:9";
const SIZES: [(u32, u32); 2] = [(1280, 900), (320, 640)];

/// The company's logo, served from a loopback origin of its own (as a CDN would).
async fn logo_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.5:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#0b7285"/><path d="M18 46 32 16l14 30h-7l-7-16-7 16z" fill="#fff"/></svg>"##;
    let router = axum::Router::new().route("/logo.svg", axum::routing::get(move || async move { ([("content-type", "image/svg+xml")], svg) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("{url}/logo.svg")
}

/// A server with the mock provider whose project is branded (name, logo) and registers a same-tab return page.
async fn branded() -> (TestApp, plugboard::demo::provider::MockProvider) {
    let (app, provider) = spawn_with_provider(|_, _| {}).await;
    let logo = logo_server().await;
    configure_project(&app, |s| {
        s.company_name = Some(COMPANY.into());
        s.logo_url = Some(logo);
        s.return_urls = vec![format!("{RETURN_ORIGIN}/apps")];
    })
    .await;
    (app, provider)
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// WCAG 1.4.11 measured in the page: each enabled control's edge (its border, or its fill where the border is
/// its own colour) against what it sits on, ≥ 3:1. Answers the failures.
const CONTROL_CONTRAST_JS: &str = r#"
  const rgba = s => { const m = /rgba?\(([^)]+)\)/.exec(s); if (!m) return null; const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const under = el => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) return c; } return [255, 255, 255, 1]; };
  window.__pbRatio = (a, b) => ratio(rgba(a), rgba(b));
  window.__pbUnder = el => 'rgb(' + under(el).slice(0, 3).join(',') + ')';
  const out = [];
  for (const el of document.querySelectorAll('button, a[href], input, select, textarea')) {
    if (el.disabled || el.offsetParent === null) continue;
    const cs = getComputedStyle(el), back = under(el.parentElement);
    const edge = parseFloat(cs.borderTopWidth) > 0 ? rgba(cs.borderTopColor) : rgba(cs.backgroundColor);
    const r = ratio(edge, back);
    if (r < 3) out.push((el.id || el.textContent.trim()) + ': ' + r.toFixed(2) + ':1');
  }
  return out;
"#;

/// Everything checked on the page the browser shows, at each size; saves `page-<name>-<theme>-<width>.png`.
async fn inspect(b: &Browser, name: &str, theme: &str) {
    for (w, h) in SIZES {
        inspect_at(b, name, theme, w, h).await;
    }
}

async fn inspect_at(b: &Browser, name: &str, theme: &str, w: u32, h: u32) {
    let at = format!("{name} {theme} {w}px");
    b.client.set_window_size(w, h).await.unwrap();
    b.wait_js("the new width", &format!("return window.innerWidth <= {w}")).await;
    assert_eq!(b.js("return document.scrollingElement.scrollWidth <= window.innerWidth").await, true, "{at}: no sideways scrolling");
    let violations = b.axe().await;
    assert!(violations.is_empty(), "{at}: axe-core found\n{}", violations.join("\n"));
    let weak: Vec<String> = serde_json::from_value(b.js(CONTROL_CONTRAST_JS).await).unwrap();
    assert!(weak.is_empty(), "{at}: control borders under 3:1 (WCAG 1.4.11): {weak:?}");
    let dark = b.js("const c = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number); return c[0] + c[1] + c[2] < 200").await;
    assert_eq!(dark, theme == "dark", "{at}: the page is in the {theme} theme");
    b.screenshot(&format!("page-{name}-{theme}-{w}")).await;
}

/// Tab through the page: every visible enabled button is reached, each with a visible focus ring ≥ 3:1 against
/// the card; answers the ids reached in order.
async fn keyboard(b: &Browser, at: &str) -> Vec<String> {
    b.js(CONTROL_CONTRAST_JS).await; // defines the colour helpers
    let wanted: Vec<String> =
        serde_json::from_value(b.js("return [...document.querySelectorAll('button')].filter(e => !e.disabled && e.offsetParent).map(e => e.id)").await).unwrap();
    let mut reached = Vec::new();
    for _ in 0..wanted.len() + 1 {
        b.client.active_element().await.unwrap().send_keys("\u{e004}").await.unwrap();
        let focus = b
            .js("const e = document.activeElement, cs = getComputedStyle(e);
                 return { id: e.id, tag: e.tagName, visible: e.matches(':focus-visible') && cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
                          ratio: window.__pbRatio(cs.outlineColor, window.__pbUnder(e.parentElement)) }")
            .await;
        if focus["tag"] == "BUTTON" {
            assert_eq!(focus["visible"], true, "{at}: focus on #{} is visible", focus["id"]);
            assert!(focus["ratio"].as_f64().unwrap() >= 3.0, "{at}: the focus ring of #{} has {}:1", focus["id"], focus["ratio"]);
            reached.push(focus["id"].as_str().unwrap().to_owned());
        }
    }
    for id in &wanted {
        assert!(reached.contains(id), "{at}: Tab reaches #{id} ({reached:?})");
    }
    reached
}

async fn heading(b: &Browser) -> String {
    b.js("return document.querySelector('h1').textContent").await.as_str().unwrap().to_owned()
}

async fn status_text(b: &Browser) -> String {
    b.js("return document.getElementById('pb-status').textContent").await.as_str().unwrap().to_owned()
}

async fn page_text(b: &Browser) -> String {
    b.js("return document.body.innerText").await.as_str().unwrap().to_owned()
}

async fn close_button_shown(b: &Browser) -> bool {
    b.js("const c = document.getElementById('pb-close'); return !!c && !c.hidden && c.offsetParent !== null").await == true
}

/// The address bar of a page the provider sent the browser back to keeps nothing of the provider's answer.
async fn clean_url(b: &Browser, at: &str) {
    let url = b.wait_js("the spent answer out of the address bar", "return location.search === '' && location.href").await;
    let url = url::Url::parse(url.as_str().unwrap()).unwrap();
    assert_eq!((url.path(), url.query()), ("/oauth/callback", None), "{at}: {url}");
    assert!(!url.as_str().contains("code=") && !url.as_str().contains("state="), "{at}: {url}");
}

/// Both logos of the header are shown (the company's from its own origin, allowed by the page's CSP).
async fn logos_shown(b: &Browser, at: &str) {
    let loaded = b
        .wait_js("the logos", "const i = [...document.querySelectorAll('.pb-brand img')]; return i.length === 2 && i.every(x => x.complete && x.naturalWidth > 0)")
        .await;
    assert_eq!(loaded, true, "{at}");
}

/// A flow of the widget's popup for a fresh session of `identity`.
async fn popup_flow(app: &TestApp, identity: &str) -> OAuthStart {
    start_oauth(app, &session_token(app, identity).await, "mock-oauth").await
}

/// The browser proves `start` as the sign-in window's script would (from the authorize page, so the binding
/// cookie is this browser's), the user answers at the provider (`allow`), and the browser follows the provider
/// back to Plugboard's callback; answers the callback URL it was sent to.
async fn sign_in(b: &Browser, start: &OAuthStart, allow: bool) -> String {
    let provider_url = prove(b, start).await;
    let back = consent(&provider_url, allow).await;
    b.client.goto(&back).await.unwrap();
    back
}

async fn prove(b: &Browser, start: &OAuthStart) -> String {
    b.client.goto(&start.authorize_url).await.unwrap();
    let found = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(location.pathname, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ proof: arguments[0] }), credentials: 'same-origin' })
               .then(r => r.json()).then(b => done(b.location || JSON.stringify(b)), e => done('failed: ' + e));",
            vec![json!(start.proof)],
        )
        .await
        .unwrap();
    let url = found.as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.3"), "the provider's URL: {url}");
    url
}

async fn consent(provider_url: &str, allow: bool) -> String {
    if allow {
        return mock_consent(provider_url.to_owned()).await;
    }
    let c = http();
    let page = c.get(provider_url).send().await.unwrap().text().await.unwrap();
    let request = page.split(r#"name="request" value=""#).nth(1).and_then(|s| s.split('"').next()).unwrap();
    let origin = &provider_url[..provider_url.find("/authorize").unwrap()];
    let res = c.post(format!("{origin}/authorize/decision")).form(&[("request", request), ("decision", "deny")]).send().await.unwrap();
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// An auth link for Taylor that opens Mock OAuth, opened as its page would: answers the page's same-tab flow.
async fn link_flow(app: &TestApp) -> OAuthStart {
    let made: Value = app.create_connect_session(&json!({ "identity": "user-link", "name": "Taylor Otwell", "integration": "mock-oauth" })).await
        .json()
        .await
        .unwrap();
    let opened: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": made["token"] })).send().await.unwrap().json().await.unwrap();
    let res = http()
        .post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url))
        .bearer_auth(opened["session"]["token"].as_str().unwrap())
        .header("Plugboard-Origin", app.url.clone())
        .json(&json!({ "display": "page" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Every page, in the browser's theme (`light` or `dark`).
async fn every_page(b: &Browser, theme: &str) {
    let (app, _provider) = branded().await;

    // The sign-in window, opened by a page of Plugboard's origin standing in for the widget, which hands over the
    // proof only once the page has been looked at.
    for (i, (w, h)) in SIZES.into_iter().enumerate() {
        let start = popup_flow(&app, "user-popup").await;
        b.client.goto(&format!("{}/healthz", app.url)).await.unwrap();
        let main = b.client.window().await.unwrap();
        b.js("window.__got = []; window.addEventListener('message', e => { if (e.data && e.data.type === 'plugboard:oauth') window.__got.push(e.data); }); return 1").await;
        b.client.execute("window.__popup = window.open(arguments[0], 'pb-signin', 'popup,width=500,height=700'); return 1", vec![json!(start.authorize_url)]).await.unwrap();
        let popup = eventually("the sign-in window", || async { b.client.windows().await.ok()?.into_iter().find(|x| *x != main) }).await;
        b.client.switch_to_window(popup.clone()).await.unwrap();
        b.wait_js("the authorize page", "return document.querySelector('h1') && document.readyState === 'complete'").await;
        let at = format!("authorize {theme} {w}px");
        assert_eq!(heading(b).await, format!("{COMPANY} wants to connect to Mock OAuth"), "{at}");
        assert_eq!(status_text(b).await, "Opening Mock OAuth’s sign-in page…", "{at}");
        assert_eq!(b.js("return document.activeElement.tagName").await, "H1", "{at}: the heading has the focus");
        assert!(!close_button_shown(b).await, "{at}: nothing to do but wait");
        logos_shown(b, &at).await;
        inspect_at(b, "authorize", theme, w, h).await;
        if i > 0 {
            b.client.close_window().await.unwrap();
            b.client.switch_to_window(main).await.unwrap();
            continue;
        }
        // Now the widget answers; the window goes on to the provider, the user allows, and the window reports
        // back and closes by itself.
        b.client.switch_to_window(main.clone()).await.unwrap();
        b.client
            .execute("window.__popup.postMessage({ type: 'plugboard:oauth-proof', flowId: arguments[0], proof: arguments[1] }, location.origin); return 1", vec![json!(start.flow_id), json!(start.proof)])
            .await
            .unwrap();
        b.client.switch_to_window(popup).await.unwrap();
        b.client.wait().for_element(Locator::Css("#allow")).await.expect("the provider's consent page in the window");
        b.click("#allow").await;
        let closing = eventually("the result in the window", || async {
            let t = b.client.execute("return location.pathname === '/oauth/callback' && document.getElementById('pb-status')?.textContent", vec![]).await.ok()?;
            t.as_str().map(str::to_owned)
        })
        .await;
        assert_eq!(closing, "This window will close.", "one message: it closes by itself");
        eventually("the window to close itself", || async { (b.client.windows().await.ok()?.len() == 1).then_some(()) }).await;
        b.client.switch_to_window(main).await.unwrap();
        let got = b.js("return window.__got").await;
        assert_eq!(got, json!([{ "type": "plugboard:oauth", "flowId": start.flow_id, "status": "connected" }]), "the widget is told");
    }

    // The authorize link opened anywhere but the window the app opened: refused, saying why and what to do.
    let start = popup_flow(&app, "user-elsewhere").await;
    b.client.goto(&start.authorize_url).await.unwrap();
    b.wait_js("the refusal", "return document.querySelector('[data-mark=failed]')").await;
    assert_eq!(heading(b).await, "This sign-in cannot continue here");
    assert!(status_text(b).await.contains("start again from the app"));
    inspect(b, "authorize-elsewhere", theme).await;

    // The same-tab question: the heading has the focus, Continue wakes up after a second, both actions by keyboard.
    let token = session_token(&app, "user-q").await;
    let res = plugboard_tests::start_same_tab(&app, &token, RETURN_ORIGIN, &format!("{RETURN_ORIGIN}/apps"), false).await;
    assert_eq!(res.status(), 200);
    let start: OAuthStart = res.json().await.unwrap();
    b.client.goto(&start.authorize_url).await.unwrap();
    assert_eq!(heading(b).await, format!("Connect Mock OAuth to {COMPANY} as user-q?"));
    assert_eq!(b.js("return document.activeElement.tagName").await, "H1");
    b.wait_js("Continue to work", "return !document.getElementById('continue').disabled").await;
    logos_shown(b, "question").await;
    assert_eq!(keyboard(b, "question").await, ["continue", "cancel"]);
    inspect(b, "question", theme).await;

    // Connected in the sign-in window, seen where the browser will not let a page close its window (a tab): first
    // the promise, then what to do instead.
    for (w, h) in SIZES {
        b.client.set_window_size(w, h).await.unwrap();
        let start = popup_flow(&app, "user-tab").await;
        sign_in(b, &start, true).await;
        let promise = status_text(b).await;
        b.screenshot(&format!("page-closing-{theme}-{w}")).await;
        assert_eq!(promise, "This window will close.");
        assert_eq!(heading(b).await, "Connected");
        clean_url(b, "connected").await;
        b.wait_js("the Close button, once closing failed", "return !document.getElementById('pb-close').hidden").await;
        let at = format!("connected {theme} {w}px");
        assert_eq!(status_text(b).await, format!("Close this window to go back to {COMPANY}."), "{at}");
        assert!(!page_text(b).await.contains("will close"), "{at}: one message, true: {}", page_text(b).await);
        assert!(page_text(b).await.contains(&format!("Your Mock OAuth account is now connected to {COMPANY}.")), "{at}");
        logos_shown(b, &at).await;
        assert_eq!(keyboard(b, &at).await, ["pb-close"]);
        inspect_at(b, "connected", theme, w, h).await;
        // The button tries, and says plainly what the browser decided.
        b.click("#pb-close").await;
        b.wait_js("the browser's refusal said", "return document.getElementById('pb-status').textContent.includes('close it yourself')").await;
    }

    // An auth link opened from mail, in its own tab: it names the company and the end user, and cannot close.
    let start = link_flow(&app).await;
    sign_in(b, &start, true).await;
    clean_url(b, "connected-link").await;
    assert_eq!(heading(b).await, "Connected");
    assert!(page_text(b).await.contains(&format!("Your Mock OAuth account is now connected to {COMPANY} for Taylor Otwell.")), "{}", page_text(b).await);
    assert_eq!(status_text(b).await, "You can close this tab now.");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!close_button_shown(b).await, "no button that could not work");
    logos_shown(b, "connected-link").await;
    inspect(b, "connected-link", theme).await;
    // The same link's sign-in declined at the provider: the way forward is the link again.
    let start = link_flow(&app).await;
    sign_in(b, &start, false).await;
    clean_url(b, "link-declined").await;
    assert_eq!(heading(b).await, "Nothing was connected");
    assert_eq!(status_text(b).await, "Open the link you were sent again to try once more.");
    inspect(b, "link-declined", theme).await;

    // Errors of the sign-in window: what happened, in plain words, and the Close button.
    let errors: [(&str, &str, &str); 6] = [
        ("declined", "Nothing was connected", "You declined to connect Mock OAuth."),
        ("expired", "This sign-in expired", "This sign-in took too long and expired."),
        ("other-browser", "This sign-in belongs to another window", "This sign-in was started in a different browser window or session."),
        ("provider-error", "Could not connect Mock OAuth", "Mock OAuth refused the sign-in: The service is down for maintenance."),
        ("replayed", "This sign-in has already ended", "already completed"),
        ("unknown", "Could not connect", "This sign-in is unknown to Plugboard."),
    ];
    for (name, want_heading, want_text) in errors {
        let start = popup_flow(&app, &format!("user-{name}")).await;
        match name {
            "declined" => {
                sign_in(b, &start, false).await;
            }
            "expired" => {
                let provider_url = prove(b, &start).await;
                let back = consent(&provider_url, true).await;
                sqlx::query("UPDATE oauth_flows SET expires_at = 0 WHERE id = $1").bind(&start.flow_id).execute(&app.db.pool().await).await.unwrap();
                b.client.goto(&back).await.unwrap();
            }
            "other-browser" => {
                let (provider_url, _cookie) = plugboard_tests::popup_authorize(&start).await;
                b.client.goto(&consent(&provider_url, true).await).await.unwrap();
            }
            "provider-error" => {
                let provider_url = prove(b, &start).await;
                let state = param(&provider_url, "state").unwrap();
                let error = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs([("error", "temporarily_unavailable"), ("error_description", "The service is down for maintenance"), ("state", &state)])
                    .finish();
                b.client.goto(&format!("{}/oauth/callback?{error}", app.url)).await.unwrap();
            }
            "replayed" => {
                let back = sign_in(b, &start, true).await;
                b.client.goto(&back).await.unwrap();
            }
            _ => b.client.goto(&format!("{}/oauth/callback?code=x&state=forged", app.url)).await.unwrap(),
        }
        let at = format!("{name} {theme}");
        clean_url(b, &at).await;
        assert_eq!(heading(b).await, want_heading, "{at}");
        assert!(page_text(b).await.contains(want_text), "{at}: {}", page_text(b).await);
        let next = status_text(b).await;
        // A replayed answer is not matched to its sign-in again (the state is spent): like an unknown one.
        if name == "unknown" || name == "replayed" {
            assert_eq!(next, "Start again from the app.", "{at}");
            assert_eq!(b.js("return document.querySelectorAll('.pb-brand img').length").await, 0, "{at}: nothing is known of whose sign-in it was");
        } else {
            assert_eq!(next, format!("Start again from {COMPANY}."), "{at}");
            logos_shown(b, &at).await;
            assert!(close_button_shown(b).await, "{at}: the sign-in window's way out");
            assert_eq!(keyboard(b, &at).await, ["pb-close"]);
        }
        inspect(b, name, theme).await;
    }

    // The sign-in link of a finished sign-in, opened again.
    let start = popup_flow(&app, "user-used").await;
    sign_in(b, &start, true).await;
    b.client.goto(&start.authorize_url).await.unwrap();
    assert_eq!(heading(b).await, "This sign-in link cannot be used");
    assert!(page_text(b).await.contains("already used or has expired"));
    logos_shown(b, "used").await;
    inspect(b, "used", theme).await;

    // What a reload of a result page shows, once its address bar is clean.
    b.client.goto(&format!("{}/oauth/callback", app.url)).await.unwrap();
    assert_eq!(heading(b).await, "Nothing to finish here");
    assert!(status_text(b).await.contains("Go back to the app"));
    inspect(b, "nothing", theme).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_in_the_light_theme() {
    let b = Browser::start().await;
    every_page(&b, "light").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_in_the_dark_theme() {
    let b = Browser::start_dark().await;
    every_page(&b, "dark").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_projects_theme_wins_over_the_devices() {
    let (app, _provider) = branded().await;
    configure_project(&app, |s| s.theme = Some("dark".into())).await;
    let b = Browser::start().await;
    let start = popup_flow(&app, "user-theme").await;
    b.client.goto(&start.authorize_url).await.unwrap();
    assert_eq!(b.js("return document.documentElement.dataset.theme").await, "dark");
    inspect_at(&b, "authorize-project-dark", "dark", 1280, 900).await;
    b.close().await;
}

#[tokio::test]
async fn a_link_page_learns_who_asks_and_for_whom() {
    let (app, _provider) = branded().await;
    configure_project(&app, |s| s.theme = Some("light".into())).await;
    let made: Value = app.create_connect_session(&json!({ "identity": "u", "name": "Taylor" })).await
        .json()
        .await
        .unwrap();
    let opened: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": made["token"] })).send().await.unwrap().json().await.unwrap();
    assert_eq!((opened["companyName"].as_str(), opened["appTheme"].as_str(), opened["endUserName"].as_str()), (Some(COMPANY), Some("light"), Some("Taylor")));
    assert!(opened["imageUrl"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.5:") && u.ends_with("/logo.svg")), "{opened}");

    // Without companyName: the project's name; without a logo or theme: none.
    configure_project(&app, |s| {
        s.company_name = None;
        s.logo_url = None;
        s.theme = None;
    })
    .await;
    let made: Value = app.create_connect_session(&json!({ "identity": "u" })).await
        .json()
        .await
        .unwrap();
    let opened: Value = http().post(format!("{}/v1/links/session", app.url)).json(&json!({ "token": made["token"] })).send().await.unwrap().json().await.unwrap();
    assert_eq!((opened["companyName"].as_str(), opened["imageUrl"].as_str(), opened["appTheme"].as_str()), (Some("Test project"), None, None));
}

#[tokio::test]
async fn branding_from_the_config_file_is_checked_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugboard.toml");
    std::fs::write(&path, "[[projects]]\nid = \"test-project\"\ncompanyName = \"Acme\"\nlogoUrl = \"https://cdn.acme.example/logo.svg\"\ntheme = \"dark\"\n").unwrap();
    let app = plugboard_tests::spawn_app_with(|s| s.config = Some(path.clone())).await;
    let stored: Value = serde_json::from_str(&app.store.project_config("test-project").await.unwrap().unwrap()).unwrap();
    assert_eq!((stored["companyName"].as_str(), stored["logoUrl"].as_str(), stored["theme"].as_str()), (Some("Acme"), Some("https://cdn.acme.example/logo.svg"), Some("dark")));
    for bad in ["logoUrl = \"http://cdn.acme.example/logo.svg\"", "theme = \"blue\"", "companyName = \"\""] {
        std::fs::write(&path, format!("[[projects]]\nid = \"test-project\"\n{bad}\n")).unwrap();
        let mut settings = plugboard_tests::settings(dir.path(), &app.key);
        settings.config = Some(path.clone());
        settings.database_url = Some(app.db.url.clone());
        if app.db.is_postgres() {
            settings.master_key = Some(plugboard::vault::SecretString::new(plugboard_tests::TEST_MASTER_KEY.to_owned()));
        }
        let refused = plugboard::app::Application::build(&settings).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("test-project"), "{bad}: {refused}");
    }
}
