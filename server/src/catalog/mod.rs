//! The integration catalog: one TOML file per integration under `server/catalog/`, compiled into the binary,
//! parsed and checked once at start, then served from memory.
//!
//! Long on purpose: every catalog type sits beside the start-time check of its fields, so a new field cannot be
//! added without its check; search, offers and scope words are already their own files.

pub mod inject;
mod offer;
mod scopes;
mod search;
pub mod template;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use include_dir::{include_dir, Dir};
use plugboard_shared::AuthMethod;
use serde::{Deserialize, Serialize};
pub use offer::{Offer, MAX_FEATURED, POPULAR};
pub use scopes::permissions;
pub use search::Query;

static CATALOG_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/catalog");

/// One integration (README, Adding a catalog entry). Field names are camelCase in the data files and on the wire.
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
    /// Values learned while connecting (QuickBooks' `realmId`, Salesforce's `instance_url`, Xero's tenant), kept
    /// as the connection's non-secret config: usable as `{name}` in URL and header templates, and returned to the
    /// host as `connectionConfig`. (Serialized: a project's custom integrations are stored as JSON.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<Metadata>,
    /// [`Self::api_base_url`] parsed, when it has no template: parsed once, not on every passthrough call. Filled
    /// on first use and copied by `clone`: an entry whose `api_base_url` is changed after that must be built anew.
    #[serde(skip)]
    parsed_base: std::sync::OnceLock<Option<url::Url>>,
}

impl Integration {
    /// [`Self::api_base_url`] parsed once, when it has no `{field}` template; `None` when it has one (render it
    /// with the connection's config) or is not a URL.
    pub fn fixed_api_base(&self) -> Option<&url::Url> {
        self.parsed_base.get_or_init(|| url::Url::parse(&self.api_base_url).ok().filter(|_| !self.api_base_url.contains('{'))).as_ref()
    }
}

/// The metadata name that is no configuration value but the connection's `account` label (who it signs in as, for
/// people to read): read from the token answer (`from = "token"`), never required, never in `connectionConfig` or
/// templates.
pub const ACCOUNT: &str = "account";

/// One value learned while connecting (see [`Integration::metadata`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The config key: `{name}` in templates, a key of the record's `connectionConfig`.
    pub name: String,
    pub from: MetadataSource,
    /// `callback`: the query parameter; `token`: the answer's member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `request` (and `token`, for nested members): an RFC 6901 JSON pointer into the answer (`/0/tenantId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// `request`: the URL fetched once after connecting, with the new credential injected as for the passthrough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When set, the value is a URL or host name and must be https on one of these hosts (`*.salesforce.com`
    /// matches any subdomain); it is kept as its origin (`https://host`). Else it must be a plain token of
    /// letters, digits and `-_.~`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// When the provider does not send it, connect anyway (else the connect fails with a clear message).
    #[serde(default)]
    pub optional: bool,
    /// Used when the provider does not send it (e.g. the US data centre when Zoho names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `request` only: the answer lists every place the grant reaches (Atlassian's accessible resources, Xero's
    /// tenants), and the value is the one the end user picks while connecting — asked on Plugboard's sign-in page
    /// when there are several, taken as it is when there is one, a failed sign-in when there is none. `pointer`
    /// is then read within each listed item. The connection keeps the whole list (its record's `choices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Choices>,
}

/// Where a [`Metadata`] answer lists the places a grant reaches, and how each is shown to the end user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Choices {
    /// An RFC 6901 pointer to the list in the answer; empty (the default): the answer is the list.
    #[serde(default)]
    pub list: String,
    /// A pointer, within one item, to its name for people (`/name`); the id is shown when it is missing.
    pub label: String,
    /// A pointer, within one item, to its address (`/url`), shown beside its name; only an http(s) URL is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What one item is, in the sign-in page's words (`site`, `organisation`).
    pub noun: String,
}

