//! What support reads (docs/logs.md): the passthrough call log and the connect funnel. Both need
//! [`Action::ReadLogs`] (every role).

use std::collections::{BTreeMap, HashMap};

use axum::{extract::State, Json};
use plugboard_shared::FunnelStep;
use serde::Serialize;
use utoipa::ToSchema;

use super::OperatorAuth;
use crate::{
    http::{
        error::ApiError,
        extract::{Paging, Params},
        AppState,
    },
    keys::Environment,
    operators::Action,
    store::{CallFilter, CallRow, FunnelFilter},
};

/// RFC 3339 (UTC, milliseconds) of unix milliseconds.
pub(super) fn rfc3339_ms(ms: i64) -> String {
    use time::{format_description::well_known::Rfc3339, OffsetDateTime};
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// A query parameter, trimmed, `None` when absent or empty.
pub(super) fn text(q: &HashMap<String, String>, name: &str) -> Option<String> {
    q.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `environment`: `test` or `live`, else 400.
pub(super) fn environment(q: &HashMap<String, String>) -> Result<Option<Environment>, ApiError> {
    text(q, "environment")
        .map(|v| Environment::parse(&v).ok_or_else(|| ApiError::bad_request("invalid_query", format!("environment must be test or live, not {v:?}"))))
        .transpose()
}

/// A time parameter in unix seconds, else 400.
fn unix(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    text(q, name)
        .map(|v| v.parse::<i64>().ok().filter(|n| (0..=253_402_300_799).contains(n)).ok_or_else(|| ApiError::bad_request("invalid_query", format!("{name} must be unix seconds, not {v:?}"))))
        .transpose()
}

/// `status`: one code (`404`) or a class (`5xx`), else 400.
fn status(q: &HashMap<String, String>) -> Result<Option<(u16, u16)>, ApiError> {
    let Some(v) = text(q, "status") else { return Ok(None) };
    let bad = || ApiError::bad_request("invalid_query", format!("status must be an HTTP status (404) or a class (5xx), not {v:?}"));
    let lower = v.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        let class: u16 = class.parse().ok().filter(|c| (1..=5).contains(c)).ok_or_else(bad)?;
        return Ok(Some((class * 100, class * 100 + 99)));
    }
    let code: u16 = v.parse().ok().filter(|c| (100..=599).contains(c)).ok_or_else(bad)?;
    Ok(Some((code, code)))
}

/// One passthrough call: metadata only (never a body, a header or a query value).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallEntry {
    pub id: i64,
    /// RFC 3339, when the call arrived.
    pub at: String,
    pub project: String,
    pub environment: String,
    /// The connection's key, as the caller sent it.
    pub connection: String,
    pub integration: String,
    pub method: String,
    /// The provider path with ids masked as `:id`, and only the query's parameter names (`/users/:id?fields`).
    pub path: String,
    /// The status the caller got (the provider's, or Plugboard's own refusal).
    pub status: u16,
    /// Milliseconds until the answer's head was ready.
    pub latency_ms: i64,
    /// The request body's size in bytes (`Content-Length`); absent when it streamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<i64>,
    /// The answer body's size in bytes; absent when it streamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<i64>,
}

impl From<CallRow> for CallEntry {
    fn from(r: CallRow) -> Self {
        let c = r.call;
        Self {
            id: r.id,
            at: rfc3339_ms(c.at),
            project: c.project_id,
            environment: c.environment.as_str().into(),
            connection: c.connection_key,
            integration: c.platform,
            method: c.method,
            path: c.path,
            status: c.status,
            latency_ms: c.latency_ms,
            request_bytes: c.request_bytes,
            response_bytes: c.response_bytes,
        }
    }
}

/// A page of the call log, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallPage {
    pub rows: Vec<CallEntry>,
    pub page: u64,
    pub limit: u64,
    /// Whether there may be a next page.
    pub more: bool,
}

