//! Abuse limits (SECURITY.md, "Abuse"): per-IP (IPv6 per /64), per-end-user, per-project and per-host-backend rate
//! limits answer 429 with `Retry-After` and the usual JSON error, and one end user's flood leaves the others alone;
//! sign-ins open per end user are capped; metric labels stay bounded; bodies are bounded; a silent connection is
//! closed.

use plugboard_tests::Server;
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
    // Nor are the host backend's other secret-key calls: it mints for all its users from one address.
    assert_eq!(mint_from(&flood, &app.url, &app.key, "u").send().await.unwrap().status(), StatusCode::OK);
}

fn mint_from(client: &reqwest::Client, url: &str, key: &SecretKey, identity: &str) -> reqwest::RequestBuilder {
    client.post(format!("{url}/v1/authkit/token")).header("X-One-Secret", key.expose()).json(&serde_json::json!({ "identity": identity, "identityType": "user" }))
}

#[tokio::test]
async fn the_host_backend_minting_too_fast_is_slowed_and_its_users_and_another_project_are_not() {
    let app = spawn_app_with(|s| {
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_backend = 1; // bursts of 5
    })
    .await;
    let alice = session_token(&app, "alice").await;
    let answers = statuses((0..10).map(|i| mint_from(&http(), &app.url, &app.key, &format!("u{i}"))).collect()).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 4, "the burst passes (one went to alice), then the backend waits: {codes:?}");
    assert!(answers.iter().filter(|r| r.status() == 429).all(|r| r.headers().contains_key("retry-after")));
    let link = app.backend(reqwest::Method::POST, "/v1/connect-sessions").json(&serde_json::json!({ "identity": "u" }));
    assert_eq!(link.send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "links come from the same budget");

    // The widget calls of the project's users are another budget.
    let widget = http().get(format!("{}/v1/widget/categories", app.url)).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(widget.status(), StatusCode::OK);
    let other = SecretKey::generate(Environment::Test);
    app.store.upsert_project(&plugboard::store::Project { id: "other".into(), name: "Other".into() }).await.unwrap();
    app.store.add_secret_key("other", Environment::Test, &other.digest(), &other.hint()).await.unwrap();
    assert_eq!(mint_from(&http(), &app.url, &other, "u").send().await.unwrap().status(), StatusCode::OK, "another project has its own budget");
}

#[tokio::test]
async fn one_end_user_hammering_the_hosts_token_endpoint_spends_their_budget_not_other_users() {
    let app = spawn_app_with(|s| {
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_identity = 1; // bursts of 5
        s.limits.rate_limit_backend = 1000;
    })
    .await;
    // The host's token endpoint mints for whoever its user is: Mallory reloads it thirty times at once.
    let answers = statuses((0..30).map(|_| mint_from(&http(), &app.url, &app.key, "mallory")).collect()).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 5, "her burst, then she waits: {codes:?}");
    // Everyone else's widget still opens.
    for user in ["alice", "bob", "carol"] {
        assert_eq!(mint_from(&http(), &app.url, &app.key, user).send().await.unwrap().status(), StatusCode::OK, "{user}");
    }
}

