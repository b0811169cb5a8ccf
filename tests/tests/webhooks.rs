//! Signed webhooks (README, Projects: Webhooks) to a real receiver on loopback that fails the first attempts: at-least-once
//! delivery from the outbox with backoff, Stripe-style signatures, every event type, giving up and replaying.

use plugboard_tests::fixtures;
use plugboard_tests::Server;
use std::sync::atomic::Ordering;

use hmac::{Hmac, Mac};
use plugboard::store::DeliveryStatus;
use plugboard_tests::{connect_fields, connect_oauth, eventually, passthrough, reconnect_fields, spawn_with_provider, upstream::spawn_receiver, TestApp};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "whsec_test_0123456789abcdef";

/// A server whose project sends webhooks to `url`, configured through the config file; retries are fast.
async fn app_sending_to(url: &str, give_up_secs: u64) -> (TestApp, plugboard::demo::provider::MockProvider) {
    let path = fixtures::config_file(&fixtures::webhook_project(url, &fixtures::secret_env("PB_TEST_WEBHOOK_SECRET", SECRET)));
    let (app, provider) = spawn_with_provider(|s, _| {
        s.config = Some(path.clone());
        s.retry_base_ms = 50;
        s.webhook_give_up_secs = give_up_secs;
    })
    .await;
    (app, provider)
}

/// Checks `Plugboard-Signature: t=…,v1=…` the way a receiver would, with its own HMAC.
fn signature_ok(header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else { return false };
    let t = t.trim_start_matches("t=");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let fresh = t.parse::<i64>().is_ok_and(|t| (time::OffsetDateTime::now_utc().unix_timestamp() - t).abs() < 300);
    expected == v1 && fresh
}

