//! Changing a project's settings while it runs (the operator API): each change checked exactly as the config file's
//! (`ProjectSettings::validate`, the catalog's checks of OAuth client settings), refused when the config file owns
//! what it would change ([`super::managed`]), stored in the database — every node's views re-read it within
//! [`crate::store::HOT_TTL`]. Knows nothing of HTTP: `http/error.rs` maps [`SettingsError`].

use serde_json::{Map, Value};

use super::{cut, file::check_client, managed::{Managed, SETTINGS_FIELDS}, ProjectError, ProjectSettings, Projects};
use crate::{config::OAuthClient, keys::Environment, store::{Project, StoreError}};

/// Largest settings document a project may store (bytes of JSON): custom integrations are the big part.
pub const MAX_SETTINGS_BYTES: usize = 256 * 1024;

/// Longest OAuth client id or scope (bytes), most scopes, longest client secret (bytes).
pub const MAX_CLIENT_ID: usize = 512;
pub const MAX_SCOPES: usize = 100;
pub const MAX_CLIENT_SECRET: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// 404.
    #[error("no project {0:?}")]
    UnknownProject(String),
    /// 409 `project_exists`.
    #[error("project {0:?} exists already")]
    Exists(String),
    /// 400 `invalid_settings`: the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// 409 `managed_by_file`: what the config file declares, named.
    #[error("{0} is set by the config file; change it there (the next start would put the file's value back)")]
    ManagedByFile(String),
    /// 404: no such OAuth client, key or webhook.
    #[error("{0}")]
    NotFound(String),
    /// 409 `ambiguous_hint`: more than one active key has this hint.
    #[error("{0}")]
    Ambiguous(String),
    #[error(transparent)]
    Project(ProjectError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ProjectError> for SettingsError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::Unknown(p) => Self::UnknownProject(p),
            ProjectError::Invalid { message, .. } => Self::Invalid(message),
            ProjectError::Store(e) => Self::Store(e),
            other => Self::Project(other),
        }
    }
}

