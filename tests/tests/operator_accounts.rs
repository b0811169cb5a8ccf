//! Operator accounts (docs/operators.md): password sign-in with a session cookie and CSRF token, lockout, setup
//! links, API tokens and their scopes, operators managed by admins, and the audit trail that records all of it.

use plugboard::operators::{Role, TokenScope};
use plugboard_tests::{
    operator::{create_operator, Operator, PASSWORD},
    spawn_app,
};
use reqwest::Method;
use serde_json::{json, Value};

async fn sign_in_raw(url: &str, email: &str, password: &str) -> reqwest::Response {
    plugboard_tests::http().post(format!("{url}/operator/v1/sign-in")).json(&json!({"email": email, "password": password})).send().await.unwrap()
}

#[tokio::test]
async fn a_browser_signs_in_with_a_strict_http_only_cookie_and_writes_only_with_its_csrf_token() {
    let app = spawn_app().await;
    create_operator(&app, "Ada@Example.com", Role::Admin).await;

    let res = sign_in_raw(&app.url, "ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("plugboard_operator=pbos_"), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: no Secure (the browser would drop the cookie)");
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["operator"]["email"], "ada@example.com", "emails are stored lower-cased");
    assert_eq!(me["operator"]["role"], "admin");
    assert!(me["operator"].get("passwordHash").is_none() && !me.to_string().contains("argon2"), "{me}");

    let ada = Operator::sign_in(&app, "ada@example.com", PASSWORD).await;
    let me = ada.get_json("/operator/v1/me").await;
    assert_eq!(me["via"], "session");
    assert!(me["csrfToken"].is_string(), "a reloaded console gets its CSRF token back");

    // A write riding the cookie alone (what a cross-site form could send) is refused, and nothing is made.
    let forged = ada.without_csrf(Method::POST, "/operator/v1/tokens").json(&json!({"name": "x", "scope": "full"})).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(forged.json::<Value>().await.unwrap()["code"], "csrf_failed");
    let wrong = ada.without_csrf(Method::POST, "/operator/v1/tokens").header("X-CSRF-Token", "nope").json(&json!({"name": "x", "scope": "full"})).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(ada.get_json("/operator/v1/tokens").await.as_array().unwrap().len(), 0);
    let made = ada.post("/operator/v1/tokens", &json!({"name": "nightly export", "scope": "read"})).await;
    assert_eq!(made.status(), 201);

    // Signing out ends the session on the server, not only in this browser.
    assert_eq!(ada.post("/operator/v1/sign-out", &json!({})).await.status(), 204);
    assert_eq!(ada.get("/operator/v1/me").await.status(), 401);
}

