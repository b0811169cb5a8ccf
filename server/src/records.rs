//! The wire records built from stored rows: what the API and the webhooks answer about a connection (README,
//! Embedding). The store keeps rows and knows nothing of this JSON; the catalog is read here only for the
//! connection definition's id.

use plugboard_shared::{ConnectionRecord, ConnectionSettings, Throughput};

use crate::{catalog::stable_id, store::ConnectionRow};

impl ConnectionRow {
    /// The connection record (README, Embedding) of a stored row: the seed's fields, never a secret.
    pub fn record(&self) -> ConnectionRecord {
        ConnectionRecord {
            id: self.id.clone(),
            platform_version: "1.0.0".into(),
            connection_definition_id: stable_id(&[&self.platform]).to_string(),
            name: self.name.clone(),
            key: self.key.clone(),
            environment: self.environment.as_str().into(),
            platform: self.platform.clone(),
            secrets_service_id: format!("pbv_{}", self.id.replace('-', "")),
            identity: Some(self.identity.clone()),
            identity_type: Some(self.identity_type),
            settings: ConnectionSettings { parse_webhook_body: false, show_secret: false, allow_custom_events: false, oauth: self.is_oauth },
            throughput: Throughput { key: self.key.clone(), limit: 100 },
            created_at: self.created_at,
            updated_at: self.updated_at,
            updated: self.version > 1,
            version: format!("{}.0.0", self.version),
            last_modified_by: "plugboard".into(),
            deleted: self.deleted,
            tags: Vec::new(),
            active: !self.deleted,
            deprecated: false,
            state: self.state,
            connection_config: self.config.clone(),
            account: self.account.clone(),
            choices: self.choices.clone(),
        }
    }
}