#[tokio::test]
async fn every_event_is_delivered_signed_at_least_once_despite_failures() {
    let receiver = spawn_receiver("127.0.0.7", 2).await;
    let (app, provider) = app_sending_to(&receiver.url, 3600).await;

    let created = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let got = eventually("connection.created delivered", || async {
        let r = receiver.received.lock().unwrap();
        r.first().cloned()
    })
    .await;
    assert_eq!(receiver.attempts.load(Ordering::SeqCst), 3, "two failures, then the delivery");
    let (headers, body) = got;
    let sig = headers["plugboard-signature"].to_str().unwrap();
    assert!(signature_ok(sig, &body), "{sig}");
    assert!(!signature_ok(sig, &body.replace("alice", "mallory")), "the signature covers the body");
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "connection.created");
    assert_eq!(event["data"]["key"], created.key.as_str());
    assert_eq!(event["data"]["identity"], "alice");
    assert_eq!(headers["plugboard-event-id"].to_str().unwrap(), event["id"].as_str().unwrap());
    assert!(event["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(!body.contains("mock-key-0123456789"), "no secret in an event");

    // Reconnect (updated), a refused refresh (failed) and a delete (deleted).
    reconnect_fields(&app, "alice", "mock-api-key", &created.key, json!({ "api_key": "mock-key-0123456789" })).await;
    let oauth = connect_oauth(&app, "alice").await;
    provider.expire_access_tokens();
    provider.revoke_refresh_tokens();
    let res = passthrough(&app, &oauth.key, reqwest::Method::GET, "mock-oauth/me").send().await.unwrap();
    assert_eq!(res.status(), 409);
    let res = app.delete_connection(&created.key).await;
    assert_eq!(res.status(), 200);

    let events: Vec<Value> = eventually("five events delivered", || async {
        let r = receiver.received.lock().unwrap();
        (r.len() >= 5).then(|| r.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect())
    })
    .await;
    let mut kinds: Vec<(String, String)> = events.iter().map(|e| (e["type"].as_str().unwrap().to_owned(), e["data"]["key"].as_str().unwrap().to_owned())).collect();
    kinds.sort();
    let mut want = vec![
        ("connection.created".to_owned(), created.key.clone()),
        ("connection.created".to_owned(), oauth.key.clone()),
        ("connection.deleted".to_owned(), created.key.clone()),
        ("connection.failed".to_owned(), oauth.key.clone()),
        ("connection.updated".to_owned(), created.key.clone()),
    ];
    want.sort();
    assert_eq!(kinds, want);
    let failed = events.iter().find(|e| e["type"] == "connection.failed").unwrap();
    assert_eq!(failed["data"]["state"], "failed");
    let deleted = events.iter().find(|e| e["type"] == "connection.deleted").unwrap();
    assert_eq!(deleted["data"]["deleted"], true);
    // The receiver has them; the outbox marks each delivered once the receiver's answer is in.
    eventually("five deliveries marked delivered", || async {
        let delivered = app.store.list_deliveries("test-project", Some(DeliveryStatus::Delivered), 100).await.unwrap();
        (delivered.len() == 5).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_slow_to_answer_one_event_holds_back_only_that_event() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, _provider) = app_sending_to(&receiver.url, 3600).await;
    // The receiver sits on the first event for longer than the delivery timeout.
    receiver.delay_ms.store(60_000, Ordering::SeqCst);
    let first = connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    eventually("the first event to reach the slow receiver", || async { (receiver.attempts.load(Ordering::SeqCst) >= 1).then_some(()) }).await;

    receiver.delay_ms.store(0, Ordering::SeqCst);
    let second = connect_fields(&app, "bob", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    let (_, body) = eventually("the second event delivered", || async { receiver.received.lock().unwrap().first().cloned() }).await;
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["data"]["key"], second.key.as_str());
    // It went past the first, whose attempt is still waiting on the receiver: nothing is recorded for it yet.
    let pending = app.store.list_deliveries("test-project", Some(DeliveryStatus::Pending), 100).await.unwrap();
    let held = pending.iter().find(|row| row.body.contains(&first.key)).expect("the first event is still pending");
    assert_eq!((held.attempts, held.last_error.as_deref()), (0, None), "the first attempt has not ended");
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up_listed_and_can_be_replayed() {
    let receiver = spawn_receiver("127.0.0.7", 1_000_000).await;
    let (app, _provider) = app_sending_to(&receiver.url, 1).await;
    connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;

    let failed = eventually("the delivery is given up", || async {
        let f = app.store.list_deliveries("test-project", Some(DeliveryStatus::Failed), 10).await.unwrap();
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert_eq!(failed.len(), 1);
    let d = &failed[0];
    assert!(d.attempts >= 2, "retried before giving up: {d:?}");
    assert_eq!(d.last_status, Some(500));
    assert_eq!(d.event_type, "connection.created");
    let attempts = receiver.attempts.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.attempts.load(Ordering::SeqCst), attempts, "no attempts after giving up");

    // Replaying queues it again (with a fresh window); the receiver still fails, so attempts resume.
    let now = plugboard::clock::now_ms();
    assert_eq!(app.store.replay_deliveries("test-project", None, None, now, now + 60_000).await.unwrap(), 1);
    eventually("attempts resume after a replay", || async { (receiver.attempts.load(Ordering::SeqCst) > attempts).then_some(()) }).await;
    let pending = app.store.list_deliveries("test-project", Some(DeliveryStatus::Pending), 10).await.unwrap();
    assert_eq!(pending.len(), 1);
}

#[tokio::test]
async fn without_a_webhook_nothing_is_queued() {
    let (app, _provider) = spawn_with_provider(|_, _| {}).await;
    connect_fields(&app, "alice", "mock-api-key", json!({ "api_key": "mock-key-0123456789" })).await;
    assert!(app.store.list_deliveries("test-project", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn revocations_of_expired_sessions_flows_and_long_delivered_events_are_purged_and_nothing_else() {
    let receiver = spawn_receiver("127.0.0.7", 0).await;
    let (app, _provider) = app_sending_to(&receiver.url, 259_200).await;
    connect_oauth(&app, "alice").await;
    let revoked = plugboard_tests::session_token(&app, "bob").await;
    let res = app.revoke_session(&revoked).await;
    assert_eq!(res.status(), 204);
    let delivered = || async { app.store.list_deliveries("test-project", Some(DeliveryStatus::Delivered), 100).await.unwrap().len() };
    eventually("the event delivered", || async { (delivered().await == 1).then_some(()) }).await;

    // Now: the revoked session is live, the flow just ended, the event was just delivered — nothing goes.
    let now = plugboard::clock::now();
    assert_eq!(app.store.purge_expired(now, 7).await.unwrap(), plugboard::store::Purged::default());
    assert_eq!(delivered().await, 1);
    // Eight days on, all of it has outlived its use.
    let later = app.store.purge_expired(now + 8 * 86_400, 7).await.unwrap();
    assert_eq!((later.sessions, later.flows, later.deliveries), (1, 1, 1));
    assert_eq!(delivered().await, 0);
}
