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

    let db = store::connect(&format!("sqlite://{}/plugboard.db", dir.path().display())).await.unwrap();
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
    assert!(db.find_key(&first.digest()).await.unwrap().is_none(), "a revoked key stops working");
    assert!(db.find_key(&second.digest()).await.unwrap().is_some());

    let (ok, _, err) = plugboard(dir.path(), &["create", "acme"]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = plugboard(dir.path(), &["key", "create", "nope"]);
    assert!(!ok && err.contains("no project \"nope\""), "{err}");
}
