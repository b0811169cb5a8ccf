//! Probing a provider with a fresh credential before storing it (the catalog's `verify` request).

use super::ConnectError;
use crate::catalog::{
    inject,
    template::{render, Values},
    Integration, Verify,
};

/// Sends the verify request; a 2xx proves the credential, a 4xx is the provider refusing it (with its reason).
pub async fn probe(
    http: &reqwest::Client,
    entry: &Integration,
    verify: &Verify,
    values: &impl Values,
) -> Result<(), ConnectError> {
    let method = reqwest::Method::from_bytes(verify.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = http.request(method, render(&verify.url, values));
    for (k, v) in &verify.headers {
        req = req.header(k.as_str(), render(v, values));
    }
    if let Some(how) = &entry.inject {
        req = inject::apply(req, how, values);
    }
    let res = req.send().await.map_err(|e| {
        tracing::warn!(platform = %entry.platform, error = %e.without_url(), "verify request failed");
        ConnectError::ProviderFailed(format!("Could not reach {} to check the credential. Try again later.", entry.name))
    })?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    let body = res.bytes().await.unwrap_or_default();
    let reason = provider_reason(&body).unwrap_or_else(|| format!("it answered {status}"));
    if status.is_client_error() {
        Err(ConnectError::ProviderRefused(format!("{} refused the credential: {reason}", entry.name)))
    } else {
        Err(ConnectError::ProviderFailed(format!("{} could not check the credential ({reason}). Try again later.", entry.name)))
    }
}

/// The human part of a provider's error body: `error.message`, `message`, `error_description`, `error`, `detail`.
pub fn provider_reason(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error_description"))
        .or_else(|| v.get("error"))
        .or_else(|| v.get("detail"))?
        .as_str()?;
    let mut reason: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if reason.is_empty() {
        return None;
    }
    if text.chars().count() > 200 {
        reason.push('…');
    }
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::provider_reason;

    #[test]
    fn finds_the_reason_in_common_error_shapes() {
        assert_eq!(provider_reason(br#"{"error":{"message":"Invalid API Key provided"}}"#).unwrap(), "Invalid API Key provided");
        assert_eq!(provider_reason(br#"{"error":"invalid_grant","error_description":"Code expired"}"#).unwrap(), "Code expired");
        assert_eq!(provider_reason(br#"{"message":"Bad credentials"}"#).unwrap(), "Bad credentials");
        assert_eq!(provider_reason(b"<html>"), None);
    }
}
