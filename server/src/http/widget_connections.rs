//! `GET /v1/widget/connections`: the connections the session's end user already has, so the widget can mark their
//! apps connected and offer a reconnect instead of a duplicate.

use axum::{extract::State, Json};
use plugboard_shared::WidgetConnection;

use super::{error::ApiError, extract::SessionAuth, AppState};
use crate::store::{ConnectionFilter, ConnectionRow};

/// Most connections one answer lists (the newest): more than a widget shows.
pub const MAX_WIDGET_CONNECTIONS: u64 = 200;

/// `GET /v1/widget/connections` — auth: session token (an embedded widget's, or an auth link's). The session's end
/// user's live connections in its project and environment, newest first, at most [`MAX_WIDGET_CONNECTIONS`]:
/// key, platform, name, state, the account it signs in as (when the provider said), and when it was made (unix ms).
/// Never a secret or a configuration value. Every connection of the end user, whichever apps the session may list.
#[utoipa::path(get, path = "/v1/widget/connections", tag = "widget",
    responses((status = 200, description = "the end user's live connections, newest first (at most 200)", body = Vec<plugboard_shared::WidgetConnection>),
              crate::http::openapi::ErrorResponses),
    security(("session" = [])))]
pub async fn list_widget_connections(
    State(app): State<AppState>,
    SessionAuth(session): SessionAuth,
) -> Result<Json<Vec<WidgetConnection>>, ApiError> {
    let filter = ConnectionFilter {
        project_id: session.project_id.clone(),
        environment: Some(session.environment),
        identity: Some(session.identity.clone()),
        identity_type: Some(session.identity_type),
        platform: None,
    };
    let (rows, _total) = app.store.list_connections(&filter, 0, MAX_WIDGET_CONNECTIONS).await?;
    Ok(Json(rows.iter().map(widget_connection).collect()))
}

fn widget_connection(row: &ConnectionRow) -> WidgetConnection {
    WidgetConnection {
        key: row.key.clone(),
        platform: row.platform.clone(),
        name: row.name.clone(),
        state: row.state,
        account: row.account.clone(),
        created_at: row.created_at,
    }
}
