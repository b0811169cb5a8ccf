//! `POST /v1/authkit/token` and `GET /v1/widget/integrations` over real HTTP against a real server and SQLite file.

use plugboard::keys::{Environment, SecretKey};
use plugboard_shared::{ErrorBody, IntegrationsPage, TokenResponse};
use plugboard_tests::{spawn_app, spawn_app_with, TestApp};
use reqwest::{Client, Response, StatusCode};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};

const USER: &str = r#"{"identity":"user-42","identityType":"user"}"#;

/// Display names in the order a project without OAuth clients lists them: what it can connect, the popular apps
/// among them first, then by name.
fn catalog_names() -> Vec<String> {
    use plugboard::catalog::{Catalog, Query, POPULAR};
    let offered = Catalog::builtin().unwrap().offered(|e| !e.needs_server_client(), POPULAR);
    offered.find(&Query::default()).iter().map(|e| e.name.clone()).collect()
}

/// A client of the deployment for `platforms`, so that their OAuth apps are offered.
fn clients_for<'a>(platforms: impl IntoIterator<Item = &'a str>) -> impl FnOnce(&mut plugboard::config::Settings) {
    let platforms: Vec<String> = platforms.into_iter().map(str::to_owned).collect();
    move |s| {
        for p in platforms {
            let client = plugboard::config::OAuthClient { client_id: format!("{p}-client"), client_secret: plugboard::vault::SecretString::new("s3cret"), scopes: None, settings: Default::default(), token_scopes: Default::default() };
            s.oauth_clients.insert(p, client);
        }
    }
}

async fn token(app: &TestApp, query: &str, key_header: (&str, &str), body: &str) -> Response {
    Client::new()
        .post(format!("{}/v1/authkit/token{query}", app.url))
        .header(key_header.0, key_header.1)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers")
}

async fn mint(app: &TestApp, query: &str) -> TokenResponse {
    let res = token(app, query, ("X-One-Secret", app.key.expose()), USER).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("a token response")
}

/// Asserts a JSON error with the status and code, carrying the same request id as the header.
async fn expect_error(res: Response, status: StatusCode, code: &str) -> ErrorBody {
    assert_eq!(res.status(), status);
    let header_id = res.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: ErrorBody = res.json().await.expect("a JSON error body");
    assert_eq!(body.code, code, "{body:?}");
    assert_eq!(body.request_id, header_id);
    assert!(!body.error.is_empty());
    body
}

#[tokio::test]
async fn mints_a_session_with_the_first_page_of_integrations() {
    let app = spawn_app().await;
    let res = token(&app, "?page=1&limit=5", ("X-One-Secret", app.key.expose()), USER).await;
    assert_eq!(res.status(), StatusCode::OK);
    let header_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let raw: Value = res.json().await.unwrap();
    // The seed's field names, exactly.
    for field in ["token", "expiresAt", "rows", "total", "pages", "page", "requestId"] {
        assert!(raw.get(field).is_some(), "missing {field} in {raw}");
    }
    for field in ["id", "connectionDefId", "platform", "type", "title", "image", "category", "authMethod", "environment", "tags", "active"] {
        assert!(raw["rows"][0].get(field).is_some(), "missing rows[].{field}");
    }
    let body: TokenResponse = serde_json::from_value(raw).unwrap();
    assert!(body.token.starts_with("pbs_") && body.token.len() > 40);
    assert_eq!(body.request_id, header_id);
    let names = catalog_names();
    let n = names.len() as u64;
    assert_eq!((body.rows.len(), body.page, body.total, body.pages), (5, 1, n, n.div_ceil(5)));
    assert_eq!(body.rows.iter().map(|r| r.title.clone()).collect::<Vec<_>>(), names[..5]);
    assert_eq!(body.rows[0].environment, "test");
    let with_logo = body.rows.iter().find(|r| !r.image.is_empty()).expect("a row with a logo");
    assert_eq!(with_logo.image, format!("{}/assets/logos/{}.svg", app.url, with_logo.platform));
    let expires = time::OffsetDateTime::parse(&body.expires_at, &time::format_description::well_known::Rfc3339).unwrap();
    let ttl = expires - time::OffsetDateTime::now_utc();
    assert!(ttl > time::Duration::minutes(14) && ttl <= time::Duration::minutes(15), "{ttl}");

    // The logo it names is served, long-cached.
    let logo = reqwest::get(&with_logo.image).await.unwrap();
    assert_eq!(logo.status(), StatusCode::OK);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert!(logo.headers()["cache-control"].to_str().unwrap().contains("max-age"));

    // The session token is stored only as a digest.
    let stored = app.db.stored_bytes().await;
    assert!(!stored.windows(body.token.len()).any(|w| w == body.token.as_bytes()), "plaintext token in the database");
    assert!(!stored.windows(app.key.expose().len()).any(|w| w == app.key.expose().as_bytes()), "plaintext key in the database");
}