impl Metadata {
    /// Checks a value the provider sent (see [`Metadata::hosts`]): an allowed origin, or a plain token that cannot
    /// change a URL's host or path structure. Answers the value to keep.
    pub fn check_value(&self, raw: &str) -> Result<String, String> {
        if !self.hosts.is_empty() {
            return origin_on_hosts(raw, &self.hosts).ok_or_else(|| format!("{} is not an https address on {}", self.name, self.hosts.join(", ")));
        }
        let plain = !raw.is_empty()
            && raw.len() <= 256
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
            && raw.bytes().any(|b| b != b'.');
        if plain {
            Ok(raw.to_owned())
        } else {
            Err(format!("{} has characters that are not allowed", self.name))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataSource {
    /// A query parameter of the OAuth callback (read before the code exchange, so token URLs may use it).
    Callback,
    /// A member of the token answer.
    Token,
    /// One GET request after connecting.
    Request,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthSpec {
    /// Not used by `oauth2_client_credentials` entries; may be left out when `discoveryUrl` names it.
    #[serde(default)]
    pub authorization_url: String,
    /// May be left out when `discoveryUrl` names it.
    #[serde(default)]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What each scope lets the app do, in plain words for the end user (`"crm.read" = "Read your CRM records"`),
    /// shown on the connect screen; a scope left out here may be described by the shared table of well-known
    /// scopes (`src/catalog/scopes.toml`), else it is not shown in words.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope_descriptions: BTreeMap<String, String>,
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_auth: TokenAuth,
    /// PKCE S256 (RFC 7636) goes with every authorization-code flow (RFC 9700 §2.1.1); servers that do not know
    /// it ignore its parameters (RFC 6749 §3.1, §3.2). An entry whose provider refuses it turns it off only by
    /// saying why here, in a sentence; there is no other switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_opt_out: Option<String>,
    /// The authorization server's issuer identifier (RFC 9207 §2.4). When declared, a callback's `iss` must equal
    /// it — and must be present unless `authorizationResponseIssParameterSupported` is false. When not declared,
    /// a callback is accepted with or without `iss` (GitHub and Google send one whether asked or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// RFC 8414 §2 / RFC 9207 §3: whether the provider puts `iss` on every authorization response. Google sends
    /// it on some responses only and does not advertise it, so its entries say `false`: `iss` is then checked
    /// when present and not required.
    #[serde(default = "yes")]
    pub authorization_response_iss_parameter_supported: bool,
    /// An OpenID Connect discovery document (`…/.well-known/openid-configuration`, OpenID Connect Discovery 1.0
    /// §4) whose `issuer`, endpoints and PKCE support fill in whatever this table leaves empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// Settings of the operator's OAuth app that the provider's endpoints depend on (Microsoft's tenant: a
    /// single-tenant app must use `/{tenant}/…`, Azure refuses `/common/` with AADSTS50194), given next to the
    /// project's OAuth client, never by end users. Usable as `{name}` in `authorizationUrl`, `tokenUrl` and
    /// `revokeUrl` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_settings: Vec<ClientSetting>,
    /// The name of the token answer's top-level token, for an entry whose answer carries more than one
    /// (`nestedTokens`): Slack's `bot`. The passthrough's `Plugboard-Token` header picks a token by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    /// Tokens the token answer carries besides (or instead of) its top-level one, each in an object of its own
    /// with the same members (`access_token`, `refresh_token`, `expires_in`, `scope`): Slack's user token under
    /// `authed_user` (oauth.v2.access). Each is sealed with the connection and refreshed with its own refresh
    /// token; a refresh answer carries the renewed token at the top level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nested_tokens: Vec<NestedToken>,
}

/// One token of [`OAuthSpec::nested_tokens`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NestedToken {
    /// What `Plugboard-Token` calls it (`user`).
    pub name: String,
    /// RFC 6901 JSON pointer to its object in the token answer (`/authed_user`).
    pub pointer: String,
    /// The authorization request parameter its scopes go in (Slack's `user_scope`); the operator's scopes for it
    /// come from the OAuth client (`tokenScopes = { user = […] }`), else `scopes` here. Not sent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_param: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl OAuthSpec {
    /// Every token name the entry declares, the top-level one first.
    pub fn token_names(&self) -> Vec<&str> {
        self.token_name.iter().map(String::as_str).chain(self.nested_tokens.iter().map(|t| t.name.as_str())).collect()
    }
}

/// One setting of the operator's OAuth app (see [`OAuthSpec::client_settings`]), e.g.
/// `{ name = "tenant", label = "Microsoft Entra tenant", default = "common", pattern = "…" }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSetting {
    /// `{name}` in the OAuth URL templates; the key under `[projects.oauth.<platform>.settings]` and the suffix
    /// of `PLUGBOARD_OAUTH_<PLATFORM>_<NAME>`.
    pub name: String,
    /// What the operator reads in an error about it ("Microsoft Entra tenant").
    pub label: String,
    /// What a valid value is, in a sentence, added to the error about a bad one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Used when the operator gives none; without a default the setting is required with every OAuth client of
    /// the integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A regular expression the whole value must match. Whatever it says, a value is at most 253 characters of
    /// letters, digits and `-_.` (never `/`, `?`, `#`, `@`, `:` or a dot segment), so it cannot change an URL's
    /// host or path structure; inside a host it must be one DNS label.
    pub pattern: String,
}

/// Longest client setting value (a DNS name's length).
pub const MAX_CLIENT_SETTING_LEN: usize = 253;

impl OAuthSpec {
    /// The values of [`OAuthSpec::client_settings`] for URL templates: `given` (the operator's, already checked
    /// with [`Integration::check_client_settings`]) or else each setting's default. Names the entry does not
    /// declare are left out.
    pub fn setting_values(&self, given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.client_settings
            .iter()
            .filter_map(|s| given.get(&s.name).or(s.default.as_ref()).map(|v| (s.name.clone(), v.clone())))
            .collect()
    }
}

impl Integration {
    /// Checks the operator's settings for this entry's OAuth client (see [`OAuthSpec::client_settings`]): every
    /// name declared, every value allowed, every setting without a default given. Errors name the setting and
    /// the value, and say what is allowed.
    pub fn check_client_settings(&self, given: &BTreeMap<String, String>) -> Result<(), String> {
        let declared: &[ClientSetting] = self.oauth.as_ref().map_or(&[], |o| &o.client_settings);
        if let Some(unknown) = given.keys().find(|k| !declared.iter().any(|s| &s.name == *k)) {
            let known: Vec<&str> = declared.iter().map(|s| s.name.as_str()).collect();
            let known = if known.is_empty() { "it has none".to_owned() } else { format!("it has {}", known.join(", ")) };
            return Err(format!("{:?} is not a setting of {} ({known})", cut(unknown, 64), self.name));
        }
        for s in declared {
            match given.get(&s.name) {
                Some(value) => self.check_setting_value(s, value)?,
                None if s.default.is_none() => return Err(format!("{} ({}) must be set for {}", s.name, s.label, self.name)),
                None => {}
            }
        }
        Ok(())
    }

    fn check_setting_value(&self, s: &ClientSetting, value: &str) -> Result<(), String> {
        let bad = |why: &str| {
            let help = s.help.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
            Err(format!("{} {:?} is not allowed ({}): {why}.{help}", s.name, cut(value, 100), s.label))
        };
        if value.is_empty() || value.len() > MAX_CLIENT_SETTING_LEN {
            return bad(&format!("it must be 1 to {MAX_CLIENT_SETTING_LEN} characters"));
        }
        // What keeps the value one piece of a URL whatever the pattern says: no `/?#@:%`, no dot segment.
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) || value.bytes().all(|b| b == b'.') {
            return bad("it may only hold letters, digits, `-`, `_` and `.`");
        }
        let in_host = self.oauth.iter().flat_map(|o| [Some(&o.authorization_url), Some(&o.token_url), o.revoke_url.as_ref()]).flatten()
            .any(|t| template_host(t).is_some_and(|h| h.contains(&format!("{{{}}}", s.name))));
        if in_host && (value.contains(['.', '_']) || value.len() > 63 || reads_as_ip_address(value)) {
            return bad("it is part of a host name, so it must be one label of letters, digits and dashes");
        }
        // Compiled when the catalog loaded, so this cannot fail for a loaded entry.
        let re = regex::Regex::new(&format!("^(?:{})$", s.pattern)).map_err(|e| format!("{}: pattern: {e}", s.name))?;
        if !re.is_match(value) {
            return bad("it does not match what the provider accepts");
        }
        Ok(())
    }
}

/// `s` cut at `max` characters (an invented value is not echoed whole).
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

impl OAuthSpec {
    /// Whether authorization-code flows send a PKCE S256 challenge: always, unless the entry opted out.
    pub fn pkce(&self) -> bool {
        self.pkce_opt_out.is_none()
    }
}

fn yes() -> bool {
    true
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
    /// Used when the user leaves the field empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The value is a host name or URL that must be https on one of these hosts (as [`Metadata::hosts`]); it is
    /// kept as its origin (`https://host`), for account-dependent hosts such as Salesforce sandboxes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The value is the first label of a host name on one of these domains (`["myshopify.com"]`): what people
    /// paste — ` Acme `, `acme.myshopify.com`, `https://acme.myshopify.com/admin` — is cut down to that label and
    /// lowercased (host names are case-insensitive, RFC 4343) before the `pattern` is checked. An address on any
    /// other host, with a user name, a password or a port, or with letters outside ASCII (look-alikes of Latin
    /// ones) is refused. The connect screen then gets no `pattern` for the field: the server checks it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subdomain_of: Vec<String>,
}

/// How the passthrough presents the credential, plus fixed or templated extra headers (`Client-Id`,
/// `Xero-tenant-id`, API version headers) sent with every call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inject {
    Bearer {
        token: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    Header {
        name: String,
        value: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    Query {
        name: String,
        value: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    Basic {
        username: String,
        password: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
}

impl Inject {
    /// The extra headers (name → template).
    pub fn headers(&self) -> &BTreeMap<String, String> {
        match self {
            Self::Bearer { headers, .. } | Self::Header { headers, .. } | Self::Query { headers, .. } | Self::Basic { headers, .. } => headers,
        }
    }
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

/// All integrations, sorted by display name, with an index by platform id — and, for a project's catalog, how the
/// project offers them ([`Catalog::offered`]): lists leave out what cannot be connected and start with the featured
/// apps. [`Catalog::get`] finds every entry either way (existing connections keep working).
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Shared by every project's catalog built on it: the entries are parsed and indexed once.
    base: Arc<Base>,
    offer: Offer,
}

#[derive(Debug)]
struct Base {
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
        Ok(Self { base: Arc::new(Base { entries, by_platform, search }), offer: Offer::default() })
    }

    /// This catalog as a project offers it (sharing its entries and index): entries for which `ready` is false
    /// (see [`Integration::needs_server_client`]) are left out of [`Catalog::find`] and [`Catalog::categories`];
    /// `featured` platform ids come first, in that order, in a list without search text, and rank higher among
    /// equally good search matches (unknown ids and repeats are skipped).
    pub fn offered(&self, ready: impl Fn(&Integration) -> bool, featured: &[impl AsRef<str>]) -> Catalog {
        let offer = Offer::new(&self.base.entries, |p| self.base.by_platform.get(p).copied(), ready, featured);
        Catalog { base: self.base.clone(), offer }
    }

    pub fn all(&self) -> &[Integration] {
        &self.base.entries
    }

    pub fn get(&self, platform: &str) -> Option<&Integration> {
        self.base.by_platform.get(platform).map(|&i| &self.base.entries[i])
    }

    /// Whether end users can connect `platform` (false for an unknown one): see [`Catalog::offered`].
    pub fn is_ready(&self, platform: &str) -> bool {
        self.base.by_platform.get(platform).is_some_and(|&i| self.offer.is_ready(i))
    }

    /// Categories of the entries `only` allows (all when `None`) that can be connected, by name, with their sizes;
    /// a category with none of them is not listed.
    pub fn categories(&self, only: Option<&[String]>) -> Vec<(String, u64)> {
        let mut counts = std::collections::BTreeMap::<&str, u64>::new();
        for e in self.find(&Query { only, ..Default::default() }) {
            *counts.entry(e.category.as_str()).or_default() += 1;
        }
        counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Entries matching `query`, best first (the order is `search.rs`'s).
    pub fn find(&self, query: &Query<'_>) -> Vec<&Integration> {
        self.base.search.find(&self.base.entries, query, &self.offer)
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
    // A template with every `{name}` filled by a typical value: host-checked values by an origin on their first
    // allowed host, the others by a plain word.
    let mut samples: Vec<(String, String)> = Vec::new();
    for (name, hosts) in e.fields.iter().map(|f| (&f.name, &f.hosts)).chain(e.metadata.iter().map(|m| (&m.name, &m.hosts))) {
        let value = hosts.first().map_or_else(|| "sample".to_owned(), |h| format!("https://{}", h.trim_start_matches("*.")));
        samples.push((format!("{{{name}}}"), value));
    }
    let settings: &[ClientSetting] = e.oauth.as_ref().map_or(&[], |o| &o.client_settings);
    for s in settings {
        samples.push((format!("{{{}}}", s.name), s.default.clone().unwrap_or_else(|| "sample".to_owned())));
    }
    let sample = |t: &str| samples.iter().fold(t.to_owned(), |acc, (k, v)| acc.replace(k, v));
    let host_checked = |name: &str| {
        e.fields.iter().any(|f| f.name == name && !f.hosts.is_empty()) || e.metadata.iter().any(|m| m.name == name && !m.hosts.is_empty())
    };
    let check_url = |what: &str, t: &str| -> Result<(), String> {
        // A value that is not host-checked must not make up the whole host: `https://{x}/` could point anywhere.
        let unchecked_host = t.strip_prefix('{').is_some_and(|rest| !host_checked(rest.split('}').next().unwrap_or_default()));
        if unchecked_host {
            return Err(format!("{what} {t:?} starts with a value that has no `hosts` allow-list"));
        }
        // A value inside the host is a label under the provider's own domain (`https://{subdomain}.zendesk.com`):
        // never the whole host (`https://{x}/`), nor a name under a top-level domain of the user's choice
        // (`https://{x}.com`); a host-checked value is a whole origin and only starts a template (`{x}/api`).
        if let Some(host) = template_host(t).filter(|h| h.contains('{')) {
            let names: Vec<&str> = host.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(n, _)| n)).collect();
            if let Some(name) = names.iter().find(|n| host_checked(n)) {
                return Err(format!("{what} {t:?}: {{{name}}} has a `hosts` allow-list, so it is a whole origin: start the template with it"));
            }
            let fixed = host.rsplit('}').next().unwrap_or_default();
            let fixed = fixed.rsplit_once(':').map_or(fixed, |(name, _port)| name);
            // (`{x}-api.example.com` too: the value and the fixed text share a label, the domain is fixed.)
            let own_domain = fixed.split_once('.').is_some_and(|(_, d)| d.split('.').count() >= 2 && d.split('.').all(|l| !l.is_empty()));
            if !own_domain {
                return Err(format!("{what} {t:?}: a value in the host must be followed by the provider's own domain (`{{name}}.example.com`)"));
            }
        }
        let url = url::Url::parse(&sample(t)).map_err(|err| format!("{what} {t:?}: {err}"))?;
        if url.scheme() == "https" || (allow_loopback_http && url.scheme() == "http" && is_loopback(&url)) {
            Ok(())
        } else {
            Err(format!("{what} {t:?} must be https"))
        }
    };
    check_url("apiBaseUrl", &e.api_base_url)?;
    if let Some(o) = &e.oauth {
        match &o.discovery_url {
            Some(d) => check_url("discoveryUrl", d)?,
            None if o.token_url.is_empty() => return Err("tokenUrl (or discoveryUrl) is required".into()),
            None if e.auth_method == AuthMethod::Oauth2 && o.authorization_url.is_empty() => {
                return Err("authorizationUrl (or discoveryUrl) is required".into())
            }
            None => {}
        }
        if o.pkce_opt_out.as_deref().is_some_and(|why| why.split_whitespace().count() < 4) {
            return Err("pkceOptOut must say, in a sentence, why the provider cannot take PKCE".into());
        }
        if e.auth_method == AuthMethod::Oauth2 && !o.authorization_url.is_empty() {
            check_url("authorizationUrl", &o.authorization_url)?;
        }
        if !o.token_url.is_empty() {
            check_url("tokenUrl", &o.token_url)?;
        }
        if let Some(r) = &o.revoke_url {
            check_url("revokeUrl", r)?;
        }
        scopes::check(e)?;
    }
    let snake = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if let Some(o) = &e.oauth {
        if !o.nested_tokens.is_empty() && o.token_name.is_none() {
            return Err("nestedTokens need a tokenName for the top-level token".into());
        }
        let names = o.token_names();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || name.len() > 32 || !snake(name) || names[..i].contains(name) {
                return Err(format!("token name {name:?} must be snake_case, at most 32 characters, and named once"));
            }
        }
        for t in &o.nested_tokens {
            if !t.pointer.starts_with('/') || t.pointer.len() < 2 {
                return Err(format!("nested token {}: pointer {:?} must start with / and name a member", t.name, t.pointer));
            }
            if t.scope_param.as_deref().is_some_and(|p| p.is_empty() || o.authorize_params.contains_key(p) || ["scope", "state", "client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method"].contains(&p)) {
                return Err(format!("nested token {}: scopeParam must be a parameter of its own", t.name));
            }
        }
    }
    for (i, s) in settings.iter().enumerate() {
        if !snake(&s.name) || ["access_token", "client_id", "client_secret", "scopes"].contains(&s.name.as_str()) {
            return Err(format!("client setting name {:?} must be snake_case and not access_token, client_id, client_secret or scopes", s.name));
        }
        let taken = e.fields.iter().any(|f| f.name == s.name) || e.metadata.iter().any(|m| m.name == s.name) || settings[..i].iter().any(|o| o.name == s.name);
        if taken {
            // An end user's field or a provider's value must never stand in for the operator's setting.
            return Err(format!("client setting {:?} is declared twice (or is also a field or metadata)", s.name));
        }
        if s.label.trim().is_empty() {
            return Err(format!("client setting {:?} needs a label", s.name));
        }
        regex::Regex::new(&format!("^(?:{})$", s.pattern)).map_err(|err| format!("client setting {} pattern: {err}", s.name))?;
        if let Some(d) = &s.default {
            e.check_setting_value(s, d).map_err(|err| format!("client setting default: {err}"))?;
        }
    }
    for m in &e.metadata {
        if !snake(&m.name) {
            return Err(format!("metadata name {:?} must be snake_case", m.name));
        }
        if ["token", "secret", "password"].iter().any(|w| m.name.contains(w)) {
            return Err(format!("metadata {:?}: connection config is never a secret", m.name));
        }
        if e.fields.iter().any(|f| f.name == m.name) || e.metadata.iter().filter(|x| x.name == m.name).count() > 1 {
            return Err(format!("metadata {:?} is declared twice (or is also a field)", m.name));
        }
        let ok = match m.from {
            MetadataSource::Callback => m.key.is_some() && m.pointer.is_none() && m.url.is_none(),
            MetadataSource::Token => m.key.is_some() != m.pointer.is_some() && m.url.is_none(),
            MetadataSource::Request => m.url.is_some() && m.pointer.is_some() && m.key.is_none(),
        };
        if !ok {
            return Err(format!("metadata {:?}: callback needs `key`, token `key` or `pointer`, request `url` and `pointer`", m.name));
        }
        if let Some(p) = &m.pointer {
            if !p.starts_with('/') {
                return Err(format!("metadata {:?}: pointer {p:?} must start with /", m.name));
            }
        }
        if let Some(u) = &m.url {
            check_url("metadata url", u)?;
        }
        if let Some(d) = &m.default {
            m.check_value(d).map_err(|e| format!("metadata {:?} default: {e}", m.name))?;
        }
        if let Some(c) = &m.choices {
            let pointers = [Some(&c.label), c.address.as_ref()].into_iter().flatten().chain((!c.list.is_empty()).then_some(&c.list));
            if m.from != MetadataSource::Request || m.optional || m.default.is_some() || !m.hosts.is_empty() {
                return Err(format!("metadata {:?}: choices are for a required `request` value without hosts or default", m.name));
            }
            if let Some(p) = pointers.into_iter().find(|p| !p.starts_with('/')) {
                return Err(format!("metadata {:?}: choices pointer {p:?} must start with /", m.name));
            }
            if c.noun.trim().is_empty() || c.noun.len() > 40 {
                return Err(format!("metadata {:?}: choices need a short noun (`site`)", m.name));
            }
        }
        if m.name == ACCOUNT && (m.from != MetadataSource::Token || !m.hosts.is_empty() || m.default.is_some()) {
            return Err(format!("metadata {ACCOUNT:?} is the account's display name: from = \"token\", without hosts or default"));
        }
    }
    for hosts in e.fields.iter().map(|f| &f.hosts).chain(e.metadata.iter().map(|m| &m.hosts)) {
        if let Some(bad) = hosts.iter().find(|h| !valid_host_pattern(h)) {
            return Err(format!("hosts entry {bad:?} must be a host name or *.domain"));
        }
    }
    // Every `{name}` in a template must be something the connection will have.
    let known = |n: &str| {
        matches!(n, "access_token" | "client_id") || e.fields.iter().any(|f| f.name == n) || e.metadata.iter().any(|m| m.name == n && m.name != ACCOUNT)
    };
    // Client settings are the operator's, read where the OAuth client is: in the OAuth endpoints only.
    if let Some(o) = &e.oauth {
        for t in [Some(&o.authorization_url), Some(&o.token_url), o.revoke_url.as_ref()].into_iter().flatten() {
            for name in t.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(n, _)| n)) {
                if !known(name) && !settings.iter().any(|s| s.name == name) {
                    return Err(format!("template {t:?} names {{{name}}}, which is neither a field, metadata nor a client setting"));
                }
            }
        }
    }
    let mut templates: Vec<&str> = vec![&e.api_base_url];
    if let Some(v) = &e.verify {
        templates.push(&v.url);
        templates.extend(v.headers.values().map(String::as_str));
    }
    templates.extend(e.metadata.iter().filter_map(|m| m.url.as_deref()));
    if let Some(i) = &e.inject {
        templates.extend(i.headers().values().map(String::as_str));
        match i {
            Inject::Bearer { token, .. } => templates.push(token),
            Inject::Header { value, .. } | Inject::Query { value, .. } => templates.push(value),
            Inject::Basic { username, password, .. } => templates.extend([username.as_str(), password.as_str()]),
        }
    }
    for t in templates {
        for name in t.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(n, _)| n)) {
            if !known(name) {
                return Err(format!("template {t:?} names {{{name}}}, which is neither a field nor metadata"));
            }
        }
    }
    if let Some(inject) = &e.inject {
        for name in inject.headers().keys() {
            let ok = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok_and(|n| {
                ![axum::http::header::AUTHORIZATION, axum::http::header::COOKIE, axum::http::header::HOST].contains(&n)
            });
            if !ok {
                return Err(format!("inject header {name:?} is not a header name Plugboard may set"));
            }
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
        if let (Some(d), false) = (&f.default, f.hosts.is_empty()) {
            if origin_on_hosts(d, &f.hosts).is_none() {
                return Err(format!("field {} default {d:?} is not on its hosts", f.name));
            }
        }
        if !snake(&f.name) {
            return Err(format!("field name {:?} must be snake_case", f.name));
        }
        if let Some(p) = &f.pattern {
            regex::Regex::new(p).map_err(|err| format!("field {} pattern: {err}", f.name))?;
        }
        if let Some(bad) = f.subdomain_of.iter().find(|d| d.starts_with("*.") || !valid_host_pattern(d) || d.to_ascii_lowercase() != **d) {
            return Err(format!("field {} subdomainOf {bad:?} must be a lowercase domain name (`myshopify.com`)", f.name));
        }
        if !f.subdomain_of.is_empty() && (f.secret || !f.hosts.is_empty()) {
            return Err(format!("field {}: subdomainOf is for a plain field without hosts", f.name));
        }
    }
    Ok(())
}

