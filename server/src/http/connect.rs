//! The widget's connect endpoints (docs/architecture.md, Widget connect by form; OAuth in a popup): integration detail, credential connect, OAuth start and status.

use axum::{
    extract::{Path, State},
    Json,
};
use plugboard_shared::{ConnectRequest, ConnectionRecord, FieldSpec, FlowState, IntegrationDetail, OAuthStart};

use super::{
    error::ApiError,
    extract::{JsonBody, SessionAuth},
    AppState,
};
use crate::connect::counted::{count_connect, ConnectOutcome};

/// `GET /v1/widget/integrations/{platform}`: the connect screen — auth method, form fields, the scopes that will be
/// requested and what they allow in plain words. 404 for an app the session may not list; 409
/// `integration_not_configured` (in words for the end user) for one the project cannot connect, an OAuth app without
/// its OAuth client, before any sign-in window opens.
#[utoipa::path(get, path = "/v1/widget/integrations/{platform}", tag = "widget",
    params(("platform" = String, Path, example = "gmail")),
    responses((status = 200, body = plugboard_shared::IntegrationDetail), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn get_integration(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    Path(platform): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Json<IntegrationDetail>, ApiError> {
    let entry = app.connections.entry(&session, &platform).await?;
    let client = app.projects.oauth_client(&session.project_id, &entry.platform, session.environment).await.map_err(crate::connect::ConnectError::from)?;
    let scopes = match (&entry.oauth, client.and_then(|c| c.scopes)) {
        (Some(_), Some(own)) => own,
        (Some(o), None) => o.scopes.clone(),
        (None, _) => Vec::new(),
    };
    Ok(Json(IntegrationDetail {
        platform: entry.platform.clone(),
        name: entry.name.clone(),
        description: entry.description.clone(),
        category: entry.category.clone(),
        image: super::assets::logo_url(&app.public_url, &entry.platform),
        auth_method: entry.auth_method,
        fields: entry
            .fields
            .iter()
            .map(|f| FieldSpec {
                name: f.name.clone(),
                label: f.label.clone(),
                secret: f.secret,
                optional: f.optional,
                // A pasted address is cut down to its first label on the server (`subdomainOf`): the connect screen
                // must not refuse it first.
                pattern: f.pattern.clone().filter(|_| f.subdomain_of.is_empty()),
                placeholder: f.placeholder.clone(),
                help: f.help.clone(),
            })
            .collect(),
        permissions: crate::catalog::permissions(&entry, &scopes),
        scopes,
        suggested_name: session.name.clone(),
        same_tab: match headers.get("plugboard-origin").and_then(|v| v.to_str().ok()) {
            Some(origin) => app.projects.view(&session.project_id, session.environment).await.map_err(crate::connect::ConnectError::from)?.has_return_on(origin),
            None => false,
        },
    }))
}

/// `POST /v1/widget/connect/{platform}`.
#[utoipa::path(post, path = "/v1/widget/connect/{platform}", tag = "widget",
    params(("platform" = String, Path, example = "gmail")), request_body = plugboard_shared::ConnectRequest,
    responses((status = 200, description = "the new (or reconnected) connection", body = plugboard_shared::ConnectionRecord), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn connect_with_fields(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    Path(platform): Path<String>,
    JsonBody(req): JsonBody<ConnectRequest>,
) -> Result<Json<ConnectionRecord>, ApiError> {
    let saved = app.connections.connect_with_fields(&session, &platform, &req).await;
    // A name that is no integration (anyone can send any) counts as `unknown`.
    let outcome = if saved.is_ok() { ConnectOutcome::Connected } else { ConnectOutcome::Failed };
    count_connect(app.connections.integration_label(&session.project_id, &platform).await, outcome);
    Ok(Json(saved?))
}

/// `POST /v1/widget/oauth/{platform}/start`.
#[utoipa::path(post, path = "/v1/widget/oauth/{platform}/start", tag = "widget",
    params(("platform" = String, Path, example = "gmail")), request_body = plugboard_shared::ConnectRequest,
    responses((status = 200, body = plugboard_shared::OAuthStart), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn start_oauth(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    Path(platform): Path<String>,
    JsonBody(req): JsonBody<ConnectRequest>,
) -> Result<Json<OAuthStart>, ApiError> {
    // A same-tab sign-in comes back only to a page the project registered (RFC 9700 §4.1.3: exact matching), never
    // to whatever the caller names: the result that comes back is half of what claims the connection.
    if let Some(back) = &req.return_to {
        let view = app.projects.view(&session.project_id, session.environment).await.map_err(crate::connect::ConnectError::from)?;
        let allowed = if req.return_in_state {
            // @withone/auth names its page later (checked then); here, the origin it will be on.
            let origin_root = url::Url::parse(back).ok().filter(|u| u.path() == "/" && u.query().is_none() && u.fragment().is_none() && u.as_str() == back);
            origin_root.is_some_and(|u| view.has_return_on(&u.origin().ascii_serialization()))
        } else {
            view.allows_return_to(back)
        };
        if !allowed {
            // The developer's clue (never the page's query or fragment, which may hold the host's own secrets).
            let page = url::Url::parse(back).map(|u| format!("{}{}", u.origin().ascii_serialization(), u.path())).unwrap_or_default();
            tracing::warn!(project = %session.project_id, %page, "a same-tab sign-in was refused: the page is not one of the project's returnUrls (compared whole, query and fragment included)");
        }
        if session.link_hash.is_some() || !allowed {
            return Err(ApiError::bad_request(
                "same_tab_not_allowed",
                "This page cannot send you to sign in and back. Allow pop-ups for this site, then try again.",
            ));
        }
    }
    Ok(Json(app.connections.start_oauth(&session, &platform, &req).await?))
}

/// `POST /v1/widget/oauth/flows/{id}/claim` `{result, proof}`: the embedded widget's same-tab fallback, back on the
/// host page, saves its parked connection.
#[utoipa::path(post, path = "/v1/widget/oauth/flows/{id}/claim", tag = "widget",
    params(("id" = String, Path)), request_body = plugboard_shared::Claim,
    responses((status = 200, body = plugboard_shared::ConnectionRecord), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn claim_flow(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    Path(id): Path<String>,
    JsonBody(claim): JsonBody<plugboard_shared::Claim>,
) -> Result<Json<ConnectionRecord>, ApiError> {
    Ok(Json(app.connections.claim(&session, &id, &claim).await?))
}

/// `GET /v1/widget/oauth/flows/{id}`.
#[utoipa::path(get, path = "/v1/widget/oauth/flows/{id}", tag = "widget",
    params(("id" = String, Path)),
    responses((status = 200, body = plugboard_shared::FlowState), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn get_flow(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    Path(id): Path<String>,
) -> Result<Json<FlowState>, ApiError> {
    Ok(Json(app.connections.flow_state(&session, &id).await?))
}
