//! Presenting a credential to a provider the way its catalog entry says (bearer, header, query or basic).

use std::collections::BTreeMap;

use super::fields::render;
use crate::{catalog::Inject, vault::Credentials};

/// Everything a template may name: plain config, secret fields and `{access_token}`.
pub fn template_values(config: &BTreeMap<String, String>, creds: &Credentials) -> BTreeMap<String, String> {
    let mut values = config.clone();
    for (k, v) in &creds.fields {
        values.insert(k.clone(), v.expose().to_owned());
    }
    if let Some(t) = &creds.access_token {
        values.insert("access_token".into(), t.expose().to_owned());
    }
    values
}

/// The default for OAuth connections: `Authorization: Bearer {access_token}`.
pub fn default_for_oauth() -> Inject {
    Inject::Bearer { token: "{access_token}".into(), headers: BTreeMap::new() }
}

/// Adds the credential and the entry's extra headers to `req`. An extra header whose template names a value the
/// connection does not have (yet) is left out rather than sent with a `{placeholder}`.
pub fn apply(req: reqwest::RequestBuilder, inject: &Inject, values: &BTreeMap<String, String>) -> reqwest::RequestBuilder {
    let mut req = match inject {
        Inject::Bearer { token, .. } => req.bearer_auth(render(token, values)),
        Inject::Header { name, value, .. } => req.header(name.as_str(), render(value, values)),
        Inject::Query { name, value, .. } => req.query(&[(name.as_str(), render(value, values))]),
        Inject::Basic { username, password, .. } => req.basic_auth(render(username, values), Some(render(password, values))),
    };
    for (name, template) in inject.headers() {
        let value = render(template, values);
        if !(value.contains('{') && value.contains('}')) {
            req = req.header(name.as_str(), value);
        }
    }
    req
}
