//! Connecting without an embed (docs/architecture.md, Auth links and hosted sessions): auth links (StackOne's way: a URL sent by email or chat that opens
//! the connect experience as a page) and hosted connection sessions (One Runtime's way: `connect.js` opens the same
//! page in a popup and watches the session's outcome). Both are one-use tokens whose digest is stored; opening one
//! trades it for a widget session bound to the end user, and the first connection saved spends it. StackOne's own
//! paths for links (`/connect_sessions…`) are in [`super::stackone`].

use axum::{extract::State, Json};
use plugboard_shared::{
    HostedSession, HostedSessionRequest, HostedStatus, IdentityType, LinkCreated, LinkRequest, LinkSession, LinkToken, TokenResponse,
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{
    error::ApiError,
    extract::{JsonBody, Paging, SecretAuth},
    integrations::page,
    AppState,
};
use crate::{
    catalog::Query,
    clock::now,
    keys::{self, digest},
    session::NewSession,
    store::{KeyGrant, LinkKind, LinkRow},
};

/// An auth link lasts 7 days unless asked otherwise, 30 days at most (StackOne's limit).
pub const LINK_DEFAULT_SECS: i64 = 7 * 86_400;
pub const LINK_MAX_SECS: i64 = 30 * 86_400;
/// A hosted connection session lasts 30 minutes: it is made the moment the user clicks.
pub const HOSTED_SECS: i64 = 30 * 60;
/// Widget sessions one link may open (each load of its page opens one: reloads, other devices); past it the
/// link answers 410 `link_exhausted`. A link is a capability for one connection, not a source of sessions.
pub const MAX_LINK_SESSIONS: u32 = 20;
const MAX_TEXT: usize = 256;

pub(super) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

fn text(name: &str, value: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None if required => Err(ApiError::bad_request("invalid_identity", format!("{name} is required"))),
        None => Ok(None),
        Some(v) if v.chars().count() > MAX_TEXT => Err(ApiError::bad_request("invalid_field", format!("{name} is limited to {MAX_TEXT} characters"))),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// Whether the project offers `platform` (it exists and is among its visible integrations), with a clear 400.
fn offered(view: &crate::projects::ProjectView, visible: Option<&[String]>, platform: &str) -> Result<(), ApiError> {
    let shown: String = platform.chars().take(64).collect();
    if view.catalog.get(platform).is_none() {
        return Err(ApiError::bad_request("unknown_integration", format!("no integration {shown:?}")));
    }
    if visible.is_some_and(|v| !v.iter().any(|p| p == platform)) {
        return Err(ApiError::bad_request("integration_not_offered", format!("{shown:?} is not among this project's visibleIntegrations")));
    }
    // A link to an app its end user cannot connect (an OAuth app without a client) would be a dead end for them.
    if !view.catalog.is_ready(platform) {
        return Err(ApiError::Conflict {
            code: "integration_not_configured",
            message: format!("{shown:?} is not set up on this server yet: give it an OAuth client (the project's own or PLUGBOARD_OAUTH_*) first"),
        });
    }
    Ok(())
}

/// A fresh link of `kind` for one end user of the key's project, living `lifetime` seconds: its token (shown once,
/// `pbl_…` or `pbh_…`) and its row (the token's digest only).
fn new_link(kind: LinkKind, grant: &KeyGrant, identity: String, identity_type: IdentityType, lifetime: i64) -> (String, LinkRow) {
    let prefix = if kind == LinkKind::Link { "pbl" } else { "pbh" };
    let token = format!("{prefix}_{}", keys::random_token());
    let created = now();
    let link = LinkRow {
        token_hash: digest(&token),
        kind,
        project_id: grant.project.id.clone(),
        environment: grant.environment,
        identity,
        identity_type,
        end_user_name: None,
        end_user_username: None,
        categories: None,
        integration: None,
        reconnect_key: None,
        connection_name: None,
        redirect_url: None,
        created_at: created,
        expires_at: created + lifetime,
        used_at: None,
        connection_key: None,
        revoked_at: None,
    };
    (token, link)
}

/// The page a link opens: the widget, full page, reading its token from the fragment (never sent to a server,
/// so it stays out of logs and `Referer`).
fn link_url(app: &AppState, token: &str) -> String {
    format!("{}/link#token={token}", app.public_url)
}

/// `POST /v1/connect-sessions` (secret key): an auth link for one end user.
#[utoipa::path(post, path = "/v1/connect-sessions", tag = "links", request_body = LinkRequest,
    responses((status = 200, body = LinkCreated), crate::http::openapi::ErrorResponses), security(("secret_key" = [])))]
