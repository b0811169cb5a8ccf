//! What the config file declares of a project — each setting it names, each `[projects.oauth.X]` client, its
//! webhook —, recorded when the file is applied at start (`projects.managed`). The operator API refuses to change
//! these (409 `managed_by_file`): the next start would put the file's value back. What the file does not name
//! stays the operator API's to change, and a start leaves it as it is.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ProjectError, ProjectSettings};
use crate::store::Store;

/// The settings a project may have, by their name in the file and in the API (camelCase).
pub const SETTINGS_FIELDS: [&str; 10] = [
    "visibleIntegrations",
    "featured",
    "allowedOrigins",
    "returnUrls",
    "sessionTtlSecs",
    "customIntegrations",
    "companyName",
    "logoUrl",
    "theme",
    "accentColor",
];

/// What a config file declares of one project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Managed {
    /// Settings the file names (of [`SETTINGS_FIELDS`]).
    pub fields: Vec<String>,
    /// Platforms whose OAuth client (for both environments) the file names.
    pub oauth: Vec<String>,
    /// Whether the file names the project's webhook.
    pub webhook: bool,
}

impl Managed {
    /// What the `[[projects]]` table `project` of a config file declares.
    pub fn declared(project: &toml::Table) -> Self {
        let fields = SETTINGS_FIELDS.iter().filter(|f| project.contains_key(**f)).map(|f| (*f).to_owned()).collect();
        let oauth = project.get("oauth").and_then(|o| o.as_table()).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        Self { fields, oauth, webhook: project.contains_key("webhook") }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.oauth.is_empty() && !self.webhook
    }

    /// The record of `project_id` (empty when the file declares nothing of it).
    pub async fn load(store: &Store, project_id: &str) -> Result<Self, ProjectError> {
        match store.project_managed(project_id).await? {
            None => Ok(Self::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| ProjectError::Invalid { project: project_id.into(), message: format!("the stored record of what the config file manages is unreadable: {e}") }),
        }
    }

    pub async fn save(&self, store: &Store, project_id: &str) -> Result<(), ProjectError> {
        let json = (!self.is_empty()).then(|| serde_json::to_string(self)).transpose().map_err(|e| ProjectError::Invalid { project: project_id.into(), message: e.to_string() })?;
        store.set_project_managed(project_id, json.as_deref()).await?;
        Ok(())
    }

    pub fn manages_field(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }

    pub fn manages_client(&self, platform: &str) -> bool {
        self.oauth.iter().any(|p| p == platform)
    }
}

/// The settings a start stores: the file's value for each field it declares now, the default for each it declared
/// at the last start but no longer does (the file owned it), and the stored value of every other field (the
/// operator API's). `stored` and `file` are settings JSON objects.
pub fn merge(stored: &ProjectSettings, file: &ProjectSettings, now: &Managed, before: &Managed) -> Result<ProjectSettings, serde_json::Error> {
    let as_map = |s: &ProjectSettings| -> Result<Map<String, Value>, serde_json::Error> {
        Ok(match serde_json::to_value(s)? {
            Value::Object(m) => m,
            _ => Map::new(),
        })
    };
    let (mut merged, file) = (as_map(stored)?, as_map(file)?);
    for field in SETTINGS_FIELDS {
        if now.manages_field(field) {
            match file.get(field) {
                Some(v) => merged.insert(field.into(), v.clone()),
                None => merged.remove(field),
            };
        } else if before.manages_field(field) {
            merged.remove(field);
        }
    }
    serde_json::from_value(Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_keeps_what_the_file_does_not_name() {
        let table: toml::Table = toml::from_str("id = \"p\"\ntheme = \"dark\"\nallowedOrigins = []\n[oauth.gmail]\nclientId = \"x\"\nclientSecretEnv = \"X\"\n").unwrap();
        let now = Managed::declared(&table);
        assert_eq!(now, Managed { fields: vec!["allowedOrigins".into(), "theme".into()], oauth: vec!["gmail".into()], webhook: false });
        let stored = ProjectSettings {
            theme: Some("light".into()),
            company_name: Some("Acme".into()),
            allowed_origins: vec!["https://a.example".into()],
            accent_color: Some("#112233".into()),
            ..Default::default()
        };
        let file = ProjectSettings { theme: Some("dark".into()), ..Default::default() };
        let before = Managed { fields: vec!["accentColor".into()], ..Default::default() };
        let merged = merge(&stored, &file, &now, &before).unwrap();
        assert_eq!(merged.theme.as_deref(), Some("dark"), "the file's value");
        assert!(merged.allowed_origins.is_empty(), "the file's (empty) value");
        assert_eq!(merged.company_name.as_deref(), Some("Acme"), "the API's value stays");
        assert_eq!(merged.accent_color, None, "the file owned it and no longer names it");
    }
}
