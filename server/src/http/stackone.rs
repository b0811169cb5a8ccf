//! StackOne's API for connect sessions and linked accounts, so StackOne's SDKs (`@stackone/stackone-client-ts`
//! and its siblings) work with only their server URL changed: `POST /connect_sessions` (an auth link),
//! `POST /connect_sessions/authenticate`, `GET /accounts`, `GET /accounts/{id}`, `DELETE /accounts/{id}`. The
//! shapes and statuses are StackOne's (API reference at docs.stackone.com, "Connect Sessions" and "Accounts"; the
//! SDK's models `ConnectSessionCreate`, `ConnectSessionTokenAuthLink`, `ConnectSession`, `LinkedAccount`). Auth is a
//! project secret key, which StackOne's clients send as the username of HTTP Basic (RFC 7617) with an empty
//! password. An account is a Plugboard connection: its `id` is the connection key. Error answers carry StackOne's
//! `statusCode`, `message` and `timestamp` beside Plugboard's fields ([`mark_errors`]).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use plugboard_shared::{
    stackone::{ConnectSession, ConnectSessionAuthenticate, ConnectSessionTokenAuthLink, LinkedAccount, StatusReason},
    ConnectionState, LinkRequest,
};

use super::{
    error::ApiError,
    extract::{JsonBody, Params, SecretAuth},
    links::{link_created, make_link, rfc3339},
    connections::owned_connection,
    AppState,
};
use crate::{
    catalog::Catalog,
    clock::now,
    keys::{digest, Environment},
    store::{ConnectionFilter, ConnectionRow, LinkKind, LinkRow},
};

/// Sets StackOne's error fields on the error answers of the routes it wraps (see [`super::error::render_errors`]).
pub async fn mark_errors(mut res: axum::response::Response) -> axum::response::Response {
    if res.status().is_client_error() || res.status().is_server_error() {
        res.extensions_mut().insert(super::error::StackOneShape);
    }
    res
}

fn kind(environment: Environment) -> String {
    match environment {
        Environment::Live => "production".into(),
        Environment::Test => "test".into(),
    }
}

/// RFC 3339 of unix milliseconds.
fn rfc3339_ms(ms: i64) -> String {
    use time::{format_description::well_known::Rfc3339, OffsetDateTime};
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// A link in StackOne's words.
fn connect_session(link: &LinkRow) -> ConnectSession {
    // 13 hex digits: 52 bits, exact as a JavaScript number.
    let id = u64::from_str_radix(link.token_hash.get(..13).unwrap_or("0"), 16).unwrap_or(0);
    let categories = link.categories.as_ref().map(|c| c.iter().filter(|c| super::link_categories::stackone_category(c).is_some()).cloned().collect::<Vec<_>>());
    ConnectSession {
        id,
        organization_id: 1,
        project_id: link.project_id.clone(),
        origin_owner_id: link.identity.clone(),
        origin_owner_name: link.end_user_name.clone().unwrap_or_default(),
        origin_username: link.end_user_username.clone(),
        provider: link.integration.clone(),
        categories: categories.filter(|c| !c.is_empty()),
        kind: kind(link.environment),
        account_id: link.connection_key.clone().or_else(|| link.reconnect_key.clone()),
        label: link.connection_name.clone(),
        created_at: rfc3339(link.created_at),
    }
}

/// A connection in StackOne's words: `active` while operational or degraded (a degraded one's token refresh failed
/// for now and is retried; it is named in `status_reasons`), `error` once failed (it must be reconnected),
/// `inactive` when its state is unknown.
fn linked_account(row: &ConnectionRow, catalog: &Catalog) -> LinkedAccount {
    let (status, reason) = match row.state {
        ConnectionState::Operational => ("active", None),
        ConnectionState::Degraded => ("active", Some("refreshing its access token failed for now; it is retried")),
        ConnectionState::Failed => ("error", Some("the provider no longer accepts its credential: reconnect it")),
        ConnectionState::Unknown => ("inactive", Some("its state is not known")),
    };
    let status_reasons = reason.map(|description| {
        vec![StatusReason { code: Some(row.state.as_str().into()), description: Some(description.into()), timestamp: rfc3339_ms(row.updated_at) }]
    });
    LinkedAccount {
        id: row.key.clone(),
        provider: row.platform.clone(),
        provider_name: catalog.get(&row.platform).map(|e| e.name.clone()),
        status: status.into(),
        status_reasons,
        origin_owner_id: row.identity.clone(),
        origin_owner_name: row.end_user_name.clone().unwrap_or_default(),
        origin_username: row.end_user_username.clone(),
        label: Some(row.name.clone()).filter(|n| !n.is_empty()),
        kind: kind(row.environment),
        created_at: rfc3339_ms(row.created_at),
        updated_at: rfc3339_ms(row.updated_at),
    }
}

/// `POST /connect_sessions` (StackOne's "Create Connect Session"): an auth link for one end user, as
/// `POST /v1/connect-sessions` makes it, answered 201 with StackOne's `ConnectSessionTokenAuthLink` (`id`,
/// `organization_id`, `project_id`, `origin_owner_*`, `provider`, `categories`, `type`, `created_at`, `token`,
/// `auth_link_url`, …) and Plugboard's `LinkCreated` fields. Takes StackOne's `ConnectSessionCreate`:
/// `origin_owner_id`, `origin_owner_name`, `origin_username`, `provider`, `categories` (StackOne's, mapped by
/// [`super::link_categories::CATEGORIES`], or the catalog's), `account_id` (a reconnect link), `expires_in` (60 s to 30 days), `label`
/// (the connection's name). `type` is the key's environment, whatever is sent; `metadata`, `multiple` and
/// `provider_version` are accepted and ignored. Errors: 400 (`unknown_category`, `unknown_integration`,
/// `invalid_expiry`, `invalid_identity`), 401, 404 (the account to reconnect), 409 (`integration_not_configured`).
#[utoipa::path(post, path = "/connect_sessions", tag = "stackone", request_body = LinkRequest,
    responses((status = 201, body = ConnectSessionTokenAuthLink), crate::http::openapi::ErrorResponses), security(("secret_key" = []), ("basic" = [])))]
