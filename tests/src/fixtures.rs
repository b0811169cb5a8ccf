//! Fixtures more than one test area uses, each with one home: the project config files tests start servers with,
//! the custom integration they declare, and the environment variables that carry those files' secrets.

use std::path::PathBuf;

/// A custom API-key integration that needs no provider (no verify request): a `[[projects.customIntegrations]]`
/// entry, to follow a `[[projects]]` one, whose one field, `api_key` (labelled `label`), is put into requests as
/// `inject` says (the body of its `[projects.customIntegrations.inject]` table).
pub fn api_key_integration(platform: &str, name: &str, description: &str, label: &str, inject: &str) -> String {
    format!(
        r#"[[projects.customIntegrations]]
platform = "{platform}"
name = "{name}"
category = "Developer tools"
description = "{description}"
authMethod = "api_key"
apiBaseUrl = "https://api.acme.example"
[[projects.customIntegrations.fields]]
name = "api_key"
label = "{label}"
secret = true
[projects.customIntegrations.inject]
{inject}"#
    )
}

/// `acme-keys`: an [`api_key_integration`] whose key is stored as given and sent as `x-api-key`.
pub fn acme_keys() -> String {
    api_key_integration("acme-keys", "Acme Keys", "An API key, kept as given.", "API key", "type = \"header\"\nname = \"x-api-key\"\nvalue = \"{api_key}\"\n")
}

/// Sets a new environment variable, named `<prefix>_<random>`, to `value`; answers its name. The tests share this
/// process's environment, so each names its own.
pub fn secret_env(prefix: &str, value: &str) -> String {
    let var = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    std::env::set_var(&var, value);
    var
}

/// `toml` written to a `plugboard.toml` of its own; answers its path. The file is kept until the process ends (a
/// server reads it when it starts, and again when it restarts).
pub fn config_file(toml: &str) -> PathBuf {
    let dir = tempfile::tempdir().expect("a temp dir").keep();
    let path = dir.join("plugboard.toml");
    std::fs::write(&path, toml).expect("the config file is written");
    path
}

/// The config file entry of `test-project` sending its webhooks to `url`, signed with the secret in the environment
/// variable `secret_env`.
pub fn webhook_project(url: &str, secret_env: &str) -> String {
    format!("[[projects]]\nid = \"test-project\"\n[projects.webhook]\nurl = \"{url}\"\nsecretEnv = \"{secret_env}\"\n")
}