/// The host part of a URL template (`https://{subdomain}.zendesk.com/api` → `{subdomain}.zendesk.com`), port
/// included; `None` for a template that starts with a value (`{instance_url}/api`).
pub(crate) fn template_host(t: &str) -> Option<&str> {
    let (scheme, rest) = t.split_once("://")?;
    if scheme.contains('{') {
        return None;
    }
    rest.split(['/', '?', '#']).next()
}

/// Whether `url`'s host is a loopback address (127.0.0.0/8, `::1`), compared as a parsed IP address, never by name:
/// `127.x.my.salesforce.com` is a domain like any other, and so is `localhost` (a resolver answers for it). What
/// reads as an address is the WHATWG URL parser's business: `http://2130706433/` and `http://0x7f000001/` are
/// `127.0.0.1`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(_)) | None => false,
    }
}

/// `example.com` (exactly), `*.example.com` (any subdomain, at any depth), or a loopback IP address (`127.0.0.4`,
/// `[::1]`: local providers and tests). Any other IP address is refused: a pattern names a provider's domain.
fn valid_host_pattern(p: &str) -> bool {
    let host = p.strip_prefix("*.").unwrap_or(p);
    match url::Host::parse(host) {
        Ok(url::Host::Domain(_)) => host.contains('.') && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')),
        Ok(url::Host::Ipv4(ip)) => host == p && ip.is_loopback() && ip.to_string() == host,
        Ok(url::Host::Ipv6(ip)) => host == p && ip.is_loopback(),
        Err(_) => false,
    }
}