pub async fn create_connect_session(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    JsonBody(req): JsonBody<LinkRequest>,
) -> Result<(StatusCode, Json<ConnectSessionTokenAuthLink>), ApiError> {
    let (token, link) = make_link(&app, &grant, &req).await?;
    Ok((StatusCode::CREATED, Json(ConnectSessionTokenAuthLink { link: link_created(&app, &token, &link), session: connect_session(&link) })))
}

/// `POST /connect_sessions/authenticate` `{token}` (StackOne's "Authenticate Connect Session"): the auth link the
/// token names, answered 201 with StackOne's `ConnectSession`. Once the link was used, `account_id` is the account
/// it connected. Errors: 404 for a token this project and environment did not make (or a hosted session's), 410
/// `link_revoked` / `link_expired` for one that can no longer be used, 401.
#[utoipa::path(post, path = "/connect_sessions/authenticate", tag = "stackone", request_body = ConnectSessionAuthenticate,
    responses((status = 201, body = ConnectSession), crate::http::openapi::ErrorResponses), security(("secret_key" = []), ("basic" = [])))]
pub async fn authenticate_connect_session(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    JsonBody(req): JsonBody<ConnectSessionAuthenticate>,
) -> Result<(StatusCode, Json<ConnectSession>), ApiError> {
    app.guard.backend(&grant)?;
    let link = app
        .store
        .find_link(&digest(&req.token))
        .await?
        .filter(|l| l.kind == LinkKind::Link && l.project_id == grant.project.id && l.environment == grant.environment)
        .ok_or_else(|| ApiError::NotFound("no connect session with this token in this project".into()))?;
    if link.revoked_at.is_some() {
        return Err(ApiError::Gone { code: "link_revoked", message: "this connect session was withdrawn".into() });
    }
    if link.used_at.is_none() && link.expires_at <= now() {
        return Err(ApiError::Gone { code: "link_expired", message: "this connect session has expired".into() });
    }
    Ok((StatusCode::CREATED, Json(connect_session(&link))))
}

/// StackOne's page size: 25 unless asked, at most 100.
const PAGE_SIZE: u64 = 25;
const MAX_PAGE_SIZE: u64 = 100;