#[tokio::test]
async fn accepts_the_key_in_any_header_case_or_as_a_bearer_token() {
    let app = spawn_app().await;
    let bearer = format!("Bearer {}", app.key.expose());
    for header in [("x-one-secret", app.key.expose()), ("X-ONE-SECRET", app.key.expose()), ("Authorization", bearer.as_str())] {
        let res = token(&app, "", header, USER).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", header.0);
    }
}

#[tokio::test]
async fn refuses_missing_wrong_and_malformed_keys() {
    let app = spawn_app().await;
    let res = Client::new().post(format!("{}/v1/authkit/token", app.url)).body(USER).send().await.unwrap();
    let body = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(body.error.contains("X-One-Secret"), "says how to authenticate: {}", body.error);

    let other = SecretKey::generate(Environment::Test);
    for key in [other.expose(), "sk_test_nope", "pk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""] {
        let res = token(&app, "", ("X-One-Secret", key), USER).await;
        let body = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(!body.error.contains(key) || key.is_empty(), "the error must not echo the key");
    }
}

#[tokio::test]
async fn the_live_prefix_sets_the_environment() {
    let live = SecretKey::generate(Environment::Live);
    let key = live.clone();
    let app = spawn_app_with(move |s| s.secret_key.push(key)).await;
    let res = token(&app, "", ("X-One-Secret", live.expose()), USER).await;
    let body: TokenResponse = res.json().await.unwrap();
    assert!(body.rows.iter().all(|r| r.environment == "live"));
}

#[tokio::test]
async fn absent_empty_null_and_undefined_paging_mean_the_defaults() {
    let app = spawn_app().await;
    let n = catalog_names().len() as u64;
    for query in ["", "?page=&limit=", "?page=null&limit=null", "?page=undefined&limit=undefined"] {
        let body = mint(&app, query).await;
        assert_eq!((body.page, body.rows.len() as u64, body.pages), (1, n.min(20), n.div_ceil(20)), "{query}");
    }
    let far = n.div_ceil(5) + 1;
    let past_the_end = mint(&app, &format!("?page={far}&limit=5")).await;
    assert!(past_the_end.rows.is_empty());
    assert_eq!((past_the_end.page, past_the_end.pages), (far, n.div_ceil(5)));
}

#[tokio::test]
async fn bad_paging_is_a_400_never_a_crash() {
    let app = spawn_app().await;
    for query in ["?page=0", "?page=-1", "?page=abc", "?page=1.5", "?limit=0", "?limit=101", "?limit=-5", "?page=99999999999999999999", "?limit=%FF"] {
        let res = token(&app, query, ("X-One-Secret", app.key.expose()), USER).await;
        expect_error(res, StatusCode::BAD_REQUEST, "invalid_pagination").await;
    }
}

