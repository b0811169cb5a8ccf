//! `POST /v1/widget/events`: the widget reports each step of connecting (opened, app chosen, submitted, OAuth
//! window opened, success, error with its code, closed unfinished) for the operators' connect funnel
//! (`GET /operator/v1/funnel`). Steps are counted, not kept one by one: one counter per project, environment,
//! integration, day (UTC), step and error code, bumped by an upsert.

use std::sync::{atomic::AtomicU32, Arc};

use axum::{extract::State, http::StatusCode};
use plugboard_shared::{FunnelStep, WidgetEvent};

use super::{
    error::ApiError,
    extract::{JsonBody, SessionAuth},
    AppState,
};

/// Most steps one widget session may report (per node): a page cannot flood the counts.
pub const MAX_EVENTS_PER_SESSION: u32 = 200;
/// Longest error code accepted.
const MAX_CODE: usize = 64;

/// The per-session counters: as many sessions as a busy node sees in a session's lifetime (at most a day).
pub fn cache() -> Arc<moka::sync::Cache<String, Arc<AtomicU32>>> {
    Arc::new(moka::sync::Cache::builder().max_capacity(100_000).time_to_live(std::time::Duration::from_secs(86_400)).build())
}

/// `POST /v1/widget/events` — auth: session token. Counts one step of connecting: `{kind, platform?, code?}`,
/// `kind` one of `opened`, `app_chosen`, `submitted`, `oauth_opened`, `success`, `error`, `closed`; `platform`
/// an integration of the project's catalog; `code` (letters, digits, `_`, `.`, `-`, at most 64) only with `error`.
/// 204 when counted; 400 `invalid_json` / `invalid_event` for anything else; 429 `too_many` past 200 steps in one
/// session.
#[utoipa::path(post, path = "/v1/widget/events", tag = "widget", request_body = plugboard_shared::WidgetEvent,
    responses((status = 204, description = "counted"), crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn report_widget_event(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
    JsonBody(event): JsonBody<WidgetEvent>,
) -> Result<StatusCode, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_event", message);
    let platform = event.platform.as_deref().map(str::trim).unwrap_or_default();
    if !platform.is_empty() && app.projects.view(&session.project_id, session.environment).await?.catalog.get(platform).is_none() {
        return Err(invalid(format!("no integration {platform:?} in this project")));
    }
    let code = match (event.kind, event.code.as_deref().map(str::trim)) {
        (FunnelStep::Error, Some(code)) if !code.is_empty() => {
            if code.len() > MAX_CODE || !code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
                return Err(invalid(format!("code must be at most {MAX_CODE} letters, digits, '_', '.' or '-'")));
            }
            code
        }
        (FunnelStep::Error, _) => "unknown",
        (_, Some(code)) if !code.is_empty() => return Err(invalid("code goes with kind \"error\" only".into())),
        _ => "",
    };
    let counter = app.widget_events.get_with(session.id.clone(), Default::default);
    if counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_EVENTS_PER_SESSION {
        return Err(ApiError::Capped(format!("this session has reported {MAX_EVENTS_PER_SESSION} steps, the most it may")));
    }
    let hour = crate::clock::now().div_euclid(3600);
    app.store.count_funnel_step(&session.project_id, session.environment, platform, hour, event.kind.as_str(), code).await?;
    Ok(StatusCode::NO_CONTENT)
}
