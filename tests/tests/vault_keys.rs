//! Retiring a master key (SECURITY.md, "Master keys"): rotate, rewrap beside a running server while refreshes
//! rewrite connections, remove the old key — every kind of sealed value still opens and works. `plugboard vault
//! status|rewrap` run as the real command line against the server's database.

use plugboard_tests::Server;
use std::{process::Command, sync::atomic::Ordering};

use plugboard::{
    vault::{SecretString, Vault},
    webhooks,
};
use plugboard_tests::{concurrent_gets, connect_fields, connect_oauth, http, mock_consent, popup_authorize, session_token, spawn_with_provider, TestApp};
use serde_json::json;

fn spec(id: &str) -> String {
    Vault::generate_spec().replacen("k1:", &format!("{id}:"), 1)
}

/// Runs `plugboard vault <args>` on the app's data directory with `master` as PLUGBOARD_MASTER_KEY.
fn vault_cli(app: &TestApp, master: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
        .arg("vault")
        .args(["--data-dir", app.data_dir.path().to_str().unwrap(), "--database-url", &app.db.url])
        .args(args)
        .env("PLUGBOARD_MASTER_KEY", master)
        .env("RUST_LOG", "plugboard=warn")
        .output()
        .expect("the command line runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `(key id, table) → values` from `vault status`.
fn counts(stdout: &str) -> Vec<(String, String, u64)> {
    stdout
        .lines()
        .skip(2)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.to_owned(), w.next()?.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_rewrap_beside_live_refreshes_and_remove_the_old_key() {
    let (old, new) = (spec("old"), spec("new"));
    let master = SecretString::new(old.clone());
    let (app, provider) = spawn_with_provider(|s, _| s.master_key = Some(master)).await;

    // One of every sealed thing: OAuth and API-key connections, a webhook secret, a pending flow, a queued revocation.
    let oauth = connect_oauth(&app, "alice").await;
    let form = connect_fields(&app, "bob", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let doomed = connect_oauth(&app, "carol").await;
    provider.knobs.fail_revocations.store(u64::MAX, Ordering::SeqCst);
    let res = app.delete_connection(&doomed.key).await;
    assert_eq!(res.status(), 200);
    let secret = webhooks::generate_secret();
    let old_vault = Vault::from_spec(&old).unwrap();
    app.store.set_webhook("test-project", Some(&webhooks::seal(&old_vault, "test-project", "http://127.0.0.1:9/hook", &secret))).await.unwrap();
    let token = session_token(&app, "dave").await;
    let start = plugboard_tests::start_oauth(&app, &token, "mock-oauth").await;

    let under_old = app.store.get_connection(&form.key).await.unwrap().unwrap().sealed;
    assert_eq!(under_old.key_id, "old");
    let (ok, out, err) = vault_cli(&app, &old, &["status"]);
    assert!(ok, "{err}");
    let before = counts(&out);
    for table in ["connections", "oauth_flows", "webhooks", "revocations"] {
        assert!(before.iter().any(|(k, t, n)| k == "old" && t == table && *n > 0), "{table} under old: {out}");
    }
    // Only the new key: the old values are flagged, not silently unreadable.
    let (_, out, _) = vault_cli(&app, &new, &["status"]);
    assert!(out.lines().any(|l| l.starts_with("old") && l.contains("not configured")), "{out}");
    // A key id given twice is refused.
    let (ok, _, err) = vault_cli(&app, &format!("{old},{}", spec("old")), &["status"]);
    assert!(!ok && err.contains("appears twice"), "{err}");

    // Rotate: the new key first, the old one still readable.
    let master = SecretString::new(format!("{new},{old}"));
    let app = app.restart(|s| s.master_key = Some(master)).await;
    // Rewrap in another process while refreshes rewrite the OAuth connection here.
    provider.expire_access_tokens();
    provider.knobs.token_delay_ms.store(200, Ordering::SeqCst);
    let rotating = format!("{new},{old}");
    let (data_dir, db_url) = (app.data_dir.path().to_owned(), app.db.url.clone());
    let rewrap = tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_plugboard-node"))
            .args(["vault", "--data-dir", data_dir.to_str().unwrap(), "--database-url", &db_url, "rewrap"])
            .env("PLUGBOARD_MASTER_KEY", rotating)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    });
    let calls = concurrent_gets(&[&app], &oauth.key, "mock-oauth/me", 20).await;
    let (ok, out, err) = rewrap.await.unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("values under other keys: 0"), "{out}");
    assert!(calls.iter().all(|&s| s == 200), "{calls:?}");
    assert!(provider.counters.refreshes.load(Ordering::SeqCst) >= 1);
    provider.knobs.token_delay_ms.store(0, Ordering::SeqCst);
    let (_, out, _) = vault_cli(&app, &new, &["status"]);
    assert!(counts(&out).iter().all(|(k, _, _)| k == "new"), "{out}");
    // The old ciphertexts are gone from the files too (a leaked old key later opens nothing).
    let bytes = app.db.stored_bytes().await;
    assert!(!bytes.windows(32).any(|w| w == &under_old.ciphertext[..32]), "a ciphertext under the retired key is still on disk");

    // Retire the old key: everything still opens and works.
    let master = SecretString::new(new.clone());
    let app = app.restart(|s| s.master_key = Some(master)).await;
    let new_vault = Vault::from_spec(&new).unwrap();
    for key in [&oauth.key, &form.key] {
        let path = if key == &oauth.key { "mock-oauth/me" } else { "mock-api-key/key-check" };
        let res = plugboard_tests::passthrough(&app, key, reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{key}");
    }
    provider.expire_access_tokens();
    let statuses = concurrent_gets(&[&app], &oauth.key, "mock-oauth/me", 3).await;
    assert!(statuses.iter().all(|&s| s == 200), "a refresh after the rewrap works: {statuses:?}");
    let hook = app.store.webhook("test-project").await.unwrap().unwrap();
    assert_eq!(webhooks::open_secret(&new_vault, "test-project", &hook).unwrap().expose(), secret.expose());
    let (provider_url, cookie) = popup_authorize(&start).await;
    let back = mock_consent(provider_url).await;
    let res = http().get(back).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), 200, "the flow started under the old key finishes");
    let revoked = provider.counters.revocations.load(Ordering::SeqCst);
    provider.knobs.fail_revocations.store(0, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while provider.counters.revocations.load(Ordering::SeqCst) == revoked {
        assert!(std::time::Instant::now() < deadline, "the queued revocation never went through");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
