//! The operator API (`/operator/v1/…`): what the console and operators' automation call. Every route
//! authenticates with [`OperatorAuth`] — a sign-in session cookie (writes also need `X-CSRF-Token`) or an operator
//! API token (`Authorization: Bearer pbo_…`) — and asks the principal for one [`crate::operators::Action`] before
//! it reads or changes anything (docs/operators.md, Roles).

pub mod accounts;
pub mod alerts;
pub mod projects;
pub mod settings;
pub mod sso;
pub mod connections;
pub mod deliveries;
pub mod logs;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts, Method},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{error::ApiError, AppState};
use crate::operators::{accounts::SESSION_PREFIX, audit::Actor, Action, Principal};

/// The session cookie's name: `__Host-` prefixed where the public URL is https (the browser then insists on
/// `Secure`, `Path=/` and no `Domain`: no other site or subdomain can set or shadow it).
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-plugboard_operator"
    } else {
        "plugboard_operator"
    }
}

/// The session token in the request's cookies, if any.
fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| matches!(c.name(), "__Host-plugboard_operator" | "plugboard_operator") && c.value().starts_with(SESSION_PREFIX))
        .map(|c| c.value().to_owned())
}

/// An authenticated operator request: who, through what, from where.
pub struct OperatorAuth {
    pub principal: Principal,
    pub client_ip: std::net::IpAddr,
    /// The session token when the request came with the cookie (to derive its CSRF token).
    pub session_token: Option<String>,
}

impl OperatorAuth {
    /// The principal, when it may do `action`: else 403.
    pub fn may(&self, action: Action) -> Result<&Principal, ApiError> {
        self.principal.may(action)?;
        Ok(&self.principal)
    }

    /// Who acts, for the audit trail.
    pub fn actor(&self) -> Actor {
        Actor::operator(&self.principal, Some(self.client_ip))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OperatorAuth
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let client_ip = app.guard.client_ip.of(&parts.headers, &parts.extensions);
        let bearer = super::extract::bearer(&parts.headers).map(str::to_owned);
        if let Some(token) = bearer {
            // Each try of an unknown token costs the client one request of its per-IP budget.
            let principal = match app.operators.token(&token).await {
                Ok(p) => p,
                Err(e) => {
                    app.guard.key_lookup(client_ip)?;
                    return Err(e.into());
                }
            };
            return Ok(Self { principal, client_ip, session_token: None });
        }
        let Some(session_token) = session_cookie(parts) else {
            return Err(ApiError::Unauthorized("sign in first (POST /operator/v1/sign-in), or send Authorization: Bearer pbo_…".into()));
        };
        let (principal, csrf_hash) = app.operators.session(&session_token).await?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            let matches: bool = subtle::ConstantTimeEq::ct_eq(crate::keys::digest(sent).as_bytes(), csrf_hash.as_bytes()).into();
            if !matches {
                return Err(crate::operators::OperatorError::CsrfFailed.into());
            }
        }
        Ok(Self { principal, client_ip, session_token: Some(session_token) })
    }
}

/// The operator API's routes, each with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accounts::sign_in))
        .routes(routes!(accounts::sign_out))
        .routes(routes!(accounts::setup))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::list_operators, accounts::create_operator))
        .routes(routes!(accounts::update_operator))
        .routes(routes!(accounts::list_tokens, accounts::create_token))
        .routes(routes!(accounts::revoke_token))
        .routes(routes!(accounts::list_audit))
        .routes(routes!(accounts::export_audit))
        .routes(routes!(alerts::get_alerts, alerts::put_alerts, alerts::delete_alerts))
        .routes(routes!(alerts::test_alert))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(projects::get_project))
        .routes(routes!(projects::patch_settings))
        .routes(routes!(settings::put_client, settings::delete_client))
        .routes(routes!(settings::create_key))
        .routes(routes!(settings::revoke_key))
        .routes(routes!(settings::put_webhook, settings::delete_webhook))
        .routes(routes!(settings::rotate_webhook_secret))
        .routes(routes!(sso::info))
        .routes(routes!(sso::start))
        .routes(routes!(sso::callback))
        .routes(routes!(connections::search_connections))
        .routes(routes!(connections::get_connection, connections::delete_connection))
        .routes(routes!(connections::refresh_connection))
        .routes(routes!(connections::reconnect_link))
        .routes(routes!(logs::list_calls))
        .routes(routes!(logs::funnel))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(deliveries::replay_delivery))
        .routes(routes!(deliveries::replay_failed))
}
