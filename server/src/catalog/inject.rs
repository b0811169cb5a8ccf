//! Presenting a credential to a provider the way its catalog entry says (bearer, header, query or basic).

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::template::{render, Values};
use crate::{
    catalog::{Inject, Integration},
    vault::{Credentials, SecretString},
};

/// Everything a template may name: plain config, secret fields and `{access_token}` (in that order of precedence,
/// the last first), looked up where they are: no copy of a secret is made per call.
pub struct TemplateValues<'a> {
    config: &'a BTreeMap<String, String>,
    creds: &'a Credentials,
    /// What `{access_token}` is: one of the connection's tokens ([`pick_token`]).
    token: Option<&'a SecretString>,
}

/// The values with `{access_token}` the connection's default token (see [`TokenChoice::Default`]).
pub fn template_values<'a>(config: &'a BTreeMap<String, String>, creds: &'a Credentials) -> TemplateValues<'a> {
    TemplateValues { config, creds, token: pick_token(creds, &TokenChoice::Default) }
}

/// The values with `{access_token}` the token `choice` names.
pub fn template_values_with<'a>(config: &'a BTreeMap<String, String>, creds: &'a Credentials, choice: &TokenChoice) -> TemplateValues<'a> {
    TemplateValues { config, creds, token: pick_token(creds, choice) }
}

impl Values for TemplateValues<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        let token = if name == "access_token" { self.token } else { None };
        token.or_else(|| self.creds.fields.get(name)).map(|s| s.expose()).or_else(|| self.config.value(name))
    }
}

/// Which of a connection's tokens a call presents, for an entry whose token answer carries several (Slack's `bot`
/// and `user`: the catalog's `tokenName` and `nestedTokens`). The host picks one with the passthrough's
/// `Plugboard-Token` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenChoice {
    /// The top-level token when the connection has one (Slack's bot token), else a nested one (the first by
    /// name: a Slack install with user scopes only has just the user token).
    Default,
    /// The top-level token.
    Top,
    /// A nested token, by name.
    Named(String),
}

impl TokenChoice {
    /// Reads a `Plugboard-Token` value against the entry's token names: `None` (absent) is [`TokenChoice::Default`].
    /// Errors say what the entry offers.
    pub fn parse(value: Option<&str>, entry: &Integration) -> Result<Self, String> {
        let Some(value) = value else { return Ok(Self::Default) };
        let oauth = entry.oauth.as_ref();
        let names = oauth.map(|o| o.token_names()).unwrap_or_default();
        if names.is_empty() {
            return Err(format!("{} connections hold one token: leave the Plugboard-Token header out", entry.name));
        }
        if oauth.and_then(|o| o.token_name.as_deref()) == Some(value) {
            return Ok(Self::Top);
        }
        if names.contains(&value) {
            return Ok(Self::Named(value.to_owned()));
        }
        let shown: String = value.chars().take(32).collect();
        Err(format!("Plugboard-Token {shown:?} is not a token of {}: use {}", entry.name, names.join(" or ")))
    }
}

/// The token `choice` names in `creds`, if the connection holds it.
pub fn pick_token<'a>(creds: &'a Credentials, choice: &TokenChoice) -> Option<&'a SecretString> {
    match choice {
        TokenChoice::Default => creds.access_token.as_ref().or_else(|| creds.tokens.values().next().map(|t| &t.access_token)),
        TokenChoice::Top => creds.access_token.as_ref(),
        TokenChoice::Named(name) => creds.tokens.get(name).map(|t| &t.access_token),
    }
}

/// The default for OAuth connections: `Authorization: Bearer {access_token}`.
pub fn default_for_oauth() -> Inject {
    Inject::Bearer { token: "{access_token}".into(), headers: BTreeMap::new() }
}

/// Adds the credential and the entry's extra headers to `req`. An extra header whose template names a value the
/// connection does not have (yet) is left out rather than sent with a `{placeholder}`.
pub fn apply(req: reqwest::RequestBuilder, inject: &Inject, values: &impl Values) -> reqwest::RequestBuilder {
    let mut req = match inject {
        Inject::Bearer { token, .. } => req.bearer_auth(render(token, values)),
        Inject::Header { name, value, .. } => req.header(name.as_str(), render(value, values)),
        Inject::Query { name, value, .. } => req.query(&[(name.as_str(), render(value, values))]),
        Inject::Basic { username, password, .. } => req.basic_auth(render(username, values), Some(render(password, values))),
    };
    for (name, value) in extra_headers(inject, values) {
        req = req.header(name.as_str(), value);
    }
    req
}

/// The entry's extra headers, rendered, without those whose template names a value the connection lacks.
fn extra_headers<'a, V: Values>(inject: &'a Inject, values: &'a V) -> impl Iterator<Item = (&'a String, String)> + 'a {
    inject
        .headers()
        .iter()
        .map(|(name, template)| (name, render(template, values)))
        .filter(|(_, value)| !(value.contains('{') && value.contains('}')))
}

/// A credential or catalog header that cannot be sent: names the header, never the value.
#[derive(Debug, thiserror::Error)]
#[error("the {0} header the catalog asks for cannot be sent (not a valid header name or value)")]
pub struct InvalidHeader(pub String);

/// As [`apply`], on a request about to be sent (the passthrough's): the credential and the entry's extra headers
/// replace whatever the caller sent under those names (so a caller can neither override nor double the credential),
/// and a query credential is appended to `url`. The credential's header is marked sensitive.
pub fn present(headers: &mut HeaderMap, url: &mut Url, inject: &Inject, values: &impl Values) -> Result<(), InvalidHeader> {
    let invalid = |name: &str| InvalidHeader(name.to_owned());
    let sensitive = |value: String, name: &str| {
        HeaderValue::try_from(value).map_err(|_| invalid(name)).map(|mut v| {
            v.set_sensitive(true);
            v
        })
    };
    match inject {
        Inject::Bearer { token, .. } => {
            headers.insert(header::AUTHORIZATION, sensitive(format!("Bearer {}", render(token, values)), "Authorization")?);
        }
        Inject::Header { name, value, .. } => {
            let header = HeaderName::try_from(name.as_str()).map_err(|_| invalid(name))?;
            headers.insert(header, sensitive(render(value, values), name)?);
        }
        Inject::Query { name, value, .. } => {
            url.query_pairs_mut().append_pair(name, &render(value, values));
        }
        Inject::Basic { username, password, .. } => {
            use base64::Engine;
            let pair = zeroize::Zeroizing::new(format!("{}:{}", render(username, values), render(password, values)));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
            headers.insert(header::AUTHORIZATION, sensitive(format!("Basic {encoded}"), "Authorization")?);
        }
    }
    for (name, value) in extra_headers(inject, values) {
        let header = HeaderName::try_from(name.as_str()).map_err(|_| invalid(name))?;
        headers.insert(header, HeaderValue::try_from(value).map_err(|_| invalid(name))?);
    }
    Ok(())
}
