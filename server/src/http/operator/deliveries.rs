//! Webhook deliveries for operators: each event of a project's outbox with every attempt (status or error,
//! latency), and replays — one event, or every failed one — audited as `delivery.replay`.

use axum::{
    extract::{Path, State},
    Json,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    logs::{environment, rfc3339_ms, text},
    OperatorAuth,
};
use crate::{
    http::{
        error::ApiError,
        extract::{Paging, Params},
        AppState,
    },
    keys::Environment,
    operators::{
        audit::{self, Change},
        Action,
    },
    store::{AttemptRow, DeliveryStatus, OutboxRow},
};

/// One attempt at delivering an event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1-based.
    pub attempt: i64,
    /// RFC 3339, when it started.
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// A webhook event and how its delivery went (never its body's secrets: it has none; the body is not listed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The event id (`evt_…`), as receivers see it.
    pub id: String,
    /// `connection.created`, `connection.updated`, `connection.deleted` or `connection.failed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up; can be replayed).
    pub status: String,
    /// The connection the event is about, and its environment (absent on events from before they were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Every attempt, first first (attempts older than the log retention are gone).
    pub attempts: Vec<Attempt>,
}

/// A project's deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deliveries {
    pub rows: Vec<Delivery>,
}

fn delivery(row: OutboxRow, attempts: &[AttemptRow]) -> Delivery {
    Delivery {
        attempts: attempts
            .iter()
            .filter(|a| a.event_id == row.id)
            .map(|a| Attempt { attempt: a.attempt, at: rfc3339_ms(a.at), status: a.status, error: a.error.clone(), latency_ms: a.latency_ms })
            .collect(),
        id: row.id,
        event_type: row.event_type,
        status: row.status.as_str().into(),
        connection: row.connection_key,
        environment: row.environment.map(|e| e.as_str().into()),
        created_at: rfc3339_ms(row.created_at),
    }
}

/// `GET /operator/v1/deliveries?project=…` (every role): the project's webhook events, newest first, each with
/// every delivery attempt; filtered by `status` (`pending`, `delivered`, `failed`) and `connection` (key); `limit`
/// 1 to 100 (default 20). 400 `invalid_query` without `project` or with a bad status; 404 for an unknown project.
#[utoipa::path(get, path = "/operator/v1/deliveries", tag = "operator",
    params(("project" = String, Query), ("status" = Option<String>, Query), ("connection" = Option<String>, Query), ("limit" = Option<u64>, Query)),
    responses((status = 200, body = Deliveries), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn list_deliveries(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<Deliveries>, ApiError> {
    auth.may(Action::ReadLogs)?;
    let project = project(&app, &q).await?;
    let status = text(&q, "status")
        .map(|s| DeliveryStatus::parse(&s).ok_or_else(|| ApiError::bad_request("invalid_query", format!("status must be pending, delivered or failed, not {s:?}"))))
        .transpose()?;
    let limit = Paging::from_params(&q)?.limit;
    let rows = app.store.list_deliveries_of(&project, status, text(&q, "connection").as_deref(), limit).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let attempts = app.store.delivery_attempts(&ids).await?;
    Ok(Json(Deliveries { rows: rows.into_iter().map(|r| delivery(r, &attempts)).collect() }))
}

/// The `project` parameter, naming a project that exists.
async fn project(app: &AppState, q: &std::collections::HashMap<String, String>) -> Result<String, ApiError> {
    let id = text(q, "project").ok_or_else(|| ApiError::bad_request("invalid_query", "project is required"))?;
    if !app.store.list_projects().await?.iter().any(|p| p.id == id) {
        return Err(ApiError::NotFound(format!("no project {id:?}")));
    }
    Ok(id)
}

/// How many deliveries a replay queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: u64,
}

/// The retry window a replayed delivery gets (the configured give-up time, from now).
fn window(app: &AppState) -> (i64, i64) {
    let now = crate::clock::now_ms();
    (now, now + app.connections.webhooks.give_up_after.as_millis() as i64)
}

/// `POST /operator/v1/deliveries/{eventId}/replay` (admins; developers for test events): delivers the event again
/// (whatever its status), from now with a fresh retry window. Audited as `delivery.replay`. 404 for an unknown
/// event; 403 for a live event (or one from before environments were kept) without the right.
#[utoipa::path(post, path = "/operator/v1/deliveries/{eventId}/replay", tag = "operator",
    params(("eventId" = String, Path)),
    responses((status = 200, body = Replayed), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn replay_delivery(State(app): State<AppState>, auth: OperatorAuth, Path(event_id): Path<String>) -> Result<Json<Replayed>, ApiError> {
    let event = app.store.delivery(&event_id).await?.ok_or_else(|| ApiError::NotFound(format!("no webhook event {event_id:?}")))?;
    let env = event.environment.unwrap_or(Environment::Live);
    auth.may(Action::ReplayDeliveries(env))?;
    let (now, give_up_at) = window(&app);
    let replayed = app.store.replay_deliveries(&event.project_id, Some(&event.id), None, now, give_up_at).await?;
    let details = json!({"eventId": event.id, "type": event.event_type, "environment": env.as_str(), "replayed": replayed});
    audit::record(&app.store, &auth.actor(), Change { action: "delivery.replay", project_id: Some(&event.project_id), target: Some(&event.id), details, refused: false }).await?;
    Ok(Json(Replayed { replayed }))
}

/// `POST /operator/v1/deliveries/replay-failed?project=…&environment=…` (admins; developers with
/// `environment=test`): delivers every failed event of the project (of that environment only, when given) again.
/// Audited as `delivery.replay`. 400 without `project`; 404 for an unknown project; 403 without the right (without
/// `environment`, the right to replay live events).
#[utoipa::path(post, path = "/operator/v1/deliveries/replay-failed", tag = "operator",
    params(("project" = String, Query), ("environment" = Option<String>, Query)),
    responses((status = 200, body = Replayed), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn replay_failed(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<Replayed>, ApiError> {
    let env = environment(&q)?;
    // Without an environment both are replayed: the live one's right covers it.
    auth.may(Action::ReplayDeliveries(env.unwrap_or(Environment::Live)))?;
    auth.may(Action::ReplayDeliveries(env.unwrap_or(Environment::Test)))?;
    let project = project(&app, &q).await?;
    let (now, give_up_at) = window(&app);
    let replayed = app.store.replay_deliveries(&project, None, env, now, give_up_at).await?;
    let details = json!({"failed": true, "environment": env.map(Environment::as_str), "replayed": replayed});
    audit::record(&app.store, &auth.actor(), Change { action: "delivery.replay", project_id: Some(&project), target: None, details, refused: false }).await?;
    Ok(Json(Replayed { replayed }))
}
