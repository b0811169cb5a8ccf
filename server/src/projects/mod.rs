//! Per-project settings (README, Projects): visible integrations, custom integrations, own OAuth clients, allowed host
//! origins, session TTL. Stored in the database (the source of truth, shared by every node); a config file can
//! set them at start. Each node keeps a derived per-project catalog — what end users are offered, featured apps
//! first — rebuilt when the stored settings or the project's own OAuth clients change.
//!
//! Long on purpose: a project's settings, their checks and their cached view change together.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};

pub mod edit;
pub mod file;
pub mod managed;

pub use file::{ConfigFile, FileClient, FileProject, FileWebhook};

use crate::{
    catalog::{validate, Catalog, Integration, MAX_FEATURED, POPULAR},
    config::OAuthClient,
    keys::Environment,
    store::{ProjectClientRow, SharedStore, StoreError},
    vault::{SecretString, Vault, VaultError},
};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProjectSettings {
    /// Platform ids the widget shows; `None` = every integration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_integrations: Option<Vec<String>>,
    /// Host page origins allowed to embed the widget (`https://app.example.com`); empty = any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_ttl_secs: Option<u64>,
    /// Host pages a same-tab sign-in may come back to (the widget's fallback when popups are blocked, and
    /// `@withone/auth`'s redirect mode), as whole URLs compared string for string: no wildcards, no prefixes
    /// (RFC 9700 §4.1.3: exact redirect matching). Empty = no same-tab sign-in; the widget uses a popup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub return_urls: Vec<String>,
    /// Integrations of this project only, same schema as the catalog's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_integrations: Vec<Integration>,
    /// Platform ids the widget lists first, in this order, before the rest (and that rank higher in a search);
    /// `None` = Plugboard's default list of popular apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub featured: Option<Vec<String>>,
    /// The name end users see on auth-link and sign-in pages ("Acme"); default: the project's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// The logo on those pages: an https URL (http on a loopback address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Those pages' theme: `light` or `dark`; `None` follows the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// The project's brand colour, `#rrggbb` (six hex digits): kept and served to operators; Plugboard's pages do not
    /// use it yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("no project {0:?}")]
    Unknown(String),
    #[error("project {project}: {message}")]
    Invalid { project: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Most pages `returnUrls` may list.
pub const MAX_RETURN_URLS: usize = 20;

/// Longest `returnUrls` entry (bytes).
pub const MAX_RETURN_URL_LEN: usize = 2048;

/// Longest `companyName` (characters).
pub const MAX_COMPANY_NAME: usize = 100;

/// Longest `logoUrl` (bytes).
pub const MAX_LOGO_URL_LEN: usize = 2048;

/// The themes a project may fix for its pages (`theme`); absent = the device's setting.
pub const THEMES: [&str; 2] = ["light", "dark"];

fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// A page a same-tab sign-in may return to: an absolute https URL (http only on a loopback address), written
/// exactly as the URL parser writes it back (so the registered string is the one browsers send), without
/// userinfo, on one of `allowed_origins` when the project lists any. Errors say why, as a sentence ending.
pub fn check_return_url(u: &str, allowed_origins: &[String]) -> Result<(), String> {
    if u.len() > MAX_RETURN_URL_LEN {
        return Err(format!("is longer than {MAX_RETURN_URL_LEN} bytes"));
    }
    if u.contains('*') {
        return Err("holds `*`, which is no wildcard here: list each page whole".into());
    }
    let parsed = url::Url::parse(u).map_err(|e| format!("is not an absolute URL ({e})"))?;
    parsed.host().ok_or("has no host")?;
    match parsed.scheme() {
        "https" => {}
        "http" if crate::catalog::is_loopback(&parsed) => {}
        _ => return Err("must be https (plain http only on a loopback address)".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not hold a user name or password".into());
    }
    if parsed.as_str() != u {
        return Err(format!("must be written as browsers send it: {:?}", cut(parsed.as_str(), 200)));
    }
    let origin = parsed.origin().ascii_serialization();
    if !allowed_origins.is_empty() && !allowed_origins.contains(&origin) {
        return Err(format!("is not on one of the project's allowedOrigins ({origin})"));
    }
    Ok(())
}

/// A `companyName`: 1 to [`MAX_COMPANY_NAME`] characters, not only spaces, none of them a control or an invisible
/// format character (bidi overrides, zero-width spaces), which could make the name read as another on a page.
/// Errors say why, as a sentence ending.
pub fn check_company_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("is empty".into());
    }
    if name.chars().count() > MAX_COMPANY_NAME {
        return Err(format!("is longer than {MAX_COMPANY_NAME} characters"));
    }
    if name.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return Err("holds a control or invisible formatting character".into());
    }
    Ok(())
}

