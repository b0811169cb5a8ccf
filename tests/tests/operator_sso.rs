//! Operator single sign-on against a certified OpenID provider (panva's `oidc-provider`): the code flow with PKCE,
//! `state` and `nonce`; the role mapped from the `groups` claim and following the provider on every sign-in;
//! refusals (no role, a tampered `state`, a replayed callback, a disabled operator, the provider's error) as pages,
//! audited, with no operator made and no session started.

use plugboard::{config::SsoSettings, operators::Role, vault::SecretString};
use plugboard_tests::{
    free_addr,
    oidc::{Oidc, CLIENT_ID, CLIENT_SECRET},
    operator::Operator,
    spawn_app, spawn_app_with, TestApp,
};
use serde_json::{json, Value};

/// A server with single sign-on through a fresh provider, `plugboard-admins`, `plugboard-devs` and `support`
/// mapped to the three roles.
async fn app_with_sso() -> (TestApp, Oidc) {
    let (addr, url) = free_addr();
    let oidc = Oidc::start(&format!("{url}/operator/v1/sso/callback"), 60);
    let issuer = oidc.url.clone();
    let app = spawn_app_with(|s| {
        s.bind = addr;
        s.sso = SsoSettings {
            issuer: Some(issuer),
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(SecretString::new(CLIENT_SECRET)),
            roles: Some("plugboard-admins=admin,plugboard-devs=developer,support=support".into()),
            ..Default::default()
        };
    })
    .await;
    (app, oidc)
}

/// A browser: a cookie jar, redirects not followed (each hop is looked at).
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// One sign-in in `b` as `login` (allowing or denying at the provider): the start's answer and the callback's.
async fn sign_in(app: &TestApp, oidc: &Oidc, b: &reqwest::Client, login: &str, allow: bool, return_to: Option<&str>) -> (reqwest::Response, String) {
    let mut start = b.get(format!("{}/operator/v1/sso/start", app.url));
    if let Some(r) = return_to {
        start = start.query(&[("returnTo", r)]);
    }
    let started = start.send().await.unwrap();
    assert_eq!(started.status(), 303, "{}", started.text().await.unwrap());
    let callback = oidc.consent_as(login, &location(&started), allow, &app.url).await;
    (started, callback)
}

async fn finish(b: &reqwest::Client, callback: &str) -> reqwest::Response {
    b.get(callback).send().await.unwrap()
}

async fn me(app: &TestApp, b: &reqwest::Client) -> reqwest::Response {
    b.get(format!("{}/operator/v1/me", app.url)).send().await.unwrap()
}

