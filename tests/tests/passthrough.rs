//! The passthrough (README, API: The passthrough) against real upstream servers on loopback: forwarding, credential injection,
//! streaming both ways, header hygiene, timeouts, provider failures and every path trick that could reach
//! another host.

use plugboard_tests::Server;
use std::{sync::atomic::Ordering, time::Duration};

use plugboard::catalog::Integration;
use plugboard_tests::{
    connect_fields, http, passthrough, reconnect_fields, raw_request, spawn_app_with,
    upstream::{spawn_canary, spawn_upstream, Upstream},
    TestApp,
};
use serde_json::{json, Value};

/// An API-key integration on `base` whose key the passthrough presents as `inject` says.
fn custom(platform: &str, base: &str, inject: &str) -> Integration {
    toml::from_str(&format!(
        r#"
platform = "{platform}"
name = "{platform} (test)"
category = "Developer tools"
description = "Test upstream."
authMethod = "api_key"
apiBaseUrl = "{base}"
[[fields]]
name = "api_key"
label = "API key"
secret = true
[inject]
{inject}
"#
    ))
    .expect("a valid entry")
}

/// A server with two custom integrations on `up`: one injecting a header, one a query parameter.
async fn app_with(up: &Upstream, timeout_secs: u64) -> TestApp {
    let base = format!("{}/base", up.url);
    spawn_app_with(|s| {
        s.passthrough_timeout_secs = timeout_secs;
        s.extra_integrations.push(custom("upstream-api", &base, r#"type = "header"
name = "x-api-key"
value = "{api_key}""#));
        s.extra_integrations.push(custom("upstream-query", &base, r#"type = "query"
name = "key"
value = "{api_key}""#));
    })
    .await
}

#[tokio::test]
async fn forwards_method_path_query_headers_and_body_with_the_credential_injected() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "secret-key-1" })).await;

    let res = passthrough(&app, &conn.key, reqwest::Method::PUT, "upstream-api/echo/items/42")
        .query(&[("a", "1"), ("b", "x y")])
        .header("content-type", "application/json")
        .header("x-app", "mine")
        .header("cookie", "session=host-app")
        .header("x-forwarded-for", "10.1.2.3")
        .body(r#"{"name":"thing"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"), "Plugboard's own request id");
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/base/echo/items/42");
    assert_eq!(echo["query"], "a=1&b=x+y");
    assert_eq!(echo["bodyLength"], 16);
    let h = &echo["headers"];
    assert_eq!(h["x-api-key"], "secret-key-1", "credential injected as the catalog says");
    assert_eq!(h["x-app"], "mine");
    assert_eq!(h["content-type"], "application/json");
    for leaked in ["x-one-secret", "x-one-connection-key", "cookie", "x-forwarded-for", "authorization"] {
        assert!(h.get(leaked).is_none(), "{leaked} must not reach the provider: {h}");
    }
    assert!(!h.to_string().contains(app.key.expose()), "the secret key never reaches the provider");
}

#[tokio::test]
async fn a_header_credential_replaces_any_the_caller_sent() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "real-key" })).await;
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/echo").header("x-api-key", "forged").send().await.unwrap();
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["headers"]["x-api-key"], "real-key", "neither overridden nor doubled by the caller");
}

#[tokio::test]
async fn sequential_calls_reuse_one_upstream_connection() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let before = up.signals.accepted.load(Ordering::SeqCst);
    for path in ["json", "echo", "status/404", "json", "gated-free/none"].iter().cycle().take(20) {
        let res = passthrough(&app, &conn.key, reqwest::Method::GET, &format!("upstream-api/{path}")).send().await.unwrap();
        assert!(res.status() == 200 || res.status() == 404, "{}", res.status());
        res.bytes().await.unwrap();
    }
    assert_eq!(up.signals.accepted.load(Ordering::SeqCst) - before, 1, "20 sequential calls share one pooled connection to the provider");
}

#[tokio::test]
async fn a_query_credential_replaces_any_the_caller_sent() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-query", json!({ "api_key": "real-key" })).await;
    let echo: Value = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-query/echo?key=forged&x=1").send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["query"], "x=1&key=real-key");
}

#[tokio::test]
async fn bodies_stream_both_ways_without_being_buffered() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 30).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;

    // Download: the upstream sends one chunk and holds the rest until we have seen that chunk through Plugboard.
    let mut res = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/gated").send().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await.expect("the first chunk arrives before the body ends");
    assert_eq!(first.unwrap().unwrap(), "first chunk\n");
    up.signals.release_download.notify_one();
    assert_eq!(res.text().await.unwrap(), "the rest\n");

    // Upload: we send one chunk and hold the rest until the upstream has seen that chunk through Plugboard.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let body = reqwest::Body::wrap_stream(tokio_stream(rx));
    let send = tokio::spawn(passthrough(&app, &conn.key, reqwest::Method::POST, "upstream-api/upload-gated").body(body).send());
    tx.send(Ok(vec![b'a'; 1024 * 1024])).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), up.signals.upload_started.notified()).await.expect("the upstream sees the body before it ends");
    tx.send(Ok(vec![b'b'; 3 * 1024 * 1024])).await.unwrap();
    drop(tx);
    let res = send.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["received"], 4 * 1024 * 1024);
}