/// `GET /operator/v1/logs/calls` (every role): passthrough calls, newest first, filtered by `project`,
/// `environment` (`test`/`live`), `connection` (key), `integration`, `status` (`404` or a class, `5xx`), `since` and
/// `until` (unix seconds, inclusive); `page` (from 1) and `limit` (1 to 100, default 20). Kept
/// `PLUGBOARD_LOG_RETENTION_DAYS`; a call made when the log was overloaded is missing (counted in
/// `plugboard_passthrough_log_dropped_total`). 400 `invalid_query` / `invalid_pagination` for bad parameters.
#[utoipa::path(get, path = "/operator/v1/logs/calls", tag = "operator",
    params(("project" = Option<String>, Query), ("environment" = Option<String>, Query), ("connection" = Option<String>, Query),
           ("integration" = Option<String>, Query), ("status" = Option<String>, Query), ("since" = Option<i64>, Query),
           ("until" = Option<i64>, Query), ("page" = Option<u64>, Query), ("limit" = Option<u64>, Query)),
    responses((status = 200, body = CallPage), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn list_calls(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<CallPage>, ApiError> {
    auth.may(Action::ReadLogs)?;
    let paging = Paging::from_params(&q)?;
    let filter = CallFilter {
        project_id: text(&q, "project"),
        environment: environment(&q)?,
        connection_key: text(&q, "connection"),
        platform: text(&q, "integration"),
        status: status(&q)?,
        since_ms: unix(&q, "since")?.map(|s| s * 1000),
        until_ms: unix(&q, "until")?.map(|s| s * 1000 + 999),
        offset: (paging.page - 1) * paging.limit,
        limit: paging.limit,
    };
    let rows = app.store.list_calls(&filter).await?;
    let more = rows.len() as u64 == paging.limit;
    Ok(Json(CallPage { rows: rows.into_iter().map(CallEntry::from).collect(), page: paging.page, limit: paging.limit, more }))
}

/// One integration's funnel on one day: how many times each step was reported.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunnelDay {
    /// The integration; absent for steps reported before one was chosen (the list opened, closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    pub opened: i64,
    pub app_chosen: i64,
    pub submitted: i64,
    pub oauth_opened: i64,
    pub success: i64,
    pub error: i64,
    pub closed: i64,
    /// The errors by their code.
    pub error_codes: BTreeMap<String, i64>,
}

/// The funnel, by day (oldest first) and integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    pub rows: Vec<FunnelDay>,
}

/// `GET /operator/v1/funnel` (every role): the connect funnel — per integration per day (UTC), how many times the
/// widget reported each step — filtered by `project`, `environment`, `integration`, and `since` / `until` (unix
/// seconds: the days they fall on, inclusive). Counts of projects and environments left open are summed. 400
/// `invalid_query` for bad parameters.
#[utoipa::path(get, path = "/operator/v1/funnel", tag = "operator",
    params(("project" = Option<String>, Query), ("environment" = Option<String>, Query), ("integration" = Option<String>, Query),
           ("since" = Option<i64>, Query), ("until" = Option<i64>, Query)),
    responses((status = 200, body = Funnel), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn funnel(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<Funnel>, ApiError> {
    auth.may(Action::ReadLogs)?;
    let filter = FunnelFilter {
        project_id: text(&q, "project"),
        environment: environment(&q)?,
        platform: text(&q, "integration"),
        since_day: unix(&q, "since")?.map(|s| s.div_euclid(86_400)),
        until_day: unix(&q, "until")?.map(|s| s.div_euclid(86_400)),
    };
    let counts = app.store.funnel(&filter).await?;
    // (day, integration) → the day's row; the store answers ordered by day then integration.
    let mut rows: BTreeMap<(i64, String), FunnelDay> = BTreeMap::new();
    for c in counts {
        let row = rows.entry((c.day, c.platform.clone())).or_insert_with(|| FunnelDay {
            integration: (!c.platform.is_empty()).then(|| c.platform.clone()),
            day: day_string(c.day),
            ..Default::default()
        });
        let Some(step) = FunnelStep::ALL.into_iter().find(|s| s.as_str() == c.kind) else { continue };
        let slot = match step {
            FunnelStep::Opened => &mut row.opened,
            FunnelStep::AppChosen => &mut row.app_chosen,
            FunnelStep::Submitted => &mut row.submitted,
            FunnelStep::OauthOpened => &mut row.oauth_opened,
            FunnelStep::Success => &mut row.success,
            FunnelStep::Error => {
                *row.error_codes.entry(c.code.clone()).or_default() += c.count;
                &mut row.error
            }
            FunnelStep::Closed => &mut row.closed,
        };
        *slot += c.count;
    }
    Ok(Json(Funnel { rows: rows.into_values().collect() }))
}

/// `YYYY-MM-DD` of a unix day.
fn day_string(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400).map(|t| t.date().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_take_a_code_or_a_class() {
        let q = |v: &str| HashMap::from([("status".to_owned(), v.to_owned())]);
        assert_eq!(status(&q("404")).unwrap(), Some((404, 404)));
        assert_eq!(status(&q("5xx")).unwrap(), Some((500, 599)));
        assert_eq!(status(&q("")).unwrap(), None);
        for bad in ["6xx", "99", "abc", "4x"] {
            assert!(status(&q(bad)).is_err(), "{bad}");
        }
        assert_eq!(day_string(20_429), "2025-12-07");
    }
}