/// The origin (`https://host[:port]`) of `value` — a URL or a bare host name — when it is https on one of
/// `hosts` and carries no credentials. A host that is a loopback IP address named in `hosts` (local providers,
/// tests) may use http and any port ([`is_loopback`]: by address, never by name).
pub fn origin_on_hosts(value: &str, hosts: &[String]) -> Option<String> {
    let value = value.trim();
    let with_scheme = if value.contains("://") { value.to_owned() } else { format!("https://{value}") };
    let url = url::Url::parse(&with_scheme).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    if host.split('.').any(str::is_empty) {
        return None; // `.my.salesforce.com`, `a..my.salesforce.com`: not a host anyone can have
    }
    let loopback = is_loopback(&url);
    let scheme_ok = url.scheme() == "https" || (loopback && url.scheme() == "http");
    let port_ok = url.port().is_none() || loopback;
    if !scheme_ok || !port_ok || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let allowed = hosts.iter().any(|p| match (p.strip_prefix("*."), url.host()) {
        // An address matches only itself, as parsed (`2130706433` is `127.0.0.1`), never a `*.` pattern.
        (_, Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))) => url::Host::parse(p).is_ok_and(|h| h.to_string() == host),
        (Some(domain), _) => host.ends_with(&format!(".{}", domain.to_ascii_lowercase())),
        (None, _) => host == p.to_ascii_lowercase(),
    });
    allowed.then(|| url.origin().ascii_serialization())
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

