//! Signed webhooks (docs/architecture.md, Webhooks): events are written to an outbox in the same transaction as the change they
//! report; a worker on every node claims due deliveries (a lease in the database, so each is attempted by one
//! worker at a time), signs and posts them, and retries with exponential backoff and jitter until a window ends.
//! Failed deliveries stay listed and can be replayed (`plugboard project webhook …`).

use std::{sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use plugboard_shared::ConnectionRecord;
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::Sha256;

use crate::{
    clock::now_ms,
    store::{AttemptTiming, ConnectionRow, DeliveryOutcome, OutboxEvent, OutboxRow, SharedStore, WebhookRow},
    vault::{SecretString, Vault, VaultError},
};

/// The events a project's webhook receives (docs/contract.md, Webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Created,
    Updated,
    Deleted,
    Failed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "connection.created",
            Self::Updated => "connection.updated",
            Self::Deleted => "connection.deleted",
            Self::Failed => "connection.failed",
        }
    }
}

/// What a receiver gets: `{id, type, createdAt, data}`; `id` is stable across retries so receivers can dedupe.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: String,
    data: ConnectionRecord,
    /// Who connected, when it was through an auth link or hosted session (its end-user fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    end_user: Option<EndUser>,
}

/// The end user an auth link or hosted session was made for: `{id, name, username}` (StackOne's origin owner id,
/// name and username; One Runtime's end user id, name and email).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndUser {
    pub id: String,
    pub name: Option<String>,
    pub username: Option<String>,
}

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// First retry delay; doubles each attempt (with jitter) up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// After this long since the event, a failing delivery is given up and marked failed.
    pub give_up_after: Duration,
    /// How often an idle worker looks for due deliveries.
    pub poll: Duration,
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The outbox entry for `kind` happening to `row` now.
pub fn event(kind: EventType, row: &ConnectionRow, policy: &DeliveryPolicy) -> OutboxEvent {
    event_by(kind, row, policy, None)
}

/// [`event`], naming the end user who connected through a link.
pub fn event_by(kind: EventType, row: &ConnectionRow, policy: &DeliveryPolicy, end_user: Option<EndUser>) -> OutboxEvent {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let now = now_ms();
    let created_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    let envelope = Envelope { id: &id, kind: kind.as_str(), created_at, data: row.record(), end_user };
    OutboxEvent {
        body: serde_json::to_string(&envelope).expect("an event serializes"),
        id,
        project_id: row.project_id.clone(),
        event_type: kind.as_str().into(),
        created_at: now,
        give_up_at: now + policy.give_up_after.as_millis() as i64,
        connection_id: Some(row.id.clone()),
        connection_key: row.key.clone(),
        environment: row.environment,
    }
}

/// `Plugboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` — Stripe's scheme, so
/// receivers can check it with the code they already have and reject replays by `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// A new signing secret (`whsec_…`), shown once when the webhook is set.
pub fn generate_secret() -> SecretString {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    SecretString::new(format!("whsec_{}", URL_SAFE_NO_PAD.encode(b)))
}

/// AAD of a project's sealed webhook secret: it only opens for that project.
pub(crate) fn aad(project_id: &str) -> String {
    format!("webhook:{project_id}")
}

pub fn seal(vault: &Vault, project_id: &str, url: &str, secret: &SecretString) -> WebhookRow {
    WebhookRow { url: url.to_owned(), sealed: vault.seal(secret.expose().as_bytes(), aad(project_id).as_bytes()) }
}

pub fn open_secret(vault: &Vault, project_id: &str, row: &WebhookRow) -> Result<SecretString, VaultError> {
    let bytes = vault.open(&row.sealed, aad(project_id).as_bytes())?;
    String::from_utf8(bytes.to_vec()).map(SecretString::new).map_err(|_| VaultError::Decrypt)
}

/// `http(s)://host…` — webhook endpoints are set by the operator, so internal hosts are allowed.
pub fn valid_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Delay before retry number `attempt` (1-based): exponential, capped, with full jitter in its upper half.
pub fn backoff(policy: &DeliveryPolicy, attempt: u32) -> Duration {
    let exp = policy.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(policy.max_delay);
    let half = capped / 2;
    half + Duration::from_millis(rand::thread_rng().gen_range(0..=half.as_millis().max(1) as u64))
}

pub struct Deliverer {
    pub store: SharedStore,
    pub vault: Arc<Vault>,
    pub http: reqwest::Client,
    pub policy: DeliveryPolicy,
}

