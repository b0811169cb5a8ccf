//! Operator accounts over HTTP: sign-in and out, setup links, who am I, operators (admins), API tokens, and the
//! audit trail with its JSON-lines export.

use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{cookie_name, OperatorAuth};
use crate::{
    http::{
        error::ApiError,
        extract::{JsonBody, Params, RemoteIp},
        links::rfc3339,
        AppState,
    },
    operators::{
        accounts::{csrf_token, SignedIn, SESSION_TTL},
        Action, Credential, OperatorError, Role, TokenScope,
    },
    store::{AuditEntry, AuditFilter, OperatorRow, OperatorTokenRow},
};

/// An operator as the API shows them (never a password hash).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// Whether the operator signs in with single sign-on.
    pub sso: bool,
    /// Whether the operator has chosen a password (a new one has not until they use their setup link).
    pub has_password: bool,
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&OperatorRow> for Operator {
    fn from(o: &OperatorRow) -> Self {
        Self {
            id: o.id.clone(),
            email: o.email.clone(),
            role: o.role,
            sso: o.sso_subject.is_some(),
            has_password: o.password_hash.is_some(),
            disabled: o.disabled_at.is_some(),
            created_at: rfc3339(o.created_at),
        }
    }
}

/// The signed-in operator and the CSRF token the console sends back in `X-CSRF-Token` on every write.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub operator: Operator,
    /// Only for a browser session (an API token needs none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// How this request authenticated: `session` or `token`.
    pub via: String,
    /// A token's scope: `read` or `full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<TokenScope>,
    /// When the session ends (RFC 3339), for a browser session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Setup {
    /// The `pbsu_…` token of the setup link.
    pub token: String,
    /// At least 12 characters.
    pub password: String,
}

pub(super) fn https(app: &AppState) -> bool {
    app.public_url.starts_with("https://")
}

/// Sets the session cookie of `s` on `res`: HttpOnly, SameSite=Strict, Secure where the public URL is https, for
/// [`SESSION_TTL`]; and `Cache-Control: no-store`. Every sign-in (password, setup link, single sign-on) ends here.
pub(super) fn set_session_cookie(app: &AppState, s: &SignedIn, res: &mut Response) {
    let cookie = cookie::Cookie::build((cookie_name(https(app)), s.session_token.as_str()))
        .http_only(true)
        .secure(https(app))
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .build();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The answer to a sign-in: the session cookie ([`set_session_cookie`]) and [`Me`].
fn signed_in(app: &AppState, s: SignedIn) -> Response {
    let mut res = Json(Me { operator: (&s.operator).into(), csrf_token: Some(s.csrf_token.clone()), via: "session".into(), scope: None, expires_at: Some(rfc3339(s.expires_at)) })
        .into_response();
    set_session_cookie(app, &s, &mut res);
    res
}

/// `POST /operator/v1/sign-in`: email and password; sets the session cookie. 401 `unauthorized` for a wrong email
/// or password (the same answer for both), 429 `locked_out` after 5 failures in a row (15 minutes), 429
/// `rate_limited` past the per-IP budget.
#[utoipa::path(post, path = "/operator/v1/sign-in", tag = "operator", request_body = SignIn,
    responses((status = 200, body = Me, description = "signed in; `Set-Cookie` holds the session"), crate::http::openapi::ErrorResponses))]
pub async fn sign_in(State(app): State<AppState>, RemoteIp(ip): RemoteIp, JsonBody(req): JsonBody<SignIn>) -> Result<Response, ApiError> {
    // Every attempt counts against the client's sign-in budget (10 a minute by default) before any password is hashed.
    app.guard.sign_in(ip)?;
    let s = app.operators.sign_in(&req.email, &req.password, Some(ip)).await?;
    Ok(signed_in(&app, s))
}

