//! Connections for the people who support end users (docs/operators.md, Connections): find an end user's
//! connections across projects, read one with its health timeline, refresh it now, make a reconnect link for its
//! end user, delete it. Nothing here ever answers a secret: records carry only non-secret fields, and the only
//! thing read from the vault is the granted scopes.

use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Path, State},
    Json,
};
use plugboard_shared::{ConnectionState, IdentityType, LinkRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::OperatorAuth;
use crate::{
    http::{
        error::{refresh_now_error, ApiError},
        extract::{Paging, Params},
        links::{make_link, rfc3339},
        AppState,
    },
    keys::Environment,
    operators::{
        audit::{self, Change},
        Action,
    },
    refresh::Cause,
    revocation::Revoked,
    store::{ConnectionRow, ConnectionSearch, KeyGrant},
};

/// Most timeline entries answered (the latest ones), of events and of webhook deliveries each.
const TIMELINE_LIMIT: u64 = 200;
/// Longest `q`, `identity` or `integration` accepted.
const MAX_TEXT: usize = 200;

/// A connection as a search lists it: who it belongs to and how it is, never a secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSummary {
    pub key: String,
    pub project_id: String,
    /// `test` or `live`.
    pub environment: String,
    /// The integration's id (`gmail`).
    pub platform: String,
    pub name: String,
    pub identity: String,
    pub identity_type: IdentityType,
    pub state: ConnectionState,
    /// Who the connection signs in as at the provider, when it says (an email, a workspace).
    pub account: Option<String>,
    /// The end user's name and username (or email), as the auth link or hosted session they connected through
    /// named them; absent for connections made in the embedded widget.
    pub end_user_name: Option<String>,
    pub end_user_username: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ConnectionRow> for ConnectionSummary {
    fn from(r: &ConnectionRow) -> Self {
        Self {
            key: r.key.clone(),
            project_id: r.project_id.clone(),
            environment: r.environment.as_str().into(),
            platform: r.platform.clone(),
            name: r.name.clone(),
            identity: r.identity.clone(),
            identity_type: r.identity_type,
            state: r.state,
            account: r.account.clone(),
            end_user_name: r.end_user_name.clone(),
            end_user_username: r.end_user_username.clone(),
            created_at: rfc3339_ms(r.created_at),
            updated_at: rfc3339_ms(r.updated_at),
        }
    }
}

/// One page of a search.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSearchPage {
    pub rows: Vec<ConnectionSummary>,
    pub total: u64,
    pub pages: u64,
    /// 1-based.
    pub page: u64,
}

/// One entry of a connection's health timeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// RFC 3339 (milliseconds).
    pub at: String,
    /// `created`, `reconnected`, `refreshed`, `refresh_failed`, `degraded`, `failed`, `deleted`, `revoked` or
    /// `webhook`.
    pub kind: String,
    /// What the kind adds: a failure's `reason` (words) and `code` (the provider's error code or `HTTP <status>`),
    /// the `state` it left and `retryAt` (unix seconds); a refresh's `tokenExpiresAt` (unix seconds); a webhook's
    /// `eventId`, `eventType`, delivery `status` (`pending`, `delivered`, `failed`), `attempts` and
    /// `lastStatusCode` (the receiver's HTTP status). Never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A connection's non-secret fields and its health timeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionDetail {
    pub connection: ConnectionSummary,
    pub deleted: bool,
    /// Whether it connects through OAuth.
    pub oauth: bool,
    /// When the access token expires (RFC 3339), when known.
    pub token_expires_at: Option<String>,
    /// Whether Plugboard can renew its token (it holds a refresh token, or a client-credentials grant).
    pub refreshable: bool,
    /// Transient refresh failures in a row, and when the next attempt may run (RFC 3339).
    pub refresh_failures: i64,
    pub next_refresh_at: Option<String>,
    /// The scopes the provider granted (every token's, in order, without repeats); empty when it did not say.
    pub scopes: Vec<String>,
    /// Non-secret configuration (`subdomain`, the chosen site).
    pub config: BTreeMap<String, String>,
    /// Every place the grant reaches, by config key.
    #[schema(value_type = Object)]
    pub choices: plugboard_shared::Granted,
    /// Oldest first: the latest events and webhook deliveries (at most 200 of each), merged by time.
    pub timeline: Vec<TimelineEntry>,
}

