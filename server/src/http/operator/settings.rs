//! A project's secrets-bearing settings over the operator API: its own OAuth clients per integration and
//! environment, its secret keys, its webhook. Secrets go in (or are made here and shown once) and never come out.
//! A developer may change only the test environment's OAuth clients and keys.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    projects::{env_name, KeyCreated},
    OperatorAuth,
};
use crate::{
    config::OAuthClient,
    http::{
        error::ApiError,
        extract::{JsonBody, Params},
        AppState,
    },
    keys::{Environment, SecretKey},
    operators::{audit, Action},
    projects::edit::SettingsError,
    vault::SecretString,
};

/// `?environment=test|live`; absent: both environments.
fn environment_param(q: &std::collections::HashMap<String, String>) -> Result<Option<Environment>, ApiError> {
    match q.get("environment").map(String::as_str) {
        None | Some("") => Ok(None),
        Some(e) => Environment::parse(e).map(Some).ok_or_else(|| ApiError::bad_request("invalid_query", "environment must be test or live (absent: both)")),
    }
}

/// An OAuth client to store; `clientSecret` is write-only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientChange {
    pub client_id: String,
    pub client_secret: String,
    /// Absent: the catalog's default scopes.
    pub scopes: Option<Vec<String>>,
    /// The OAuth app's settings the integration declares (Microsoft's `tenant`).
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, String>,
    /// Scopes of the integration's nested tokens by name (Slack's `user`).
    #[serde(default)]
    pub token_scopes: std::collections::BTreeMap<String, Vec<String>>,
}