/// `POST /operator/v1/setup`: a new operator's setup link token and their password; signs them in. 401 when the
/// link was used or expired, 400 for a password under 12 characters.
#[utoipa::path(post, path = "/operator/v1/setup", tag = "operator", request_body = Setup,
    responses((status = 200, body = Me, description = "password set and signed in"), crate::http::openapi::ErrorResponses))]
pub async fn setup(State(app): State<AppState>, RemoteIp(ip): RemoteIp, JsonBody(req): JsonBody<Setup>) -> Result<Response, ApiError> {
    app.guard.sign_in(ip)?;
    let s = app.operators.finish_setup(&req.token, &req.password, Some(ip)).await?;
    Ok(signed_in(&app, s))
}

/// `POST /operator/v1/sign-out`: ends this browser session and clears its cookie.
#[utoipa::path(post, path = "/operator/v1/sign-out", tag = "operator",
    responses((status = 204, description = "signed out"), crate::http::openapi::ErrorResponses), security(("operator_session" = [])))]
pub async fn sign_out(State(app): State<AppState>, auth: OperatorAuth) -> Result<Response, ApiError> {
    app.operators.sign_out(&auth.principal, Some(auth.client_ip)).await?;
    let cookie = cookie::Cookie::build((cookie_name(https(&app)), "")).http_only(true).secure(https(&app)).same_site(cookie::SameSite::Strict).path("/").removal().build();
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// `GET /operator/v1/me`: who is signed in, with the session's CSRF token.
#[utoipa::path(get, path = "/operator/v1/me", tag = "operator",
    responses((status = 200, body = Me), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn me(State(app): State<AppState>, auth: OperatorAuth) -> Result<Response, ApiError> {
    let operator = app.store.operator_by_id(&auth.principal.operator_id).await?.ok_or_else(|| ApiError::Unauthorized("no such operator".into()))?;
    let (via, scope) = match &auth.principal.credential {
        Credential::Session { .. } => ("session", None),
        Credential::Token { scope, .. } => ("token", Some(*scope)),
    };
    let me = Me { operator: (&operator).into(), csrf_token: auth.session_token.as_deref().map(csrf_token), via: via.into(), scope, expires_at: None };
    let mut res = Json(me).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewOperator {
    pub email: String,
    pub role: Role,
}

/// A new operator and the link they choose their password with (shown once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorCreated {
    pub operator: Operator,
    /// `{public URL}/console/setup#pbsu_…`: whoever opens it sets the password, so send it to the operator only.
    /// Valid 72 hours, once.
    pub setup_url: String,
}

/// `GET /operator/v1/operators` (admin): every operator.
#[utoipa::path(get, path = "/operator/v1/operators", tag = "operator",
    responses((status = 200, body = Vec<Operator>), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn list_operators(State(app): State<AppState>, auth: OperatorAuth) -> Result<Json<Vec<Operator>>, ApiError> {
    auth.may(Action::ManageOperators)?;
    Ok(Json(app.store.list_operators().await?.iter().map(Operator::from).collect()))
}

/// The console page a setup link opens (the token in the fragment: never sent to any server in a request line or
/// a Referer).
pub fn setup_url(app: &AppState, token: &str) -> String {
    format!("{}/console/setup#{token}", app.public_url)
}

/// `POST /operator/v1/operators` (admin): invites an operator; answers their one-time setup link. 409 when the
/// email is taken.
#[utoipa::path(post, path = "/operator/v1/operators", tag = "operator", request_body = NewOperator,
    responses((status = 201, body = OperatorCreated), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn create_operator(State(app): State<AppState>, auth: OperatorAuth, JsonBody(req): JsonBody<NewOperator>) -> Result<(StatusCode, Json<OperatorCreated>), ApiError> {
    auth.may(Action::ManageOperators)?;
    let row = app.operators.create(&req.email, req.role, None, &auth.actor()).await?;
    let token = app.operators.setup_link(&row.id).await?;
    Ok((StatusCode::CREATED, Json(OperatorCreated { operator: (&row).into(), setup_url: setup_url(&app, &token) })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorChange {
    pub role: Option<Role>,
    /// `true` signs them out everywhere and refuses their sign-ins and tokens; `false` lets them in again.
    pub disabled: Option<bool>,
}

/// `PATCH /operator/v1/operators/{id}` (admin): a new role, or disabled. 409 `last_admin` when it would leave no
/// admin who can sign in.
#[utoipa::path(patch, path = "/operator/v1/operators/{id}", tag = "operator", request_body = OperatorChange, params(("id" = String, Path)),
    responses((status = 200, body = Operator), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn update_operator(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>, JsonBody(req): JsonBody<OperatorChange>) -> Result<Json<Operator>, ApiError> {
    auth.may(Action::ManageOperators)?;
    let current = app.store.operator_by_id(&id).await?.ok_or_else(|| ApiError::NotFound("no such operator".into()))?;
    let demotes = current.role == Role::Admin && current.disabled_at.is_none() && (req.role.is_some_and(|r| r != Role::Admin) || req.disabled == Some(true));
    if demotes && app.store.count_admins().await? <= 1 {
        return Err(ApiError::Conflict { code: "last_admin", message: "this is the last admin; make another operator admin first".into() });
    }
    app.store.update_operator(&id, req.role, None, req.disabled).await?;
    crate::operators::audit::record(
        &app.store,
        &auth.actor(),
        crate::operators::audit::Change {
            action: "operator.update",
            target: Some(&current.email),
            details: serde_json::json!({"role": req.role.map(Role::as_str), "disabled": req.disabled}),
            ..Default::default()
        },
    )
    .await?;
    let row = app.store.operator_by_id(&id).await?.ok_or_else(|| ApiError::NotFound("no such operator".into()))?;
    Ok(Json((&row).into()))
}

/// An API token as listed (never the token itself).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: String,
    pub operator_id: String,
    pub name: String,
    pub scope: TokenScope,
    /// The token's last four characters.
    pub hint: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl From<&OperatorTokenRow> for ApiToken {
    fn from(t: &OperatorTokenRow) -> Self {
        Self {
            id: t.id.clone(),
            operator_id: t.operator_id.clone(),
            name: t.name.clone(),
            scope: t.scope,
            hint: t.hint.clone(),
            created_at: rfc3339(t.created_at),
            last_used_at: t.last_used_at.map(rfc3339),
            revoked: t.revoked_at.is_some(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewToken {
    /// What it is for (1–100 characters), e.g. "nightly export".
    pub name: String,
    pub scope: TokenScope,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    /// `pbo_…`: shown this once; send it as `Authorization: Bearer`.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiToken,
}

/// `GET /operator/v1/tokens`: your API tokens; an admin sees everyone's with `?all=true`.
#[utoipa::path(get, path = "/operator/v1/tokens", tag = "operator", params(("all" = Option<bool>, Query, description = "admins: every operator's tokens")),
    responses((status = 200, body = Vec<ApiToken>), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn list_tokens(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<Vec<ApiToken>>, ApiError> {
    let all = q.get("all").is_some_and(|v| v == "true");
    let whose = if all {
        auth.may(Action::ManageOperators)?;
        None
    } else {
        Some(auth.principal.operator_id.as_str())
    };
    Ok(Json(app.store.list_operator_tokens(whose).await?.iter().map(ApiToken::from).collect()))
}

/// `POST /operator/v1/tokens`: a new API token for yourself, carrying your role (`read`: only what reads). A
/// token cannot make tokens: sign in to make one.
#[utoipa::path(post, path = "/operator/v1/tokens", tag = "operator", request_body = NewToken,
    responses((status = 201, body = TokenCreated), crate::http::openapi::ErrorResponses), security(("operator_session" = [])))]
pub async fn create_token(State(app): State<AppState>, auth: OperatorAuth, JsonBody(req): JsonBody<NewToken>) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    if matches!(auth.principal.credential, Credential::Token { .. }) {
        return Err(OperatorError::Forbidden("an API token cannot make API tokens; sign in to make one".into()).into());
    }
    let (row, token) = app.operators.create_token(&auth.principal.operator_id, &req.name, req.scope, &auth.actor()).await?;
    Ok((StatusCode::CREATED, Json(TokenCreated { token, info: (&row).into() })))
}

/// `DELETE /operator/v1/tokens/{id}`: revokes one of your tokens (an admin: anyone's). 404 when there is no such
/// active token.
#[utoipa::path(delete, path = "/operator/v1/tokens/{id}", tag = "operator", params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn revoke_token(State(app): State<AppState>, auth: OperatorAuth, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let owner = if auth.may(Action::ManageOperators).is_ok() { None } else { Some(auth.principal.operator_id.as_str()) };
    // Revoking is a write: a read-only token may revoke only itself (nothing else), which `may` already refused.
    if let Credential::Token { scope: TokenScope::Read, id: own } = &auth.principal.credential {
        if own != &id {
            return Err(OperatorError::Forbidden("this API token is read-only".into()).into());
        }
    }
    app.operators.revoke_token(&id, owner, &auth.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the audit trail, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub rows: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

fn audit_filter(q: &std::collections::HashMap<String, String>, limit: u64) -> Result<AuditFilter, ApiError> {
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| ApiError::bad_request("invalid_query", format!("{name} must be a whole number (unix seconds or an entry id)"))),
        }
    };
    let text = |name: &str| q.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Ok(AuditFilter { after_id: int("after")?, project_id: text("project"), action: text("action"), actor: text("actor"), since: int("since")?, until: int("until")?, limit })
}

/// `GET /operator/v1/audit` (admin, developer): the audit trail, oldest first, filtered by `project`, `action`,
/// `actor`, `since` and `until` (unix seconds), paged by `after` and `limit` (≤ 100).
#[utoipa::path(get, path = "/operator/v1/audit", tag = "operator",
    params(("project" = Option<String>, Query), ("action" = Option<String>, Query), ("actor" = Option<String>, Query), ("since" = Option<i64>, Query), ("until" = Option<i64>, Query), ("after" = Option<i64>, Query), ("limit" = Option<u64>, Query)),
    responses((status = 200, body = AuditPage), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn list_audit(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Json<AuditPage>, ApiError> {
    auth.may(Action::ReadAudit)?;
    let limit = crate::http::extract::Paging::from_params(&q)?.limit;
    let rows = app.store.list_audit(&audit_filter(&q, limit)?).await?;
    let next = (rows.len() as u64 == limit).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(Json(AuditPage { rows, next }))
}

/// `GET /operator/v1/audit.jsonl` (admin, developer): the whole matching audit trail as JSON lines (one entry per
/// line, oldest first), with the filters of `GET /operator/v1/audit`.
#[utoipa::path(get, path = "/operator/v1/audit.jsonl", tag = "operator",
    params(("project" = Option<String>, Query), ("action" = Option<String>, Query), ("actor" = Option<String>, Query), ("since" = Option<i64>, Query), ("until" = Option<i64>, Query)),
    responses((status = 200, description = "one AuditEntry per line", content_type = "application/x-ndjson", body = String), crate::http::openapi::ErrorResponses), security(("operator_session" = []), ("operator_token" = [])))]
pub async fn export_audit(State(app): State<AppState>, auth: OperatorAuth, Params(q): Params) -> Result<Response, ApiError> {
    auth.may(Action::ReadAudit)?;
    let mut filter = audit_filter(&q, 1000)?;
    let mut out = String::new();
    loop {
        let rows = app.store.list_audit(&filter).await?;
        for r in &rows {
            out.push_str(&serde_json::to_string(r).map_err(|e| ApiError::Internal(e.to_string()))?);
            out.push('\n');
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == filter.limit => filter.after_id = Some(last.id),
            _ => break,
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CONTENT_DISPOSITION, "attachment; filename=\"plugboard-audit.jsonl\"")], out).into_response())
}