/// Unicode format characters that change how the text around them reads (bidi controls, zero-width and other
/// invisible characters), shown as U+FFFD wherever end users read text someone else chose.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// A `logoUrl`: an absolute https URL (http only on a loopback address) of at most [`MAX_LOGO_URL_LEN`] bytes,
/// without userinfo. Answers the URL as browsers will ask for it. Errors say why, as a sentence ending.
pub fn check_logo_url(u: &str) -> Result<url::Url, String> {
    if u.len() > MAX_LOGO_URL_LEN {
        return Err(format!("is longer than {MAX_LOGO_URL_LEN} bytes"));
    }
    let parsed = url::Url::parse(u).map_err(|e| format!("is not an absolute URL ({e})"))?;
    parsed.host().ok_or("has no host")?;
    match parsed.scheme() {
        "https" => {}
        "http" if crate::catalog::is_loopback(&parsed) => {}
        _ => return Err("must be https (plain http only on a loopback address)".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not hold a user name or password".into());
    }
    Ok(parsed)
}

/// `scheme://host[:port]` and nothing else.
pub fn is_origin(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/" && u.query().is_none()
            && u.origin().ascii_serialization() == s
    })
}

impl ProjectSettings {
    /// Checks the settings against the built-in catalog before they are stored.
    pub fn validate(&self, project: &str, builtin: &Catalog) -> Result<(), ProjectError> {
        let invalid = |message: String| ProjectError::Invalid { project: project.into(), message };
        for e in &self.custom_integrations {
            validate(e, true).map_err(|m| invalid(format!("custom integration {}: {m}", e.platform)))?;
            if builtin.get(&e.platform).is_some() {
                return Err(invalid(format!("custom integration {} has the id of a built-in one", e.platform)));
            }
        }
        if let Some(visible) = &self.visible_integrations {
            for p in visible {
                if builtin.get(p).is_none() && !self.custom_integrations.iter().any(|e| &e.platform == p) {
                    return Err(invalid(format!("visibleIntegrations names an unknown integration {p:?}")));
                }
            }
        }
        if let Some(bad) = self.allowed_origins.iter().find(|o| !is_origin(o)) {
            return Err(invalid(format!("{bad:?} is not an origin like https://app.example.com")));
        }
        if self.return_urls.len() > MAX_RETURN_URLS {
            return Err(invalid(format!("returnUrls may list at most {MAX_RETURN_URLS} pages")));
        }
        for u in &self.return_urls {
            check_return_url(u, &self.allowed_origins).map_err(|why| invalid(format!("returnUrls: {:?} {why}", cut(u, 200))))?;
        }
        if let Some(featured) = &self.featured {
            if featured.len() > MAX_FEATURED {
                return Err(invalid(format!("featured may name at most {MAX_FEATURED} integrations")));
            }
            if let Some(p) = featured.iter().find(|p| builtin.get(p).is_none() && !self.custom_integrations.iter().any(|e| &e.platform == *p)) {
                return Err(invalid(format!("featured names an unknown integration {:?}", cut(p, 64))));
            }
        }
        if self.session_ttl_secs.is_some_and(|t| !(60..=86_400).contains(&t)) {
            return Err(invalid("sessionTtlSecs must be between 60 and 86400".into()));
        }
        if let Some(name) = &self.company_name {
            check_company_name(name).map_err(|why| invalid(format!("companyName {:?} {why}", cut(name, 120))))?;
        }
        if let Some(u) = &self.logo_url {
            check_logo_url(u).map_err(|why| invalid(format!("logoUrl {:?} {why}", cut(u, 200))))?;
        }
        if let Some(theme) = &self.theme {
            if !THEMES.contains(&theme.as_str()) {
                return Err(invalid(format!("theme {:?} must be \"light\" or \"dark\" (or absent: the device's setting)", cut(theme, 40))));
            }
        }
        if let Some(colour) = &self.accent_color {
            if !is_hex_colour(colour) {
                return Err(invalid(format!("accentColor {:?} must be a colour written #rrggbb (six hex digits)", cut(colour, 40))));
            }
        }
        Ok(())
    }
}