pub async fn create_link(State(app): State<AppState>, SecretAuth(grant): SecretAuth, JsonBody(req): JsonBody<LinkRequest>) -> Result<Json<LinkCreated>, ApiError> {
    let (token, link) = make_link(&app, &grant, &req).await?;
    Ok(Json(link_created(&app, &token, &link)))
}

/// What `POST /v1/connect-sessions` answers of a new link.
pub(super) fn link_created(app: &AppState, token: &str, link: &LinkRow) -> LinkCreated {
    let url = link_url(app, token);
    let expires = rfc3339(link.expires_at);
    LinkCreated { token: token.to_owned(), auth_link_url: url.clone(), auth_link_url_snake: url, expires_at: expires.clone(), expires_at_snake: expires }
}

/// Checks `req` and stores the auth link it asks for: its token (shown once) and its row. Categories are kept as
/// asked (a StackOne name or a catalog category, see [`super::link_categories::link_categories`]) and resolved when the
/// link is opened.
pub(super) async fn make_link(app: &AppState, grant: &KeyGrant, req: &LinkRequest) -> Result<(String, LinkRow), ApiError> {
    app.guard.backend(grant)?;
    let identity = text("identity (origin_owner_id)", req.identity.as_deref(), true)?.unwrap_or_default();
    let identity_type = req.identity_type.unwrap_or(IdentityType::User);
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    let lifetime = match req.expires_in {
        None => LINK_DEFAULT_SECS,
        Some(n) if (60..=LINK_MAX_SECS).contains(&n) => n,
        Some(_) => return Err(ApiError::bad_request("invalid_expiry", format!("expiresIn must be from 60 to {LINK_MAX_SECS} seconds (30 days)"))),
    };
    let visible = view.only(None);
    if let Some(p) = &req.integration {
        offered(&view, visible.as_deref(), p)?;
    }
    let categories = match &req.categories {
        Some(wanted) if !wanted.is_empty() => Some(super::link_categories::link_categories(&view.catalog.categories(visible.as_deref()), wanted)?),
        _ => None,
    };
    // A reconnect link opens the connection's own integration.
    let mut integration = req.integration.clone();
    if let Some(key) = &req.reconnect {
        let live = app.store.get_connection(key).await?.filter(|c| {
            c.project_id == grant.project.id && c.environment == grant.environment && c.identity == identity && c.identity_type == identity_type && !c.deleted
        });
        let live = live.ok_or_else(|| ApiError::NotFound(format!("no connection {key:?} of this end user to reconnect")))?;
        if integration.as_ref().is_some_and(|p| *p != live.platform) {
            return Err(ApiError::bad_request("invalid_reconnect", "reconnect names a connection of another integration"));
        }
        integration = Some(live.platform);
    }
    let redirect_url = match &req.redirect_url {
        None => None,
        Some(u) => {
            let origin = url::Url::parse(u)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.username().is_empty() && u.password().is_none())
                .map(|u| u.origin().ascii_serialization());
            let allowed = origin.as_ref().is_some_and(|o| view.settings.allowed_origins.iter().any(|a| a == o));
            if !allowed {
                return Err(ApiError::bad_request(
                    "invalid_redirect_url",
                    "redirectUrl must be an http(s) URL on one of the project's allowedOrigins",
                ));
            }
            Some(u.clone())
        }
    };
    let (token, mut link) = new_link(LinkKind::Link, grant, identity, identity_type, lifetime);
    link.end_user_name = text("name", req.name.as_deref(), false)?;
    link.end_user_username = text("username", req.username.as_deref(), false)?;
    link.connection_name = text("label (connectionName)", req.connection_name.as_deref(), false)?;
    link.categories = categories;
    link.integration = integration;
    link.reconnect_key = req.reconnect.clone();
    link.redirect_url = redirect_url;
    app.store.insert_link(&link).await?;
    Ok((token, link))
}