/// What a refresh now did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResult {
    pub state: ConnectionState,
    /// When the new access token expires (RFC 3339), when known.
    pub token_expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconnectLinkRequest {
    /// Seconds the link lives: 60 to 2,592,000 (30 days); default 7 days.
    pub expires_in: Option<i64>,
}

/// A link for the end user that reconnects the connection in place.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconnectLink {
    /// `{public URL}/link#token=pbl_…`: whoever opens it can reconnect this connection, once. Send it to its end
    /// user only.
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Unix milliseconds as RFC 3339 (with milliseconds when there are any).
fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A moment given as RFC 3339 or as unix seconds, in unix milliseconds; 400 `invalid_query` otherwise.
fn moment(name: &str, raw: Option<&String>) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw.map(|v| v.trim()).filter(|v| !v.is_empty()) else { return Ok(None) };
    let bad = || ApiError::bad_request("invalid_query", format!("{name} must be an RFC 3339 time (2026-01-31T12:00:00Z) or unix seconds"));
    if let Ok(secs) = raw.parse::<i64>() {
        return secs.checked_mul(1000).map(Some).ok_or_else(bad);
    }
    let t = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).map_err(|_| bad())?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map(Some).map_err(|_| bad())
}

/// The search the query asks for; 400 for a value out of its range, 404 for a project that does not exist.
async fn search_filter(app: &AppState, q: &HashMap<String, String>) -> Result<ConnectionSearch, ApiError> {
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.chars().count() > MAX_TEXT => Err(ApiError::bad_request("invalid_query", format!("{name} is limited to {MAX_TEXT} characters"))),
            Some(v) => Ok(Some(v.to_owned())),
        }
    };
    let project_id = text("project")?;
    if let Some(p) = &project_id {
        if !app.store.list_projects().await?.iter().any(|x| &x.id == p) {
            return Err(ApiError::NotFound(format!("no project {:?}", p.chars().take(64).collect::<String>())));
        }
    }
    let environment = match text("environment")? {
        None => None,
        Some(e) => Some(Environment::parse(&e).ok_or_else(|| ApiError::bad_request("invalid_query", "environment must be test or live"))?),
    };
    let state = match text("state")? {
        None => None,
        Some(s) => Some(
            ["operational", "degraded", "failed", "unknown"]
                .contains(&s.as_str())
                .then(|| ConnectionState::parse(&s))
                .ok_or_else(|| ApiError::bad_request("invalid_query", "state must be operational, degraded, failed or unknown"))?,
        ),
    };
    let (created_after, created_before) = (moment("createdAfter", q.get("createdAfter"))?, moment("createdBefore", q.get("createdBefore"))?);
    if let (Some(a), Some(b)) = (created_after, created_before) {
        if a >= b {
            return Err(ApiError::bad_request("invalid_query", "createdAfter must be before createdBefore"));
        }
    }
    Ok(ConnectionSearch {
        project_id,
        environment,
        identity: text("identity")?,
        platform: text("integration")?,
        state,
        text: text("q")?,
        created_after,
        created_before,
    })
}

/// The connection `key` names (deleted ones too, with `live`: only a live one), else 404.
async fn connection(app: &AppState, key: &str, live: bool) -> Result<ConnectionRow, ApiError> {
    app.store
        .get_connection(key)
        .await?
        .filter(|r| !(live && r.deleted))
        .ok_or_else(|| ApiError::NotFound(format!("no connection with key {:?}", key.chars().take(100).collect::<String>())))
}

