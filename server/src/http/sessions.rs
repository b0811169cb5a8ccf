//! `POST /v1/authkit/token` (docs/architecture.md, Widget session mint): a host backend trades its secret key and a user identity for a
//! short-lived widget session token plus the first page of integrations.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use plugboard_shared::TokenRequest;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tower_http::request_id::RequestId;

use super::{
    error::ApiError,
    extract::{JsonBody, Paging, Params, SecretAuth},
    integrations::{page, request_id},
    AppState,
};
use crate::{
    catalog::Query,
    connect::MAX_NAME_LEN,
    projects::RenderedPage,
    session::{self, NewSession, MAX_ALLOWED_INTEGRATIONS},
};

const MAX_IDENTITY_LEN: usize = 256;

#[utoipa::path(post, path = "/v1/authkit/token", tag = "sessions",
    params(("page" = Option<String>, Query, description = "page of the first integrations, 1-based (empty, null, undefined = 1)"),
           ("limit" = Option<String>, Query, description = "rows per page, 1–100 (default 20)")),
    request_body = plugboard_shared::TokenRequest,
    responses((status = 200, description = "a session token and the first page of integrations", body = plugboard_shared::TokenResponse), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn create_token(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    Params(params): Params,
    rid: Option<axum::Extension<RequestId>>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Response, ApiError> {
    let minted = mint(&app, &grant, &params, req).await?;
    Ok(minted.answer(&request_id(rid)))
}

/// Body of `POST /v1/authkit` as `@picahq/authkit-token` sends it: everything optional (its README calls
/// `create()` with no argument), `group` the deprecated name of `identity`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthkitPage {
    pub identity: Option<String>,
    pub identity_type: Option<plugboard_shared::IdentityType>,
    pub group: Option<String>,
    pub label: Option<String>,
}

/// `POST /v1/authkit?limit&page` — what `@picahq/authkit-token` calls (every page, 100 rows each, 3 at a time)
/// and merges. The merge keeps `rows`, `total` and the *last* page's `requestId` only, so each page's `requestId`
/// is a live session token, which `embed.js` takes when the token endpoint's answer has no `token`. Without an
/// identity the session is the project's `default` user.
#[utoipa::path(post, path = "/v1/authkit", tag = "sessions",
    params(("page" = Option<String>, Query), ("limit" = Option<String>, Query)),
    request_body = AuthkitPage,
    responses((status = 200, description = "a page of integrations; `requestId` is a session token", body = plugboard_shared::TokenResponse), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn authkit_page(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    Params(params): Params,
    JsonBody(req): JsonBody<AuthkitPage>,
) -> Result<Response, ApiError> {
    let identity = req.identity.or(req.group).filter(|i| !i.trim().is_empty()).unwrap_or_else(|| "default".into());
    let req = TokenRequest { identity, identity_type: req.identity_type.unwrap_or(plugboard_shared::IdentityType::User), allowed_integrations: None, name: req.label };
    let minted = mint(&app, &grant, &params, req).await?;
    Ok(minted.answer(&minted.token))
}

/// `GET /v1/users/flags` — asked by `@picahq/authkit-token` before it lists: nothing is white-labelled here.
#[utoipa::path(get, path = "/v1/users/flags", tag = "sessions",
    responses((status = 200, description = "Pica's account flags, as its client expects them", body = Object), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn user_flags(SecretAuth(_grant): SecretAuth) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "accessList": [], "authkitWhitelist": false, "earlyAccess": [], "completedQuickstart": true }))
}

/// Body of `POST /v1/authkit/token/revoke`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct RevokeSession {
    /// A session token (`pbs_…`) minted with a key of the same project and environment.
    pub token: String,
}

