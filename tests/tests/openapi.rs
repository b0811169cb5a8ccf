//! Bad input everywhere (SECURITY.md, "Bad input"): `/openapi.json` is generated from the handlers and lists every
//! route and every error shape; schemathesis (pinned, installed by `scripts/setup-test`) fuzzes every operation from
//! that document and must find no 5xx and no answer the document does not describe.

use std::path::Path;

use plugboard_tests::{http, session_token, spawn_with_provider};

/// The routes a user can call, as the README's API table lists them.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/authkit/token"),
    ("get", "/v1/available-connectors"),
    ("get", "/v1/widget/categories"),
    ("get", "/v1/widget/integrations"),
    ("get", "/v1/widget/integrations/{platform}"),
    ("post", "/v1/widget/connect/{platform}"),
    ("post", "/v1/widget/oauth/{platform}/start"),
    ("get", "/v1/widget/oauth/flows/{id}"),
    ("get", "/v1/vault/connections"),
    ("get", "/v1/vault/connections/{key}"),
    ("delete", "/v1/vault/connections/{key}"),
    ("post", "/connect_sessions"),
    ("post", "/connect_sessions/authenticate"),
    ("get", "/accounts"),
    ("get", "/accounts/{id}"),
    ("delete", "/accounts/{id}"),
    ("get", "/v1/passthrough/{platform}/{path}"),
    ("post", "/v1/passthrough/{platform}/{path}"),
    ("get", "/v1/passthrough/{platform}"),
    ("get", "/oauth/authorize/{id}"),
    ("post", "/oauth/authorize/{id}"),
    ("get", "/oauth/callback"),
    ("get", "/oauth/authorize.js"),
    ("get", "/oauth/callback.js"),
    ("get", "/widget"),
    ("get", "/widget/{file}"),
    ("get", "/embed.js"),
    ("get", "/assets/logos/{file}"),
    ("get", "/healthz"),
    ("get", "/openapi.json"),
];

#[tokio::test]
async fn the_document_lists_every_route_and_every_error_shape() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let doc: serde_json::Value = http().get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing from /openapi.json");
    }
    // Every JSON route documents the JSON error body for each error status it can answer.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !["/v1/", "/connect_sessions", "/accounts", "/operator/"].iter().any(|p| path.starts_with(p)) {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            for status in ["400", "401", "404", "429", "500", "503"] {
                let schema = &op["responses"][status]["content"]["application/json"]["schema"];
                assert_eq!(schema["$ref"], "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
        }
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error", "code"]));
}

#[tokio::test]
async fn what_axum_itself_refuses_is_answered_in_the_json_error_shape_too() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    let token = session_token(&app, "u").await;
    // A path segment that is not UTF-8 and a malformed query: axum's own rejections, which were plain text.
    for target in ["/v1/widget/oauth/flows/%ff", "/v1/widget/integrations/%c3%28", "/widget?project=%ff"] {
        let (status, body) = plugboard_tests::raw_request(app.addr, "GET", target, &[("Authorization", &format!("Bearer {token}"))]).await;
        assert!((400..500).contains(&status), "{target}: {status}");
        let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("{target}: not JSON: {body}"));
        assert!(json["error"].is_string() && json["code"].is_string(), "{target}: {json}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_driven_fuzz_run_finds_no_server_error_and_no_answer_outside_the_document() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/.venv/bin/schemathesis");
    assert!(bin.exists(), "schemathesis is missing: run scripts/setup-test (it installs the pinned version from PyPI)");
    let (app, _provider) = spawn_with_provider(|s, _| {
        s.limits.rate_limit_ip = 0;
        s.limits.rate_limit_project = 0;
        s.limits.rate_limit_identity = 0;
        s.limits.rate_limit_backend = 0;
    })
    .await;
    let token = session_token(&app, "fuzz").await;
    let secret = app.key.expose().to_owned();
    schemathesis(&app.url, &[format!("X-One-Secret: {secret}"), format!("Authorization: Bearer {token}")], None, "20261130").await;
    // The operator API, as an admin with a full API token (the run above reached it only unauthenticated).
    let admin = plugboard_tests::operator::operator_token(&app, plugboard::operators::Role::Admin, plugboard::operators::TokenScope::Full).await;
    schemathesis(&app.url, &[format!("Authorization: Bearer {admin}")], Some("^/operator/"), "20261207").await;
}

/// One schemathesis run over `{url}/openapi.json` with `headers`, only the paths matching `paths` when given;
/// panics with its report unless it found nothing.
async fn schemathesis(url: &str, headers: &[String], paths: Option<&str>, seed: &str) {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/.venv/bin/schemathesis");
    let examples = std::env::var("PLUGBOARD_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(["run", &format!("{url}/openapi.json")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--max-examples", &examples, "--seed", seed, "--generation-database", "none", "--no-color"])
        .args(["--workers", "2", "--request-timeout", "20"]);
    for h in headers {
        cmd.args(["--header", h]);
    }
    if let Some(regex) = paths {
        cmd.args(["--include-path-regex", regex]);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("schemathesis runs");
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    assert!(out.status.success(), "schemathesis found problems{}:\n{report}", paths.map(|p| format!(" in {p}")).unwrap_or_default());
}