/// `auth.may(action)`, the refusal kept in the audit trail as `what` on the connection.
async fn may_act(app: &AppState, auth: &OperatorAuth, action: Action, what: &str, row: &ConnectionRow) -> Result<(), ApiError> {
    if let Err(e) = auth.may(action) {
        let change = Change { action: what, project_id: Some(&row.project_id), target: Some(&row.key), refused: true, details: json!({ "reason": e.to_string() }) };
        audit::record(&app.store, &auth.actor(), change).await?;
        return Err(e);
    }
    Ok(())
}

/// `GET /operator/v1/connections` (every role): live connections of every project (or `project`'s), newest first,
/// filtered by `environment` (`test`, `live`), `identity`, `integration` (platform id), `state`, `q` (part of the
/// end user's name or username/email, or of the account it signs in as; any case), `createdAfter` (inclusive) and
/// `createdBefore` (RFC 3339 or unix seconds); paged by `page` (1-based) and `limit` (1–100, default 20). 400
/// `invalid_query` for a value out of range, 404 for an unknown project.
#[utoipa::path(get, path = "/operator/v1/connections", tag = "operator",
    params(("project" = Option<String>, Query), ("environment" = Option<String>, Query, description = "test or live"),
           ("identity" = Option<String>, Query), ("q" = Option<String>, Query, description = "part of the end user's name or email, any case"),
           ("integration" = Option<String>, Query, description = "a platform id"),
           ("state" = Option<String>, Query, description = "operational, degraded, failed or unknown"),
           ("createdAfter" = Option<String>, Query, description = "RFC 3339 or unix seconds, inclusive"),
           ("createdBefore" = Option<String>, Query, description = "RFC 3339 or unix seconds, exclusive"),
           ("page" = Option<u64>, Query, description = "1-based"), ("limit" = Option<u64>, Query, description = "1–100 (default 20)")),
    responses((status = 200, body = ConnectionSearchPage), crate::http::openapi::ErrorResponses),
    security(("operator_session" = []), ("operator_token" = [])))]
pub async fn search_connections(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<ConnectionSearchPage>, ApiError> {
    auth.may(Action::ReadConnections)?;
    let paging = Paging::from_params(&q)?;
    let filter = search_filter(&app, &q).await?;
    let (rows, total) = app.store.search_connections(&filter, (paging.page - 1) * paging.limit, paging.limit).await?;
    Ok(Json(ConnectionSearchPage { rows: rows.iter().map(ConnectionSummary::from).collect(), total, pages: total.div_ceil(paging.limit), page: paging.page }))
}

/// The granted scopes of `row`'s credentials (top-level first, then nested tokens'), without repeats; empty when
/// the provider did not say or the secrets cannot be opened (a deleted connection's are wiped).
fn scopes(app: &AppState, row: &ConnectionRow) -> Vec<String> {
    let Ok(creds) = app.connections.vault.open_credentials(&row.sealed, &row.id) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    let all = creds.scope.iter().chain(creds.tokens.values().filter_map(|t| t.scope.as_ref()));
    for s in all.flat_map(|s| s.split(|c: char| c.is_whitespace() || c == ',')).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// `GET /operator/v1/connections/{key}` (every role): the connection's non-secret fields (deleted ones too) and
/// its health timeline. 404 for an unknown key.
#[utoipa::path(get, path = "/operator/v1/connections/{key}", tag = "operator", params(("key" = String, Path)),
    responses((status = 200, body = ConnectionDetail), crate::http::openapi::ErrorResponses),
    security(("operator_session" = []), ("operator_token" = [])))]