/// `GET /accounts?origin_owner_id&provider&page&page_size` (StackOne's "List Accounts"): the key's project and
/// environment's connections, newest first, as a JSON array of StackOne's `LinkedAccount`. `page` counts from 1
/// (default 1), `page_size` from 1 to 100 (default 25). StackOne's list filters (`origin_owner_ids`, `providers`,
/// `account_ids`, `status`) are refused with 400 `unsupported_filter` rather than ignored. Errors: 400
/// (`invalid_pagination`, `unsupported_filter`), 401.
#[utoipa::path(get, path = "/accounts", tag = "stackone",
    params(("origin_owner_id" = Option<String>, Query), ("provider" = Option<String>, Query, description = "a platform id"),
           ("page" = Option<u64>, Query, description = "from 1 (default 1)"), ("page_size" = Option<u64>, Query, description = "1–100 (default 25)")),
    responses((status = 200, body = Vec<LinkedAccount>), crate::http::openapi::ErrorResponses), security(("secret_key" = []), ("basic" = [])))]
pub async fn list_linked_accounts(State(app): State<AppState>, SecretAuth(grant): SecretAuth, Params(params): Params) -> Result<Json<Vec<LinkedAccount>>, ApiError> {
    if let Some(name) = ["origin_owner_ids", "providers", "account_ids", "status"].into_iter().find(|n| params.contains_key(*n)) {
        return Err(ApiError::bad_request(
            "unsupported_filter",
            format!("{name} is not supported here: filter by one origin_owner_id and one provider, or list and filter yourself"),
        ));
    }
    let page = super::extract::number(&params, "page", 1, u64::from(u32::MAX))?;
    let page_size = super::extract::number(&params, "page_size", PAGE_SIZE, MAX_PAGE_SIZE)?;
    let text = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let filter = ConnectionFilter {
        project_id: grant.project.id.clone(),
        environment: Some(grant.environment),
        identity: text("origin_owner_id"),
        identity_type: None,
        platform: text("provider"),
    };
    let (rows, _) = app.store.list_connections(&filter, (page - 1) * page_size, page_size).await?;
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    Ok(Json(rows.iter().map(|r| linked_account(r, &view.catalog)).collect()))
}

/// `GET /accounts/{id}` (StackOne's "Get Account"): one connection, by key, as StackOne's `LinkedAccount`.
/// Errors: 404 for a key this project and environment do not hold (or a deleted one), 401.
#[utoipa::path(get, path = "/accounts/{id}", tag = "stackone", params(("id" = String, Path, description = "a connection key")),
    responses((status = 200, body = LinkedAccount), crate::http::openapi::ErrorResponses), security(("secret_key" = []), ("basic" = [])))]
pub async fn get_account(State(app): State<AppState>, SecretAuth(grant): SecretAuth, Path(id): Path<String>) -> Result<Json<LinkedAccount>, ApiError> {
    let row = owned_connection(&app, &grant, &id).await?;
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    Ok(Json(linked_account(&row, &view.catalog)))
}

/// `DELETE /accounts/{id}` (StackOne's "Delete Account"): deletes the connection as `DELETE
/// /v1/vault/connections/{key}` does (its grant revoked at the provider where it can be, `connection.deleted`
/// sent to the webhook) and answers it as it was, as StackOne's `LinkedAccount` (`updated_at`: the deletion).
/// Errors: 404, 401.
#[utoipa::path(delete, path = "/accounts/{id}", tag = "stackone", params(("id" = String, Path, description = "a connection key")),
    responses((status = 200, body = LinkedAccount), crate::http::openapi::ErrorResponses), security(("secret_key" = []), ("basic" = [])))]
pub async fn delete_account(State(app): State<AppState>, SecretAuth(grant): SecretAuth, Path(id): Path<String>) -> Result<Json<LinkedAccount>, ApiError> {
    let row = owned_connection(&app, &grant, &id).await?;
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    let mut account = linked_account(&row, &view.catalog);
    let (record, _revoked) = app.connections.delete_connection(row).await?;
    account.updated_at = rfc3339_ms(record.updated_at);
    Ok(Json(account))
}