fn tokio_stream(mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn provider_statuses_come_back_with_their_headers_but_not_hop_by_hop_ones() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/status/429").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["x-rate-limit"], "7");
    assert!(res.headers().get("x-hop").is_none(), "a header named by Connection is hop-by-hop");
    assert_ne!(res.headers()["x-request-id"], "upstream-id", "the provider cannot pass for Plugboard");
    assert_eq!(res.text().await.unwrap(), "status 429");

    // A redirect is answered as is, never followed (it could lead off the catalog's host).
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/redirect").send().await.unwrap();
    assert_eq!(res.status(), 302);
}

#[tokio::test]
async fn a_slow_provider_is_a_504_and_an_unreachable_one_a_502() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 1).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/slow").send().await.unwrap();
    assert_eq!(res.status(), 504);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "provider_timeout");
    assert!(body["requestId"].as_str().is_some_and(|s| !s.is_empty()));

    // A closed port: nothing listens at the integration's host any more.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.5:0").unwrap();
        l.local_addr().unwrap()
    };
    let dead_up = Upstream { url: format!("http://{dead}"), addr: dead, signals: up.signals.clone() };
    let app = app_with(&dead_up, 5).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/json").send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "provider_failed");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let other = connect_fields(&app, "u2", "upstream-query", json!({ "api_key": "k" })).await;
    let cases = [
        (http().get(format!("{}/v1/passthrough/upstream-api/json", app.url)).header("X-One-Connection-Key", &conn.key), 401, "unauthorized"),
        (app.backend(reqwest::Method::GET, "/v1/passthrough/upstream-api/json"), 400, "missing_connection_key"),
        (passthrough(&app, "test::upstream-api::default::nope", reqwest::Method::GET, "upstream-api/json"), 404, "not_found"),
        (passthrough(&app, &other.key, reqwest::Method::GET, "upstream-api/json"), 400, "platform_mismatch"),
    ];
    for (req, status, code) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "{code}");
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = res.json::<Value>().await.unwrap();
        assert_eq!(body["code"], code);
        assert_eq!(body["requestId"], id.as_str(), "the error names the request it answers");
    }
    // A caller's own request id is kept; a path without an integration is no integration.
    let res = passthrough(&app, &conn.key, reqwest::Method::GET, "").header("x-request-id", "caller-7").send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["x-request-id"], "caller-7");
    assert_eq!(res.json::<Value>().await.unwrap()["requestId"], "caller-7");
    // Counted like any route, by its template.
    let metrics = http().get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    let counted = |route: &str, status: &str| {
        metrics.lines().any(|l| l.starts_with("plugboard_http_requests_total{") && l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("status=\"{status}\"")))
    };
    assert!(counted("/v1/passthrough/{platform}/{*path}", "400") && counted("/v1/passthrough/{platform}", "404"), "{metrics}");
    // The x-pica-* names of the seeds work too.
    let res = http()
        .get(format!("{}/v1/passthrough/upstream-api/json", app.url))
        .header("x-pica-secret", app.key.expose())
        .header("x-pica-connection-key", &conn.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.signals.hits.load(Ordering::SeqCst), 1, "only the valid call reached the provider");
}

#[tokio::test]
async fn path_tricks_never_reach_another_host() {
    let up = spawn_upstream("127.0.0.5").await;
    let (canary, canary_hits) = spawn_canary("127.0.0.6").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let headers = [("X-One-Secret", app.key.expose()), ("X-One-Connection-Key", conn.key.as_str())];
    let c = canary.to_string();
    let tricks = [
        format!("//{c}/x"),
        format!("/{c}/x"),
        format!("/@{c}/x"),
        format!("/echo/../../{c}"),
        "/../../x".to_string(),
        "/%2e%2e/%2e%2e/x".to_string(),
        format!("/%2F%2F{c}/x"),
        format!("/echo%2f..%2f..%2f{c}"),
        format!("/%5c%5c{c}/x"),
        "/echo/%2E%2E/x".to_string(),
    ];
    for trick in &tricks {
        let (status, body) = raw_request(app.addr, "GET", &format!("/v1/passthrough/upstream-api{trick}"), &headers).await;
        // Refused outright, or kept on the upstream (which then answers 404 for a path it does not have).
        assert!(matches!(status, 400 | 404), "{trick}: {status} {body}");
    }
    // An absolute URI as the request target must not pick the host either: Plugboard serves it as its own path.
    let (status, body) = raw_request(app.addr, "GET", &format!("http://{c}/v1/passthrough/upstream-api/json"), &headers).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""items":[1,2,3]"#), "the upstream's answer: {body}");
    assert_eq!(canary_hits.load(Ordering::SeqCst), 0, "no request reached the other host");
    // …while an ordinary path still works.
    let (status, body) = raw_request(app.addr, "GET", "/v1/passthrough/upstream-api/echo/a@b/c", &headers).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""path":"/base/echo/a@b/c""#), "{body}");
}

