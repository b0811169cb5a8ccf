//! Integration rows as the widget lists them (docs/contract.md, One Auth and Pica AuthKit: Integration rows), and the widget's paginated list endpoint.

use axum::{extract::State, Json};
use plugboard_shared::{CategoryCount, ConnectorRow, ConnectorsPage, IntegrationRow, IntegrationsPage};
use tower_http::request_id::RequestId;

use super::{
    error::ApiError,
    extract::{Paging, Params, SecretAuth, SessionAuth},
    AppState,
};
use crate::{
    catalog::{stable_id, Catalog, Integration, Query},
    keys::Environment,
};

pub fn row(app: &AppState, project_id: &str, env: Environment, e: &Integration) -> IntegrationRow {
    IntegrationRow {
        id: stable_id(&[project_id, &e.platform]),
        connection_def_id: stable_id(&[&e.platform]),
        platform: e.platform.clone(),
        kind: "api".into(),
        title: e.name.clone(),
        image: super::assets::logo_url(&app.public_url, &e.platform),
        category: e.category.clone(),
        auth_method: e.auth_method,
        environment: env.as_str().into(),
        tags: Vec::new(),
        active: true,
    }
}

/// One page of the integrations a project shows, narrowed by `query`.
pub fn page(
    app: &AppState,
    catalog: &Catalog,
    project_id: &str,
    env: Environment,
    query: &Query<'_>,
    paging: Paging,
) -> (Vec<IntegrationRow>, u64, u64) {
    let hits = catalog.find(query);
    let (entries, total, pages) = paging.slice(&hits);
    (entries.into_iter().map(|e| row(app, project_id, env, e)).collect(), total, pages)
}

pub fn request_id(id: Option<axum::Extension<RequestId>>) -> String {
    id.and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned)).unwrap_or_default()
}

/// `GET /v1/widget/integrations?page&limit&search&category` — auth: session token.
#[utoipa::path(get, path = "/v1/widget/integrations", tag = "widget",
    params(("page" = Option<String>, Query), ("limit" = Option<String>, Query), ("search" = Option<String>, Query), ("category" = Option<String>, Query)),
    responses((status = 200, body = plugboard_shared::IntegrationsPage), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn list_widget_integrations(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    Params(params): Params,
    rid: Option<axum::Extension<RequestId>>,
) -> Result<Json<IntegrationsPage>, ApiError> {
    let paging = Paging::from_params(&params)?;
    let (search, category) = search_params(&params)?;
    let view = app.projects.view(&session.project_id, session.environment).await?;
    let only = view.only(session.allowed_integrations.as_deref());
    let query = Query { search, category, only: only.as_deref(), ..Default::default() };
    let (rows, total, pages) = page(&app, &view.catalog, &session.project_id, session.environment, &query, paging);
    Ok(Json(IntegrationsPage { rows, total, pages, page: paging.page, request_id: request_id(rid) }))
}

fn search_params(params: &std::collections::HashMap<String, String>) -> Result<(&str, &str), ApiError> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if get("search").len() > 200 || get("category").len() > 200 {
        return Err(ApiError::bad_request("invalid_search", "search and category are limited to 200 characters"));
    }
    Ok((get("search"), get("category")))
}

/// `GET /v1/available-connectors?authkit&limit&page&search&category` — auth: secret key (docs/contract.md, One Auth and Pica AuthKit: The catalog for your own directory). Every
/// integration of the project, each with `ready` (false: an OAuth app without its OAuth client, which end users are
/// not offered); `authkit=true`: only what the widget lists.
#[utoipa::path(get, path = "/v1/available-connectors", tag = "catalog",
    params(("authkit" = Option<String>, Query, description = "`true`: only what the project shows in the widget (visible and ready)"), ("page" = Option<String>, Query),
           ("limit" = Option<String>, Query, description = "1–1000"), ("search" = Option<String>, Query), ("category" = Option<String>, Query)),
    responses((status = 200, body = plugboard_shared::ConnectorsPage), crate::http::openapi::ErrorResponses),
    security(("secret_key" = [])))]
pub async fn list_available_connectors(
    State(app): State<AppState>,
    SecretAuth(grant): SecretAuth,
    Params(params): Params,
    rid: Option<axum::Extension<RequestId>>,
) -> Result<Json<ConnectorsPage>, ApiError> {
    let paging = Paging::with_max(&params, 1000)?;
    let (search, category) = search_params(&params)?;
    let view = app.projects.view(&grant.project.id, grant.environment).await?;
    // `authkit=true`: only what the project shows in the widget (what it can connect, of its visible ones). Else
    // the developer's catalog: everything, each row saying whether it is `ready`.
    let authkit = params.get("authkit").is_some_and(|v| v == "true");
    let only = if authkit { view.only(None) } else { None };
    let hits = view.catalog.find(&Query { search, category, only: only.as_deref(), include_unready: !authkit });
    let (entries, total, pages) = paging.slice(&hits);
    let rows = entries
        .into_iter()
        .map(|e| ConnectorRow {
            platform: e.platform.clone(),
            name: e.name.clone(),
            category: e.category.clone(),
            image: super::assets::image_url(&app.public_url, &e.platform),
            description: e.description.clone(),
            auth_method: e.auth_method,
            ready: view.catalog.is_ready(&e.platform),
        })
        .collect();
    Ok(Json(ConnectorsPage { rows, total, pages, page: paging.page, request_id: request_id(rid) }))
}

/// `GET /v1/widget/categories` — the widget's category chips, sized for this session.
#[utoipa::path(get, path = "/v1/widget/categories", tag = "widget",
    responses((status = 200, body = Vec<plugboard_shared::CategoryCount>), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn list_widget_categories(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
) -> Result<Json<Vec<CategoryCount>>, ApiError> {
    let view = app.projects.view(&session.project_id, session.environment).await?;
    let only = view.only(session.allowed_integrations.as_deref());
    Ok(Json(view.catalog.categories(only.as_deref()).into_iter().map(|(name, count)| CategoryCount { name, count }).collect()))
}