pub async fn get_connection(State(app): State<AppState>, auth: OperatorAuth, Path(key): Path<String>) -> Result<Json<ConnectionDetail>, ApiError> {
    auth.may(Action::ReadConnections)?;
    let row = connection(&app, &key, false).await?;
    let mut timeline: Vec<(i64, TimelineEntry)> = app
        .store
        .connection_events(&row.id, TIMELINE_LIMIT)
        .await?
        .into_iter()
        .map(|e| (e.at, TimelineEntry { at: rfc3339_ms(e.at), kind: e.kind.as_str().into(), detail: e.detail }))
        .collect();
    for d in app.store.connection_deliveries(&row.id, TIMELINE_LIMIT).await? {
        let detail = json!({
            "eventId": d.id, "eventType": d.event_type, "status": d.status.as_str(), "attempts": d.attempts, "lastStatusCode": d.last_status,
        });
        timeline.push((d.created_at, TimelineEntry { at: rfc3339_ms(d.created_at), kind: "webhook".into(), detail }));
    }
    // Stable: an event and the webhook it queued share a time; the event comes first.
    timeline.sort_by_key(|(at, _)| *at);
    Ok(Json(ConnectionDetail {
        scopes: if row.deleted { Vec::new() } else { scopes(&app, &row) },
        connection: ConnectionSummary::from(&row),
        deleted: row.deleted,
        oauth: row.is_oauth,
        token_expires_at: row.token_expires_at.map(rfc3339),
        refreshable: row.refreshable,
        refresh_failures: row.refresh_failures,
        next_refresh_at: row.next_refresh_at.map(rfc3339),
        config: row.config.clone(),
        choices: row.choices.clone(),
        timeline: timeline.into_iter().map(|(_, e)| e).collect(),
    }))
}

/// `POST /operator/v1/connections/{key}/refresh` (admin and support; developers on test connections): renews the
/// connection's token at the provider now, even while it backs off after a transient failure. Answers the new state;
/// 422 `provider_refused` with the provider's reason when it refused (the connection is failed: send a reconnect
/// link), 502 `provider_failed` when it could not answer (the connection is degraded), 409 `not_refreshable` for a
/// connection with nothing to renew (an API key) and 409 `connection_failed` for one that must be reconnected. 404
/// for an unknown or deleted key. Audited as `connection.refresh`.
#[utoipa::path(post, path = "/operator/v1/connections/{key}/refresh", tag = "operator", params(("key" = String, Path)),
    responses((status = 200, body = RefreshResult), crate::http::openapi::ErrorResponses),
    security(("operator_session" = []), ("operator_token" = [])))]
pub async fn refresh_connection(State(app): State<AppState>, auth: OperatorAuth, Path(key): Path<String>) -> Result<Json<RefreshResult>, ApiError> {
    let row = connection(&app, &key, true).await?;
    may_act(&app, &auth, Action::RepairConnection(row.environment), "connection.refresh", &row).await?;
    let change = |details| Change { action: "connection.refresh", project_id: Some(&row.project_id), target: Some(&row.key), refused: false, details };
    if !row.refreshable {
        audit::record(&app.store, &auth.actor(), change(json!({ "outcome": "not_refreshable" }))).await?;
        return Err(ApiError::Conflict { code: "not_refreshable", message: format!("this {} connection holds nothing to renew (no refresh token)", row.platform) });
    }
    if row.state == ConnectionState::Failed {
        audit::record(&app.store, &auth.actor(), change(json!({ "outcome": "failed_already" }))).await?;
        return Err(ApiError::Conflict {
            code: "connection_failed",
            message: format!("this {} connection failed and must be reconnected: send its end user a reconnect link", row.platform),
        });
    }
    match app.connections.refresh(&key, row.secret_version, Cause::Operator).await {
        Ok(entry) => {
            let fresh = &entry.0;
            audit::record(&app.store, &auth.actor(), change(json!({ "outcome": "refreshed", "state": fresh.state.as_str() }))).await?;
            Ok(Json(RefreshResult { state: fresh.state, token_expires_at: fresh.token_expires_at.map(rfc3339) }))
        }
        Err(e) => {
            audit::record(&app.store, &auth.actor(), change(json!({ "outcome": "failed", "reason": e.to_string() }))).await?;
            Err(refresh_now_error(e))
        }
    }
}