/// `POST /v1/authkit/token/revoke` `{token}` (secret key): the session stops working at once, on every node (the
/// revocation list is in the database; each widget request consults it). 404 when the token is not a session of
/// this key's project and environment; revoking twice is fine. An expired session needs no revoking.
#[utoipa::path(post, path = "/v1/authkit/token/revoke", tag = "sessions", request_body = RevokeSession,
    responses((status = 204, description = "revoked"), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn revoke_session(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    JsonBody(req): JsonBody<RevokeSession>,
) -> Result<axum::http::StatusCode, ApiError> {
    let session = session::verify(&app.connections.vault, req.token.trim())
        .filter(|s| s.project_id == grant.project.id && s.environment == grant.environment)
        .ok_or_else(|| ApiError::NotFound("no session with this token in this project and environment".into()))?;
    app.store.revoke_session(&session.id, &session.project_id, session.expires_at).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A minted session and the first page of integrations.
struct Minted {
    token: String,
    expires_at: String,
    page: Arc<RenderedPage>,
    page_number: u64,
}

impl Minted {
    /// The [`TokenResponse`] JSON, written around the page's rows as rendered once (serializing 20 rows is most
    /// of a mint's work; see `ProjectView::first_pages`).
    fn answer(&self, request_id: &str) -> Response {
        let text = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let RenderedPage { rows_json, total, pages } = &*self.page;
        let body = format!(
            r#"{{"token":{},"expiresAt":{},"rows":{rows_json},"total":{total},"pages":{pages},"page":{},"requestId":{}}}"#,
            text(&self.token),
            text(&self.expires_at),
            self.page_number,
            text(request_id),
        );
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
    }
}

/// Mints a session for `req` and renders the first page of integrations (`page`/`limit` from `params`).
async fn mint(app: &AppState, grant: &crate::store::KeyGrant, params: &std::collections::HashMap<String, String>, mut req: TokenRequest) -> Result<Minted, ApiError> {
    let paging = Paging::from_params(params)?;
    if let Some(allowed) = req.allowed_integrations.as_mut() {
        // A set: each platform once (the token carries the list, so repeats would only make it longer).
        let mut seen = std::collections::HashSet::new();
        allowed.retain(|p| seen.insert(p.clone()));
    }
    let identity = req.identity.trim();
    if identity.is_empty() || identity.len() > MAX_IDENTITY_LEN {
        return Err(ApiError::bad_request(
            "invalid_identity",
            format!("identity must be 1 to {MAX_IDENTITY_LEN} characters"),
        ));
    }
    app.guard.minting(grant, req.identity_type, identity)?;
    if req.name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_LEN) {
        return Err(ApiError::bad_request("invalid_name", format!("name is limited to {MAX_NAME_LEN} characters")));
    }
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    if let Some(allowed) = &req.allowed_integrations {
        if allowed.len() > MAX_ALLOWED_INTEGRATIONS {
            return Err(ApiError::bad_request(
                "invalid_allowed_integrations",
                format!("allowedIntegrations names at most {MAX_ALLOWED_INTEGRATIONS} platforms"),
            ));
        }
        // At most 10 names, each cut at 64 characters (no platform id is longer).
        let unknown: Vec<String> =
            allowed.iter().filter(|p| view.catalog.get(p).is_none()).map(|p| p.chars().take(64).collect()).take(10).collect();
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(
                "unknown_integration",
                format!("allowedIntegrations names unknown platforms: {}", unknown.join(", ")),
            ));
        }
    }

    let now = OffsetDateTime::now_utc();
    let ttl = view.settings.session_ttl_secs.map_or(app.session_ttl, std::time::Duration::from_secs);
    let expires = now + ttl;
    let only = view.only(req.allowed_integrations.as_deref());
    let render = || {
        let query = Query { only: only.as_deref(), ..Default::default() };
        let (rows, total, pages) = page(app, &view.catalog, &grant.project.id, grant.environment, &query, paging);
        Arc::new(RenderedPage { rows_json: serde_json::to_string(&rows).expect("rows serialize"), total, pages })
    };
    // The common answer (page 1, no allow-list of its own) is rendered once per project view.
    let rendered = if req.allowed_integrations.is_none() && paging.page == 1 {
        let key = (grant.environment, paging.limit);
        let cached = view.first_pages.read().expect("not poisoned").get(&key).cloned();
        cached.unwrap_or_else(|| {
            let fresh = render();
            view.first_pages.write().expect("not poisoned").insert(key, fresh.clone());
            fresh
        })
    } else {
        render()
    };
    // Signed, not stored: minting writes nothing (see `crate::session`).
    let token = session::issue(
        &app.connections.vault,
        NewSession {
            project_id: grant.project.id.clone(),
            environment: grant.environment,
            identity: identity.to_owned(),
            identity_type: req.identity_type,
            allowed_integrations: req.allowed_integrations,
            name: req.name,
            created_at: now.unix_timestamp(),
            expires_at: expires.unix_timestamp(),
            link_hash: None,
        },
    );
    Ok(Minted {
        token,
        expires_at: expires.replace_nanosecond(0).unwrap_or(expires).format(&Rfc3339).unwrap_or_default(),
        page: rendered,
        page_number: paging.page,
    })
}
