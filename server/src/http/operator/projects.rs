//! Projects and their settings over the operator API: list, create, read one whole (settings, keys, OAuth clients,
//! webhook — never a secret — and what the config file manages), change settings. A change shows on every node
//! within 2 s (each node re-reads a project's settings that often). OAuth clients, keys and the webhook are in
//! `settings.rs`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::OperatorAuth;
use crate::{
    http::{error::ApiError, extract::JsonBody, links::rfc3339, AppState},
    keys::{Environment, SecretKey},
    operators::{audit, Action},
    projects::{managed::SETTINGS_FIELDS, ProjectSettings},
};

/// A project as listed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProject {
    /// 1 to 64 letters, digits, dashes or underscores.
    pub id: String,
    /// 1–100 characters; default: the id.
    pub name: Option<String>,
}

/// A secret key, once: store it now, it is never shown again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreated {
    /// `sk_test_…` or `sk_live_…`.
    pub key: String,
    /// What lists name it by: its first 12 characters and `…`.
    pub hint: String,
    /// `test` or `live`.
    pub environment: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectCreated {
    pub project: ProjectSummary,
    /// The project's first key, a test key.
    pub key: KeyCreated,
}

/// A secret key as listed (never the key).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub hint: String,
    pub environment: String,
    /// RFC 3339.
    pub created_at: String,
    pub revoked: bool,
}

/// A project's own OAuth client (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    pub platform: String,
    /// `test`, `live`, or `both`.
    pub environment: String,
    pub client_id: String,
    /// Absent: the catalog's default scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    pub settings: std::collections::BTreeMap<String, String>,
    pub token_scopes: std::collections::BTreeMap<String, Vec<String>>,
}

/// The webhook endpoint (never its signing secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInfo {
    pub url: String,
}

/// One project whole.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDetail {
    pub id: String,
    pub name: String,
    /// The settings as stored (README, Projects): `visibleIntegrations`, `featured`, `allowedOrigins`,
    /// `returnUrls`, `sessionTtlSecs`, `customIntegrations`, and the branding `companyName`, `logoUrl`, `theme`,
    /// `accentColor`; a field at its default is left out.
    #[schema(value_type = Object)]
    pub settings: Value,
    pub keys: Vec<KeyInfo>,
    pub oauth_clients: Vec<ClientInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookInfo>,
    /// What the config file sets, which this API refuses to change: setting names, `oauth.<platform>` for an OAuth
    /// client (both environments), `webhook`.
    pub managed_by_file: Vec<String>,
}

pub(super) fn env_name(e: Option<Environment>) -> &'static str {
    e.map_or("both", Environment::as_str)
}

