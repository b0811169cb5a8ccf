//! The integration catalog: one TOML file per integration under `server/catalog/`, compiled into the binary,
//! parsed and checked once at start, then served from memory.

mod search;

use std::collections::{BTreeMap, HashMap};

use include_dir::{include_dir, Dir};
use plugboard_shared::AuthMethod;
use serde::{Deserialize, Serialize};
pub use search::Query;

static CATALOG_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/catalog");

/// One integration (SPEC §6). Field names are camelCase in the data files and on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Integration {
    pub platform: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub auth_method: AuthMethod,
    /// Other names users search for ("gcal", "claude").
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Where the logo vendored into `server/assets/logos/{platform}.svg` comes from: `simple-icons:<slug>` or
    /// `logos:<name>` (Gil Barbara's SVG Logos); both CC0, copied by `scripts/vendor-logos.mjs`. Absent: a monogram.
    #[serde(default, skip_serializing)]
    pub logo: Option<String>,
    /// Base URL of the provider's API; may use `{field}` templates (`https://{subdomain}.zendesk.com/api/v2`).
    pub api_base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthSpec>,
    /// What the user types in the connect form (API keys, subdomains, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// How the passthrough presents the credential; OAuth2 defaults to a bearer access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// A cheap authenticated request that proves a credential works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthSpec {
    /// Not used by `oauth2_client_credentials` entries.
    #[serde(default)]
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_auth: TokenAuth,
    #[serde(default)]
    pub pkce: bool,
    /// The authorization server's issuer identifier; when the callback carries `iss` it must equal this
    /// (RFC 9207), and a provider that says it always sends `iss` must send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

fn default_scope_separator() -> String {
    " ".into()
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    #[default]
    ClientSecretPost,
    ClientSecretBasic,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inject {
    Bearer { token: String },
    Header { name: String, value: String },
    Query { name: String, value: String },
    Basic { username: String, password: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verify {
    #[serde(default = "default_verify_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_verify_method() -> String {
    "GET".into()
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog/{file}: {message}")]
    Invalid { file: String, message: String },
}

/// All integrations, sorted by display name, with an index by platform id.
#[derive(Debug)]
pub struct Catalog {
    entries: Vec<Integration>,
    by_platform: HashMap<String, usize>,
    search: search::Index,
}

impl Catalog {
    /// Parses the compiled-in data files.
    pub fn builtin() -> Result<Self, CatalogError> {
        Self::with_extra(Vec::new())
    }

    /// The compiled-in entries plus `extra` ones (custom integrations; these may use plain http on loopback).
    pub fn with_extra(extra: Vec<Integration>) -> Result<Self, CatalogError> {
        let files = CATALOG_DIR
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
            .map(|f| (f.path().display().to_string(), f.contents_utf8().unwrap_or_default()));
        for e in &extra {
            validate(e, true).map_err(|message| CatalogError::Invalid { file: e.platform.clone(), message })?;
        }
        Self::build(files, extra)
    }

    /// A catalog of already-parsed, already-validated entries (a project's built-in plus custom ones).
    pub fn from_entries(entries: Vec<Integration>) -> Result<Self, CatalogError> {
        Self::build(std::iter::empty(), entries)
    }

    pub fn from_files<'a>(files: impl IntoIterator<Item = (String, &'a str)>) -> Result<Self, CatalogError> {
        Self::build(files, Vec::new())
    }

    fn build<'a>(files: impl IntoIterator<Item = (String, &'a str)>, extra: Vec<Integration>) -> Result<Self, CatalogError> {
        let mut entries = extra;
        for (file, text) in files {
            let entry: Integration =
                toml::from_str(text).map_err(|e| CatalogError::Invalid { file: file.clone(), message: e.to_string() })?;
            if format!("{}.toml", entry.platform) != file {
                return Err(CatalogError::Invalid { file, message: format!("platform {:?} must match the file name", entry.platform) });
            }
            validate(&entry, false).map_err(|message| CatalogError::Invalid { file: file.clone(), message })?;
            entries.push(entry);
        }
        entries.sort_by_key(|e| e.name.to_lowercase());
        let mut by_platform = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            if by_platform.insert(e.platform.clone(), i).is_some() {
                return Err(CatalogError::Invalid { file: e.platform.clone(), message: "duplicate platform id".into() });
            }
            // selectedConnection finds apps by display name, any case: two entries must not share one.
            if !names.insert(e.name.to_lowercase()) {
                return Err(CatalogError::Invalid { file: e.platform.clone(), message: format!("duplicate name {:?}", e.name) });
            }
        }
        let search = search::Index::new(&entries);
        Ok(Self { entries, by_platform, search })
    }

    pub fn all(&self) -> &[Integration] {
        &self.entries
    }

    pub fn get(&self, platform: &str) -> Option<&Integration> {
        self.by_platform.get(platform).map(|&i| &self.entries[i])
    }

    /// Categories of the entries `only` allows (all when `None`), by name, with their sizes.
    pub fn categories(&self, only: Option<&[String]>) -> Vec<(String, u64)> {
        let mut counts = std::collections::BTreeMap::<&str, u64>::new();
        for e in self.find(&Query { only, ..Default::default() }) {
            *counts.entry(e.category.as_str()).or_default() += 1;
        }
        counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Entries matching `query`, best first.
    pub fn find(&self, query: &Query<'_>) -> Vec<&Integration> {
        self.search.find(&self.entries, query)
    }
}

