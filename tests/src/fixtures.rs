//! Fixtures more than one test area uses, each with one home: the project config files tests start servers with,
//! the custom integration they declare, and the environment variables that carry those files' secrets.

use std::path::PathBuf;

/// A custom API-key integration, `acme-keys`, that needs no provider (no verify request): connecting it stores the
/// key as given, and the passthrough sends it as `x-api-key`. A `[[projects.customIntegrations]]` entry, to follow a
/// `[[projects]]` one.
pub const ACME_KEYS: &str = r#"[[projects.customIntegrations]]
platform = "acme-keys"
name = "Acme Keys"
category = "Developer tools"
description = "An API key, kept as given."
authMethod = "api_key"
apiBaseUrl = "https://api.acme.example"
[[projects.customIntegrations.fields]]
name = "api_key"
label = "API key"
secret = true
[projects.customIntegrations.inject]
type = "header"
name = "x-api-key"
value = "{api_key}"
"#;

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