/// `#rrggbb`: `#` and six hex digits (either case).
pub fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// What requests of one project see.
#[derive(Debug)]
pub struct ProjectView {
    pub settings: ProjectSettings,
    /// Built-in plus this project's custom integrations.
    pub catalog: Arc<Catalog>,
    /// The token answer's first page as JSON, by environment and page size, rendered once per view (a changed
    /// project gets a new view, so nothing stale is served). Only for sessions without their own allow-list.
    pub first_pages: std::sync::RwLock<HashMap<(crate::keys::Environment, u64), Arc<RenderedPage>>>,
}

/// One page of the widget's list, serialized.
#[derive(Debug)]
pub struct RenderedPage {
    /// The JSON array of rows.
    pub rows_json: String,
    pub total: u64,
    pub pages: u64,
}

impl ProjectView {
    /// The platforms a session may see: the project's visible list narrowed by the session's own list.
    pub fn only(&self, session: Option<&[String]>) -> Option<Vec<String>> {
        match (&self.settings.visible_integrations, session) {
            (None, None) => None,
            (Some(v), None) => Some(v.clone()),
            (None, Some(s)) => Some(s.to_vec()),
            (Some(v), Some(s)) => Some(s.iter().filter(|p| v.contains(p)).cloned().collect()),
        }
    }

    /// Whether a same-tab sign-in may come back to `page`: it is one of `returnUrls`, string for string.
    pub fn allows_return_to(&self, page: &str) -> bool {
        self.settings.return_urls.iter().any(|u| u == page)
    }

    /// Whether any `returnUrls` page is on `origin` (`scheme://host[:port]`): the widget then offers same-tab.
    pub fn has_return_on(&self, origin: &str) -> bool {
        self.settings.return_urls.iter().filter_map(|u| url::Url::parse(u).ok()).any(|u| u.origin().ascii_serialization() == origin)
    }

    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        self.settings.allowed_origins.is_empty() || origin.is_some_and(|o| self.settings.allowed_origins.iter().any(|a| a == o))
    }
}

/// Who asks, as end users see it on Plugboard's own pages (auth links, the sign-in window): the project's
/// `companyName` (else its name), `logoUrl` and `theme`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// Never empty: `companyName`, else the project's name, else its id.
    pub company: String,
    /// Checked when stored (see [`check_logo_url`]); a stored one that no longer passes is left out.
    pub logo_url: Option<url::Url>,
    /// `light` or `dark`; `None` follows the device.
    pub theme: Option<String>,
}

/// What a view was built from — the settings JSON and the platforms the project has its own OAuth client for in the
/// view's environment —, the view, and when these were last compared with the database.
type CachedView = (ViewSource, Arc<ProjectView>, std::time::Instant);

#[derive(Debug, Clone, PartialEq, Eq)]
struct ViewSource {
    settings_json: String,
    own_clients: Vec<String>,
}

pub struct Projects {
    store: SharedStore,
    vault: Arc<Vault>,
    pub builtin: Arc<Catalog>,
    /// Deployment-wide OAuth clients (environment), used when a project has none of its own.
    defaults: BTreeMap<String, OAuthClient>,
    /// By project and environment: an integration is offered only where it has an OAuth client to connect with.
    views: Mutex<HashMap<(String, Environment), CachedView>>,
    /// [`Projects::framing_origins`] and when it was computed: every `/widget` load asks, so it is remembered for
    /// [`crate::store::HOT_TTL`] instead of reading every project each time.
    framing: Mutex<Option<(std::time::Instant, Option<Vec<String>>)>>,
}

