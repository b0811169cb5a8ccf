//! OpenID Connect discovery (OpenID Connect Discovery 1.0 §4; RFC 8414 uses the same members) for entries that
//! name a `discoveryUrl`: the document's issuer, endpoints and PKCE support fill in what the entry leaves empty.

use std::{borrow::Cow, sync::Arc, time::Duration};

use serde::Deserialize;

use crate::catalog::{Integration, OAuthSpec};

/// How long a fetched document is used before it is fetched again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// The members Plugboard uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

pub fn cache() -> moka::sync::Cache<String, Arc<Discovery>> {
    moka::sync::Cache::builder().max_capacity(1_000).time_to_live(DISCOVERY_TTL).build()
}

/// `spec` with the empty parts filled from `doc`.
pub fn fill(spec: &OAuthSpec, doc: &Discovery) -> OAuthSpec {
    let mut s = spec.clone();
    if s.authorization_url.is_empty() {
        s.authorization_url = doc.authorization_endpoint.clone().unwrap_or_default();
    }
    if s.token_url.is_empty() {
        s.token_url = doc.token_endpoint.clone();
    }
    s.revoke_url = s.revoke_url.or_else(|| doc.revocation_endpoint.clone());
    if s.issuer.is_none() {
        s.issuer = Some(doc.issuer.clone());
        s.authorization_response_iss_parameter_supported = doc.authorization_response_iss_parameter_supported;
    }
    s
}

/// https, or plain http to a loopback address (local providers and tests; by address, never by name).
fn secure_url(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| u.scheme() == "https" || (u.scheme() == "http" && crate::catalog::is_loopback(&u)))
}

/// Why an entry's OAuth settings could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0} does not use OAuth")]
    NotOAuth(String),
    /// The discovery document could not be fetched, read or trusted (the reason is logged, not shown).
    #[error("Could not read {0}'s sign-in settings; try again in a moment.")]
    Unreadable(String),
}

/// The entry's OAuth settings, completed from its discovery document when it names one (fetched with `http`,
/// kept in `cache` for [`DISCOVERY_TTL`]).
pub async fn complete<'a>(http: &reqwest::Client, cache: &moka::sync::Cache<String, Arc<Discovery>>, entry: &'a Integration) -> Result<Cow<'a, OAuthSpec>, DiscoveryError> {
    let spec = entry.oauth.as_ref().ok_or_else(|| DiscoveryError::NotOAuth(entry.name.clone()))?;
    let Some(url) = &spec.discovery_url else { return Ok(Cow::Borrowed(spec)) };
    if let Some(doc) = cache.get(url) {
        return Ok(Cow::Owned(fill(spec, &doc)));
    }
    let failed = |why: String| {
        tracing::warn!(platform = %entry.platform, %why, "OpenID discovery failed");
        DiscoveryError::Unreadable(entry.name.clone())
    };
    let res = http.get(url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| failed(e.without_url().to_string()))?;
    if !res.status().is_success() {
        return Err(failed(format!("HTTP {}", res.status())));
    }
    let doc: Discovery = res.json().await.map_err(|e| failed(e.to_string()))?;
    let endpoints = [Some(&doc.token_endpoint), doc.authorization_endpoint.as_ref(), doc.revocation_endpoint.as_ref()];
    if let Some(bad) = endpoints.into_iter().flatten().find(|u| !secure_url(u)) {
        return Err(failed(format!("endpoint {bad:?} is not https")));
    }
    let doc = Arc::new(doc);
    cache.insert(url.clone(), doc.clone());
    Ok(Cow::Owned(fill(spec, &doc)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_only_to_a_loopback_address_never_a_name_that_looks_like_one() {
        for ok in ["https://id.example.com/token", "http://127.0.0.1:9/token", "http://127.8.9.10/token", "http://[::1]:9/token", "http://2130706433/token"] {
            assert!(super::secure_url(ok), "{ok}");
        }
        for bad in ["http://127.x.my.salesforce.com/token", "http://127.0.0.1.example.com/token", "http://localhost/token", "http://10.0.0.1/token", "ftp://127.0.0.1/x"] {
            assert!(!super::secure_url(bad), "{bad}");
        }
    }
}