/// `POST /operator/v1/connections/{key}/reconnect-link` `{expiresIn?}` (admin and support; developers on test
/// connections): an auth link for the connection's end user that reconnects it in place (same key), naming them as
/// the connection does. 400 `invalid_expiry` for `expiresIn` outside 60 s – 30 days, 409
/// `integration_not_configured` when the integration cannot be connected on this server any more, 404 for an
/// unknown or deleted key. Audited as `connection.reconnect_link` (never with the link).
#[utoipa::path(post, path = "/operator/v1/connections/{key}/reconnect-link", tag = "operator", params(("key" = String, Path)),
    request_body = ReconnectLinkRequest,
    responses((status = 201, body = ReconnectLink), crate::http::openapi::ErrorResponses),
    security(("operator_session" = []), ("operator_token" = [])))]
pub async fn reconnect_link(
    State(app): State<AppState>,
    auth: OperatorAuth,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<(axum::http::StatusCode, Json<ReconnectLink>), ApiError> {
    let row = connection(&app, &key, true).await?;
    may_act(&app, &auth, Action::RepairConnection(row.environment), "connection.reconnect_link", &row).await?;
    // The body is optional: none asks for the defaults.
    let req: ReconnectLinkRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReconnectLinkRequest::default()
    } else {
        crate::http::input::check_json(&body)?;
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_json", format!("the request body is not valid: {e}")))?
    };
    let project = app
        .store
        .list_projects()
        .await?
        .into_iter()
        .find(|p| p.id == row.project_id)
        .ok_or_else(|| ApiError::NotFound("the connection's project is gone".into()))?;
    let grant = KeyGrant { project, environment: row.environment };
    let link_req = LinkRequest {
        identity: Some(row.identity.clone()),
        identity_type: Some(row.identity_type),
        name: row.end_user_name.clone(),
        username: row.end_user_username.clone(),
        categories: None,
        integration: Some(row.platform.clone()),
        reconnect: Some(row.key.clone()),
        expires_in: req.expires_in,
        redirect_url: None,
        connection_name: None,
    };
    let (token, link) = make_link(&app, &grant, &link_req).await?;
    let details = json!({ "expiresAt": link.expires_at, "integration": row.platform });
    audit::record(&app.store, &auth.actor(), Change { action: "connection.reconnect_link", project_id: Some(&row.project_id), target: Some(&row.key), refused: false, details }).await?;
    let url = format!("{}/link#token={token}", app.public_url);
    Ok((axum::http::StatusCode::CREATED, Json(ReconnectLink { url, expires_at: rfc3339(link.expires_at) })))
}

/// `DELETE /operator/v1/connections/{key}` (admin; developers on test connections): deletes the connection as the
/// vault API does — its secrets wiped, its grant revoked at the provider (retried until it confirms),
/// `connection.deleted` sent. Answers the final summary. 404 for an unknown or already deleted key. Audited as
/// `connection.delete`.
#[utoipa::path(delete, path = "/operator/v1/connections/{key}", tag = "operator", params(("key" = String, Path)),
    responses((status = 200, body = ConnectionSummary, description = "deleted"), crate::http::openapi::ErrorResponses),
    security(("operator_session" = []), ("operator_token" = [])))]
pub async fn delete_connection(State(app): State<AppState>, auth: OperatorAuth, Path(key): Path<String>) -> Result<Json<ConnectionSummary>, ApiError> {
    let row = connection(&app, &key, true).await?;
    may_act(&app, &auth, Action::DeleteConnection(row.environment), "connection.delete", &row).await?;
    let (project_id, platform) = (row.project_id.clone(), row.platform.clone());
    let (_, revoked) = app.connections.delete_connection(row).await?;
    let revoked = match revoked {
        Revoked::Yes => "revoked",
        Revoked::Queued => "queued",
        Revoked::NotSupported => "not_supported",
    };
    let details = json!({ "integration": platform, "revocation": revoked });
    audit::record(&app.store, &auth.actor(), Change { action: "connection.delete", project_id: Some(&project_id), target: Some(&key), refused: false, details }).await?;
    let gone = connection(&app, &key, false).await?;
    Ok(Json(ConnectionSummary::from(&gone)))
}