/// Checks what a data file's parser cannot: URLs, per-method requirements, field names.
pub fn validate(e: &Integration, allow_loopback_http: bool) -> Result<(), String> {
    let id_ok = !e.platform.is_empty()
        && e.platform.len() <= 64
        && e.platform.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(format!("platform {:?} must be lowercase letters, digits and dashes", e.platform));
    }
    if e.name.trim().is_empty() || e.category.trim().is_empty() {
        return Err("name and category are required".into());
    }
    let sample = |t: &str| {
        e.fields.iter().fold(t.to_owned(), |acc, f| acc.replace(&format!("{{{}}}", f.name), "sample"))
    };
    let check_url = |what: &str, t: &str| -> Result<(), String> {
        let url = url::Url::parse(&sample(t)).map_err(|err| format!("{what} {t:?}: {err}"))?;
        let loopback = matches!(url.host_str(), Some("localhost")) || url.host_str().is_some_and(|h| h.starts_with("127."));
        if url.scheme() == "https" || (allow_loopback_http && url.scheme() == "http" && loopback) {
            Ok(())
        } else {
            Err(format!("{what} {t:?} must be https"))
        }
    };
    check_url("apiBaseUrl", &e.api_base_url)?;
    if let Some(o) = &e.oauth {
        if e.auth_method == AuthMethod::Oauth2 {
            check_url("authorizationUrl", &o.authorization_url)?;
        }
        check_url("tokenUrl", &o.token_url)?;
        if let Some(r) = &o.revoke_url {
            check_url("revokeUrl", r)?;
        }
    }
    if let Some(v) = &e.verify {
        check_url("verify.url", &v.url)?;
    }
    let needs_oauth = matches!(e.auth_method, AuthMethod::Oauth2);
    if needs_oauth != e.oauth.is_some() && !matches!(e.auth_method, AuthMethod::Oauth2ClientCredentials) {
        return Err("oauth2 entries need an [oauth] table, others must not have one".into());
    }
    if matches!(e.auth_method, AuthMethod::Oauth2ClientCredentials) && e.oauth.is_none() {
        return Err("oauth2_client_credentials needs an [oauth] table with tokenUrl".into());
    }
    if matches!(e.auth_method, AuthMethod::ApiKey | AuthMethod::Basic) {
        if !e.fields.iter().any(|f| f.secret) {
            return Err("api_key and basic entries need at least one secret field".into());
        }
        if e.inject.is_none() {
            return Err("api_key and basic entries need an [inject] table".into());
        }
    }
    if let Some(logo) = &e.logo {
        let known = ["simple-icons:", "logos:"].iter().any(|p| logo.strip_prefix(p).is_some_and(|n| !n.is_empty()));
        if !known {
            return Err(format!("logo {logo:?} must be \"simple-icons:<slug>\" or \"logos:<name>\""));
        }
    }
    for f in &e.fields {
        if f.name.is_empty() || !f.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(format!("field name {:?} must be snake_case", f.name));
        }
        if let Some(p) = &f.pattern {
            regex::Regex::new(p).map_err(|err| format!("field {} pattern: {err}", f.name))?;
        }
    }
    Ok(())
}

/// A stable positive number derived from a string, for the seed's numeric `id` / `connectionDefId`.
pub fn stable_id(parts: &[&str]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]]) & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_with_unique_ids() {
        let c = Catalog::builtin().unwrap();
        assert!(c.all().len() >= 12);
        let mut names: Vec<_> = c.all().iter().map(|e| e.name.to_lowercase()).collect();
        names.dedup();
        assert_eq!(names.len(), c.all().len(), "display names must be unique");
        assert_eq!(c.get("gmail").unwrap().name, "Gmail");
    }

    #[test]
    fn a_file_named_differently_from_its_platform_is_refused() {
        let err = Catalog::from_files([("x.toml".to_string(), include_str!("../../catalog/gmail.toml"))]).unwrap_err();
        assert!(err.to_string().contains("must match the file name"));
    }
}