/// A project id: 1 to 64 letters, digits, dashes or underscores (as `plugboard project create` takes).
pub fn is_project_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Projects {
    /// The project's stored settings and what the config file manages of it.
    pub async fn stored(&self, project_id: &str) -> Result<(ProjectSettings, Managed), SettingsError> {
        let json = self.store.project_config(project_id).await?.ok_or_else(|| SettingsError::UnknownProject(project_id.into()))?;
        let settings = serde_json::from_str(&json).map_err(|e| SettingsError::Invalid(format!("the stored settings are unreadable: {e}")))?;
        Ok((settings, Managed::load(&self.store, project_id).await?))
    }

    /// Creates a project (`id`: see [`is_project_id`]; `name`: 1–100 characters); 409 when the id is taken.
    pub async fn create(&self, id: &str, name: &str) -> Result<(), SettingsError> {
        if !is_project_id(id) {
            return Err(SettingsError::Invalid("id: a project id is 1 to 64 letters, digits, dashes or underscores".into()));
        }
        super::check_company_name(name).map_err(|why| SettingsError::Invalid(format!("name {:?} {why}", cut(name, 120))))?;
        if !self.store.insert_project(&Project { id: id.into(), name: name.into() }).await? {
            return Err(SettingsError::Exists(id.into()));
        }
        Ok(())
    }

    /// Applies `patch` (settings by their camelCase name; `null` resets one to its default) to the project's
    /// settings, checked whole as the config file's are. Answers the settings before and after. Nothing is stored
    /// unless every field is known, not the config file's, of the right type and the result valid.
    pub async fn patch_settings(&self, project_id: &str, patch: &Map<String, Value>) -> Result<(ProjectSettings, ProjectSettings), SettingsError> {
        let (before, managed) = self.stored(project_id).await?;
        if patch.is_empty() {
            return Err(SettingsError::Invalid(format!("send at least one of {}", SETTINGS_FIELDS.join(", "))));
        }
        let mut merged = match serde_json::to_value(&before).map_err(|e| SettingsError::Invalid(e.to_string()))? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for (field, value) in patch {
            if !SETTINGS_FIELDS.contains(&field.as_str()) {
                return Err(SettingsError::Invalid(format!("{:?} is not a setting (settings: {})", cut(field, 64), SETTINGS_FIELDS.join(", "))));
            }
            if managed.manages_field(field) {
                return Err(SettingsError::ManagedByFile(field.clone()));
            }
            // Each field alone first, so a wrong type is reported under its own name.
            if value.is_null() {
                merged.remove(field);
                continue;
            }
            let mut one = Map::new();
            one.insert(field.clone(), value.clone());
            serde_json::from_value::<ProjectSettings>(Value::Object(one)).map_err(|e| SettingsError::Invalid(format!("{field}: {e}")))?;
            merged.insert(field.clone(), value.clone());
        }
        let after: ProjectSettings = serde_json::from_value(Value::Object(merged)).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        let json = serde_json::to_string(&after).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        if json.len() > MAX_SETTINGS_BYTES {
            return Err(SettingsError::Invalid(format!("the settings would be {} bytes; at most {MAX_SETTINGS_BYTES} are kept", json.len())));
        }
        // The project's own OAuth clients must still fit their integrations (a custom one may have changed).
        after.validate(project_id, &self.builtin)?;
        for (platform, _, row) in self.store.project_clients(project_id).await? {
            let entry = self.builtin.get(&platform).or_else(|| after.custom_integrations.iter().find(|e| e.platform == platform));
            check_client(entry, &row.settings, &row.token_scopes).map_err(|why| SettingsError::Invalid(format!("the OAuth client of {}: {why}", cut(&platform, 64))))?;
        }
        self.save_settings(project_id, &after).await?;
        Ok((before, after))
    }

    /// Stores the project's own OAuth client for `platform` in `environment` (`None`: both), checked against its
    /// integration (built-in or the project's custom one, which must sign in with OAuth). Refused when the config
    /// file names the platform's client.
    pub async fn put_client(&self, project_id: &str, platform: &str, environment: Option<Environment>, client: &OAuthClient) -> Result<(), SettingsError> {
        let (settings, managed) = self.stored(project_id).await?;
        if managed.manages_client(platform) {
            return Err(SettingsError::ManagedByFile(format!("the OAuth client of {platform}")));
        }
        let entry = self.builtin.get(platform).or_else(|| settings.custom_integrations.iter().find(|e| e.platform == platform));
        let Some(entry) = entry else {
            return Err(SettingsError::Invalid(format!("no integration {:?} (built-in or one of the project's customIntegrations)", cut(platform, 64))));
        };
        if entry.oauth.is_none() {
            return Err(SettingsError::Invalid(format!("{} does not sign in with OAuth: it has no OAuth client", entry.name)));
        }
        let id = client.client_id.trim();
        if id.is_empty() || id.len() > MAX_CLIENT_ID || id.chars().any(char::is_control) {
            return Err(SettingsError::Invalid(format!("clientId must be 1 to {MAX_CLIENT_ID} bytes without control characters")));
        }
        let secret = client.client_secret.expose();
        if secret.is_empty() || secret.len() > MAX_CLIENT_SECRET || secret.chars().any(char::is_control) {
            return Err(SettingsError::Invalid(format!("clientSecret must be 1 to {MAX_CLIENT_SECRET} bytes without control characters")));
        }
        let scopes = client.scopes.iter().flatten().chain(client.token_scopes.values().flatten());
        if client.scopes.as_ref().is_some_and(|s| s.len() > MAX_SCOPES) || client.token_scopes.values().any(|s| s.len() > MAX_SCOPES) {
            return Err(SettingsError::Invalid(format!("scopes: at most {MAX_SCOPES}")));
        }
        if let Some(bad) = scopes.into_iter().find(|s| s.is_empty() || s.len() > MAX_CLIENT_ID || s.chars().any(|c| c.is_whitespace() || c.is_control())) {
            return Err(SettingsError::Invalid(format!("scope {:?} must be 1 to {MAX_CLIENT_ID} bytes without spaces", cut(bad, 64))));
        }
        check_client(Some(entry), &client.settings, &client.token_scopes).map_err(|why| SettingsError::Invalid(format!("{}: {why}", entry.name)))?;
        self.save_client(project_id, platform, environment, client).await?;
        Ok(())
    }

    /// Removes the project's own OAuth client for `platform` in exactly `environment`; 404 when there is none.
    pub async fn remove_client(&self, project_id: &str, platform: &str, environment: Option<Environment>) -> Result<(), SettingsError> {
        let (_, managed) = self.stored(project_id).await?;
        if managed.manages_client(platform) {
            return Err(SettingsError::ManagedByFile(format!("the OAuth client of {platform}")));
        }
        if !self.delete_client(project_id, platform, environment).await? {
            let env = environment.map_or("both environments", Environment::as_str);
            return Err(SettingsError::NotFound(format!("the project has no OAuth client of its own for {:?} in {env}", cut(platform, 64))));
        }
        Ok(())
    }

    /// Refused when the config file names the project's webhook.
    pub async fn check_webhook_editable(&self, project_id: &str) -> Result<(), SettingsError> {
        if self.stored(project_id).await?.1.webhook {
            return Err(SettingsError::ManagedByFile("the webhook".into()));
        }
        Ok(())
    }
}
