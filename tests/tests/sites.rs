//! Grants that reach several places, and what people paste into a connect field.
//!
//! Atlassian's accessible-resources (and Xero's tenants) list every site one sign-in reaches: the end user picks
//! one on Plugboard's own page in the sign-in window, the connection keeps the whole list, and the host may
//! address any listed site with `Plugboard-Choice` (anything else is refused). Shopify-like subdomain fields take
//! what users paste (`acme.myshopify.com`, `https://acme.myshopify.com/admin`, ` Acme `) and refuse every address
//! on another host. All against the quirk provider; the page in headless Chromium, light and dark, 1280 and
//! 320 px (screenshots in target/screenshots/page-choose-*.png).

use plugboard_tests::Server;
use plugboard_shared::{ConnectionRecord, FlowStatus, OAuthStart};
use plugboard_tests::{
    configure_project, follow_redirect, http, passthrough, popup_authorize,
    quirks::{Quirks, ATLASSIAN_SITES},
    session_token, spawn_app_with, start_oauth, Browser, TestApp,
};
use serde_json::{json, Value};

async fn quirk_app() -> (TestApp, Quirks) {
    let q = Quirks::spawn().await;
    let app = spawn_app_with(|s| q.register(s)).await;
    (app, q)
}

/// Every connection of the test project.
async fn stored(app: &TestApp) -> Vec<plugboard::store::ConnectionRow> {
    let all = plugboard::store::ConnectionFilter { project_id: "test-project".into(), environment: None, identity: None, identity_type: None, platform: None };
    app.store.list_connections(&all, 0, 50).await.unwrap().0
}

async fn connections(app: &TestApp) -> u64 {
    app.store.count_connections("test-project").await.unwrap()
}

async fn record(app: &TestApp, key: &str) -> ConnectionRecord {
    app.get_connection(key).await
        .json()
        .await
        .unwrap()
}