async fn audit(app: &TestApp, admin: &Operator) -> Vec<Value> {
    let _ = app;
    admin.get_json("/operator/v1/audit?action=operator.sign_in").await["rows"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_mapped_user_becomes_an_operator_whose_role_follows_the_provider() {
    let (app, oidc) = app_with_sso().await;
    let info: Value = plugboard_tests::http().get(format!("{}/operator/v1/sso", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info, json!({"enabled": true, "startUrl": format!("{}/operator/v1/sso/start", app.url)}));
    oidc.set_account("bob", json!({"email": "Bob@Example.test", "email_verified": true, "groups": ["everyone", "plugboard-devs"]})).await;

    let b = browser();
    let (started, callback) = sign_in(&app, &oidc, &b, "bob", true, None).await;
    let idp = location(&started);
    assert!(idp.starts_with(&format!("{}/auth?", oidc.url)), "{idp}");
    for part in ["code_challenge_method=S256", "state=", "nonce=", "scope=openid"] {
        assert!(idp.contains(part), "{part} in {idp}");
    }
    let pending = set_cookies(&started).join("\n");
    for attr in ["plugboard_sso=", "HttpOnly", "SameSite=Lax", "Max-Age=600"] {
        assert!(pending.contains(attr), "{attr} in {pending}");
    }
    let done = finish(&b, &callback).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/console");
    let cookies = set_cookies(&done).join("\n");
    assert!(cookies.contains("plugboard_operator=pbos_") && cookies.contains("SameSite=Strict"), "{cookies}");
    assert!(cookies.contains("plugboard_sso=;"), "the sign-in in flight is spent: {cookies}");

    let res = me(&app, &b).await;
    assert_eq!(res.status(), 200);
    let who: Value = res.json().await.unwrap();
    assert_eq!(who["operator"]["email"], "bob@example.test");
    assert_eq!(who["operator"]["role"], "developer");
    assert_eq!(who["operator"]["sso"], true);
    assert_eq!(who["operator"]["hasPassword"], false);
    assert!(who["csrfToken"].is_string());

    // The provider makes bob an admin (two groups: the most powerful mapped role wins), then support only: each
    // sign-in sets the role, and bob stays one operator.
    for (groups, role, return_to) in [(json!(["support", "plugboard-admins"]), "admin", "/console/connections?q=a"), (json!("support"), "support", "/console")] {
        oidc.set_account("bob", json!({"email": "bob@example.test", "email_verified": true, "groups": groups})).await;
        let b = browser();
        let (_, callback) = sign_in(&app, &oidc, &b, "bob", true, Some(return_to)).await;
        let done = finish(&b, &callback).await;
        assert_eq!(done.status(), 303);
        assert_eq!(location(&done), return_to);
        let who: Value = me(&app, &b).await.json().await.unwrap();
        assert_eq!(who["operator"]["role"], role);
    }
    let admin = Operator::admin(&app).await;
    let operators = admin.get_json("/operator/v1/operators").await;
    let bobs: Vec<&Value> = operators.as_array().unwrap().iter().filter(|o| o["email"] == "bob@example.test").collect();
    assert_eq!(bobs.len(), 1, "{operators}");
    assert_eq!(bobs[0]["role"], "support");
    let rows = audit(&app, &admin).await;
    let ok: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "ok" && r["details"]["method"] == "sso").collect();
    assert_eq!(ok.len(), 3, "{rows:?}");
    assert!(!serde_json::to_string(&rows).unwrap().contains(CLIENT_SECRET));

    // Only paths on this server are places to return to.
    for bad in ["https://evil.example/", "//evil.example/console", "/\\evil.example"] {
        let res = browser().get(format!("{}/operator/v1/sso/start", app.url)).query(&[("returnTo", bad)]).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "invalid_return_to");
    }
}

#[tokio::test]
async fn an_unmapped_user_is_refused_and_no_operator_is_made() {
    let (app, oidc) = app_with_sso().await;
    oidc.set_account("carol", json!({"email": "carol@example.test", "email_verified": true, "groups": ["everyone"]})).await;
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "carol", true, None).await;
    let res = finish(&b, &callback).await;
    assert_eq!(res.status(), 403);
    assert!(!set_cookies(&res).join("\n").contains("pbos_"), "no session");
    let page = res.text().await.unwrap();
    assert!(page.contains("not allowed to operate Plugboard") && page.contains("groups"), "{page}");
    assert_eq!(me(&app, &b).await.status(), 401);
    assert!(app.store.operator_by_email("carol@example.test").await.unwrap().is_none());

    // A user without a verified email is refused the same way.
    oidc.set_account("dave", json!({"email": "dave@example.test", "email_verified": false, "groups": ["plugboard-admins"]})).await;
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "dave", true, None).await;
    let res = finish(&b, &callback).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("not verified"));
    assert!(app.store.operator_by_email("dave@example.test").await.unwrap().is_none());

    let admin = Operator::admin(&app).await;
    let rows = audit(&app, &admin).await;
    let reasons: Vec<(&str, &str)> = rows.iter().filter(|r| r["outcome"] == "refused").map(|r| (r["actor"].as_str().unwrap(), r["details"]["reason"].as_str().unwrap())).collect();
    assert_eq!(reasons, [("carol@example.test", "no role mapped"), ("dave@example.test", "email refused")], "{rows:?}");
}