#[tokio::test]
async fn bad_bodies_are_a_400_that_says_what_is_wrong() {
    let app = spawn_app().await;
    let cases = [
        ("", "invalid_json"),
        ("{", "invalid_json"),
        ("[]", "invalid_json"),
        (r#"{"identityType":"user"}"#, "invalid_json"),
        (r#"{"identity":"u","identityType":"robot"}"#, "invalid_json"),
        (r#"{"identity":"   ","identityType":"user"}"#, "invalid_identity"),
        (r#"{"identity":"u","identityType":"user","allowedIntegrations":["gmail","nope"]}"#, "unknown_integration"),
    ];
    for (body, code) in cases {
        let res = token(&app, "", ("X-One-Secret", app.key.expose()), body).await;
        let err = expect_error(res, StatusCode::BAD_REQUEST, code).await;
        if code == "unknown_integration" {
            assert!(err.error.contains("nope") && !err.error.contains("gmail"), "{}", err.error);
        }
    }
    let long = json!({ "identity": "x".repeat(257), "identityType": "user" }).to_string();
    let res = token(&app, "", ("X-One-Secret", app.key.expose()), &long).await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_identity").await;
    let huge = json!({ "identity": "x".repeat(100_000), "identityType": "user" }).to_string();
    let res = token(&app, "", ("X-One-Secret", app.key.expose()), &huge).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn allowed_integrations_narrow_what_the_session_lists() {
    let app = spawn_app_with(clients_for(["slack", "gmail"])).await;
    let body = r#"{"identity":"u","identityType":"team","allowedIntegrations":["slack","gmail","slack"]}"#;
    let res = token(&app, "", ("X-One-Secret", app.key.expose()), body).await;
    let session: TokenResponse = res.json().await.unwrap();
    let names: Vec<_> = session.rows.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(names, ["Gmail", "Slack"]);
    let page = widget_list(&app, &session.token, "?search=a").await;
    assert_eq!(page.rows.len(), 2, "search stays inside the allowed list");
    // A repeated name is one platform: the token does not grow with repeats.
    let many = format!(r#"{{"identity":"u","identityType":"team","allowedIntegrations":[{}]}}"#, vec![r#""slack""#; 500].join(","));
    let repeated: TokenResponse = token(&app, "", ("X-One-Secret", app.key.expose()), &many).await.json().await.unwrap();
    assert!(repeated.token.len() < 400, "{} bytes", repeated.token.len());
}

#[tokio::test]
async fn minting_writes_nothing_so_it_goes_on_while_the_database_is_locked_for_writes() {
    let app = spawn_app().await;
    mint(&app, "").await; // the key is known
    let _lock = app.db.hold_write_lock().await;
    let session = tokio::time::timeout(std::time::Duration::from_secs(3), mint(&app, "")).await.expect("minted without waiting for the lock");
    assert_eq!(widget_list(&app, &session.token, "").await.rows, session.rows);
}

async fn revoke(app: &TestApp, key: &str, token: &str) -> Response {
    Client::new().post(format!("{}/v1/authkit/token/revoke", app.url)).header("X-One-Secret", key).json(&json!({ "token": token })).send().await.unwrap()
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once_and_only_its_project_and_environment_can_revoke_it() {
    let live = SecretKey::generate(Environment::Live);
    let app = spawn_app_with({
        let live = live.clone();
        move |s| s.secret_key.push(live)
    })
    .await;
    let (kept, revoked) = (mint(&app, "").await.token, mint(&app, "").await.token);
    let list = |token: String| Client::new().get(format!("{}/v1/widget/integrations", app.url)).bearer_auth(token).send();

    // The live key of the same project does not reach the test environment's sessions.
    expect_error(revoke(&app, live.expose(), &revoked).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(list(revoked.clone()).await.unwrap().status(), StatusCode::OK);

    assert_eq!(revoke(&app, app.key.expose(), &revoked).await.status(), StatusCode::NO_CONTENT);
    expect_error(list(revoked.clone()).await.unwrap(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(list(kept).await.unwrap().status(), StatusCode::OK, "only that session");
    assert_eq!(revoke(&app, app.key.expose(), &revoked).await.status(), StatusCode::NO_CONTENT, "twice is fine");
    for junk in ["pbs_forged", "", "sk_test_abc"] {
        expect_error(revoke(&app, app.key.expose(), junk).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = Client::new().post(format!("{}/v1/authkit/token/revoke", app.url)).json(&json!({ "token": revoked })).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn widget_list(app: &TestApp, token: &str, query: &str) -> IntegrationsPage {
    let res = Client::new()
        .get(format!("{}/v1/widget/integrations{query}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_session_token_pages_and_searches_the_widget_list() {
    let app = spawn_app().await;
    let session = mint(&app, "?limit=5").await;
    let second = widget_list(&app, &session.token, "?page=2&limit=5").await;
    assert_eq!(second.page, 2);
    assert_eq!(second.rows.iter().map(|r| r.title.clone()).collect::<Vec<_>>(), catalog_names()[5..10]);
    let found = widget_list(&app, &session.token, "?search=CLAUDE").await;
    assert_eq!(found.rows[0].platform, "anthropic", "an alias match");
    let none = widget_list(&app, &session.token, "?search=no-such-app").await;
    assert_eq!((none.total, none.rows.len()), (0, 0));
}

#[tokio::test]
async fn the_widget_api_refuses_missing_forged_and_expired_sessions() {
    let app = spawn_app_with(|s| s.session_ttl_secs = 0).await;
    let url = format!("{}/v1/widget/integrations", app.url);
    let res = Client::new().get(&url).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = Client::new().get(&url).bearer_auth("pbs_forged").send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A real token whose claims were rewritten to another user (its signature kept) is refused.
    let real = mint(&app, "").await.token;
    let (signed, tag) = real.rsplit_once('.').unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&signed[4..]).unwrap()).unwrap();
    assert!(claims.contains("user-42"), "{claims}");
    let forged = format!("pbs_{}.{tag}", URL_SAFE_NO_PAD.encode(claims.replace("user-42", "user-43")));
    let res = Client::new().get(&url).bearer_auth(&forged).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A secret key is not a session token.
    let res = Client::new().get(&url).bearer_auth(app.key.expose()).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let expired = mint(&app, "").await;
    let res = Client::new().get(&url).bearer_auth(&expired.token).send().await.unwrap();
    expect_error(res, StatusCode::GONE, "session_expired").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let res = reqwest::get(format!("{}/v1/nope", app.url)).await.unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = reqwest::get(format!("{}/v1/authkit/token", app.url)).await.unwrap();
    expect_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = reqwest::get(format!("{}/assets/logos/..%2Fembed.js", app.url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn serves_the_widget_with_a_strict_csp_and_the_embed_script() {
    let app = spawn_app().await;
    let res = reqwest::get(format!("{}/widget", app.url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the widget must be built (scripts/build-widget) before the tests");
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = res.text().await.unwrap();
    let wasm = html.split('\'').find(|s| s.ends_with(".wasm")).expect("index names the wasm file");
    let res = reqwest::get(format!("{}{wasm}", app.url)).await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/wasm");
    assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));

    let res = reqwest::get(format!("{}/embed.js", app.url)).await.unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let js = res.text().await.unwrap();
    assert!(js.contains("Plugboard"), "{js}");
    // Never posts to '*': neither the script as written nor as served (minified) holds the wildcard target, in any
    // quote style.
    let source = include_str!("../../server/assets/embed.js");
    for script in [source, js.as_str()] {
        assert!(["\"*\"", "'*'", "`*`"].iter().all(|star| !script.contains(star)), "never posts to '*'");
    }
}

/// The widget's wasm, js and css come brotli-compressed to a browser that accepts it, gzip to one that takes only
/// gzip, and as they are to anything else; always the same bytes once decoded, cached for a year (hashed names),
/// and marked as varying by `Accept-Encoding` so no cache hands one encoding to a client that asked for another.
#[tokio::test]
async fn serves_the_widget_files_precompressed_as_the_browser_accepts() {
    use std::io::Read;
    let app = spawn_app().await;
    let html = reqwest::get(format!("{}/widget", app.url)).await.unwrap().text().await.unwrap();
    let mut files: Vec<&str> = html
        .split(['\'', '"', ' ', '=', '>'])
        .filter(|s| s.starts_with("/widget/") && [".wasm", ".js", ".css"].iter().any(|e| s.ends_with(e)))
        .collect();
    files.sort_unstable();
    files.dedup();
    assert!(files.iter().any(|f| f.ends_with(".wasm")) && files.iter().any(|f| f.ends_with(".js")) && files.iter().any(|f| f.ends_with(".css")), "{files:?}");
    // What a browser gets is not decoded here: the test looks at the bytes on the wire.
    let raw = reqwest::Client::builder().no_gzip().no_brotli().no_deflate().build().unwrap();
    for file in files {
        let get = |accept: &'static str| raw.get(format!("{}{file}", app.url)).header("accept-encoding", accept).send();
        let plain = get("identity").await.unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get("content-encoding").is_none(), "{file}");
        let plain = plain.bytes().await.unwrap();
        for (accept, coding) in [("gzip, deflate, br, zstd", Some("br")), ("gzip", Some("gzip")), ("br;q=0, gzip;q=0.5", Some("gzip")), ("deflate", None), ("", None)] {
            let res = get(accept).await.unwrap();
            let h = res.headers().clone();
            assert_eq!(h.get("content-encoding").map(|v| v.to_str().unwrap()), coding, "{file} for {accept:?}");
            assert_eq!(h["vary"].to_str().unwrap().to_ascii_lowercase(), "accept-encoding", "{file}");
            assert_eq!(h["cache-control"], "public, max-age=31536000, immutable", "{file}");
            let wire = res.bytes().await.unwrap();
            let mut decoded = Vec::new();
            match coding {
                Some("br") => { brotli::Decompressor::new(&wire[..], 4096).read_to_end(&mut decoded).unwrap(); }
                Some(_) => { flate2::read::GzDecoder::new(&wire[..]).read_to_end(&mut decoded).unwrap(); }
                None => decoded = wire.to_vec(),
            }
            assert!(decoded == plain, "{file} as {coding:?} decodes to the file");
            if coding.is_some() {
                assert!(wire.len() < plain.len() * 2 / 3, "{file} as {coding:?}: {} of {} bytes", wire.len(), plain.len());
            }
        }
        let expected = if file.ends_with(".wasm") { "application/wasm" } else if file.ends_with(".css") { "text/css" } else { "text/javascript" };
        let res = get("br").await.unwrap();
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(expected), "{file}: {:?}", res.headers()["content-type"]);
    }
    // The compressed copies are not files of their own.
    let wasm = html.split('\'').find(|s| s.ends_with(".wasm")).unwrap();
    let res = reqwest::get(format!("{}{wasm}.br", app.url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn available_connectors_lists_the_catalog_like_the_seeds() {
    // Every OAuth app has the deployment's client: the whole catalog is offered.
    let builtin = plugboard::catalog::Catalog::builtin().unwrap();
    let app = spawn_app_with(clients_for(builtin.all().iter().filter(|e| e.needs_server_client()).map(|e| e.platform.as_str()))).await;
    let get = |q: &str| Client::new().get(format!("{}/v1/available-connectors{q}", app.url)).header("x-one-secret", app.key.expose()).send();
    let catalog = plugboard::catalog::Catalog::builtin().unwrap().all().len() as u64;
    // The seeds ask for limit=300; the catalog is larger, so that is the first of two pages.
    let res = get("?authkit=true&limit=300").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["rows"].as_array().unwrap().len(), 300);
    assert_eq!((body["total"].as_u64(), body["pages"].as_u64()), (Some(catalog), Some(catalog.div_ceil(300))));
    let body: Value = get("?authkit=true&limit=1000").await.unwrap().json().await.unwrap();
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len() as u64, catalog, "limit=1000 fits the whole catalog on one page");
    assert_eq!((body["page"].as_u64(), body["pages"].as_u64()), (Some(1), Some(1)));
    let mut keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["authMethod", "category", "description", "image", "name", "platform", "ready"]);
    let gmail = rows.iter().find(|r| r["platform"] == "gmail").unwrap();
    assert_eq!((gmail["name"].as_str(), gmail["category"].as_str()), (Some("Gmail"), Some("Email")));
    // Every row has an image a host directory can show: the brand logo, else a monogram in the widget's colours.
    let mut monograms = 0;
    for r in rows {
        let image = r["image"].as_str().unwrap();
        assert!(image.starts_with(&app.url), "{}: {image:?}", r["platform"]);
        if image.contains("/assets/monograms/") {
            monograms += 1;
            if monograms <= 3 {
                let res = reqwest::get(image).await.unwrap();
                assert_eq!((res.status(), res.headers()["content-type"].to_str().unwrap()), (StatusCode::OK, "image/svg+xml"));
                let svg = res.text().await.unwrap();
                let name = r["name"].as_str().unwrap();
                let initial = name.chars().find(|c| c.is_ascii_alphanumeric()).unwrap().to_ascii_uppercase();
                assert!(svg.starts_with("<svg") && svg.contains(&format!(">{initial}")) && !svg.contains("<script"), "{name}: {svg}");
            }
        }
    }
    assert!(monograms > 50, "integrations without a brand logo get a monogram: {monograms}");
    let res = reqwest::get(format!("{}/assets/monograms/%3Cscript%3E.svg", app.url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let ai: Value = get("?category=AI").await.unwrap().json().await.unwrap();
    assert!(ai["rows"].as_array().unwrap().iter().all(|r| r["category"] == "AI") && ai["total"].as_u64() >= Some(2));
    let found: Value = get("?search=calendar").await.unwrap().json().await.unwrap();
    assert_eq!(found["rows"][0]["platform"], "google-calendar");
    let res = get("?limit=1001").await.unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_pagination").await;
    let res = Client::new().get(format!("{}/v1/available-connectors", app.url)).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