#[tokio::test]
async fn a_reconnect_with_a_new_key_is_used_by_the_next_call() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "old-key" })).await;
    let echo: Value = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/echo").send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["headers"]["x-api-key"], "old-key");
    reconnect_fields(&app, "u1", "upstream-api", &conn.key, json!({ "api_key": "new-key" })).await;
    let echo: Value = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/echo").send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["headers"]["x-api-key"], "new-key", "the reconnected credential, not a remembered one");
}

#[tokio::test]
async fn encoded_slashes_reach_the_provider_verbatim() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let headers = [("X-One-Secret", app.key.expose()), ("X-One-Connection-Key", conn.key.as_str())];
    // GitLab names a project `group%2Fproject`; Google Cloud Storage an object `folder%2Ffile`.
    for (path, arrived) in [
        ("echo/projects/group%2Fproject/issues", "/base/echo/projects/group%2Fproject/issues"),
        ("echo/b/bucket/o/folder%2fnotes%20v2.txt", "/base/echo/b/bucket/o/folder%2fnotes%20v2.txt"),
    ] {
        let res = passthrough(&app, &conn.key, reqwest::Method::GET, &format!("upstream-api/{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let echo: Value = res.json().await.unwrap();
        assert_eq!(echo["path"], arrived);
    }
    // An encoded slash that would make a dot segment once the provider decodes it is still refused.
    let (status, body) = raw_request(app.addr, "GET", "/v1/passthrough/upstream-api/echo/a%2F..%2F..%2Fsecret", &headers).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_path"), "{body}");
}

const PASSTHROUGH_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

#[tokio::test]
async fn every_answer_is_served_as_a_page_of_plugboards_origin_nosniff_no_referrer_and_sandboxed() {
    let up = spawn_upstream("127.0.0.5").await;
    let app = app_with(&up, 10).await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let values = |res: &reqwest::Response, name: &str| res.headers().get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    // The provider's answer without page headers, Plugboard's own error, and a provider page with its own.
    let plain = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/json").send().await.unwrap();
    let error = passthrough(&app, "test::upstream-api::default::nope", reqwest::Method::GET, "upstream-api/json").send().await.unwrap();
    assert_eq!((plain.status().as_u16(), error.status().as_u16()), (200, 404));
    for res in [&plain, &error] {
        assert_eq!(values(res, "x-content-type-options"), ["nosniff"]);
        assert_eq!(values(res, "referrer-policy"), ["no-referrer"]);
        assert_eq!(values(res, "content-security-policy"), [PASSTHROUGH_CSP]);
    }
    let page = passthrough(&app, &conn.key, reqwest::Method::GET, "upstream-api/page").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(values(&page, "x-content-type-options"), ["nosniff"], "replaces the provider's");
    assert_eq!(values(&page, "referrer-policy"), ["no-referrer"], "replaces the provider's");
    // The provider's CSP is kept and Plugboard's added: a browser enforces both, so the page runs no script.
    assert_eq!(values(&page, "content-security-policy"), ["script-src 'self'", PASSTHROUGH_CSP]);
    assert_eq!(page.text().await.unwrap(), "<script>document.title = 'the provider page ran'</script>", "the body as the provider sent it");
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_is_a_408_and_its_connection_is_closed() {
    let up = spawn_upstream("127.0.0.5").await;
    let base = format!("{}/base", up.url);
    let app = spawn_app_with(|s| {
        s.request_timeout_secs = 1;
        s.extra_integrations.push(custom("upstream-api", &base, "type = \"header\"\nname = \"x-api-key\"\nvalue = \"{api_key}\""));
    })
    .await;
    let conn = connect_fields(&app, "u1", "upstream-api", json!({ "api_key": "k" })).await;
    let head = |framing: &str| {
        format!(
            "POST /v1/passthrough/upstream-api/echo HTTP/1.1\r\nHost: {}\r\nX-One-Secret: {}\r\nX-One-Connection-Key: {}\r\n{framing}\r\n\r\n",
            app.addr,
            app.key.expose(),
            conn.key
        )
    };
    // A small body announced and never sent (read whole before the call), and a streamed one that stops after a
    // chunk (on its way to the provider).
    for (framing, partial) in [("Content-Length: 100", &b"{\"name\":"[..]), ("Transfer-Encoding: chunked", &b"5\r\nhello\r\n"[..])] {
        let (status, body, took) = plugboard_tests::stalled_request(app.addr, &head(framing), partial).await;
        assert_eq!(status, 408, "{framing}: {body}");
        assert!(body.contains(r#""code":"timeout""#) && body.contains(r#""requestId":""#), "{framing}: {body}");
        assert!(took < Duration::from_secs(5), "{framing}: answered after {took:?}");
    }
    // Nothing reached the provider whole; the node still serves.
    let res = passthrough(&app, &conn.key, reqwest::Method::POST, "upstream-api/echo").body("{}").send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["bodyLength"], 2);
}
