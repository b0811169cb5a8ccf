//! The vault API (docs/contract.md, One Auth and Pica AuthKit: The vault API), for the host backend: list, read and delete connections. Auth: secret key; a key
//! sees the connections of its own project and environment only.

use axum::{
    extract::{Path, State},
    Json,
};
use plugboard_shared::{ConnectionRecord, IdentityType, Page};
use tower_http::request_id::RequestId;

use super::{
    error::ApiError,
    extract::{Paging, Params, SecretAuth},
    integrations::request_id,
    AppState,
};
use crate::{
    store::{ConnectionFilter, ConnectionRow, KeyGrant},
};

/// `GET /v1/vault/connections?identity&identityType&platform&page&limit`.
#[utoipa::path(get, path = "/v1/vault/connections", tag = "vault",
    params(("identity" = Option<String>, Query), ("identityType" = Option<IdentityType>, Query, description = "user, team, organization or project"),
           ("platform" = Option<String>, Query),
           ("page" = Option<String>, Query, pattern = "^([1-9][0-9]{0,8}|null|undefined)?$", description = "1-based (empty, null, undefined = 1)"),
           ("limit" = Option<String>, Query, pattern = "^([1-9][0-9]?|100|null|undefined)?$", description = "1–100 (default 20)")),
    responses((status = 200, body = plugboard_shared::Page<plugboard_shared::ConnectionRecord>), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn list_connections(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    Params(params): Params,
    rid: Option<axum::Extension<RequestId>>,
) -> Result<Json<Page<ConnectionRecord>>, ApiError> {
    let paging = Paging::from_params(&params)?;
    let text = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let identity_type = match text("identityType") {
        None => None,
        Some(t) => Some(IdentityType::parse(&t).ok_or_else(|| {
            ApiError::bad_request("invalid_identity_type", format!("identityType must be user, team, organization or project, got {t:?}"))
        })?),
    };
    let filter = ConnectionFilter {
        project_id: grant.project.id.clone(),
        environment: Some(grant.environment),
        identity: text("identity"),
        identity_type,
        platform: text("platform"),
    };
    let (rows, total) = app.store.list_connections(&filter, (paging.page - 1) * paging.limit, paging.limit).await?;
    Ok(Json(Page {
        rows: rows.iter().map(ConnectionRow::record).collect(),
        total,
        pages: total.div_ceil(paging.limit),
        page: paging.page,
        request_id: request_id(rid),
    }))
}

/// The live connection `key` names, if the key's project and environment own it; else a 404 that does not say
/// whether it exists elsewhere.
pub async fn owned_connection(app: &AppState, grant: &KeyGrant, key: &str) -> Result<ConnectionRow, ApiError> {
    app.store
        .get_connection(key)
        .await?
        .filter(|r| r.project_id == grant.project.id && r.environment == grant.environment && !r.deleted)
        .ok_or_else(|| ApiError::NotFound(format!("no connection with key {key:?}")))
}

/// `GET /v1/vault/connections/{key}`.
#[utoipa::path(get, path = "/v1/vault/connections/{key}", tag = "vault",
    params(("key" = String, Path)),
    responses((status = 200, body = plugboard_shared::ConnectionRecord), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn get_connection(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    Path(key): Path<String>,
) -> Result<Json<ConnectionRecord>, ApiError> {
    Ok(Json(owned_connection(&app, &grant, &key).await?.record()))
}

/// `DELETE /v1/vault/connections/{key}`: revokes at the provider where possible, marks deleted, fires
/// `connection.deleted`; answers the final record.
#[utoipa::path(delete, path = "/v1/vault/connections/{key}", tag = "vault",
    params(("key" = String, Path)),
    responses((status = 200, description = "the final record (deleted)", body = plugboard_shared::ConnectionRecord), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn delete_connection(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    Path(key): Path<String>,
) -> Result<Json<ConnectionRecord>, ApiError> {
    let row = owned_connection(&app, &grant, &key).await?;
    let (record, _revoked) = app.connections.delete_connection(row).await?;
    Ok(Json(record))
}
