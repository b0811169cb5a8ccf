//! Abuse limits (SECURITY.md, "Abuse"): per-IP and per-project rate limits answer 429 with `Retry-After` and the
//! usual JSON error; sign-ins open per session are capped; bodies are bounded; a silent connection is closed.

use plugboard::keys::{Environment, SecretKey};
use plugboard_tests::{http, session_token, spawn_app_with, spawn_with_provider};
use reqwest::StatusCode;

/// A client whose requests come from `ip` (a loopback address).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

async fn statuses(requests: Vec<reqwest::RequestBuilder>) -> Vec<reqwest::Response> {
    let mut out = Vec::new();
    for r in requests {
        out.push(r.send().await.unwrap());
    }
    out
}

#[tokio::test]
async fn one_client_ip_flooding_the_public_routes_is_slowed_and_others_are_not() {
    let app = spawn_app_with(|s| {
        s.limits.rate_limit_ip = 1; // bursts of 5
        s.limits.rate_limit_project = 0;
    })
    .await;
    let flood = client_from("127.0.0.1");
    let answers = statuses((0..12).map(|_| flood.get(format!("{}/v1/widget/categories", app.url))).collect()).await;
    let limited: Vec<_> = answers.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(limited.len() >= 5, "most of a burst past the quota is refused: {:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    let retry: u64 = limited[0].headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    let last = answers.into_iter().last().unwrap();
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = last.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(body["error"].as_str().unwrap().starts_with("too many requests"));

    // Another client is not held back by the first one's flood.
    let other = client_from("127.0.0.5").get(format!("{}/v1/widget/categories", app.url)).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "answered, not limited");
    // The OAuth pages count too; the server-to-server vault API does not.
    let page = flood.get(format!("{}/oauth/callback?state=x", app.url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    let vault = flood.get(format!("{}/v1/vault/connections", app.url)).header("X-One-Secret", app.key.expose()).send().await.unwrap();
    assert_eq!(vault.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_project_minting_too_fast_is_slowed_and_another_project_is_not() {
    let app = spawn_app_with(|s| {
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_project = 1; // bursts of 5
    })
    .await;
    let mint = |key: &SecretKey| http().post(format!("{}/v1/authkit/token", app.url)).header("X-One-Secret", key.expose()).json(&serde_json::json!({ "identity": "u", "identityType": "user" }));
    let answers = statuses((0..10).map(|_| mint(&app.key)).collect()).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 5, "the burst passes, then the project waits: {codes:?}");
    assert!(answers.iter().filter(|r| r.status() == 429).all(|r| r.headers().contains_key("retry-after")));

    let other = SecretKey::generate(Environment::Test);
    app.store.upsert_project(&plugboard::store::Project { id: "other".into(), name: "Other".into() }).await.unwrap();
    app.store.add_secret_key("other", Environment::Test, &other.digest(), &other.hint()).await.unwrap();
    assert_eq!(mint(&other).send().await.unwrap().status(), StatusCode::OK, "another project has its own budget");
}

#[tokio::test]
async fn a_session_may_keep_only_so_many_sign_ins_open() {
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.limits.max_open_flows = 3;
        s.limits.rate_limit_ip = 0;
    })
    .await;
    let token = session_token(&app, "alice").await;
    let start = |token: &str| http().post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url)).bearer_auth(token).json(&serde_json::json!({}));
    // Twelve at once: the cap holds under concurrency (count and insert are one statement).
    let calls: Vec<_> = (0..12).map(|_| tokio::spawn(start(&token).send())).collect();
    let mut ok = 0;
    for c in calls {
        if c.await.unwrap().unwrap().status() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 3, "exactly the cap, however many arrive together");
    let refused = start(&token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "too_many");
    assert!(body["error"].as_str().unwrap().contains("3 sign-ins are already open"), "{body}");
    let other = session_token(&app, "bob").await;
    assert_eq!(start(&other).send().await.unwrap().status(), StatusCode::OK, "the cap is per session");
}

#[tokio::test]
async fn big_bodies_are_refused_and_silent_connections_are_closed() {
    let app = spawn_app_with(|s| s.limits.header_read_timeout_secs = 1).await;
    let res = http()
        .post(format!("{}/v1/authkit/token", app.url))
        .header("X-One-Secret", app.key.expose())
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], "payload_too_large");

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Clients that connect and send nothing at all, a single byte, or half a request line (slowloris): cut off.
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), silent.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the server kept a connection that never sent a byte");
    let mut one = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    one.write_all(b"P").await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), one.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the server kept a connection that sent one byte");
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the server kept a silent connection open");
    // A kept-alive connection that goes quiet after a request is closed too.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), idle.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the server kept an idle connection open");
}

#[tokio::test]
async fn a_json_body_that_stops_arriving_is_a_408_and_its_connection_is_closed() {
    let app = spawn_app_with(|s| s.request_timeout_secs = 1).await;
    // The body is read by the route's extractor, inside the request's deadline (tower-http's timeout wraps it).
    let head = format!(
        "POST /v1/authkit/token HTTP/1.1\r\nHost: {}\r\nX-One-Secret: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        app.addr,
        app.key.expose()
    );
    let (status, body, took) = plugboard_tests::stalled_request(app.addr, &head, br#"{"identity":"#).await;
    assert_eq!(status, 408, "{body}");
    let error: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert_eq!(error["code"], "timeout");
    assert!(error["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{error}");
    assert!(took < std::time::Duration::from_secs(5), "answered after {took:?}");
}
