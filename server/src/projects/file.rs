//! The `[[projects]]` of a config file (README, Projects): what it may say of a project, read at start.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{cut, ProjectError, ProjectSettings};
use crate::{
    catalog::{Catalog, Integration},
    config::OAuthClient,
    vault::SecretString,
};

/// The `[[projects]]` of a config file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub projects: Vec<FileProject>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileProject {
    pub id: String,
    pub name: Option<String>,
    pub visible_integrations: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub session_ttl_secs: Option<u64>,
    /// See [`ProjectSettings::return_urls`].
    #[serde(default)]
    pub return_urls: Vec<String>,
    #[serde(default)]
    pub custom_integrations: Vec<Integration>,
    /// See [`ProjectSettings::featured`].
    pub featured: Option<Vec<String>>,
    /// Own OAuth clients by platform; the secret comes from the environment variable named by `clientSecretEnv`.
    #[serde(default)]
    pub oauth: BTreeMap<String, FileClient>,
    /// Where the project's events go; the signing secret comes from the environment variable `secretEnv`.
    pub webhook: Option<FileWebhook>,
    /// See [`ProjectSettings::company_name`].
    pub company_name: Option<String>,
    /// See [`ProjectSettings::logo_url`].
    pub logo_url: Option<String>,
    /// See [`ProjectSettings::theme`].
    pub theme: Option<String>,
    /// See [`ProjectSettings::accent_color`].
    pub accent_color: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileWebhook {
    pub url: String,
    pub secret_env: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileClient {
    pub client_id: String,
    pub client_secret_env: String,
    pub scopes: Option<Vec<String>>,
    /// The OAuth app's settings the integration declares (`settings = { tenant = "contoso.onmicrosoft.com" }`),
    /// checked against the catalog entry at start.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Scopes for the integration's nested tokens by name (Slack: `tokenScopes = { user = ["search:read"] }`,
    /// sent as `user_scope`).
    #[serde(default)]
    pub token_scopes: BTreeMap<String, Vec<String>>,
}

impl FileProject {
    pub fn settings(&self) -> ProjectSettings {
        ProjectSettings {
            visible_integrations: self.visible_integrations.clone(),
            allowed_origins: self.allowed_origins.clone(),
            session_ttl_secs: self.session_ttl_secs,
            return_urls: self.return_urls.clone(),
            custom_integrations: self.custom_integrations.clone(),
            company_name: self.company_name.clone(),
            logo_url: self.logo_url.clone(),
            theme: self.theme.clone(),
            accent_color: self.accent_color.clone(),
            featured: self.featured.clone(),
        }
    }

    /// The webhook endpoint and its signing secret, checked.
    pub fn webhook(&self) -> Result<Option<(String, SecretString)>, ProjectError> {
        let Some(w) = &self.webhook else { return Ok(None) };
        let invalid = |message: String| ProjectError::Invalid { project: self.id.clone(), message };
        if !crate::webhooks::valid_url(&w.url) {
            return Err(invalid(format!("webhook.url {:?} is not an http(s) URL", w.url)));
        }
        let secret = std::env::var(&w.secret_env).ok().filter(|s| s.len() >= 16).ok_or_else(|| {
            invalid(format!("webhook: environment variable {} must hold the signing secret (16 characters or more)", w.secret_env))
        })?;
        Ok(Some((w.url.clone(), SecretString::new(secret))))
    }

    pub fn clients(&self) -> Result<Vec<(String, OAuthClient)>, ProjectError> {
        self.oauth
            .iter()
            .map(|(platform, c)| {
                let secret = std::env::var(&c.client_secret_env).map_err(|_| ProjectError::Invalid {
                    project: self.id.clone(),
                    message: format!("oauth.{platform}: environment variable {} is not set", c.client_secret_env),
                })?;
                Ok((platform.clone(), OAuthClient { client_id: c.client_id.clone(), client_secret: SecretString::new(secret), scopes: c.scopes.clone(), settings: c.settings.clone(), token_scopes: c.token_scopes.clone() }))
            })
            .collect()
    }

    /// Checks each own OAuth client's settings against its integration (built-in or one of this project's
    /// custom ones): see [`Integration::check_client_settings`]. The error names the project, the integration and
    /// the value.
    pub fn check_client_settings(&self, builtin: &Catalog) -> Result<(), ProjectError> {
        for (platform, c) in &self.oauth {
            let entry = builtin.get(platform).or_else(|| self.custom_integrations.iter().find(|e| &e.platform == platform));
            let checked = check_client(entry, &c.settings, &c.token_scopes);
            checked.map_err(|why| ProjectError::Invalid { project: self.id.clone(), message: format!("oauth.{}: {why}", cut(platform, 64)) })?;
        }
        Ok(())
    }
}

/// Checks an OAuth client's `settings` and `tokenScopes` against its integration `entry` (`None`: no such
/// integration, where only no settings pass). Errors say why, as a sentence ending.
pub fn check_client(entry: Option<&Integration>, settings: &BTreeMap<String, String>, token_scopes: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    match entry {
        Some(entry) => entry.check_client_settings(settings).and_then(|()| {
            let names = entry.oauth.as_ref().map(|o| o.nested_tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()).unwrap_or_default();
            match token_scopes.keys().find(|k| !names.contains(&k.as_str())) {
                Some(k) => Err(format!("tokenScopes names {:?}, which is not a token of {} ({})", cut(k, 64), entry.name, if names.is_empty() { "it has one token".to_owned() } else { names.join(", ") })),
                None => Ok(()),
            }
        }),
        None if settings.is_empty() => Ok(()),
        None => Err("settings for an integration that does not exist".to_owned()),
    }
}
