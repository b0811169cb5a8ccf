//! The seeds' own client packages against Plugboard, changing only a base URL. `@picahq/authkit-token` (pinned in
//! scripts/package.json, installed by scripts/setup-test) runs in Node exactly as a host backend calls it.

use std::path::Path;

use plugboard_tests::{http, spawn_with_provider};
use serde_json::{json, Value};

fn authkit_token(base_url: &str, key: &str, identity: Option<&str>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/authkit-token.cjs");
    let out = std::process::Command::new("node").arg(script).arg(base_url).arg(key).args(identity).output().expect("node runs (scripts/setup-test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn pica_authkit_token_merges_every_page_and_its_answer_starts_a_widget_session() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let url = app.url.clone();
    let key = app.key.expose().to_owned();
    let answer = tokio::task::spawn_blocking(move || authkit_token(&url, &key, Some("user-42"))).await.unwrap();
    // It asked for every page (100 rows each) and merged them.
    // What the project can connect: no OAuth app of the catalog (none has a client here), plus the mock provider's
    // three entries (its OAuth app has the deployment's client).
    let catalog = plugboard::catalog::Catalog::builtin().unwrap().all().iter().filter(|e| !e.needs_server_client()).count() + 3;
    assert_eq!(answer["total"].as_u64(), Some(catalog as u64), "{}", answer["total"]);
    assert_eq!(answer["rows"].as_array().unwrap().len(), catalog, "all pages merged");
    assert_eq!((answer["page"].as_u64(), answer["pages"].as_u64(), answer["isWhiteLabel"].as_bool()), (Some(1), Some(1), Some(false)));
    // What the merge keeps of the session is the last page's requestId: it is a live session for that identity.
    let session = answer["requestId"].as_str().expect("a requestId").to_owned();
    assert!(session.starts_with("pbs_") && answer.get("token").is_none(), "{answer}");
    let res = http().get(format!("{}/v1/widget/categories", app.url)).bearer_auth(&session).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let record: Value = http()
        .post(format!("{}/v1/widget/connect/mock-api-key", app.url))
        .bearer_auth(&session)
        .json(&json!({ "fields": { "api_key": "mock-key-0123456789" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["identity"], "user-42");

    // The README's call, `create()` with no argument, works too (the project's `default` user).
    let (url, key) = (app.url.clone(), app.key.expose().to_owned());
    let bare = tokio::task::spawn_blocking(move || authkit_token(&url, &key, None)).await.unwrap();
    assert!(bare["requestId"].as_str().unwrap().starts_with("pbs_"));
    // A wrong key: the package hands back the server's error body.
    let url = app.url.clone();
    let refused = tokio::task::spawn_blocking(move || authkit_token(&url, "sk_test_wrong", None)).await.unwrap();
    assert_eq!(refused["code"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_frontend_packages_iframe_url_serves_the_widget_allowed_to_call_only_the_hosts_token_endpoint() {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    // What `useOneAuth({ baseUrl })` opens: `${baseUrl}?data=<btoa(JSON)>`.
    let payload = STANDARD.encode(r#"{"linkTokenEndpoint":"https://api.acme.example/one-auth","linkHeaders":{"x-user-id":"u1"},"title":"Connect"}"#);
    let page = http().get(format!("{}?data={}", app.url, urlencoding(&payload))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("connect-src 'self' https://api.acme.example;"), "{csp}");
    assert!(csp.contains("frame-ancestors "), "{csp}");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer", "the payload never leaves in a Referer");
    // The early listener is inlined in the page (allowed by its hash in the CSP), ahead of the wasm.
    let html = page.text().await.unwrap();
    let (listener, wasm) = (html.find("__plugboardParent"), html.find("_bg.wasm"));
    assert!(listener.is_some() && listener < wasm, "the widget page, with its early listener first");

    // A payload naming no usable endpoint widens nothing; no payload at all is not a page.
    for bad in ["%%%", &STANDARD.encode(r#"{"linkTokenEndpoint":"javascript:alert(1)"}"#)] {
        let page = http().get(format!("{}/?data={}", app.url, urlencoding(bad))).send().await.unwrap();
        let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("connect-src 'self';"), "{bad}: {csp}");
    }
    let root = http().get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(root.status(), 404);
    assert_eq!(root.json::<Value>().await.unwrap()["code"], "not_found");
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