/// `POST /v1/connect-sessions/revoke` `{token}` (secret key): the link stops working at once.
#[utoipa::path(post, path = "/v1/connect-sessions/revoke", tag = "links", request_body = LinkToken,
    responses((status = 204, description = "revoked"), crate::http::openapi::ErrorResponses), security(("secret_key" = [])))]
pub async fn revoke_link(State(app): State<AppState>, SecretAuth(grant): SecretAuth, JsonBody(req): JsonBody<LinkToken>) -> Result<axum::http::StatusCode, ApiError> {
    if app.store.revoke_link(&digest(&req.token), &grant.project.id, now()).await? {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no unused link with this token in this project".into()))
    }
}

/// `POST /v1/hosted-connection-sessions` (secret key): One Runtime's hosted session for one integration.
#[utoipa::path(post, path = "/v1/hosted-connection-sessions", tag = "links", request_body = HostedSessionRequest,
    responses((status = 200, body = HostedSession), crate::http::openapi::ErrorResponses), security(("secret_key" = [])))]
pub async fn create_hosted(State(app): State<AppState>, SecretAuth(grant): SecretAuth, JsonBody(req): JsonBody<HostedSessionRequest>) -> Result<Json<HostedSession>, ApiError> {
    app.guard.backend(&grant)?;
    let identity = text("end_user_id", Some(&req.end_user_id), true)?.unwrap_or_default();
    let platform = text("integration_slug", Some(&req.integration_slug), true)?.unwrap_or_default();
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    offered(&view, view.only(None).as_deref(), &platform)?;
    let platform = platform.as_str();
    let (token, mut link) = new_link(LinkKind::Hosted, &grant, identity, IdentityType::User, HOSTED_SECS);
    link.end_user_name = text("end_user_name", req.end_user_name.as_deref(), false)?;
    link.end_user_username = text("end_user_email", req.end_user_email.as_deref(), false)?;
    link.integration = Some(platform.to_owned());
    link.connection_name = text("suggested_connection_name", req.suggested_connection_name.as_deref(), false)?;
    app.store.insert_link(&link).await?;
    Ok(Json(HostedSession { url: link_url(&app, &token), session_token: token, expires_at: rfc3339(link.expires_at) }))
}

/// The link a token names, if it can still be used; else the error the page shows.
async fn usable(app: &AppState, token: &str) -> Result<LinkRow, ApiError> {
    Ok(crate::connect::links::usable(app.store.find_link(&digest(token)).await?, now())?)
}

/// `POST /v1/links/session` `{token}`: opens an auth link or hosted session — a widget session for its end user,
/// limited as the link says, and the first page of integrations, with who asks (the project's `companyName`, else
/// its name; its `logoUrl` and `theme`) and the end user's name as the link's maker gave it. The link is spent only when a connection is saved;
/// it opens at most [`MAX_LINK_SESSIONS`] sessions (then 410 `link_exhausted`). Counts as a widget call of its end
/// user (429 `rate_limited` past their budget or the project's).
#[utoipa::path(post, path = "/v1/links/session", tag = "links", request_body = LinkToken,
    responses((status = 200, body = LinkSession), crate::http::openapi::ErrorResponses))]
