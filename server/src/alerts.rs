//! Operator alerts (docs/operators.md, Alerts): a project names where its alerts go — a JSON webhook or a
//! Slack-compatible incoming webhook — and when: an integration's refreshes failing past a share of them, webhook
//! deliveries given up, connect errors piling up. Every node looks once per interval; the database lets exactly one
//! send each alert, at most once per window.

use std::{sync::Arc, time::Duration};

use serde::Serialize;

use crate::{
    store::{AlertConfigRow, SharedStore, StoreError},
    vault::{SecretString, Vault, VaultError},
};

/// What alerts are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An integration's refreshes fail past the threshold share.
    RefreshFailures,
    /// Webhook deliveries were given up.
    DeliveriesGivenUp,
    /// Connect errors in the window reached the threshold.
    ConnectErrors,
    /// Sent on request, to check the destination works.
    Test,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefreshFailures => "refresh_failures",
            Self::DeliveriesGivenUp => "deliveries_given_up",
            Self::ConnectErrors => "connect_errors",
            Self::Test => "test",
        }
    }
}

/// One alert, as sent (the JSON format's body; the Slack format sends `text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Always `plugboard.alert`.
    #[serde(rename = "type")]
    pub kind_tag: &'static str,
    pub alert: AlertKind,
    pub project_id: String,
    /// The integration it is about, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// What was counted in the window (failures, deliveries, errors).
    pub count: u64,
    /// Out of how many (refreshes), when a share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of: Option<u64>,
    pub threshold: String,
    pub window_secs: i64,
    /// A sentence for people.
    pub text: String,
    /// Unix seconds.
    pub at: i64,
}

/// Alert thresholds and where alerts go, as an operator sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// `json` or `slack`.
    pub format: String,
    pub url: SecretString,
    pub refresh_failure_percent: i64,
    pub min_refreshes: i64,
    pub connect_errors: i64,
    pub window_secs: i64,
}

/// Defaults: a quarter of at least 10 refreshes failing, 20 connect errors, in an hour.
pub const DEFAULT_REFRESH_FAILURE_PERCENT: i64 = 25;
pub const DEFAULT_MIN_REFRESHES: i64 = 10;
pub const DEFAULT_CONNECT_ERRORS: i64 = 20;
pub const DEFAULT_WINDOW_SECS: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A setting out of range or a URL that is not one: 400.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// The additional data the URL is sealed with: a sealed URL moved to another project's row does not open.
pub fn aad(project_id: &str) -> String {
    format!("alerts:{project_id}")
}

impl AlertSettings {
    /// Checks every field; the error names the field and why.
    pub fn check(&self) -> Result<url::Url, AlertError> {
        let invalid = |m: &str| AlertError::Invalid(m.to_owned());
        if !matches!(self.format.as_str(), "json" | "slack") {
            return Err(invalid("format must be \"json\" or \"slack\""));
        }
        let url = url::Url::parse(self.url.expose()).map_err(|_| invalid("url must be an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if crate::catalog::is_loopback(&url) => {}
            _ => return Err(invalid("url must be https (plain http only on a loopback address)")),
        }
        if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() || self.url.expose().len() > 2048 {
            return Err(invalid("url must have a host, no user name or password, and at most 2048 bytes"));
        }
        if !(1..=100).contains(&self.refresh_failure_percent) {
            return Err(invalid("refreshFailurePercent must be from 1 to 100"));
        }
        if !(1..=100_000).contains(&self.min_refreshes) {
            return Err(invalid("minRefreshes must be from 1 to 100000"));
        }
        if !(1..=1_000_000).contains(&self.connect_errors) {
            return Err(invalid("connectErrors must be from 1 to 1000000"));
        }
        if !(60..=7 * 86_400).contains(&self.window_secs) {
            return Err(invalid("windowSecs must be from 60 to 604800 (a week)"));
        }
        Ok(url)
    }
}

/// Alerts: settings, looking, sending.
pub struct Alerts {
    pub store: SharedStore,
    pub vault: Arc<Vault>,
    pub http: reqwest::Client,
}

impl Alerts {
    /// Seals and stores the project's alert settings.
    pub async fn save(&self, project_id: &str, s: &AlertSettings) -> Result<(), AlertError> {
        let url = s.check()?;
        let row = AlertConfigRow {
            project_id: project_id.into(),
            format: s.format.clone(),
            url_hint: url.origin().ascii_serialization(),
            sealed: self.vault.seal(s.url.expose().as_bytes(), aad(project_id).as_bytes()),
            refresh_failure_percent: s.refresh_failure_percent,
            min_refreshes: s.min_refreshes,
            connect_errors: s.connect_errors,
            window_secs: s.window_secs,
        };
        self.store.set_alert_config(&row).await?;
        Ok(())
    }