/// A popup sign-in of the `shape` quirk up to the callback page: answers the flow, the browser's binding cookie,
/// the callback's status and page.
async fn to_callback(app: &TestApp, shape: &str) -> (OAuthStart, String, u16, String) {
    let start = start_oauth(
        app,
        &session_token(app, "alice").await,
        &format!("quirk-{shape}"),
    )
    .await;
    let (provider_url, cookie) = popup_authorize(&start).await;
    let back = follow_redirect(provider_url).await;
    let res = http()
        .get(back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (start, cookie, status, res.text().await.unwrap())
}

/// The value of the hidden input `name` of the choice page.
fn hidden(page: &str, name: &str) -> String {
    let at = page
        .find(&format!(r#"name="{name}" value=""#))
        .unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn choose(app: &TestApp, cookie: Option<&str>, form: &[(&str, &str)]) -> (u16, String) {
    let mut req = http()
        .post(format!("{}/oauth/callback/choose", app.url))
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn flow_status(app: &TestApp, flow_id: &str) -> FlowStatus {
    app.store.get_flow(flow_id).await.unwrap().unwrap().status
}

async fn echo(app: &TestApp, key: &str, choice: Option<&str>) -> (u16, Value) {
    let mut req = passthrough(
        app,
        key,
        reqwest::Method::GET,
        "quirk-atlassian/rest/api/3/myself",
    );
    if let Some(c) = choice {
        req = req.header("Plugboard-Choice", c);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_grant_reaching_several_sites_asks_which_keeps_them_all_and_the_host_may_address_any_granted_one(
) {
    let (app, _q) = quirk_app().await;
    let (start, cookie, status, page) = to_callback(&app, "atlassian").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Choose your Quirk atlassian site"), "{page}");
    for (_, name, url) in ATLASSIAN_SITES {
        assert!(
            page.contains(name) && page.contains(url),
            "every site is listed by name and address: {page}"
        );
    }
    assert_eq!(
        connections(&app).await,
        0,
        "nothing is saved before the end user picks"
    );
    assert_eq!(flow_status(&app, &start.flow_id).await, FlowStatus::Pending);
    let (flow, token) = (hidden(&page, "flow"), hidden(&page, "token"));
    assert_eq!(flow, start.flow_id);

    // Another browser (no binding cookie) cannot answer, nor can a guessed token.
    let second = ATLASSIAN_SITES[1].0;
    let (status, page) = choose(
        &app,
        Some(&cookie),
        &[("flow", &flow), ("token", "guessed"), ("choice", second)],
    )
    .await;
    assert_eq!(status, 410, "{page}");
    assert_eq!(connections(&app).await, 0);

    // The end user picks the second site.
    let (status, page) = choose(
        &app,
        Some(&cookie),
        &[("flow", &flow), ("token", &token), ("choice", second)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Connected"), "{page}");
    assert_eq!(
        flow_status(&app, &start.flow_id).await,
        FlowStatus::Connected
    );
    let (status, page) = choose(
        &app,
        Some(&cookie),
        &[
            ("flow", &flow),
            ("token", &token),
            ("choice", ATLASSIAN_SITES[2].0),
        ],
    )
    .await;
    assert_eq!(status, 410, "the page's token works once: {page}");
    assert_eq!(connections(&app).await, 1);

    let conns = stored(&app).await;
    let key = conns[0].key.clone();
    let rec = record(&app, &key).await;
    assert_eq!(
        rec.connection_config["cloud_id"], second,
        "the site picked is the connection's"
    );
    let granted: Vec<(String, String, Option<String>)> = rec.choices["cloud_id"]
        .iter()
        .map(|c| (c.id.clone(), c.name.clone(), c.url.clone()))
        .collect();
    let listed: Vec<(String, String, Option<String>)> = ATLASSIAN_SITES
        .iter()
        .map(|(i, n, u)| (i.to_string(), n.to_string(), Some(u.to_string())))
        .collect();
    assert_eq!(
        granted, listed,
        "the connection keeps every site the grant reaches"
    );
    let text = serde_json::to_string(&rec).unwrap();
    assert!(
        !text.contains("q-at-") && !text.contains("q-rt-"),
        "no token in the record: {text}"
    );

    // The passthrough reaches the picked site by default, any granted one on request, and no other.
    let (status, body) = echo(&app, &key, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["path"],
        format!("/atlassian/api/echo/ex/jira/{second}/rest/api/3/myself")
    );
    let third = ATLASSIAN_SITES[2].0;
    let (status, body) = echo(&app, &key, Some(third)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["path"],
        format!("/atlassian/api/echo/ex/jira/{third}/rest/api/3/myself")
    );
    assert!(
        body["headers"].get("plugboard-choice").is_none(),
        "the header stays with Plugboard: {body}"
    );
    let (status, body) = echo(
        &app,
        &key,
        Some(&format!("cloud_id={}", ATLASSIAN_SITES[0].0)),
    )
    .await;
    assert_eq!(
        (
            status,
            body["path"]
                .as_str()
                .unwrap()
                .contains(ATLASSIAN_SITES[0].0)
        ),
        (200, true),
        "{body}"
    );
    let (status, body) = echo(&app, &key, Some("00000000-0000-4000-8000-000000000000")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "choice_not_granted", "{body}");
    let (status, body) = echo(&app, &key, Some("tenant_id=x")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_choice")),
        "{body}"
    );
}

#[tokio::test]
async fn a_choice_from_another_browser_or_not_on_the_list_voids_the_sign_in() {
    let (app, _q) = quirk_app().await;
    // No binding cookie: another browser, or a form on another site posting here.
    let (start, _cookie, _, page) = to_callback(&app, "atlassian").await;
    let (status, body) = choose(
        &app,
        None,
        &[
            ("flow", &start.flow_id),
            ("token", &hidden(&page, "token")),
            ("choice", ATLASSIAN_SITES[0].0),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(flow_status(&app, &start.flow_id).await, FlowStatus::Failed);
    // A site the provider did not list.
    let (start, cookie, _, page) = to_callback(&app, "atlassian").await;
    let (status, body) = choose(
        &app,
        Some(&cookie),
        &[
            ("flow", &start.flow_id),
            ("token", &hidden(&page, "token")),
            ("choice", "evil-site"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("not one of the places this sign-in reached"),
        "{body}"
    );
    assert_eq!(flow_status(&app, &start.flow_id).await, FlowStatus::Failed);
    // Another site's form (its Origin).
    let (start, cookie, _, page) = to_callback(&app, "atlassian").await;
    let res = http()
        .post(format!("{}/oauth/callback/choose", app.url))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[
            ("flow", start.flow_id.as_str()),
            ("token", &hidden(&page, "token")),
            ("choice", ATLASSIAN_SITES[0].0),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        flow_status(&app, &start.flow_id).await,
        FlowStatus::Pending,
        "nothing was spent by a foreign form"
    );
    assert_eq!(connections(&app).await, 0);
}

#[tokio::test]
async fn one_site_connects_without_a_question_and_none_is_a_clear_failure() {
    let (app, _q) = quirk_app().await;
    let (start, _, status, page) = to_callback(&app, "atlassian-one").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Connected") && !page.contains("Choose"),
        "{page}"
    );
    assert_eq!(
        flow_status(&app, &start.flow_id).await,
        FlowStatus::Connected
    );
    let conns = stored(&app).await;
    let rec = record(&app, &conns[0].key).await;
    assert_eq!(rec.connection_config["cloud_id"], ATLASSIAN_SITES[0].0);
    assert_eq!(rec.choices["cloud_id"].len(), 1);

    let (start, _, status, page) = to_callback(&app, "atlassian-none").await;
    assert_eq!(status, 502, "{page}");
    assert!(
        page.contains("Quirk atlassian-none gave this sign-in no site to use"),
        "{page}"
    );
    assert_eq!(flow_status(&app, &start.flow_id).await, FlowStatus::Failed);
    assert_eq!(connections(&app).await, 1);
}

/// Starts a Shopify-like sign-in with `shop` typed as the user pasted it; answers the start's status and body.
async fn start_shop(app: &TestApp, token: &str, shop: &str) -> (u16, Value) {
    let res = http()
        .post(format!("{}/v1/widget/oauth/quirk-shopify/start", app.url))
        .bearer_auth(token)
        .json(&json!({ "fields": { "shop": shop } }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn what_users_paste_as_a_shop_connects_to_that_shop_and_other_hosts_are_refused() {
    let (app, q) = quirk_app().await;
    let token = session_token(&app, "alice").await;
    // The connect screen gets no pattern that would refuse a pasted address before the server reads it.
    let detail: Value = http()
        .get(format!("{}/v1/widget/integrations/quirk-shopify", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(detail["fields"][0]["pattern"].is_null(), "{detail}");
    let pasted = [
        "acme",
        "Acme",
        "  acme ",
        "ACME.myshopify.com",
        "acme.myshopify.com",
        "https://acme.myshopify.com/admin",
        "https://acme.myshopify.com/admin/products?x=1",
        "http://acme.myshopify.com",
    ];
    for shop in pasted {
        let (status, body) = start_shop(&app, &token, shop).await;
        assert_eq!(status, 200, "{shop:?}: {body}");
        let start: OAuthStart = serde_json::from_value(body).unwrap();
        let (provider_url, cookie) = popup_authorize(&start).await;
        let back = follow_redirect(provider_url).await;
        let res = http()
            .get(back)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{shop:?}");
    }
    assert_eq!(
        q.shops(),
        vec!["acme"; pasted.len()],
        "the provider was asked for the same shop each time"
    );
    let conns = stored(&app).await;
    assert_eq!(conns.len(), pasted.len());
    for c in &conns {
        assert_eq!(c.config["shop"], "acme");
    }
    let res = passthrough(
        &app,
        &conns[0].key,
        reqwest::Method::GET,
        "quirk-shopify/2024-01/products.json",
    )
    .send()
    .await
    .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["path"], "/shopify/api/echo/shops/acme/2024-01/products.json",
        "{body}"
    );

    let stored_before = connections(&app).await;
    for hostile in [
        "acme.evil.com",
        "https://evil.com/acme.myshopify.com",
        "acme.myshopify.com.evil.com",
        "https://acme.myshopify.com@evil.com",
        "https://evil.com@acme.myshopify.com/admin",
        "evil.com\\@acme.myshopify.com",
        "https://acme.myshopify.com:8443/admin",
        "аcme.myshopify.com",
        "acme.myshopіfy.com",
        "javascript:alert(1)//acme.myshopify.com",
        "shop.acme.myshopify.com",
    ] {
        let (status, body) = start_shop(&app, &token, hostile).await;
        assert_eq!(status, 400, "{hostile:?}: {body}");
        assert_eq!(body["code"], "invalid_fields", "{hostile:?}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("Store subdomain must be your address on myshopify.com"),
            "{hostile:?}: {body}"
        );
    }
    assert_eq!(q.shops().len(), pasted.len(), "no other shop was asked for");
    let after = connections(&app).await;
    assert_eq!(after, stored_before, "nothing was stored");
}

/// Proves the flow from the authorize page (the binding cookie is the browser's) and follows the provider back:
/// the browser shows the callback's page.
async fn browser_to_callback(b: &Browser, start: &OAuthStart) {
    b.client.goto(&start.authorize_url).await.unwrap();
    let location = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(location.pathname, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ proof: arguments[0] }), credentials: 'same-origin' })
               .then(r => r.json()).then(b => done(b.location || JSON.stringify(b)), e => done('failed: ' + e));",
            vec![json!(start.proof)],
        )
        .await
        .unwrap();
    let back = follow_redirect(location.as_str().unwrap().to_owned()).await;
    b.client.goto(&back).await.unwrap();
}

#[tokio::test]
async fn the_site_question_is_answered_with_the_keyboard_and_reads_well_in_both_themes_and_sizes() {
    let (app, _q) = quirk_app().await;
    configure_project(&app, |s| s.company_name = Some("Acme Robotics".into())).await;
    for (theme, b) in [
        ("light", Browser::start().await),
        ("dark", Browser::start_dark().await),
    ] {
        let start = start_oauth(&app, &session_token(&app, "alice").await, "quirk-atlassian").await;
        browser_to_callback(&b, &start).await;
        let heading = b
            .js("return document.querySelector('h1').textContent")
            .await;
        assert_eq!(heading, "Choose your Quirk atlassian site", "{theme}");
        assert_eq!(
            b.js("return location.search").await,
            "",
            "{theme}: the spent code and state leave the address bar"
        );
        for (w, h) in [(1280, 900), (320, 640)] {
            let at = format!("{theme} {w}px");
            b.client.set_window_size(w, h).await.unwrap();
            b.wait_js("the new width", &format!("return window.innerWidth <= {w}"))
                .await;
            assert_eq!(
                b.js("return document.scrollingElement.scrollWidth <= window.innerWidth")
                    .await,
                true,
                "{at}: no sideways scrolling"
            );
            let violations = b.axe().await;
            assert!(
                violations.is_empty(),
                "{at}: axe-core found\n{}",
                violations.join("\n")
            );
            let dark = b.js("const c = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number); return c[0] + c[1] + c[2] < 200").await;
            assert_eq!(dark, theme == "dark", "{at}");
            b.screenshot(&format!("page-choose-{theme}-{w}")).await;
        }
        // Keyboard only: Tab to the first site, the arrow key to the second (radio buttons move and pick
        // together), Tab to the button, Enter.
        let tab = "\u{e004}";
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys(tab)
            .await
            .unwrap();
        assert_eq!(
            b.js("return document.activeElement.value").await,
            ATLASSIAN_SITES[0].0,
            "{theme}: Tab reaches the first site"
        );
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys("\u{e015}")
            .await
            .unwrap();
        assert_eq!(
            b.js("return document.activeElement.value + ' ' + document.activeElement.checked")
                .await,
            format!("{} true", ATLASSIAN_SITES[1].0)
        );
        let ring = b.js("const cs = getComputedStyle(document.activeElement); return document.activeElement.matches(':focus-visible') && cs.outlineStyle !== 'none'").await;
        assert_eq!(ring, true, "{theme}: the focused site shows it");
        b.screenshot(&format!("page-choose-{theme}-picked")).await;
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys(tab)
            .await
            .unwrap();
        assert_eq!(
            b.js("return document.activeElement.textContent").await,
            "Connect this site"
        );
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys("\u{e007}")
            .await
            .unwrap();
        let connected = "return document.querySelector('h1') && document.querySelector('h1').textContent === 'Connected'";
        for _ in 0..50 {
            if b.js(connected).await == true {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            b.js(connected).await,
            true,
            "{theme}: {}",
            b.js("return location.href + ' ' + document.body.innerText")
                .await
        );
        let flow = app.store.get_flow(&start.flow_id).await.unwrap().unwrap();
        assert_eq!(flow.status, FlowStatus::Connected, "{theme}");
        let key = flow.connection_key.unwrap();
        assert_eq!(
            record(&app, &key).await.connection_config["cloud_id"],
            ATLASSIAN_SITES[1].0,
            "{theme}: the site picked with the keyboard"
        );
        let (status, body) = echo(&app, &key, None).await;
        assert_eq!(status, 200);
        assert!(
            body["path"]
                .as_str()
                .unwrap()
                .contains(ATLASSIAN_SITES[1].0),
            "{body}"
        );
        b.close().await;
    }
}

/// An auth link with a `redirectUrl` whose grant reaches several sites: the question is asked in the link's own
/// tab, and the answer's redirect reaches the host page (the page's `form-action` lets it, as browsers hold a
/// form's redirects to it).
#[tokio::test(flavor = "multi_thread")]
async fn an_auth_link_asks_for_the_site_in_its_tab_and_returns_to_the_redirect_url() {
    const HOST_ORIGIN: &str = "http://127.0.0.9:9";
    let (app, _q) = quirk_app().await;
    app.store.set_project_config("test-project", &json!({ "allowedOrigins": [HOST_ORIGIN] }).to_string()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await; // the per-node settings memory (2 s)
    let res = app.create_connect_session(&json!({ "identity": "user-8", "integration": "quirk-atlassian", "redirectUrl": format!("{HOST_ORIGIN}/settings?tab=apps") })).await;
    assert_eq!(res.status(), 200);
    let made: Value = res.json().await.unwrap();
    let b = Browser::start().await;
    b.client.goto(made["authLinkUrl"].as_str().unwrap()).await.unwrap();
    b.wait_js("the connect screen", "return document.querySelector('.pb-form button[type=submit]')").await;
    b.click(".pb-form button[type=submit]").await;
    b.wait_js("the site question", "return document.querySelector('.pb-choices')").await;
    b.click(&format!("input[value='{}']", ATLASSIAN_SITES[2].0)).await;
    b.click(".pb-actions button").await;
    let landed = plugboard_tests::eventually("the redirect URL", || async {
        let u = b.client.current_url().await.ok()?;
        u.as_str().starts_with(HOST_ORIGIN).then_some(u)
    })
    .await;
    let q: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert_eq!((landed.path(), q["tab"].as_str(), q["plugboard_status"].as_str()), ("/settings", "apps", "connected"));
    assert_eq!(record(&app, &q["connection_key"]).await.connection_config.get("cloud_id").map(String::as_str), Some(ATLASSIAN_SITES[2].0));
    b.close().await;
}
