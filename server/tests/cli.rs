//! `plugboard project …`: keys shown once, stored hashed, several active for rotation, revocable.

use std::process::Command;

use plugboard::{keys::SecretKey, store};

fn plugboard(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_plugboard"))
        .arg("project")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PLUGBOARD_SECRET_KEY")
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn key_in(stdout: &str) -> SecretKey {
    stdout.lines().find_map(|l| l.trim().parse().ok()).expect("a key on its own line")
}

#[tokio::test]
async fn keys_are_shown_once_stored_hashed_rotated_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = plugboard(dir.path(), &["create", "acme", "--name", "Acme Inc"]);
    assert!(ok);
    let first = key_in(&out);
    let (ok, out, _) = plugboard(dir.path(), &["key", "create", "acme", "--live"]);
    assert!(ok);
    let second = key_in(&out);
    assert!(second.expose().starts_with("sk_live_"));

    let db = store::connect(&format!("sqlite://{}/plugboard.db", dir.path().display()), &Default::default()).await.unwrap();
    for key in [&first, &second] {
        let grant = db.find_key(&key.digest()).await.unwrap().expect("both keys work at once");
        assert_eq!((grant.project.id.as_str(), grant.project.name.as_str()), ("acme", "Acme Inc"));
    }
    let raw = std::fs::read(dir.path().join("plugboard.db")).unwrap();
    assert!(!raw.windows(first.expose().len()).any(|w| w == first.expose().as_bytes()), "stored hashed");

    let (_, listed, _) = plugboard(dir.path(), &["list"]);
    assert!(listed.contains("acme\tAcme Inc\t2 active key(s)") && !listed.contains(&first.expose()[12..]), "{listed}");

    let (ok, out, err) = plugboard(dir.path(), &["key", "revoke", "acme", &first.expose()[..12]]);
    assert!(ok && out.contains("revoked 1 key(s)"), "{out} {err}");
    // Read back by another process, as an operator would (a pooled connection of this process can still be on
    // an older read snapshot).
    let (_, listed, _) = plugboard(dir.path(), &["key", "list", "acme"]);
    assert!(listed.contains(&format!("{}…\ttest\trevoked", &first.expose()[..12])), "a revoked key is listed as such: {listed}");
    assert!(listed.contains(&format!("{}…\tlive\tactive", &second.expose()[..12])), "the other key stays active: {listed}");
    let fresh = store::connect(&format!("sqlite://{}/plugboard.db", dir.path().display()), &Default::default()).await.unwrap();
    assert!(fresh.find_key(&second.digest()).await.unwrap().is_some());

    let (ok, _, err) = plugboard(dir.path(), &["create", "acme"]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = plugboard(dir.path(), &["key", "create", "nope"]);
    assert!(!ok && err.contains("no project \"nope\""), "{err}");
}

#[tokio::test]
async fn a_webhook_is_set_with_a_secret_shown_once_and_failed_deliveries_are_listed_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    assert!(plugboard(dir.path(), &["create", "acme"]).0);
    let (ok, _, err) = plugboard(dir.path(), &["webhook", "set", "acme", "ftp://nope"]);
    assert!(!ok && err.contains("not an http(s) URL"), "{err}");
    let (ok, out, err) = plugboard(dir.path(), &["webhook", "set", "acme", "https://app.acme.example/hooks"]);
    assert!(ok, "{err}");
    let secret = out.lines().find(|l| l.starts_with("whsec_")).expect("the signing secret on its own line").to_owned();
    let (_, shown, _) = plugboard(dir.path(), &["webhook", "show", "acme"]);
    assert_eq!(shown.trim(), "https://app.acme.example/hooks");
    let raw = std::fs::read(dir.path().join("plugboard.db")).unwrap();
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is sealed at rest");

    // A delivery the worker gave up on shows in the list and can be queued again.
    let (_, listed, _) = plugboard(dir.path(), &["webhook", "deliveries", "acme"]);
    assert!(listed.trim().is_empty(), "{listed}");
    insert_given_up(dir.path(), "evt_test1").await;
    let (_, listed, _) = plugboard(dir.path(), &["webhook", "deliveries", "acme", "--failed"]);
    assert!(listed.contains("evt_test1\tconnection.created\tfailed\t1 attempt(s)\tthe endpoint answered HTTP 500"), "{listed}");
    let (ok, out, _) = plugboard(dir.path(), &["webhook", "replay", "acme"]);
    assert!(ok && out.contains("queued 1 delivery(ies)"), "{out}");
    let (_, listed, _) = plugboard(dir.path(), &["webhook", "deliveries", "acme"]);
    assert!(listed.starts_with("evt_test1\tconnection.created\tpending\t"), "{listed}");
    let (_, listed, _) = plugboard(dir.path(), &["webhook", "deliveries", "acme", "--failed"]);
    assert!(listed.trim().is_empty(), "{listed}");
}

/// An outbox entry as the worker leaves one it gave up on after one failed attempt.
async fn insert_given_up(data_dir: &std::path::Path, id: &str) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/plugboard.db", data_dir.display())).await.unwrap();
    sqlx::query(
        "INSERT INTO webhook_outbox (id, project_id, event_type, body, created_at, status, attempts, next_attempt_at,
                                     give_up_at, last_status, last_error)
         VALUES ($1, 'acme', 'connection.created', '{}', 1, 'failed', 1, 1, 2, 500, 'the endpoint answered HTTP 500')",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
}