impl Projects {
    pub fn new(store: SharedStore, vault: Arc<Vault>, builtin: Arc<Catalog>, defaults: BTreeMap<String, OAuthClient>) -> Self {
        Self { store, vault, builtin, defaults, views: Mutex::default(), framing: Mutex::default() }
    }

    /// The project's current view in `environment`: from memory when checked within [`crate::store::HOT_TTL`], else
    /// after two indexed reads (its settings, and which platforms it has its own OAuth client for in that
    /// environment), rebuilt when either changed — so a setting or an OAuth client changed on any node shows in
    /// every node's lists within that time. What does not depend on the environment (settings, branding, origins)
    /// is the same in both views.
    pub async fn view(&self, project_id: &str, environment: Environment) -> Result<Arc<ProjectView>, ProjectError> {
        let cache_key = (project_id.to_owned(), environment);
        if let Some((_, view, checked)) = self.views.lock().expect("not poisoned").get(&cache_key) {
            if checked.elapsed() < crate::store::HOT_TTL {
                return Ok(view.clone());
            }
        }
        let settings_json = self.store.project_config(project_id).await?.ok_or_else(|| ProjectError::Unknown(project_id.into()))?;
        let mut own_clients: Vec<String> = self
            .store
            .project_client_slots(project_id)
            .await?
            .into_iter()
            .filter(|(_, env)| env.is_none_or(|e| e == environment))
            .map(|(platform, _)| platform)
            .collect();
        own_clients.dedup();
        // Byte order, whatever the database's collation, for the binary search below.
        own_clients.sort_unstable();
        let source = ViewSource { settings_json, own_clients };
        // The catalog of custom integrations is kept while only the clients changed: indexing it is the costly part.
        let mut same_settings = None;
        if let Some((seen, view, checked)) = self.views.lock().expect("not poisoned").get_mut(&cache_key) {
            if *seen == source {
                *checked = std::time::Instant::now();
                return Ok(view.clone());
            }
            if seen.settings_json == source.settings_json {
                same_settings = Some(view.clone());
            }
        }
        let invalid = |message: String| ProjectError::Invalid { project: project_id.into(), message };
        let (settings, base) = match same_settings {
            Some(view) => (view.settings.clone(), view.catalog.clone()),
            None => {
                let settings: ProjectSettings = serde_json::from_str(&source.settings_json).map_err(|e| invalid(e.to_string()))?;
                let base = if settings.custom_integrations.is_empty() {
                    self.builtin.clone()
                } else {
                    let mut all = self.builtin.all().to_vec();
                    all.extend(settings.custom_integrations.iter().cloned());
                    Arc::new(Catalog::from_entries(all).map_err(|e| invalid(e.to_string()))?)
                };
                (settings, base)
            }
        };
        let has_client = |platform: &str| self.defaults.contains_key(platform) || source.own_clients.binary_search_by(|p| p.as_str().cmp(platform)).is_ok();
        let ready = |e: &Integration| !e.needs_server_client() || has_client(&e.platform);
        let catalog = match &settings.featured {
            Some(featured) => base.offered(ready, featured),
            None => base.offered(ready, POPULAR),
        };
        let view = Arc::new(ProjectView { settings, catalog: Arc::new(catalog), first_pages: Default::default() });
        self.views.lock().expect("not poisoned").insert(cache_key, (source, view.clone(), std::time::Instant::now()));
        Ok(view)
    }

    /// The origins that may frame `/widget` when the framer does not name its project (CSP `frame-ancestors`):
    /// every project's allowed origins together, or `None` (any web page) when some project allows every origin.
    pub async fn framing_origins(&self) -> Result<Option<Vec<String>>, ProjectError> {
        if let Some((at, origins)) = self.framing.lock().expect("not poisoned").as_ref() {
            if at.elapsed() < crate::store::HOT_TTL {
                return Ok(origins.clone());
            }
        }
        let origins = self.all_allowed_origins().await?;
        *self.framing.lock().expect("not poisoned") = Some((std::time::Instant::now(), origins.clone()));
        Ok(origins)
    }

