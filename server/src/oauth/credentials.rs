//! What a token answer leaves in a connection's credentials: the first grant's, a refresh's (RFC 6749 §6: a provider
//! that sends no new refresh token or scope keeps the old ones) and a nested token's renewal.

use std::collections::BTreeMap;

use super::token_endpoint::{TokenAnswer, TokenError};
use crate::{
    clock::now,
    vault::{Credentials, NamedToken, SecretString},
};

/// Credentials from a token answer; `fields` are the user's secret form fields, `previous` the credentials a
/// refresh replaces (a provider that sends no new refresh token or scope keeps the old ones, RFC 6749 §6).
/// The answer's nested tokens (Slack's user token) replace those of the same name; the others are kept.
pub fn credentials_from(answer: TokenAnswer, fields: BTreeMap<String, SecretString>, previous: Option<&Credentials>) -> Credentials {
    let at = now();
    let mut tokens = previous.map(|p| p.tokens.clone()).unwrap_or_default();
    for (name, t) in answer.nested {
        let old = tokens.get(&name);
        let named = NamedToken {
            refresh_token: t.refresh_token.or_else(|| old.and_then(|o| o.refresh_token.clone())),
            scope: t.scope.or_else(|| old.and_then(|o| o.scope.clone())),
            expires_at: t.expires_in.map(|s| at + s as i64),
            access_token: t.access_token,
        };
        tokens.insert(name, named);
    }
    let Some(access_token) = answer.access_token else {
        // Only nested tokens came (an install with user scopes only): the top-level one stays as it was (none).
        let top = previous.cloned().unwrap_or_default();
        return Credentials { fields, tokens, ..top };
    };
    Credentials {
        access_token: Some(access_token),
        refresh_token: answer.refresh_token.or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        expires_at: answer.expires_in.map(|s| at + s as i64),
        scope: answer.scope.or_else(|| previous.and_then(|p| p.scope.clone())),
        fields,
        tokens,
    }
}

/// A refresh answer for the nested token `name`: it carries the renewed token at the top level (Slack's
/// oauth.v2.access with the user token's refresh token answers `token_type: "user"` there). A provider that sends
/// no new refresh token or scope keeps the old ones.
pub fn renew_named(creds: &mut Credentials, name: &str, answer: TokenAnswer) -> Result<(), TokenError> {
    let access_token = answer.access_token.ok_or(TokenError::Unreadable { status: 200, reason: "no access_token" })?;
    let old = creds.tokens.get(name);
    let named = NamedToken {
        refresh_token: answer.refresh_token.or_else(|| old.and_then(|o| o.refresh_token.clone())),
        scope: answer.scope.or_else(|| old.and_then(|o| o.scope.clone())),
        expires_at: answer.expires_in.map(|s| now() + s as i64),
        access_token,
    };
    creds.tokens.insert(name.to_owned(), named);
    Ok(())
}