pub async fn open_link(State(app): State<AppState>, JsonBody(req): JsonBody<LinkToken>) -> Result<Json<LinkSession>, ApiError> {
    let link = usable(&app, &req.token).await?;
    let view = app.projects.view(&link.project_id, link.environment).await?;
    let allowed: Option<Vec<String>> = match (&link.integration, &link.categories) {
        (Some(p), _) => Some(vec![p.clone()]),
        (None, Some(categories)) => Some(
            view.catalog.all().iter().filter(|e| categories.iter().any(|c| super::link_categories::covers(c, &e.category))).map(|e| e.platform.clone()).collect(),
        ),
        (None, None) => None,
    };
    app.guard.end_user(&link.project_id, link.environment, link.identity_type, &link.identity)?;
    if !app.store.count_link_session(&link.token_hash, MAX_LINK_SESSIONS).await? {
        return Err(ApiError::Gone {
            code: "link_exhausted",
            message: format!("This link was opened too many times ({MAX_LINK_SESSIONS}). Ask for a new one."),
        });
    }
    let created = now();
    let token = crate::session::issue(
        &app.connections.vault,
        NewSession {
            project_id: link.project_id.clone(),
            environment: link.environment,
            identity: link.identity.clone(),
            identity_type: link.identity_type,
            allowed_integrations: allowed.clone(),
            name: link.connection_name.clone(),
            created_at: created,
            // As long as the link: whoever holds the link could open a new session anyway, and a page left open
            // for an hour must still work.
            expires_at: link.expires_at,
            link_hash: Some(link.token_hash.clone()),
        },
    );
    let brand = app.projects.brand(&link.project_id).await?;
    let only = view.only(allowed.as_deref());
    let query = Query { only: only.as_deref(), ..Default::default() };
    let paging = Paging { page: 1, limit: 20 };
    let (rows, total, pages) = page(&app, &view.catalog, &link.project_id, link.environment, &query, paging);
    Ok(Json(LinkSession {
        session: TokenResponse { token, expires_at: rfc3339(link.expires_at), rows, total, pages, page: 1, request_id: String::new() },
        integration_name: link.integration.as_deref().and_then(|p| view.catalog.get(p)).map(|e| e.name.clone()),
        reconnect: link.reconnect_key.clone(),
        end_user_name: link.end_user_name.clone(),
        kind: link.kind.as_str().into(),
        redirect_url: link.redirect_url.clone(),
        company_name: Some(brand.company),
        image_url: brand.logo_url.map(String::from),
        app_theme: brand.theme,
    }))
}

/// `POST /v1/hosted-connection-sessions/status` `{session_token}`: what became of a hosted session (what
/// `connect.js` asks while its popup is open, and once it closes).
#[utoipa::path(post, path = "/v1/hosted-connection-sessions/status", tag = "links", request_body = LinkToken,
    responses((status = 200, body = HostedStatus), crate::http::openapi::ErrorResponses))]
pub async fn hosted_status(State(app): State<AppState>, JsonBody(req): JsonBody<LinkToken>) -> Result<([(axum::http::HeaderName, &'static str); 1], Json<HostedStatus>), ApiError> {
    // Asked by `connect.js` from the host's page: any origin may ask, the token is what authorizes.
    let cors = [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    status_of(&app, &req.token).await.map(|s| (cors, Json(s)))
}

async fn status_of(app: &AppState, token: &str) -> Result<HostedStatus, ApiError> {
    let req = LinkToken { token: token.to_owned() };
    let link = app.store.find_link(&digest(&req.token)).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    if let Some(key) = &link.connection_key {
        let row = app.store.get_connection(key).await?;
        return Ok(HostedStatus { status: "connected".into(), connection_id: Some(key.clone()), connection: row.as_ref().map(|r| r.record()) });
    }
    let status = if link.revoked_at.is_some() || link.expires_at <= now() { "expired" } else { "pending" };
    Ok(HostedStatus { status: status.into(), connection_id: None, connection: None })
}
