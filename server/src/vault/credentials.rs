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

    /// When the first of the access tokens a refresh renews expires: those with a refresh token, and the
    /// top-level one of a grant without named tokens (a client-credentials grant renews it without one). A named
    /// token nothing renews must not keep the connection due for ever.
    pub fn earliest_renewable_expiry(&self) -> Option<i64> {
        let top = (self.refresh_token.is_some() || self.tokens.is_empty()).then_some(self.expires_at).flatten();
        top.into_iter().chain(self.tokens.values().filter(|t| t.refresh_token.is_some()).filter_map(|t| t.expires_at)).min()
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
    fn a_refresh_is_due_by_the_tokens_it_renews() {
        let named = |rt: Option<&str>, exp| NamedToken { access_token: SecretString::new("at"), refresh_token: rt.map(SecretString::new), expires_at: Some(exp), scope: None };
        // Client credentials: no refresh token, the top-level token is still renewed.
        let cc = Credentials { access_token: Some(SecretString::new("at")), expires_at: Some(100), ..Default::default() };
        assert_eq!(cc.earliest_renewable_expiry(), Some(100));
        // A named token without a refresh token expires first: the refresh is due by the one that has one.
        let mixed = Credentials {
            access_token: Some(SecretString::new("bot")),
            refresh_token: Some(SecretString::new("rt")),
            expires_at: Some(500),
            tokens: [("user".to_owned(), named(None, 100))].into(),
            ..Default::default()
        };
        assert_eq!((mixed.earliest_expiry(), mixed.earliest_renewable_expiry()), (Some(100), Some(500)));
        // A top-level token without a refresh token beside a renewable named one.
        let slack = Credentials { access_token: Some(SecretString::new("bot")), expires_at: Some(100), tokens: [("user".to_owned(), named(Some("rt"), 700))].into(), ..Default::default() };
        assert_eq!(slack.earliest_renewable_expiry(), Some(700));
    }

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