/// `GET /operator/v1/projects` (admin, developer): every project.
#[utoipa::path(get, path = "/operator/v1/projects", tag = "operator",
    responses((status = 200, body = Vec<ProjectSummary>), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn list_projects(State(app): State<AppState>, auth: OperatorAuth) -> Result<Json<Vec<ProjectSummary>>, ApiError> {
    auth.may(Action::ReadSettings)?;
    Ok(Json(app.store.list_projects().await?.into_iter().map(|p| ProjectSummary { id: p.id, name: p.name }).collect()))
}

/// `POST /operator/v1/projects` (admin): a new project with one test key (shown once). 400 `invalid_settings` for
/// a bad id or name, 409 `project_exists`.
#[utoipa::path(post, path = "/operator/v1/projects", tag = "operator", request_body = NewProject,
    responses((status = 201, body = ProjectCreated), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn create_project(State(app): State<AppState>, auth: OperatorAuth, JsonBody(req): JsonBody<NewProject>) -> Result<(StatusCode, Json<ProjectCreated>), ApiError> {
    auth.may(Action::WriteSettings(None))?;
    let name = req.name.clone().unwrap_or_else(|| req.id.clone());
    app.projects.create(&req.id, &name).await?;
    let key = SecretKey::generate(Environment::Test);
    app.store.add_secret_key(&req.id, key.environment(), &key.digest(), &key.hint()).await?;
    let details = json!({"name": name, "key": {"hint": key.hint(), "environment": "test"}});
    audit::record(&app.store, &auth.actor(), audit::Change { action: "project.create", project_id: Some(&req.id), target: Some(&req.id), details, ..Default::default() }).await?;
    let created = ProjectCreated {
        project: ProjectSummary { id: req.id, name },
        key: KeyCreated { key: key.expose().to_owned(), hint: key.hint(), environment: "test".into() },
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /operator/v1/projects/{id}` (admin, developer): the project's settings, keys (hints), OAuth clients and
/// webhook URL — no secret — and what the config file manages. 404 for an unknown project.
#[utoipa::path(get, path = "/operator/v1/projects/{id}", tag = "operator", params(("id" = String, Path)),
    responses((status = 200, body = ProjectDetail), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn get_project(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<Json<ProjectDetail>, ApiError> {
    auth.may(Action::ReadSettings)?;
    Ok(Json(detail(&app, &id).await?))
}

pub(super) async fn detail(app: &AppState, id: &str) -> Result<ProjectDetail, ApiError> {
    let (settings, managed) = app.projects.stored(id).await?;
    let name = app.store.list_projects().await?.into_iter().find(|p| p.id == id).map_or_else(|| id.to_owned(), |p| p.name);
    let keys = app.store.list_keys(id).await?;
    let clients = app.store.project_clients(id).await?;
    let mut managed_by_file = managed.fields.clone();
    managed_by_file.extend(managed.oauth.iter().map(|p| format!("oauth.{p}")));
    if managed.webhook {
        managed_by_file.push("webhook".into());
    }
    Ok(ProjectDetail {
        id: id.to_owned(),
        name,
        settings: serde_json::to_value(&settings).map_err(|e| ApiError::Internal(e.to_string()))?,
        keys: keys.into_iter().map(|k| KeyInfo { hint: k.hint, environment: k.environment.as_str().into(), created_at: rfc3339(k.created_at), revoked: k.revoked }).collect(),
        oauth_clients: clients
            .into_iter()
            .map(|(platform, env, row)| ClientInfo { platform, environment: env_name(env).into(), client_id: row.client_id, scopes: row.scopes, settings: row.settings, token_scopes: row.token_scopes })
            .collect(),
        webhook: app.store.webhook(id).await?.map(|w| WebhookInfo { url: w.url }),
        managed_by_file,
    })
}

/// The settings that differ between `before` and `after`: `{field: {before, after}}` (absent = the default).
pub(super) fn settings_diff(before: &ProjectSettings, after: &ProjectSettings) -> Value {
    let (b, a) = (serde_json::to_value(before).unwrap_or_default(), serde_json::to_value(after).unwrap_or_default());
    let mut out = Map::new();
    for field in SETTINGS_FIELDS {
        let (x, y) = (b.get(field).cloned().unwrap_or(Value::Null), a.get(field).cloned().unwrap_or(Value::Null));
        if x != y {
            out.insert(field.into(), json!({"before": x, "after": y}));
        }
    }
    Value::Object(out)
}

/// `PATCH /operator/v1/projects/{id}/settings` (admin): changes the settings named in the body (a JSON object of
/// settings by name; `null` resets one), checked as the config file's are; the others stay. Every node uses the
/// new settings within 2 s. Answers the project as `GET` does. 400 `invalid_settings` naming the field (unknown
/// setting or integration, bad origin, URL or colour, wrong type, too large) — nothing is stored then —, 404 for
/// an unknown project, 409 `managed_by_file` for a setting the config file sets.
#[utoipa::path(patch, path = "/operator/v1/projects/{id}/settings", tag = "operator", params(("id" = String, Path)),
    request_body(content = Object, description = "settings by name, e.g. {\"visibleIntegrations\": [\"slack\"], \"accentColor\": \"#0a7cff\"}"),
    responses((status = 200, body = ProjectDetail), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn patch_settings(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>, JsonBody(patch): JsonBody<Map<String, Value>>) -> Result<Json<ProjectDetail>, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    let (before, after) = app.projects.patch_settings(&id, &patch).await?;
    let details = settings_diff(&before, &after);
    audit::record(&app.store, &auth.actor(), audit::Change { action: "project_settings.update", project_id: Some(&id), target: Some(&id), details, ..Default::default() }).await?;
    Ok(Json(detail(&app, &id).await?))
}
