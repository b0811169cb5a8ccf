//! A project's operator alerts over HTTP: where they go (write-only URL) and their thresholds, and a test alert.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::OperatorAuth;
use crate::{
    alerts::{self, Alert, AlertError, AlertKind, AlertSettings},
    http::{error::ApiError, extract::JsonBody, AppState},
    operators::{
        audit::{self, Change},
        Action,
    },
    vault::SecretString,
};

/// Where a project's alerts go and when they fire.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertRequest {
    /// `json` (the alert as JSON) or `slack` (a Slack-compatible incoming webhook: `{"text"}`).
    pub format: String,
    /// https (http only on a loopback address). Write-only: it is the credential that posts to the channel.
    pub url: String,
    /// Alert when at least this share (1–100 %) of an integration's refreshes failed … (default 25)
    pub refresh_failure_percent: Option<i64>,
    /// … out of at least this many refreshes in the window (default 10).
    pub min_refreshes: Option<i64>,
    /// Alert when end users met this many connect errors in the window (default 20).
    pub connect_errors: Option<i64>,
    /// The window, in seconds: 60 to 604800 (default 3600). An alert goes out at most once per window.
    pub window_secs: Option<i64>,
}

/// A project's alert settings as read back (never the URL, only its origin).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub format: String,
    /// `scheme://host` of the URL.
    pub url_origin: String,
    pub refresh_failure_percent: i64,
    pub min_refreshes: i64,
    pub connect_errors: i64,
    pub window_secs: i64,
}

async fn known_project(app: &AppState, id: &str) -> Result<(), ApiError> {
    match app.store.project_config(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound("no such project".into())),
    }
}

fn service(app: &AppState) -> alerts::Alerts {
    alerts::Alerts { store: app.store.clone(), vault: app.connections.vault.clone(), http: app.connections.http.clone() }
}

/// `GET /operator/v1/projects/{id}/alerts`: the project's alert settings; 404 when it has none.
#[utoipa::path(get, path = "/operator/v1/projects/{id}/alerts", tag = "operator", params(("id" = String, Path)),
    responses((status = 200, body = AlertView), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn get_alerts(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<Json<AlertView>, ApiError> {
    auth.may(Action::ReadSettings)?;
    known_project(&app, &id).await?;
    let c = app.store.alert_config(&id).await?.ok_or_else(|| ApiError::NotFound("this project sends no alerts".into()))?;
    Ok(Json(AlertView {
        format: c.format,
        url_origin: c.url_hint,
        refresh_failure_percent: c.refresh_failure_percent,
        min_refreshes: c.min_refreshes,
        connect_errors: c.connect_errors,
        window_secs: c.window_secs,
    }))
}

/// `PUT /operator/v1/projects/{id}/alerts` (project-wide settings: admin): where alerts go and their thresholds.
/// 400 naming the field that is out of range.
#[utoipa::path(put, path = "/operator/v1/projects/{id}/alerts", tag = "operator", params(("id" = String, Path)), request_body = AlertRequest,
    responses((status = 204, description = "saved"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn put_alerts(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>, JsonBody(req): JsonBody<AlertRequest>) -> Result<StatusCode, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    known_project(&app, &id).await?;
    let s = AlertSettings {
        format: req.format,
        url: SecretString::new(req.url),
        refresh_failure_percent: req.refresh_failure_percent.unwrap_or(alerts::DEFAULT_REFRESH_FAILURE_PERCENT),
        min_refreshes: req.min_refreshes.unwrap_or(alerts::DEFAULT_MIN_REFRESHES),
        connect_errors: req.connect_errors.unwrap_or(alerts::DEFAULT_CONNECT_ERRORS),
        window_secs: req.window_secs.unwrap_or(alerts::DEFAULT_WINDOW_SECS),
    };
    service(&app).save(&id, &s).await?;
    let details = serde_json::json!({
        "format": s.format, "url": "[redacted]", "refreshFailurePercent": s.refresh_failure_percent,
        "minRefreshes": s.min_refreshes, "connectErrors": s.connect_errors, "windowSecs": s.window_secs,
    });
    audit::record(&app.store, &auth.actor(), Change { action: "alerts.update", project_id: Some(&id), details, ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /operator/v1/projects/{id}/alerts` (admin): no more alerts; 404 when there were none.
#[utoipa::path(delete, path = "/operator/v1/projects/{id}/alerts", tag = "operator", params(("id" = String, Path)),
    responses((status = 204, description = "removed"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn delete_alerts(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    if !app.store.delete_alert_config(&id).await? {
        return Err(ApiError::NotFound("this project sends no alerts".into()));
    }
    audit::record(&app.store, &auth.actor(), Change { action: "alerts.delete", project_id: Some(&id), ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /operator/v1/projects/{id}/alerts/test` (admin): sends a test alert now, to check the URL works. 502
/// `provider_failed` with the reason when the endpoint does not take it.
#[utoipa::path(post, path = "/operator/v1/projects/{id}/alerts/test", tag = "operator", params(("id" = String, Path)),
    responses((status = 204, description = "the endpoint took it"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn test_alert(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    let c = app.store.alert_config(&id).await?.ok_or_else(|| ApiError::NotFound("this project sends no alerts".into()))?;
    let url = app.connections.vault.open(&c.sealed, alerts::aad(&id).as_bytes()).map_err(AlertError::from)?;
    let url = SecretString::new(String::from_utf8(url.to_vec()).map_err(|_| AlertError::Vault(crate::vault::VaultError::Decrypt))?);
    let a = Alert {
        kind_tag: "plugboard.alert",
        alert: AlertKind::Test,
        project_id: id.clone(),
        integration: None,
        count: 0,
        out_of: None,
        threshold: "test".into(),
        window_secs: c.window_secs,
        text: format!("{id}: a test alert from Plugboard. Alerts for this project arrive here."),
        at: crate::clock::now(),
    };
    service(&app).send(&c.format, &url, &a).await.map_err(|why| ApiError::ProviderFailed(format!("the alert endpoint did not take the test alert: {why}")))?;
    Ok(StatusCode::NO_CONTENT)
}