    async fn all_allowed_origins(&self) -> Result<Option<Vec<String>>, ProjectError> {
        let mut all = Vec::new();
        for project in self.store.list_projects().await? {
            let view = self.view(&project.id, Environment::Live).await?;
            if view.settings.allowed_origins.is_empty() {
                return Ok(None);
            }
            all.extend(view.settings.allowed_origins.iter().cloned());
        }
        all.sort_unstable();
        all.dedup();
        Ok(Some(all))
    }

    pub async fn save_settings(&self, project_id: &str, settings: &ProjectSettings) -> Result<(), ProjectError> {
        settings.validate(project_id, &self.builtin)?;
        let json = serde_json::to_string(settings).map_err(|e| ProjectError::Invalid { project: project_id.into(), message: e.to_string() })?;
        self.store.set_project_config(project_id, &json).await?;
        self.forget(project_id);
        Ok(())
    }

    /// Drops this node's views of the project (other nodes see the change within [`crate::store::HOT_TTL`]).
    fn forget(&self, project_id: &str) {
        self.views.lock().expect("not poisoned").retain(|(p, _), _| p != project_id);
    }

    /// The project's [`Brand`]. One read of the project list when `companyName` is not set (projects are few).
    pub async fn brand(&self, project_id: &str) -> Result<Brand, ProjectError> {
        let settings = &self.view(project_id, Environment::Live).await?.settings;
        let company = match settings.company_name.clone() {
            Some(name) => name,
            None => self.store.list_projects().await?.into_iter().find(|p| p.id == project_id).map_or_else(|| project_id.to_owned(), |p| p.name),
        };
        Ok(Brand {
            company,
            logo_url: settings.logo_url.as_deref().and_then(|u| check_logo_url(u).ok()),
            theme: settings.theme.clone().filter(|t| THEMES.contains(&t.as_str())),
        })
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub(crate) fn client_aad(project_id: &str, platform: &str) -> Vec<u8> {
        format!("oauth-client:{project_id}:{platform}").into_bytes()
    }

    /// Stores the project's own OAuth client for `platform` in `environment` (`None`: both), its secret sealed.
    pub async fn save_client(&self, project_id: &str, platform: &str, environment: Option<Environment>, client: &OAuthClient) -> Result<(), ProjectError> {
        let sealed = self.vault.seal(client.client_secret.expose().as_bytes(), &Self::client_aad(project_id, platform));
        let row = ProjectClientRow { client_id: client.client_id.clone(), scopes: client.scopes.clone(), settings: client.settings.clone(), token_scopes: client.token_scopes.clone(), sealed };
        self.store.set_project_client(project_id, platform, environment, &row).await?;
        self.forget(project_id);
        Ok(())
    }

    /// Removes the project's own OAuth client for `platform` in exactly `environment` (`None`: the one for both);
    /// answers whether there was one.
    pub async fn delete_client(&self, project_id: &str, platform: &str, environment: Option<Environment>) -> Result<bool, ProjectError> {
        let removed = self.store.delete_project_client(project_id, platform, environment).await?;
        self.forget(project_id);
        Ok(removed)
    }

    /// Removes the project's own OAuth clients for both environments of the platforms in `previously` (what the
    /// config file named at the last start) that `keep` (what it names now) no longer names: their integrations
    /// leave the project's lists unless another client serves them. Clients made through the operator API stay.
    /// Answers the platforms removed.
    pub async fn retain_clients(&self, project_id: &str, previously: &[String], keep: &[&str]) -> Result<Vec<String>, ProjectError> {
        let mut removed = Vec::new();
        for platform in previously {
            if !keep.contains(&platform.as_str()) && self.store.delete_project_client(project_id, platform, None).await? {
                removed.push(platform.clone());
            }
        }
        if !removed.is_empty() {
            self.forget(project_id);
        }
        Ok(removed)
    }

    /// The OAuth client `platform` connects with in `environment`: the project's own for that environment, else
    /// its own for both, else the deployment's.
    pub async fn oauth_client(&self, project_id: &str, platform: &str, environment: Environment) -> Result<Option<OAuthClient>, ProjectError> {
        for env in [Some(environment), None] {
            if let Some(row) = self.store.project_client(project_id, platform, env).await? {
                let secret = self.vault.open(&row.sealed, &Self::client_aad(project_id, platform))?;
                let secret = String::from_utf8(secret.to_vec()).map_err(|_| VaultError::Decrypt)?;
                return Ok(Some(OAuthClient { client_id: row.client_id, client_secret: SecretString::new(secret), scopes: row.scopes, settings: row.settings, token_scopes: row.token_scopes }));
            }
        }
        Ok(self.defaults.get(platform).cloned())
    }

    /// The project's own OAuth client for both environments, else the deployment's: what a grant made before
    /// environments had clients of their own came from.
    pub async fn oauth_client_for_both(&self, project_id: &str, platform: &str) -> Result<Option<OAuthClient>, ProjectError> {
        if let Some(row) = self.store.project_client(project_id, platform, None).await? {
            let secret = self.vault.open(&row.sealed, &Self::client_aad(project_id, platform))?;
            let secret = String::from_utf8(secret.to_vec()).map_err(|_| VaultError::Decrypt)?;
            return Ok(Some(OAuthClient { client_id: row.client_id, client_secret: SecretString::new(secret), scopes: row.scopes, settings: row.settings, token_scopes: row.token_scopes }));
        }
        Ok(self.defaults.get(platform).cloned())
    }

    /// Whether the deployment has its own OAuth client for `platform` (used when a project has none).
    pub fn has_default_client(&self, platform: &str) -> bool {
        self.defaults.contains_key(platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in ["https://app.example.com", "http://127.0.0.1:8081", "https://a.b:8443"] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in ["https://app.example.com/", "app.example.com", "https://x.com/path", "ftp://x.com", "*", "https://x.com?q"] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_against_the_catalog() {
        let builtin = Catalog::builtin().unwrap();
        let ok = ProjectSettings { visible_integrations: Some(vec!["gmail".into()]), ..Default::default() };
        assert!(ok.validate("p", &builtin).is_ok());
        let unknown = ProjectSettings { visible_integrations: Some(vec!["nope".into()]), ..Default::default() };
        assert!(unknown.validate("p", &builtin).unwrap_err().to_string().contains("unknown integration"));
        let shadow = ProjectSettings { custom_integrations: vec![builtin.get("gmail").unwrap().clone()], ..Default::default() };
        assert!(shadow.validate("p", &builtin).unwrap_err().to_string().contains("built-in"));
        let ttl = ProjectSettings { session_ttl_secs: Some(5), ..Default::default() };
        assert!(ttl.validate("p", &builtin).is_err());
    }

    #[test]
    fn featured_names_known_integrations_and_at_most_fifty() {
        let builtin = Catalog::builtin().unwrap();
        let featured = |ids: Vec<String>| ProjectSettings { featured: Some(ids), ..Default::default() }.validate("p", &builtin);
        assert!(featured(vec!["slack".into(), "gmail".into()]).is_ok());
        assert!(featured(Vec::new()).is_ok(), "none: alphabetical");
        let err = featured(vec!["slack".into(), "nope".into()]).unwrap_err().to_string();
        assert!(err.contains("featured names an unknown integration \"nope\""), "{err}");
        let many = builtin.all().iter().take(MAX_FEATURED + 1).map(|e| e.platform.clone()).collect();
        assert!(featured(many).unwrap_err().to_string().contains("at most 50"));
        let long = featured(vec!["x".repeat(10_000)]).unwrap_err().to_string();
        assert!(long.len() < 200, "an invented id is not echoed whole");
        // A custom integration may be featured.
        let mut acme = builtin.get("stripe").unwrap().clone();
        (acme.platform, acme.name) = ("acme".into(), "Acme".into());
        let custom = ProjectSettings { featured: Some(vec!["acme".into()]), custom_integrations: vec![acme], ..Default::default() };
        assert!(custom.validate("p", &builtin).is_ok());
    }

    #[test]
    fn return_urls_are_whole_https_pages_written_as_browsers_send_them() {
        let none: &[String] = &[];
        for ok in ["https://app.example.com/settings/apps", "https://app.example.com/?tab=apps", "http://127.0.0.1:8081/", "http://[::1]:3000/x", "https://app.example.com/#/integrations"] {
            assert_eq!(check_return_url(ok, none), Ok(()), "{ok}");
        }
        for bad in [
            "app.example.com/x",                      // not absolute
            "http://app.example.com/x",               // plain http off loopback
            "http://127.x.my.salesforce.com/x",       // a name that starts like a loopback address is a name
            "http://localhost/x",                     // a name, whatever it resolves to
            "https://user:pw@app.example.com/x",      // userinfo
            "https://APP.example.com/x",              // browsers send the host lower-cased
            "https://app.example.com",                // browsers send the path `/`
            "javascript:alert(1)",
            "https://app.example.com/*",              // no wildcards
        ] {
            assert!(check_return_url(bad, none).is_err(), "{bad}");
        }
        let origins = ["https://app.example.com".to_string()];
        assert!(check_return_url("https://app.example.com/x", &origins).is_ok());
        assert!(check_return_url("https://evil.example/x", &origins).unwrap_err().contains("allowedOrigins"));
        let builtin = Catalog::builtin().unwrap();
        let many = ProjectSettings { return_urls: (0..=MAX_RETURN_URLS).map(|i| format!("https://a.example/{i}")).collect(), ..Default::default() };
        assert!(many.validate("p", &builtin).is_err());
    }

    #[test]
    fn branding_is_a_readable_name_an_https_logo_and_a_known_theme() {
        let builtin = Catalog::builtin().unwrap();
        let with = |f: fn(&mut ProjectSettings)| {
            let mut s = ProjectSettings::default();
            f(&mut s);
            s.validate("p", &builtin).map_err(|e| e.to_string())
        };
        assert!(with(|s| {
            s.company_name = Some("Acme, Inc. 山田".into());
            s.logo_url = Some("https://cdn.acme.example/logo.svg".into());
            s.theme = Some("dark".into());
        })
        .is_ok());
        assert!(with(|s| s.logo_url = Some("http://127.0.0.1:8081/logo.png".into())).is_ok());
        for (bad, why) in [
            (with(|s| s.company_name = Some("   ".into())), "companyName"),
            (with(|s| s.company_name = Some("x".repeat(101))), "longer than 100"),
            (with(|s| s.company_name = Some("Acme\u{202e}evil".into())), "invisible"),
            (with(|s| s.company_name = Some("Acme\nInc".into())), "control"),
            (with(|s| s.logo_url = Some("http://acme.example/logo.png".into())), "https"),
            (with(|s| s.logo_url = Some("javascript:alert(1)".into())), "logoUrl"),
            (with(|s| s.logo_url = Some("logo.png".into())), "absolute"),
            (with(|s| s.logo_url = Some("https://u:p@acme.example/l.png".into())), "user name"),
            (with(|s| s.logo_url = Some(format!("https://acme.example/{}", "a".repeat(2048)))), "2048"),
            (with(|s| s.theme = Some("blue".into())), "theme"),
        ] {
            assert!(bad.as_ref().is_err_and(|e| e.contains(why)), "{why}: {bad:?}");
        }
    }

    #[test]
    fn the_visible_list_and_the_session_list_intersect() {
        let view = ProjectView {
            settings: ProjectSettings { visible_integrations: Some(vec!["a".into(), "b".into()]), ..Default::default() },
            catalog: Arc::new(Catalog::builtin().unwrap()),
            first_pages: Default::default(),
        };
        assert_eq!(view.only(None), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(view.only(Some(&["b".to_string(), "c".to_string()])), Some(vec!["b".to_string()]));
    }
}