#[tokio::test]
async fn wrong_passwords_read_alike_and_five_in_a_row_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    create_operator(&app, "grace@example.com", Role::Support).await;

    let unknown = sign_in_raw(&app.url, "nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown: Value = unknown.json().await.unwrap();
    let wrong = sign_in_raw(&app.url, "grace@example.com", "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(unknown["error"], wrong["error"], "an unknown email and a wrong password read the same");

    for _ in 0..4 {
        assert_eq!(sign_in_raw(&app.url, "grace@example.com", "not the password").await.status(), 401);
    }
    // Locked: even the right password is refused now, with how long to wait.
    let locked = sign_in_raw(&app.url, "grace@example.com", PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let wait: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "about 15 minutes: {wait}");
    assert_eq!(locked.json::<Value>().await.unwrap()["code"], "locked_out");

    // Every attempt is in the audit trail, the failed ones as refused, and no password is.
    let admin = Operator::admin(&app).await;
    let audit = admin.get_json("/operator/v1/audit?action=operator.sign_in&limit=100").await;
    let rows = audit["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{audit}");
    assert!(rows.iter().all(|r| r["outcome"] == "refused"));
    assert_eq!(rows[0]["actor"], "nobody@example.com");
    assert!(rows.iter().any(|r| r["details"]["reason"] == "locked out"));
    assert!(!audit.to_string().contains("not the password") && !audit.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn api_tokens_carry_their_operators_role_and_a_read_token_only_reads() {
    let app = spawn_app().await;
    let admin_read = Operator::with_token(&app, Role::Admin, TokenScope::Read).await;
    assert_eq!(admin_read.get("/operator/v1/operators").await.status(), 403, "listing operators is managing them");
    assert_eq!(admin_read.get("/operator/v1/audit").await.status(), 200);
    let res = admin_read.post("/operator/v1/operators", &json!({"email": "new@example.com", "role": "support"})).await;
    assert_eq!(res.status(), 403);
    assert!(res.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("read-only"));

    let admin = Operator::admin(&app).await;
    // A token cannot mint tokens: stealing one does not let the thief make a lasting one.
    let res = admin.post("/operator/v1/tokens", &json!({"name": "x", "scope": "full"})).await;
    assert_eq!(res.status(), 403);

    // Tokens are listed without the token; a revoked one stops working at once.
    let ops = admin.get_json("/operator/v1/tokens?all=true").await;
    let read_id = ops.as_array().unwrap().iter().find(|t| t["scope"] == "read").unwrap()["id"].as_str().unwrap().to_owned();
    assert!(!ops.to_string().contains("pbo_"), "{ops}");
    assert_eq!(admin.delete(&format!("/operator/v1/tokens/{read_id}")).await.status(), 204);
    assert_eq!(admin_read.get("/operator/v1/audit").await.status(), 401);
    assert_eq!(admin.delete(&format!("/operator/v1/tokens/{read_id}")).await.status(), 404, "already revoked");

    for bad in ["", "Bearer", "Bearer pbo_nope", "Bearer sk_test_x"] {
        let res = plugboard_tests::http().get(format!("{}/operator/v1/me", app.url)).header("authorization", bad).send().await.unwrap();
        assert_eq!(res.status(), 401, "{bad:?}");
    }
}

#[tokio::test]
async fn an_invited_operator_chooses_a_password_once_through_their_setup_link() {
    let app = spawn_app().await;
    let admin = Operator::admin(&app).await;
    let res = admin.post("/operator/v1/operators", &json!({"email": "lin@example.com", "role": "developer"})).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["operator"]["hasPassword"], false);
    let url = created["setupUrl"].as_str().unwrap();
    let token = url.split_once("/console/setup#").expect("the token travels in the fragment").1.to_owned();

    assert_eq!(admin.post("/operator/v1/operators", &json!({"email": "LIN@example.com", "role": "support"})).await.status(), 409);
    assert_eq!(sign_in_raw(&app.url, "lin@example.com", "").await.status(), 401, "no password until the link is used");

    let setup = |password: &'static str| {
        let (url, token) = (app.url.clone(), token.clone());
        async move { plugboard_tests::http().post(format!("{url}/operator/v1/setup")).json(&json!({"token": token, "password": password})).send().await.unwrap() }
    };
    let short = setup("short").await;
    assert_eq!(short.status(), 400);
    assert!(short.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("12 characters"));
    assert_eq!(setup("a long enough passphrase").await.status(), 200);
    assert_eq!(setup("another long passphrase").await.status(), 401, "a setup link works once");
    let lin = Operator::sign_in(&app, "lin@example.com", "a long enough passphrase").await;
    assert_eq!(lin.get_json("/operator/v1/me").await["operator"]["role"], "developer");
    assert_eq!(lin.get("/operator/v1/operators").await.status(), 403, "only admins manage operators");

    // Disabling ends their sessions; the last admin cannot be demoted.
    let lin_id = created["operator"]["id"].as_str().unwrap();
    assert_eq!(admin.patch(&format!("/operator/v1/operators/{lin_id}"), &json!({"disabled": true})).await.status(), 200);
    assert_eq!(lin.get("/operator/v1/me").await.status(), 401);
    let me = admin.get_json("/operator/v1/me").await;
    let res = admin.patch(&format!("/operator/v1/operators/{}", me["operator"]["id"].as_str().unwrap()), &json!({"role": "support"})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "last_admin");

    // The trail: who invited whom, the password set (never the password), the changes; exported as JSON lines.
    let res = admin.get("/operator/v1/audit.jsonl").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    for a in ["operator.create", "operator.set_password", "operator.sign_in", "operator.update"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(!text.contains("a long enough passphrase") && !text.contains(&token));
}

#[tokio::test]
async fn the_audit_trail_cannot_be_rewritten_in_the_database() {
    let app = spawn_app().await;
    create_operator(&app, "ada@example.com", Role::Admin).await;
    let pool = app.db.pool().await;
    let update = sqlx::query("UPDATE audit_log SET actor = 'someone else'").execute(&pool).await;
    assert!(update.is_err(), "an UPDATE is refused");
    let delete = sqlx::query("DELETE FROM audit_log").execute(&pool).await;
    assert!(delete.is_err(), "a DELETE is refused");
}

/// `plugboard operator …` on the server's database, as an operator runs it; answers stdout.
fn cli(app: &plugboard_tests::TestApp, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
        .args(["operator", "--database-url", &app.db.url, "--data-dir", &app.data_dir.path().display().to_string(), "--public-url", "https://connect.example.com"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_is_made_on_the_command_line_with_a_password_or_a_one_time_link() {
    let app = spawn_app().await;
    let out = cli(&app, &["create", "root@example.com", "--role", "admin", "--password-stdin"], "a long passphrase here\n");
    assert!(out.contains("created root@example.com (admin)"), "{out}");
    assert!(!out.contains("a long passphrase"), "the password is not echoed");
    let root = Operator::sign_in(&app, "root@example.com", "a long passphrase here").await;
    assert_eq!(root.get_json("/operator/v1/me").await["operator"]["role"], "admin");

    let out = cli(&app, &["create", "sam@example.com", "--role", "support"], "");
    let link = out.lines().find(|l| l.starts_with("https://connect.example.com/console/setup#pbsu_")).unwrap_or_else(|| panic!("{out}"));
    let token = link.split_once('#').unwrap().1;
    let res = plugboard_tests::http().post(format!("{}/operator/v1/setup", app.url)).json(&json!({"token": token, "password": "sam's own passphrase"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let list = cli(&app, &["list"], "");
    assert!(list.contains("root@example.com\tadmin\tactive") && list.contains("sam@example.com\tsupport\tactive"), "{list}");

    // The trail names the command line as who made them.
    let audit = root.get_json("/operator/v1/audit?action=operator.create").await;
    assert!(audit["rows"].as_array().unwrap().iter().all(|r| r["actor"] == "cli"), "{audit}");
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure_and_host_only() {
    let app = plugboard_tests::spawn_app_with(|s| s.public_url = Some("https://connect.example.com".into())).await;
    create_operator(&app, "ada@example.com", Role::Admin).await;
    // The public URL is the proxy's; the test calls the node itself.
    let res = sign_in_raw(&format!("http://{}", app.addr), "ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-plugboard_operator=pbos_"), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn one_address_gets_ten_sign_in_attempts_a_minute_across_every_account() {
    let app = spawn_app().await;
    // Password spraying: one guess per account stays under every account's lockout, so the address is counted.
    for i in 0..10 {
        assert_eq!(sign_in_raw(&app.url, &format!("user{i}@example.com"), "Winter2026!").await.status(), 401);
    }
    let res = sign_in_raw(&app.url, "user10@example.com", "Winter2026!").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "rate_limited");
}