    /// What should fire for one project now: each alert whose condition holds over its window.
    pub async fn due(&self, c: &AlertConfigRow, now: i64) -> Result<Vec<Alert>, AlertError> {
        let since = now - c.window_secs;
        let mut out = Vec::new();
        let alert = |kind, integration: Option<String>, count, out_of, threshold: String, text: String| Alert {
            kind_tag: "plugboard.alert",
            alert: kind,
            project_id: c.project_id.clone(),
            integration,
            count,
            out_of,
            threshold,
            window_secs: c.window_secs,
            text,
            at: now,
        };
        let window = human_window(c.window_secs);
        for (platform, failed, total) in self.store.refresh_outcomes_since(&c.project_id, since * 1000).await? {
            if total >= c.min_refreshes as u64 && failed * 100 >= total * c.refresh_failure_percent as u64 {
                out.push(alert(
                    AlertKind::RefreshFailures,
                    Some(platform.clone()),
                    failed,
                    Some(total),
                    format!("{}% of at least {}", c.refresh_failure_percent, c.min_refreshes),
                    format!("{}: {failed} of {total} token refreshes of {platform} failed in the last {window}.", c.project_id),
                ));
            }
        }
        let given_up = self.store.given_up_deliveries_since(&c.project_id, since * 1000).await?;
        if given_up > 0 {
            out.push(alert(
                AlertKind::DeliveriesGivenUp,
                None,
                given_up,
                None,
                "1".into(),
                format!("{}: {given_up} webhook deliveries were given up in the last {window}; replay them once the endpoint works.", c.project_id),
            ));
        }
        let errors = self.store.connect_errors_since(&c.project_id, since).await?;
        if errors >= c.connect_errors as u64 {
            out.push(alert(
                AlertKind::ConnectErrors,
                None,
                errors,
                None,
                c.connect_errors.to_string(),
                format!("{}: end users met {errors} errors while connecting apps in the last {window}.", c.project_id),
            ));
        }
        Ok(out)
    }

    /// Looks at every project once: sends each due alert that no node sent within its window. Answers how many went
    /// out.
    pub async fn look(&self, now: i64) -> Result<usize, AlertError> {
        let mut sent = 0;
        for c in self.store.alert_configs().await? {
            for a in self.due(&c, now).await? {
                let subject = a.integration.clone().unwrap_or_default();
                if !self.store.claim_alert(&c.project_id, a.alert.as_str(), &subject, now, c.window_secs).await? {
                    continue;
                }
                let url = SecretString::new(String::from_utf8(self.vault.open(&c.sealed, aad(&c.project_id).as_bytes())?.to_vec()).map_err(|_| VaultError::Decrypt)?);
                match self.send(&c.format, &url, &a).await {
                    Ok(()) => sent += 1,
                    // The URL is a credential: the log names the project and the alert, never the URL.
                    Err(e) => tracing::warn!(project = %c.project_id, alert = a.alert.as_str(), error = %e, "an operator alert could not be sent"),
                }
            }
        }
        Ok(sent)
    }

    /// Posts `a` to `url`: the JSON body, or Slack's `{"text"}` for an incoming webhook.
    pub async fn send(&self, format: &str, url: &SecretString, a: &Alert) -> Result<(), String> {
        let body = if format == "slack" { serde_json::json!({ "text": format!(":rotating_light: Plugboard — {}", a.text) }) } else { serde_json::to_value(a).map_err(|e| e.to_string())? };
        let res = self.http.post(url.expose()).timeout(Duration::from_secs(10)).json(&body).send().await.map_err(|e| e.without_url().to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("the alert endpoint answered HTTP {}", res.status().as_u16()))
        }
    }

    /// Runs forever: one look per `interval`.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = self.look(crate::clock::now()).await {
                tracing::warn!(error = %e, "looking for operator alerts failed");
            }
        }
    }
}

/// `3600` → `hour`, `900` → `15 minutes`.
fn human_window(secs: i64) -> String {
    match secs {
        3600 => "hour".into(),
        86_400 => "day".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> AlertSettings {
        AlertSettings {
            format: "slack".into(),
            url: SecretString::new(url.to_owned()),
            refresh_failure_percent: DEFAULT_REFRESH_FAILURE_PERCENT,
            min_refreshes: DEFAULT_MIN_REFRESHES,
            connect_errors: DEFAULT_CONNECT_ERRORS,
            window_secs: DEFAULT_WINDOW_SECS,
        }
    }

    #[test]
    fn urls_are_https_or_loopback_and_thresholds_in_range() {
        assert!(settings("https://hooks.slack.com/services/T0/B0/xyz").check().is_ok());
        assert!(settings("http://127.0.0.1:9000/alerts").check().is_ok());
        for bad in ["http://hooks.example.com/x", "ftp://x.example", "not a url", "https://u:p@x.example/"] {
            assert!(settings(bad).check().is_err(), "{bad}");
        }
        let mut s = settings("https://x.example/");
        s.refresh_failure_percent = 0;
        assert!(s.check().is_err());
        s.refresh_failure_percent = 50;
        s.window_secs = 10;
        assert!(s.check().unwrap_err().to_string().contains("windowSecs"));
        s.window_secs = 3600;
        s.format = "xml".into();
        assert!(s.check().is_err());
    }

    #[test]
    fn windows_read_as_words() {
        assert_eq!(human_window(3600), "hour");
        assert_eq!(human_window(900), "15 minutes");
        assert_eq!(human_window(7200), "2 hours");
    }
}
