//! Filling a catalog entry's `{name}` templates (API base URLs, OAuth endpoints, injected headers) from a
//! connection's values, in one pass: a value is never read as a template itself.

use std::collections::BTreeMap;

/// Where a template's `{name}`s are looked up.
pub trait Values {
    fn value(&self, name: &str) -> Option<&str>;
}

impl Values for BTreeMap<String, String> {
    fn value(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// The values of an OAuth endpoint template: the operator's client settings first (see
/// [`crate::catalog::OAuthSpec::client_settings`]), then the connection's config. The catalog keeps their names
/// apart; the order makes sure an end user's value could never stand in for the operator's setting anyway.
pub struct OAuthValues<'a> {
    pub settings: &'a BTreeMap<String, String>,
    pub config: &'a BTreeMap<String, String>,
}

impl Values for OAuthValues<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        self.settings.value(name).or_else(|| self.config.value(name))
    }
}

/// Renders an OAuth endpoint (`authorizationUrl`, `tokenUrl`, `revokeUrl`) with the client's settings (each
/// declared one: the operator's value or its default) and the connection's config.
pub fn render_oauth(template: &str, spec: &crate::catalog::OAuthSpec, client_settings: &BTreeMap<String, String>, config: &BTreeMap<String, String>) -> String {
    let settings = spec.setting_values(client_settings);
    render(template, &OAuthValues { settings: &settings, config })
}

/// Replaces `{name}` placeholders in `template` with `values`.
pub fn render(template: &str, values: &(impl Values + ?Sized)) -> String {
    // One pass: a value is inserted as it is and never read as a template itself (a value holding `{api_key}`
    // must not pull in the key); unknown placeholders stay as written.
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| values.value(&after[..close]).map(|v| (v, close))) {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