/// `PUT /operator/v1/projects/{id}/oauth-clients/{platform}?environment=test|live` (admin; developer: test only):
/// the project's own OAuth client for the integration in that environment (absent: both), which end users then
/// connect with there; the integration is offered in that environment within 2 s. Answers the project as `GET`
/// does (never the secret). 400 `invalid_settings` (unknown integration, one without OAuth, bad settings), 409
/// `managed_by_file` when the config file names this client.
#[utoipa::path(put, path = "/operator/v1/projects/{id}/oauth-clients/{platform}", tag = "operator", request_body = ClientChange,
    params(("id" = String, Path), ("platform" = String, Path), ("environment" = Option<String>, Query, description = "`test` or `live`; absent: both")),
    responses((status = 200, body = super::projects::ProjectDetail), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn put_client(
    State(app): State<AppState>,
    auth: OperatorAuth,
    Path((id, platform)): Path<(String, String)>,
    Params(q): Params,
    JsonBody(req): JsonBody<ClientChange>,
) -> Result<Json<super::projects::ProjectDetail>, ApiError> {
    let env = environment_param(&q)?;
    auth.may(Action::WriteSettings(env))?;
    let before = app.store.project_client(&id, &platform, env).await?;
    let client = OAuthClient { client_id: req.client_id, client_secret: SecretString::new(req.client_secret), scopes: req.scopes, settings: req.settings, token_scopes: req.token_scopes };
    app.projects.put_client(&id, &platform, env, &client).await?;
    let shown = |c: &crate::store::ProjectClientRow| json!({"clientId": c.client_id, "scopes": c.scopes, "settings": c.settings, "tokenScopes": c.token_scopes});
    let details = json!({
        "environment": env_name(env),
        "before": before.as_ref().map(shown),
        "after": {"clientId": client.client_id, "scopes": client.scopes, "settings": client.settings, "tokenScopes": client.token_scopes},
        "clientSecret": "changed",
    });
    let target = format!("{platform} ({})", env_name(env));
    audit::record(&app.store, &auth.actor(), audit::Change { action: "oauth_client.set", project_id: Some(&id), target: Some(&target), details, ..Default::default() }).await?;
    Ok(Json(super::projects::detail(&app, &id).await?))
}

/// `DELETE /operator/v1/projects/{id}/oauth-clients/{platform}?environment=test|live` (admin; developer: test
/// only): removes the project's own client for exactly that environment (absent: the one for both). 404 when there
/// is none, 409 `managed_by_file`.
#[utoipa::path(delete, path = "/operator/v1/projects/{id}/oauth-clients/{platform}", tag = "operator",
    params(("id" = String, Path), ("platform" = String, Path), ("environment" = Option<String>, Query, description = "`test` or `live`; absent: both")),
    responses((status = 204, description = "removed"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn delete_client(State(app): State<AppState>, auth: OperatorAuth, Path((id, platform)): Path<(String, String)>, Params(q): Params) -> Result<StatusCode, ApiError> {
    let env = environment_param(&q)?;
    auth.may(Action::WriteSettings(env))?;
    let before = app.store.project_client(&id, &platform, env).await?;
    app.projects.remove_client(&id, &platform, env).await?;
    let details = json!({"environment": env_name(env), "before": before.map(|b| json!({"clientId": b.client_id, "scopes": b.scopes}))});
    let target = format!("{platform} ({})", env_name(env));
    audit::record(&app.store, &auth.actor(), audit::Change { action: "oauth_client.delete", project_id: Some(&id), target: Some(&target), details, ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    /// `test` or `live`.
    pub environment: String,
}

/// `POST /operator/v1/projects/{id}/keys` (admin; developer: test keys): a new secret key, shown once; older keys
/// stay valid until revoked. 400 for an environment other than `test` or `live`, 404 for an unknown project.
#[utoipa::path(post, path = "/operator/v1/projects/{id}/keys", tag = "operator", request_body = NewKey, params(("id" = String, Path)),
    responses((status = 201, body = KeyCreated), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn create_key(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>, JsonBody(req): JsonBody<NewKey>) -> Result<(StatusCode, Json<KeyCreated>), ApiError> {
    let env = Environment::parse(&req.environment).ok_or_else(|| ApiError::bad_request("invalid_settings", "environment must be test or live"))?;
    auth.may(Action::WriteSettings(Some(env)))?;
    app.projects.stored(&id).await?;
    let key = SecretKey::generate(env);
    app.store.add_secret_key(&id, env, &key.digest(), &key.hint()).await?;
    let details = json!({"hint": key.hint(), "environment": env.as_str()});
    audit::record(&app.store, &auth.actor(), audit::Change { action: "secret_key.create", project_id: Some(&id), target: Some(&key.hint()), details, ..Default::default() }).await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key: key.expose().to_owned(), hint: key.hint(), environment: env.as_str().into() })))
}

/// `DELETE /operator/v1/projects/{id}/keys/{hint}` (admin; developer: test keys): revokes the active key with
/// this hint (as listed, `sk_test_AbCd…`; the `…` may be left out) at once. 404 when no active key has it, 409
/// `ambiguous_hint` when several do (revoke by the CLI's longer prefix then).
#[utoipa::path(delete, path = "/operator/v1/projects/{id}/keys/{hint}", tag = "operator", params(("id" = String, Path), ("hint" = String, Path)),
    responses((status = 204, description = "revoked"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn revoke_key(State(app): State<AppState>, auth: OperatorAuth, Path((id, hint)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    auth.may(Action::ReadSettings)?;
    app.projects.stored(&id).await?;
    let hint = format!("{}…", hint.trim_end_matches('…'));
    let active: Vec<_> = app.store.list_keys(&id).await?.into_iter().filter(|k| !k.revoked && k.hint == hint).collect();
    let env = match active.as_slice() {
        [] => return Err(SettingsError::NotFound(format!("the project has no active key {hint:?}")).into()),
        [one] => one.environment,
        _ => return Err(SettingsError::Ambiguous(format!("{} active keys have the hint {hint:?}", active.len())).into()),
    };
    auth.may(Action::WriteSettings(Some(env)))?;
    app.store.revoke_key_hint(&id, &hint).await?;
    let details = json!({"hint": hint, "environment": env.as_str()});
    audit::record(&app.store, &auth.actor(), audit::Change { action: "secret_key.revoke", project_id: Some(&id), target: Some(&hint), details, ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookChange {
    /// An http(s) URL events are posted to.
    pub url: String,
}

/// The webhook endpoint with its new signing secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreated {
    pub url: String,
    /// Verifies the `Plugboard-Signature` of each delivery: store it now, it is never shown again.
    pub signing_secret: String,
}

/// `PUT /operator/v1/projects/{id}/webhook` (admin): where the project's events go, with a new signing secret
/// (shown once). 400 `invalid_settings` for a URL that is not http(s), 409 `managed_by_file`.
#[utoipa::path(put, path = "/operator/v1/projects/{id}/webhook", tag = "operator", request_body = WebhookChange, params(("id" = String, Path)),
    responses((status = 200, body = WebhookCreated), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn put_webhook(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>, JsonBody(req): JsonBody<WebhookChange>) -> Result<Json<WebhookCreated>, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    app.projects.check_webhook_editable(&id).await?;
    if req.url.len() > 2048 || !crate::webhooks::valid_url(&req.url) {
        return Err(SettingsError::Invalid("url must be an http(s) URL of at most 2048 bytes".into()).into());
    }
    let before = app.store.webhook(&id).await?.map(|w| w.url);
    set_webhook(&app, &auth, &id, &req.url, "webhook.set", before).await
}

/// `POST /operator/v1/projects/{id}/webhook/rotate-secret` (admin): a new signing secret (shown once) for the same
/// URL; the old one stops at once. 404 when the project has no webhook, 409 `managed_by_file`.
#[utoipa::path(post, path = "/operator/v1/projects/{id}/webhook/rotate-secret", tag = "operator", params(("id" = String, Path)),
    responses((status = 200, body = WebhookCreated), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn rotate_webhook_secret(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<Json<WebhookCreated>, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    app.projects.check_webhook_editable(&id).await?;
    let url = app.store.webhook(&id).await?.map(|w| w.url).ok_or_else(|| SettingsError::NotFound("the project has no webhook".into()))?;
    set_webhook(&app, &auth, &id, &url.clone(), "webhook.rotate_secret", Some(url)).await
}

async fn set_webhook(app: &AppState, auth: &OperatorAuth, id: &str, url: &str, action: &str, before: Option<String>) -> Result<Json<WebhookCreated>, ApiError> {
    let secret = crate::webhooks::generate_secret();
    app.store.set_webhook(id, Some(&crate::webhooks::seal(app.projects.vault(), id, url, &secret))).await?;
    let details = json!({"url": {"before": before, "after": url}, "signingSecret": "changed"});
    audit::record(&app.store, &auth.actor(), audit::Change { action, project_id: Some(id), target: Some(id), details, ..Default::default() }).await?;
    Ok(Json(WebhookCreated { url: url.to_owned(), signing_secret: secret.expose().to_owned() }))
}

/// `DELETE /operator/v1/projects/{id}/webhook` (admin): the project stops sending events. 404 when it has no
/// webhook, 409 `managed_by_file`.
#[utoipa::path(delete, path = "/operator/v1/projects/{id}/webhook", tag = "operator", params(("id" = String, Path)),
    responses((status = 204, description = "removed"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn delete_webhook(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    auth.may(Action::WriteSettings(None))?;
    app.projects.check_webhook_editable(&id).await?;
    let before = app.store.webhook(&id).await?.map(|w| w.url).ok_or_else(|| SettingsError::NotFound("the project has no webhook".into()))?;
    app.store.set_webhook(&id, None).await?;
    let details = json!({"url": {"before": before, "after": null}});
    audit::record(&app.store, &auth.actor(), audit::Change { action: "webhook.delete", project_id: Some(&id), target: Some(&id), details, ..Default::default() }).await?;
    Ok(StatusCode::NO_CONTENT)
}