#[tokio::test]
async fn one_end_user_flooding_the_widget_from_several_addresses_leaves_other_users_working() {
    let app = spawn_app_with(|s| {
        s.limits.rate_limit_ip = 2; // bursts of 10 per address
        s.limits.rate_limit_project = 4; // bursts of 20 for all the project's users
        s.limits.rate_limit_identity = 1; // bursts of 5 per end user
    })
    .await;
    let mallory = session_token(&app, "mallory").await;
    let revoked = session_token(&app, "mallory-before").await;
    let res = app.revoke_session(&revoked).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Mallory floods from four addresses (within each address's budget), and with a revoked session from a fifth.
    let categories = |ip: &str, token: &str| client_from(ip).get(format!("{}/v1/widget/categories", app.url)).bearer_auth(token);
    let flood = statuses(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"].iter().flat_map(|ip| (0..10).map(|_| categories(ip, &mallory))).collect()).await;
    let passed = flood.iter().filter(|r| r.status() == StatusCode::OK).count();
    // Her burst of 5, one of which went to minting her session (minting counts against the user too).
    assert!((4..=5).contains(&passed), "mallory gets her own budget, no more: {passed} of 40");
    let refused = flood.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["code"], "rate_limited");
    let stale = statuses((0..10).map(|_| categories("127.0.0.6", &revoked)).collect()).await;
    assert!(stale.iter().all(|r| r.status() == StatusCode::UNAUTHORIZED), "a revoked session is refused, and charged to nobody");

    // The host backend, right after, mints for forty users from its one address; eight of them use the widget.
    let backend = client_from("127.0.0.1");
    let mut tokens = Vec::new();
    for i in 0..40 {
        let res = mint_from(&backend, &app.url, &app.key, &format!("user-{i}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "mint {i}");
        tokens.push(res.json::<plugboard_shared::TokenResponse>().await.unwrap().token);
    }
    for token in &tokens[..8] {
        assert_eq!(categories("127.0.0.7", token).send().await.unwrap().status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_64_not_per_address() {
    let app = spawn_app_with(|s| {
        s.limits.rate_limit_ip = 1; // bursts of 5
        s.limits.trust_proxy = true;
    })
    .await;
    let from = |ip: String| http().get(format!("{}/v1/widget/categories", app.url)).header("x-forwarded-for", ip);
    // One client walking through the addresses of its /64, as any IPv6 host can: one budget.
    let answers = statuses((1..=12).map(|i| from(format!("2001:db8:1:2::{i:x}"))).collect()).await;
    let limited = answers.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(limited >= 6, "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    // The next /64 is someone else.
    assert_eq!(from("2001:db8:1:3::1".into()).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "answered, not limited");
}

#[tokio::test]
async fn guessing_secret_keys_is_slowed_per_address_and_the_backends_own_key_is_not() {
    let app = spawn_app_with(|s| s.limits.rate_limit_ip = 1).await; // bursts of 5
    let guesser = client_from("127.0.0.9");
    // Each invented key is a database read: they count against the address that sends them.
    let answers = statuses((0..12).map(|i| mint_from(&guesser, &app.url, &SecretKey::generate(Environment::Test), &format!("u{i}"))).collect()).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(codes.iter().filter(|&&c| c == 401).count() <= 6 && codes.iter().filter(|&&c| c == 429).count() >= 6, "{codes:?}");
    // A backend's key stays in memory, so minting for thirty users from one address goes through.
    let backend = client_from("127.0.0.1");
    for i in 0..30 {
        assert_eq!(mint_from(&backend, &app.url, &app.key, &format!("u{i}")).send().await.unwrap().status(), StatusCode::OK, "mint {i}");
    }
}

#[tokio::test]
async fn an_end_user_may_keep_only_so_many_sign_ins_open_whatever_the_session() {
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.limits.max_open_flows = 3;
        s.limits.rate_limit_ip = 0;
    })
    .await;
    let token = session_token(&app, "alice").await;
    let start = |token: &str| http().post(format!("{}/v1/widget/oauth/mock-oauth/start", app.url)).bearer_auth(token).json(&serde_json::json!({}));
    // Twelve at once: the cap holds under concurrency (count and insert cannot interleave).
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
    // Sessions cost nothing to get: a fresh one of the same user is the same user.
    let fresh = session_token(&app, "alice").await;
    assert_eq!(start(&fresh).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "the cap is per end user");
    let other = session_token(&app, "bob").await;
    assert_eq!(start(&other).send().await.unwrap().status(), StatusCode::OK, "another user has their own");
}

#[tokio::test]
async fn invented_integration_names_do_not_become_metric_series() {
    // Every series in the registry is looked at: other tests' servers in this process would add theirs.
    plugboard_tests::alone!(invented_integration_names_do_not_become_metric_series);
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_project = 0;
        s.limits.rate_limit_identity = 0;
    })
    .await;
    // As in the report: a link's session, spent by a connection (Hacker News asks for nothing).
    let link: serde_json::Value = app.create_connect_session(&serde_json::json!({ "identity": "u" })).await.json().await.unwrap();
    let page: serde_json::Value = http().post(format!("{}/v1/links/session", app.url)).json(&serde_json::json!({ "token": link["token"] })).send().await.unwrap().json().await.unwrap();
    let spent = page["session"]["token"].as_str().unwrap().to_owned();
    let connect = |token: &str, platform: &str| {
        http().post(format!("{}/v1/widget/connect/{platform}", app.url)).bearer_auth(token).header("Plugboard-Origin", app.url.clone()).json(&serde_json::json!({ "fields": {} }))
    };
    assert_eq!(connect(&spent, "hackernews").send().await.unwrap().status(), StatusCode::OK);
    let plain = session_token(&app, "v").await;
    for i in 0..150 {
        for token in [&spent, &plain] {
            let res = connect(token, &format!("invented-{i}-{}", "x".repeat(2000))).send().await.unwrap();
            assert!(res.status().is_client_error(), "{}", res.status());
            let said = res.text().await.unwrap();
            assert!(said.len() < 400, "the refusal does not echo the invented name whole: {} bytes", said.len());
        }
    }
    let metrics = http().get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("invented-"), "an invented name became a label");
    // Every series is one of the catalog's integrations, or `unknown`.
    let catalog: serde_json::Value = app.available_connectors("?limit=1000").await.json().await.unwrap();
    let known: Vec<&str> = catalog["rows"].as_array().unwrap().iter().map(|r| r["platform"].as_str().unwrap()).collect();
    let series: Vec<(&str, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with("plugboard_connects_total{"))
        .map(|l| (l.split("integration=\"").nth(1).unwrap().split('"').next().unwrap(), l.rsplit(' ').next().unwrap().parse().unwrap()))
        .collect();
    assert!(series.iter().all(|(label, _)| *label == "unknown" || known.contains(label)), "{series:?}");
    let unknown: f64 = series.iter().filter(|(label, _)| *label == "unknown").map(|(_, n)| n).sum();
    assert!(unknown >= 300.0, "the refusals are counted, as `unknown`: {unknown}");
    assert!(series.iter().any(|(label, _)| *label == "hackernews"));
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