#[tokio::test]
async fn a_tampered_state_another_browser_and_a_replayed_callback_are_refused() {
    let (app, oidc) = app_with_sso().await;
    oidc.set_account("bob", json!({"email": "bob@example.test", "email_verified": true, "groups": ["plugboard-admins"]})).await;

    // The state changed on the way back: refused, before any code is exchanged.
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "bob", true, None).await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.to_string(), if k == "state" { format!("{v}x") } else { v.into_owned() })).collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = finish(&b, url.as_str()).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not started in this browser"));
    assert_eq!(me(&app, &b).await.status(), 401);

    // The right callback in a browser that did not start the sign-in (a login CSRF): refused too.
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "bob", true, None).await;
    let res = finish(&browser(), &callback).await;
    assert_eq!(res.status(), 400);
    assert_eq!(oidc.stats().await.codes_exchanged, 0);

    // A finished sign-in replayed with the same code and the same cookie: the code is spent.
    let b = browser();
    let (started, callback) = sign_in(&app, &oidc, &b, "bob", true, None).await;
    let pending = set_cookies(&started).iter().find(|c| c.starts_with("plugboard_sso=")).unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(finish(&b, &callback).await.status(), 303);
    let replay = plugboard_tests::http().get(&callback).header("cookie", &pending).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(!set_cookies(&replay).join("\n").contains("pbos_"));
    assert!(replay.text().await.unwrap().contains("could not be completed"));
    assert_eq!(oidc.stats().await.codes_exchanged, 1);

    let admin = Operator::admin(&app).await;
    let refused: Vec<Value> = audit(&app, &admin).await.into_iter().filter(|r| r["outcome"] == "refused").collect();
    let reasons: Vec<&str> = refused.iter().map(|r| r["details"]["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["bad state", "bad state", "code or ID token refused"]);
}

#[tokio::test]
async fn a_disabled_operator_and_a_declined_sign_in_are_refused() {
    let (app, oidc) = app_with_sso().await;
    oidc.set_account("bob", json!({"email": "bob@example.test", "email_verified": true, "groups": ["plugboard-devs"]})).await;
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "bob", true, None).await;
    assert_eq!(finish(&b, &callback).await.status(), 303);
    let bob = app.store.operator_by_email("bob@example.test").await.unwrap().unwrap();
    assert_eq!(bob.role, Role::Developer);

    let admin = Operator::admin(&app).await;
    assert_eq!(admin.patch(&format!("/operator/v1/operators/{}", bob.id), &json!({"disabled": true})).await.status(), 200);
    assert_eq!(me(&app, &b).await.status(), 401, "disabling ended the session");
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "bob", true, None).await;
    let res = finish(&b, &callback).await;
    assert_eq!(res.status(), 403);
    assert!(!set_cookies(&res).join("\n").contains("pbos_"));
    assert!(res.text().await.unwrap().contains("disabled"));
    assert_eq!(me(&app, &b).await.status(), 401);

    // The user says no at the provider: its error is the page's.
    let b = browser();
    let (_, callback) = sign_in(&app, &oidc, &b, "bob", false, None).await;
    let res = finish(&b, &callback).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("refused the sign-in"));

    let refused: Vec<Value> = audit(&app, &admin).await.into_iter().filter(|r| r["outcome"] == "refused").collect();
    let reasons: Vec<(&str, &str)> = refused.iter().map(|r| (r["actor"].as_str().unwrap(), r["details"]["reason"].as_str().unwrap())).collect();
    assert_eq!(reasons, [("bob@example.test", "disabled operator"), ("single sign-on", "provider error")]);
    assert_eq!(refused[0]["operatorId"], bob.id.as_str());
}

#[tokio::test]
async fn without_configuration_single_sign_on_is_off() {
    let app = spawn_app().await;
    let info: Value = plugboard_tests::http().get(format!("{}/operator/v1/sso", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info, json!({"enabled": false}));
    let res = browser().get(format!("{}/operator/v1/sso/start", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = browser().get(format!("{}/operator/v1/sso/callback?state=x&code=y", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 404);
}