/// Deliveries one node has in flight at once. A slow endpoint holds one of them until its timeout; the others go on.
const IN_FLIGHT: usize = 16;

impl Deliverer {
    /// Runs forever: keeps up to [`IN_FLIGHT`] deliveries going, claiming the next due one as soon as a slot frees,
    /// and sleeps a poll interval when nothing more is due. Dropping the future (a node stopping) drops the
    /// deliveries in hand; their short claims run out and any node retries them.
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let free = IN_FLIGHT - in_flight.len();
            if free == 0 {
                in_flight.join_next().await;
                continue;
            }
            let now = now_ms();
            let lease = now + (this.policy.timeout.as_millis() as i64) * 2 + 1000;
            match this.store.claim_deliveries(now, lease, free as u64).await {
                Ok(due) => {
                    let more = due.len() == free;
                    for row in due {
                        in_flight.spawn(this.clone().deliver(row));
                    }
                    if !more {
                        tokio::time::sleep(this.policy.poll).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed");
                    tokio::time::sleep(this.policy.poll).await;
                }
            }
        }
    }

    /// Attempts one claimed delivery and records what came of it.
    async fn deliver(self: Arc<Self>, row: OutboxRow) {
        let (started_at, clock) = (now_ms(), std::time::Instant::now());
        let outcome = self.attempt(&row).await;
        let timing = AttemptTiming { started_at, latency_ms: clock.elapsed().as_millis() as i64 };
        let label = match outcome {
            DeliveryOutcome::Delivered { .. } => "delivered",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::GiveUp { .. } => "gave_up",
        };
        metrics::counter!("plugboard_webhook_deliveries_total", "outcome" => label).increment(1);
        if let Err(e) = self.store.finish_delivery(&row.id, row.attempts + 1, timing, &outcome).await {
            tracing::warn!(event = %row.id, error = %e, "recording a webhook delivery failed");
        }
    }

    async fn attempt(&self, row: &OutboxRow) -> DeliveryOutcome {
        let (status, error) = match self.post(row).await {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(event = %row.id, kind = %row.event_type, status, "webhook delivered");
                return DeliveryOutcome::Delivered { status, at: now_ms() };
            }
            Ok(status) => (Some(status), format!("the endpoint answered HTTP {status}")),
            Err(error) => (None, error),
        };
        let next = now_ms() + backoff(&self.policy, row.attempts as u32 + 1).as_millis() as i64;
        if next > row.give_up_at {
            tracing::warn!(event = %row.id, kind = %row.event_type, %error, "webhook delivery given up");
            DeliveryOutcome::GiveUp { status, error }
        } else {
            tracing::info!(event = %row.id, kind = %row.event_type, %error, attempt = row.attempts + 1, "webhook delivery will be retried");
            DeliveryOutcome::Retry { status, error, at: next }
        }
    }

    async fn post(&self, row: &OutboxRow) -> Result<i64, String> {
        let hook = self
            .store
            .webhook(&row.project_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the project has no webhook endpoint any more".to_string())?;
        let secret = open_secret(&self.vault, &row.project_id, &hook).map_err(|e| e.to_string())?;
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        let res = self
            .http
            .post(&hook.url)
            .timeout(self.policy.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Plugboard-Signature", signature(secret.expose(), t, &row.body))
            .header("Plugboard-Event-Id", &row.id)
            .header("Plugboard-Event-Type", &row.event_type)
            .body(row.body.clone())
            .send()
            .await
            // The error names the URL at most; an endpoint URL is the operator's own and holds no secret of ours.
            .map_err(|e| if e.is_timeout() { "the endpoint did not answer in time".to_string() } else { format!("could not reach the endpoint: {}", e.without_url()) })?;
        Ok(i64::from(res.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_stripe_style_hmac_over_t_dot_body() {
        // Reference value computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let s = signature("whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert!(s.starts_with("t=1700000000,v1="), "{s}");
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature("whsec_other", 1_700_000_000, r#"{"a":1}"#));
        assert_ne!(s, signature("whsec_test", 1_700_000_001, r#"{"a":1}"#));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = DeliveryPolicy { base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60), ..Default::default() };
        for attempt in 1..30 {
            let d = backoff(&p, attempt);
            let ceiling = Duration::from_secs(1u64 << (attempt - 1).min(20)).min(Duration::from_secs(60));
            assert!(d >= ceiling / 2 && d <= ceiling + Duration::from_millis(1), "attempt {attempt}: {d:?}");
        }
    }
}
