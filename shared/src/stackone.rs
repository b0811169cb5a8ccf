//! StackOne's wire shapes for connect sessions and linked accounts, as StackOne's API reference
//! (docs.stackone.com, "Connect Sessions" and "Accounts") and its TypeScript SDK (`@stackone/stackone-client-ts`,
//! models `ConnectSessionTokenAuthLink`, `ConnectSession`, `LinkedAccount`, `StatusReason`) define them: snake_case,
//! times RFC 3339 UTC, absent values `null`.

use serde::{Deserialize, Serialize};

use crate::LinkCreated;

/// StackOne's `ConnectSession`: what `POST /connect_sessions/authenticate` answers (201), and the StackOne half of
/// what `POST /connect_sessions` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectSession {
    /// A number naming the session (StackOne's are numbers): the first 52 bits of the digest of its token, so the
    /// same for every answer about it and below 2^53 (exact in JavaScript).
    pub id: u64,
    /// Always 1: a Plugboard server is one organization; its projects are StackOne's projects.
    pub organization_id: u64,
    pub project_id: String,
    pub origin_owner_id: String,
    /// The name the session was made with; empty when it was made without one (Plugboard's own path).
    pub origin_owner_name: String,
    pub origin_username: Option<String>,
    /// The integration (platform id) the session opens directly, if any.
    pub provider: Option<String>,
    /// The StackOne categories the session was made with (values of other spellings are left out: StackOne's
    /// clients accept only theirs).
    pub categories: Option<Vec<String>>,
    /// `production` for a live key's session, `test` for a test key's.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account it reconnects; once used, the account it connected.
    pub account_id: Option<String>,
    /// The name of the connection it makes.
    pub label: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// Answer of `POST /connect_sessions` (201): StackOne's `ConnectSessionTokenAuthLink` (the session, its `token`
/// and `auth_link_url`) and Plugboard's [`LinkCreated`] fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectSessionTokenAuthLink {
    #[serde(flatten)]
    pub link: LinkCreated,
    #[serde(flatten)]
    pub session: ConnectSession,
}

/// Body of `POST /connect_sessions/authenticate` (StackOne's `ConnectSessionAuthenticate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectSessionAuthenticate {
    pub token: String,
}

/// Why an account is not `active` (StackOne's `StatusReason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusReason {
    /// Plugboard's connection state: `degraded` (refreshing its token failed for now; it is retried) or `failed`
    /// (it must be reconnected).
    pub code: Option<String>,
    pub description: Option<String>,
    /// RFC 3339, UTC: when the connection last changed.
    pub timestamp: String,
}

/// A connection in StackOne's words (`LinkedAccount`): what `GET /accounts`, `GET /accounts/{id}` and
/// `DELETE /accounts/{id}` answer. Never a credential (StackOne's `credentials` is left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkedAccount {
    /// The connection key (what Plugboard's vault API and passthrough take).
    pub id: String,
    /// The integration's platform id.
    pub provider: String,
    /// The integration's display name.
    pub provider_name: Option<String>,
    /// `active` (operational or degraded), `error` (failed: reconnect it) or `inactive` (state unknown).
    pub status: String,
    pub status_reasons: Option<Vec<StatusReason>>,
    pub origin_owner_id: String,
    /// As the auth link it was connected through named the end user; empty when none did (the embedded widget).
    pub origin_owner_name: String,
    pub origin_username: Option<String>,
    /// The connection's name.
    pub label: Option<String>,
    /// `production` or `test`, by the connection's environment.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}
