//! The audit trail's writer: who acted ([`Actor`]) and what changed, with secrets redacted before anything is
//! stored.

use serde_json::Value;

use crate::store::{NewAudit, Store, StoreResult};

/// Who did something: an operator (through a session or a token), the command line, or the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// An operator's email, `cli` or `config file`.
    pub name: String,
    pub operator_id: Option<String>,
    pub client_ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Self {
        Self { name: "cli".into(), operator_id: None, client_ip: None }
    }

    pub fn config_file() -> Self {
        Self { name: "config file".into(), operator_id: None, client_ip: None }
    }

    pub fn operator(principal: &super::Principal, client_ip: Option<std::net::IpAddr>) -> Self {
        Self { name: principal.email.clone(), operator_id: Some(principal.operator_id.clone()), client_ip: client_ip.map(|ip| ip.to_string()) }
    }
}

/// Field names whose values are secrets wherever they appear in a change: replaced by `"[redacted]"`.
const SECRET_FIELDS: [&str; 9] = ["password", "secret", "clientsecret", "token", "accesstoken", "refreshtoken", "apikey", "signingsecret", "secretkey"];

fn is_secret_field(name: &str) -> bool {
    let folded: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    SECRET_FIELDS.contains(&folded.as_str()) || folded.ends_with("secret") || folded.ends_with("password")
}

/// `details` with the value of every secret-named field, at any depth, replaced by `"[redacted]"`.
pub fn redact(details: Value) -> Value {
    match details {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_field(&k) && !v.is_null() { Value::String("[redacted]".into()) } else { redact(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// One entry to append: [`record`] fills in who.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub action: &'a str,
    pub project_id: Option<&'a str>,
    pub target: Option<&'a str>,
    pub refused: bool,
    pub details: Value,
}

/// Appends `change` by `actor` to the audit trail, its details redacted.
pub async fn record(store: &Store, actor: &Actor, change: Change<'_>) -> StoreResult<()> {
    store
        .append_audit(&NewAudit {
            actor: actor.name.clone(),
            operator_id: actor.operator_id.clone(),
            client_ip: actor.client_ip.clone(),
            action: change.action.into(),
            project_id: change.project_id.map(Into::into),
            target: change.target.map(Into::into),
            refused: change.refused,
            details: redact(change.details),
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let out = redact(serde_json::json!({
            "clientId": "abc",
            "clientSecret": "shh",
            "webhook": {"url": "https://x", "signing_secret": "shh"},
            "clients": [{"client_secret": "shh", "scopes": ["a"]}],
            "password": "shh",
            "tokenScopes": {"user": ["x"]},
        }));
        assert!(!out.to_string().contains("shh"), "{out}");
        assert_eq!(out["clientId"], "abc");
        assert_eq!(out["tokenScopes"]["user"][0], "x", "a field that only starts like a secret's name stays");
    }
}
