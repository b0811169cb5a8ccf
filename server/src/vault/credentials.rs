//! What a connection's secret part holds. `Debug` never prints a secret.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

/// A string that is a secret: redacted in `Debug`, zeroed on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretString {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The encrypted half of a connection: OAuth tokens and/or the secret form fields (API keys, passwords).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Credentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// Unix seconds when the access token expires, if the provider said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Secret form fields by name (`api_key`, `password`, `client_secret`, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, SecretString>,
    /// The grant's further tokens by name, as the catalog's `nestedTokens` declare them (Slack's `user` token
    /// beside the top-level `bot` one, which is `access_token` above). Each has its own refresh token and expiry.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, NamedToken>,
}

/// One of [`Credentials::tokens`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedToken {
    pub access_token: SecretString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// Unix seconds, if the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Credentials {
    /// When the first of its access tokens expires (the top-level one and [`Credentials::tokens`]).
    pub fn earliest_expiry(&self) -> Option<i64> {
        self.expires_at.into_iter().chain(self.tokens.values().filter_map(|t| t.expires_at)).min()
    }

    /// Whether any of its tokens has a refresh token.
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some() || self.tokens.values().any(|t| t.refresh_token.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials {
            access_token: Some(SecretString::new("at-very-secret")),
            fields: [("api_key".to_string(), SecretString::new("sk-very-secret"))].into(),
            ..Default::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
