//! Operators: the people who run a Plugboard deployment (and the API tokens their automation uses), their roles
//! and what each role may do. Knows nothing of HTTP: `http/operator/` authenticates a request into a
//! [`Principal`] and asks it [`Principal::may`] before acting; `http/error.rs` maps [`OperatorError`].
//!
//! docs/operators.md says the model in prose: roles, sessions, tokens, lockout, the audit trail.

pub mod accounts;
pub mod audit;
pub mod passwords;
pub mod sso;

use serde::{Deserialize, Serialize};

use crate::keys::Environment;

/// What an operator may do, coarsely (docs/operators.md, Roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, operators and API tokens of others included.
    Admin,
    /// Reads everything but secrets; changes the settings of the test environment only.
    Developer,
    /// Reads connections and logs, refreshes a connection and sends reconnect links; no settings, no secrets.
    Support,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Support => "support",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "developer" => Some(Self::Developer),
            "support" => Some(Self::Support),
            _ => None,
        }
    }
}

/// How much of its operator's role an API token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Only what reads ([`Action::is_read`]).
    Read,
    /// Everything the operator's role allows.
    Full,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// One class of operator route: every operator route asks for exactly one (docs/operators.md has the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Connections: search, detail, health timeline (no secret is ever in them).
    ReadConnections,
    /// Refresh a connection of this environment now, create a reconnect link for its end user.
    RepairConnection(Environment),
    /// Delete a connection of this environment (revoking it at the provider).
    DeleteConnection(Environment),
    /// Passthrough call logs, the connect funnel, webhook deliveries.
    ReadLogs,
    /// Replay webhook deliveries of this environment.
    ReplayDeliveries(Environment),
    /// Projects and their settings (secrets are write-only, so never in what this reads).
    ReadSettings,
    /// Change what applies to one environment (its OAuth clients, its keys); `None` for what applies to both
    /// (visible integrations, origins, branding, webhooks), which is as live as the live environment.
    WriteSettings(Option<Environment>),
    /// The audit trail.
    ReadAudit,
    /// Operator accounts and every operator's API tokens.
    ManageOperators,
}

impl Action {
    /// Whether the action changes nothing (a read-only token may do it).
    pub fn is_read(self) -> bool {
        matches!(self, Self::ReadConnections | Self::ReadLogs | Self::ReadSettings | Self::ReadAudit)
    }

    /// Whether `role` may do it.
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            // Reads everything; changes only what is the test environment's alone.
            Role::Developer => match self {
                Self::ReadConnections | Self::ReadLogs | Self::ReadSettings | Self::ReadAudit => true,
                Self::RepairConnection(env) | Self::DeleteConnection(env) | Self::ReplayDeliveries(env) => env == Environment::Test,
                Self::WriteSettings(env) => env == Some(Environment::Test),
                Self::ManageOperators => false,
            },
            // Helps end users in either environment, without settings or secrets.
            Role::Support => matches!(self, Self::ReadConnections | Self::ReadLogs | Self::RepairConnection(_)),
        }
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser's sign-in session (cookie), by its digest.
    Session { token_hash: String },
    /// An API token, by id.
    Token { id: String, scope: TokenScope },
}

/// An authenticated operator, as a route sees them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub operator_id: String,
    pub email: String,
    pub role: Role,
    pub credential: Credential,
}

impl Principal {
    /// `Ok` when this operator, through this credential, may do `action`; else [`OperatorError::Forbidden`]
    /// naming what is missing.
    pub fn may(&self, action: Action) -> Result<(), OperatorError> {
        if !action.allowed_for(self.role) {
            return Err(OperatorError::Forbidden(format!("the {} role may not do this", self.role.as_str())));
        }
        if let Credential::Token { scope: TokenScope::Read, .. } = self.credential {
            if !action.is_read() {
                return Err(OperatorError::Forbidden("this API token is read-only".into()));
            }
        }
        Ok(())
    }
}

/// What operator accounts and their sign-ins can fail with. `http/error.rs` gives each its status.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Wrong email or password, an unknown or revoked token, an expired session: 401 (never says which).
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed sign-ins for this account: 429 until `retry_after_secs` have passed.
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    LockedOut { retry_after_secs: u64 },
    /// Signed in, but the role or the token's scope does not allow it: 403.
    #[error("{0}")]
    Forbidden(String),
    /// A write without the session's CSRF token: 403 `csrf_failed`.
    #[error("this change needs the X-CSRF-Token header of your sign-in")]
    CsrfFailed,
    /// Bad input (an email, a role, a password too short): 400.
    #[error("{0}")]
    Invalid(String),
    /// The email is taken: 409.
    #[error("an operator with this email exists")]
    Exists,
    /// No such operator or token: 404.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, scope: Option<TokenScope>) -> Principal {
        let credential = match scope {
            Some(scope) => Credential::Token { id: "t".into(), scope },
            None => Credential::Session { token_hash: "h".into() },
        };
        Principal { operator_id: "op".into(), email: "a@example.com".into(), role, credential }
    }

    #[test]
    fn roles_allow_what_docs_say() {
        let all = [
            Action::ReadConnections,
            Action::RepairConnection(Environment::Live),
            Action::DeleteConnection(Environment::Live),
            Action::ReadLogs,
            Action::ReplayDeliveries(Environment::Live),
            Action::ReadSettings,
            Action::WriteSettings(None),
            Action::WriteSettings(Some(Environment::Test)),
            Action::WriteSettings(Some(Environment::Live)),
            Action::ReadAudit,
            Action::ManageOperators,
        ];
        for a in all {
            assert!(principal(Role::Admin, None).may(a).is_ok(), "{a:?}");
        }
        let dev = principal(Role::Developer, None);
        assert!(dev.may(Action::WriteSettings(Some(Environment::Test))).is_ok());
        assert!(dev.may(Action::WriteSettings(Some(Environment::Live))).is_err());
        assert!(dev.may(Action::WriteSettings(None)).is_err(), "project-wide settings are live");
        assert!(dev.may(Action::ManageOperators).is_err());
        assert!(dev.may(Action::DeleteConnection(Environment::Test)).is_ok());
        assert!(dev.may(Action::DeleteConnection(Environment::Live)).is_err());
        let support = principal(Role::Support, None);
        assert!(support.may(Action::ReadConnections).is_ok());
        assert!(support.may(Action::RepairConnection(Environment::Live)).is_ok());
        assert!(support.may(Action::ReadSettings).is_err());
        assert!(support.may(Action::DeleteConnection(Environment::Test)).is_err());
        assert!(support.may(Action::ReplayDeliveries(Environment::Test)).is_err());
        assert!(support.may(Action::ReadAudit).is_err());
    }

    #[test]
    fn a_read_token_only_reads_even_for_an_admin() {
        let token = principal(Role::Admin, Some(TokenScope::Read));
        assert!(token.may(Action::ReadSettings).is_ok());
        assert!(token.may(Action::WriteSettings(Some(Environment::Test))).is_err());
        assert!(token.may(Action::ManageOperators).is_err());
        assert!(principal(Role::Support, Some(TokenScope::Full)).may(Action::ReadSettings).is_err(), "a token never exceeds its role");
    }
}