/// Whether a URL parser would read `v` — alone or as the first label of a host — as an IP address rather than a
/// name: all digits (`2130706433`), hex (`0x7f000001`), dotted or octal forms, and numbers too large to be one
/// (which make the URL invalid) — WHATWG URL's IPv4 parser, which browsers and the `url` crate share.
pub fn reads_as_ip_address(v: &str) -> bool {
    [format!("https://{v}/"), format!("https://{v}.example/")].iter().any(|u| match url::Url::parse(u) {
        Ok(u) => matches!(u.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))),
        Err(e) => e == url::ParseError::InvalidIpv4Address,
    })
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

    fn entry(extra: &str) -> Result<(), String> {
        let text = format!(
            "platform = \"x\"\nname = \"X\"\ncategory = \"C\"\ndescription = \"d\"\nauthMethod = \"oauth2\"\n{extra}"
        );
        let e: Integration = toml::from_str(&text).map_err(|e| e.to_string())?;
        validate(&e, false)
    }

    #[test]
    fn metadata_templates_and_host_allow_lists_are_checked() {
        let oauth = "[oauth]\nauthorizationUrl = \"https://a.example.com/auth\"\ntokenUrl = \"https://a.example.com/token\"\n";
        // A value used as the whole host must be allow-listed.
        let unchecked = format!("apiBaseUrl = \"{{instance_url}}/api\"\n{oauth}[[metadata]]\nname = \"instance_url\"\nfrom = \"token\"\nkey = \"instance_url\"\n");
        assert!(entry(&unchecked).unwrap_err().contains("no `hosts` allow-list"));
        assert_eq!(entry(&format!("{}hosts = [\"*.example.com\"]\n", unchecked)), Ok(()));
        // Templates name only what the connection will have.
        let typo = format!("apiBaseUrl = \"https://api.example.com/{{realm}}\"\n{oauth}");
        assert!(entry(&typo).unwrap_err().contains("neither a field nor metadata"));
        // Metadata is never a secret, and declares where it comes from.
        let secret = format!("apiBaseUrl = \"https://api.example.com\"\n{oauth}[[metadata]]\nname = \"id_token\"\nfrom = \"token\"\nkey = \"id_token\"\n");
        assert!(entry(&secret).unwrap_err().contains("never a secret"));
        let sourceless = format!("apiBaseUrl = \"https://api.example.com\"\n{oauth}[[metadata]]\nname = \"t\"\nfrom = \"request\"\n");
        assert!(entry(&sourceless).unwrap_err().contains("request `url` and `pointer`"));
        // Allowed origins: https on the listed hosts, nothing else.
        let hosts = vec!["*.salesforce.com".to_string(), "login.example.com".to_string()];
        assert_eq!(origin_on_hosts("https://acme.my.salesforce.com/", &hosts).as_deref(), Some("https://acme.my.salesforce.com"));
        assert_eq!(origin_on_hosts("login.example.com", &hosts).as_deref(), Some("https://login.example.com"));
        for bad in ["https://.salesforce.com", "https://a..salesforce.com", "http://acme.salesforce.com", "https://salesforce.com.evil.example", "https://evilsalesforce.com", "https://u:p@a.salesforce.com", "https://a.salesforce.com:8443", "javascript:alert(1)"] {
            assert_eq!(origin_on_hosts(bad, &hosts), None, "{bad}");
        }
    }

    #[test]
    fn a_user_value_never_makes_up_a_whole_host_or_picks_the_domain() {
        let oauth = "[oauth]\nauthorizationUrl = \"https://a.example.com/auth\"\ntokenUrl = \"https://a.example.com/token\"\n";
        let with_field = |base: &str, hosts: &str| entry(&format!("apiBaseUrl = \"{base}\"\n{oauth}[[fields]]\nname = \"x\"\nlabel = \"X\"\n{hosts}"));
        for whole in ["https://{x}/api", "https://{x}", "https://{x}:8443/api", "https://{x}.com/api", "https://api.{x}/v1", "https://{x}.example.com:{x}/"] {
            assert!(with_field(whole, "").unwrap_err().contains("in the host"), "{whole}");
        }
        for under_own_domain in ["https://{x}.example.com/api", "https://rest.{x}.example.com", "https://{x}-api.example.com:8443/v2", "https://api.example.com/{x}"] {
            assert_eq!(with_field(under_own_domain, ""), Ok(()), "{under_own_domain}");
        }
        // A value with an allow-list is a whole origin: it starts the template, never sits inside a host.
        assert_eq!(with_field("{x}/api", "hosts = [\"*.example.com\"]\n"), Ok(()));
        assert!(with_field("https://{x}/api", "hosts = [\"*.example.com\"]\n").unwrap_err().contains("whole origin"));
        // The built-in catalog passes.
        Catalog::builtin().unwrap();
    }

    #[test]
    fn loopback_is_an_address_never_a_name() {
        let loopback = |u: &str| is_loopback(&url::Url::parse(u).unwrap());
        for yes in ["http://127.0.0.1/", "http://127.255.0.9:8080/", "http://[::1]/", "http://2130706433/", "http://0x7f000001/", "http://0177.1/"] {
            assert!(loopback(yes), "{yes}");
        }
        for no in ["http://127.x.my.salesforce.com/", "http://127.0.0.1.nip.io/", "http://localhost/", "http://10.0.0.1/", "http://[::2]/"] {
            assert!(!loopback(no), "{no}");
        }
        // Plain http and other ports only for a loopback address named in the allow-list.
        let hosts = vec!["*.my.salesforce.com".to_string(), "127.0.0.4".to_string()];
        assert_eq!(origin_on_hosts("http://127.0.0.4:9000/x", &hosts).as_deref(), Some("http://127.0.0.4:9000"));
        assert_eq!(origin_on_hosts("http://2130706436:9000", &hosts).as_deref(), Some("http://127.0.0.4:9000"), "the address as parsed");
        for bad in ["http://127.x.my.salesforce.com", "https://127.x.my.salesforce.com:8443", "http://127.0.0.5:9000", "https://2130706433", "https://0x7f000001"] {
            assert_eq!(origin_on_hosts(bad, &hosts), None, "{bad}");
        }
        // Patterns: domains, or loopback addresses; no other address.
        for ok in ["example.com", "*.example.com", "127.0.0.4", "[::1]"] {
            assert!(valid_host_pattern(ok), "{ok}");
        }
        for bad in ["10.0.0.1", "*.127.0.0.1", "2130706433", "0x7f000001", "*.com", "localhost", "a..b"] {
            assert!(!valid_host_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn pkce_can_be_turned_off_only_with_a_reason() {
        assert!(toml::from_str::<Integration>(&format!("{}\npkce = false\n", include_str!("../../catalog/close.toml"))).is_err(), "no bare switch");
        let with = |why: &str| format!("{}pkceOptOut = {why:?}\n", include_str!("../../catalog/close.toml"));
        let e: Integration = toml::from_str(&with("no")).unwrap();
        assert!(validate(&e, false).unwrap_err().contains("pkceOptOut must say"));
        let e: Integration = toml::from_str(&with("Its token endpoint refuses code_verifier.")).unwrap();
        assert!(validate(&e, false).is_ok() && !e.oauth.unwrap().pkce());
    }

    #[test]
    fn a_file_named_differently_from_its_platform_is_refused() {
        let err = Catalog::from_files([("x.toml".to_string(), include_str!("../../catalog/gmail.toml"))]).unwrap_err();
        assert!(err.to_string().contains("must match the file name"));
    }
}
