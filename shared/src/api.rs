//! JSON request and response bodies of the HTTP API (docs/contract.md), field names exactly as the seeds spell them.
//!
//! Long on purpose: every request and response body of the API in one place, as the contract lists them.

use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": "<human message>", "code": "<machine_code>", "requestId": "<id>"}`. On
/// StackOne's paths (`/connect_sessions…`, `/accounts…`) it also carries StackOne's error fields
/// (`statusCode`, `message`, `timestamp`), which StackOne's SDKs need to raise their typed errors
/// (`UnauthorizedResponse`, `NotFoundResponse`, …: each requires all three).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
    #[serde(default)]
    pub request_id: String,
    /// StackOne's paths only: the HTTP status again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// StackOne's paths only: the same text as `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// StackOne's paths only: when the error was answered, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// Who a connection belongs to in the host app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IdentityType {
    User,
    Team,
    Organization,
    Project,
}

impl IdentityType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Team => "team",
            Self::Organization => "organization",
            Self::Project => "project",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "team" => Self::Team,
            "organization" => Self::Organization,
            "project" => Self::Project,
            _ => return None,
        })
    }
}

/// How an end user proves access to a provider (README, Adding a catalog entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Oauth2,
    Oauth2ClientCredentials,
    ApiKey,
    Basic,
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oauth2 => "oauth2",
            Self::Oauth2ClientCredentials => "oauth2_client_credentials",
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::None => "none",
        }
    }
}

/// Body of `POST /v1/authkit/token` (docs/contract.md, One Auth and Pica AuthKit: Minting a session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    /// 1 to 256 characters (after trimming).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"\S"))]
    pub identity: String,
    pub identity_type: IdentityType,
    /// Platform ids; narrows what the widget lists for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_integrations: Option<Vec<String>>,
    /// Suggested connection name, up to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub name: Option<String>,
}

/// One integration as the widget lists it (the seed's AuthKit row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRow {
    pub id: u64,
    pub connection_def_id: u64,
    pub platform: String,
    /// Always `"api"`, as in the seeds.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub image: String,
    pub category: String,
    pub auth_method: AuthMethod,
    pub environment: String,
    pub tags: Vec<String>,
    pub active: bool,
}

/// Answer of `POST /v1/authkit/token`: the session token plus the first page of integrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub token: String,
    /// RFC 3339, UTC. Absent from `@picahq/authkit-token`'s merged answer (it keeps `rows`, `total`, `requestId`).
    #[serde(default)]
    pub expires_at: String,
    /// The first page of the list. A host backend that forwards only `{token, expiresAt}` leaves these out; the
    /// widget then asks for the first page itself.
    #[serde(default)]
    pub rows: Vec<IntegrationRow>,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub pages: u64,
    #[serde(default)]
    pub page: u64,
    #[serde(default)]
    pub request_id: String,
}

/// One page of a list: `GET /v1/widget/integrations` ([`IntegrationsPage`]) and `GET /v1/available-connectors`
/// ([`ConnectorsPage`]), in the seeds' shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: u64,
    pub pages: u64,
    pub page: u64,
    #[serde(default)]
    pub request_id: String,
}

pub type IntegrationsPage = Page<IntegrationRow>;
pub type ConnectorsPage = Page<ConnectorRow>;

/// One row of `GET /v1/available-connectors` (docs/contract.md, One Auth and Pica AuthKit: The catalog for your own directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectorRow {
    pub platform: String,
    pub name: String,
    pub category: String,
    pub image: String,
    pub description: String,
    pub auth_method: AuthMethod,
    /// Whether end users can connect it now. False for an OAuth app whose OAuth client is not configured (neither
    /// the project's own nor the deployment's): the widget does not list it. A Plugboard extension.
    #[serde(default = "ready_by_default")]
    pub ready: bool,
}

fn ready_by_default() -> bool {
    true
}

/// A category chip: its name and how many integrations it holds for this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryCount {
    pub name: String,
    pub count: u64,
}

/// Health of a stored connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    Operational,
    Degraded,
    Failed,
    Unknown,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::Degraded => "degraded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "operational" => Self::Operational,
            "degraded" => Self::Degraded,
            "failed" => Self::Failed,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSettings {
    pub parse_webhook_body: bool,
    pub show_secret: bool,
    pub allow_custom_events: bool,
    pub oauth: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Throughput {
    pub key: String,
    pub limit: u64,
}

/// The seed's `ConnectionRecord` (what `onSuccess` receives and the vault API returns), plus `state`.
/// It never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub platform_version: String,
    pub connection_definition_id: String,
    pub name: String,
    /// `test::gmail::default::<random>` — what the host app stores and presents to the passthrough.
    pub key: String,
    pub environment: String,
    pub platform: String,
    pub secrets_service_id: String,
    pub identity: Option<String>,
    pub identity_type: Option<IdentityType>,
    pub settings: ConnectionSettings,
    pub throughput: Throughput,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub updated: bool,
    pub version: String,
    pub last_modified_by: String,
    pub deleted: bool,
    pub tags: Vec<String>,
    pub active: bool,
    pub deprecated: bool,
    pub state: ConnectionState,
    /// The connection's non-secret configuration: what the user typed (a subdomain) and what the provider told
    /// while connecting (QuickBooks `realm_id`, Salesforce `instance_url`, Xero `tenant_id`, Zoho `api_domain`).
    /// Never a secret.
    #[serde(default)]
    pub connection_config: std::collections::BTreeMap<String, String>,
    /// The account signed in, as the provider named it while connecting (an email, a workspace name), for people
    /// to read; absent when the provider said nothing usable. Never a secret, never used to authorize anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Where one grant reaches several places (Atlassian sites, Xero organisations): every place the grant
    /// reaches, by the `connectionConfig` key that names the one in use (`cloud_id`). The one in use is the end
    /// user's choice while connecting; a passthrough call may address another with the `Plugboard-Choice`
    /// header. Never a secret. (Not in the widget, which never reads it.)
    #[cfg(not(target_arch = "wasm32"))]
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub choices: Granted,
}

/// Every place a grant reaches, by the `connectionConfig` key that names the one in use (see
/// [`ConnectionRecord::choices`]).
#[cfg(not(target_arch = "wasm32"))]
pub type Granted = std::collections::BTreeMap<String, Vec<Choice>>;

/// One place a grant reaches (an Atlassian site, a Xero organisation), as the provider listed it.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Choice {
    /// The provider's id (Atlassian's cloud id), the value the connection's config holds when it is in use.
    pub id: String,
    /// Its name for people (`acme`).
    pub name: String,
    /// Its address, when the provider names one (`https://acme.atlassian.net`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One row of `GET /v1/widget/connections`: a connection the session's identity already has, so the widget can
/// mark its app "Connected" and offer to reconnect it. No secret, no configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WidgetConnection {
    pub key: String,
    pub platform: String,
    pub name: String,
    pub state: ConnectionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A form field of the connect screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    pub name: String,
    pub label: String,
    pub secret: bool,
    pub optional: bool,
    pub pattern: Option<String>,
    pub placeholder: Option<String>,
    pub help: Option<String>,
}

/// `GET /v1/widget/integrations/{platform}`: what the connect screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IntegrationDetail {
    pub platform: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub image: String,
    pub auth_method: AuthMethod,
    pub fields: Vec<FieldSpec>,
    /// OAuth scopes that will be requested, as the provider names them.
    pub scopes: Vec<String>,
    /// What the sign-in lets the app do, in plain words: one line per requested scope the catalog can describe
    /// ("Read your email"); scopes it cannot describe are not repeated here (the widget then shows `scopes`).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Suggested connection name (from the session).
    pub suggested_name: Option<String>,
    /// Whether an OAuth sign-in may run in the host page's own tab: the project registered a `returnUrls` page on
    /// the host page's origin (`Plugboard-Origin`). Otherwise the widget signs in in a popup only.
    #[serde(default)]
    pub same_tab: bool,
}

/// Body of `POST /v1/widget/connect/{platform}` and `POST /v1/widget/oauth/{platform}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectRequest {
    pub name: Option<String>,
    pub fields: std::collections::BTreeMap<String, String>,
    /// Key of an existing connection of the same identity and platform to update in place.
    pub reconnect: Option<String>,
    /// OAuth only: `popup` (default; the widget's popup window) or `page` (the page itself goes to the provider and
    /// the callback page is the end: auth links and hosted sessions). OpenID Connect's `display` values.
    pub display: Option<Display>,
    /// OAuth with `display: page` from a widget on a host page (its popup could not open, or `@withone/auth`'s
    /// redirect mode): the host page to come back to, one of the project's `returnUrls` string for string; with
    /// `returnInState`, the host page's origin (`https://app.example/`). The result waits there for this widget to
    /// claim it.
    pub return_to: Option<String>,
    /// `@withone/auth`'s redirect mode: the package names the page to come back to in `state`
    /// (`<ours>~<base64url URL>`) as the tab leaves; it must be one of `returnUrls`, and the result comes back in
    /// that page's query (`one_auth_state`), where the package reads it. Otherwise it comes back in the fragment.
    pub return_in_state: bool,
}

/// Body of `POST /v1/widget/oauth/flows/{id}/claim`: what came back to the host page and the flow's proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Claim {
    pub result: String,
    pub proof: String,
}

/// How an OAuth sign-in is shown (OpenID Connect Core §3.1.2.1 `display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Display {
    Popup,
    Page,
}

/// Body of `POST /v1/connect-sessions` (secret key): an auth link. StackOne's snake_case names are accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct LinkRequest {
    /// The end user's id in the host app (StackOne `origin_owner_id`).
    #[serde(alias = "origin_owner_id")]
    pub identity: Option<String>,
    /// Default `user`.
    #[serde(alias = "identity_type")]
    pub identity_type: Option<IdentityType>,
    /// The end user's display name (`origin_owner_name`).
    #[serde(alias = "origin_owner_name")]
    pub name: Option<String>,
    /// A username or email (`origin_username`).
    #[serde(alias = "origin_username", alias = "email")]
    pub username: Option<String>,
    /// Only integrations of these categories are listed.
    pub categories: Option<Vec<String>>,
    /// A platform id to open directly (`provider`).
    #[serde(alias = "provider")]
    pub integration: Option<String>,
    /// A connection key of this end user: the link opens its integration and updates it in place (a reconnect
    /// link; StackOne's `account_id`).
    #[serde(alias = "account_id")]
    pub reconnect: Option<String>,
    /// Seconds, at most 30 days; default 7 days (`expires_in`).
    #[serde(alias = "expires_in")]
    pub expires_in: Option<i64>,
    /// Where the browser goes when the user is done, with the outcome in the query; must be on one of the
    /// project's allowed origins (`redirect_url`).
    #[serde(alias = "redirect_url")]
    pub redirect_url: Option<String>,
    /// The name of the connection it makes (StackOne's `label`); default as in the widget.
    #[serde(alias = "label")]
    pub connection_name: Option<String>,
}

/// Answer of `POST /v1/connect-sessions`, in both spellings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkCreated {
    /// The link's token (a capability: whoever has the link can connect an account for this end user, once).
    pub token: String,
    #[serde(rename = "authLinkUrl")]
    pub auth_link_url: String,
    #[serde(rename = "auth_link_url")]
    pub auth_link_url_snake: String,
    /// RFC 3339, UTC.
    #[serde(rename = "expiresAt")]
    pub expires_at: String,
    #[serde(rename = "expires_at")]
    pub expires_at_snake: String,
}

/// Body of `POST /v1/hosted-connection-sessions` (One Runtime's names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct HostedSessionRequest {
    #[serde(alias = "integrationSlug")]
    pub integration_slug: String,
    #[serde(alias = "endUserId")]
    pub end_user_id: String,
    #[serde(alias = "endUserName")]
    pub end_user_name: Option<String>,
    #[serde(alias = "endUserEmail")]
    pub end_user_email: Option<String>,
    #[serde(alias = "suggestedConnectionName")]
    pub suggested_connection_name: Option<String>,
}

/// Answer of `POST /v1/hosted-connection-sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostedSession {
    pub session_token: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// The page `connect.js` opens in its popup.
    pub url: String,
}

/// Body of `POST /v1/links/session` and `POST /v1/hosted-connection-sessions/status`: a link or hosted session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkToken {
    #[serde(alias = "session_token", alias = "sessionToken")]
    pub token: String,
}

/// Answer of `POST /v1/links/session`: a widget session for the link's end user and what the link asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkSession {
    pub session: TokenResponse,
    /// Display name of the integration to open directly.
    pub integration_name: Option<String>,
    pub reconnect: Option<String>,
    pub end_user_name: Option<String>,
    /// `hosted` (a popup that `connect.js` watches) or `link` (a page).
    pub kind: String,
    /// Where to send the browser once connected (an auth link's `redirectUrl`).
    pub redirect_url: Option<String>,
    /// Who asks: the project's display name and logo (its `companyName`, `logoUrl` settings), shown at the top of
    /// the page so a user who got the link by mail knows whose app it is.
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    /// The project's `theme` setting: `light`, `dark`, or absent (follows the device).
    #[serde(default)]
    pub app_theme: Option<String>,
}

/// Answer of `POST /v1/hosted-connection-sessions/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HostedStatus {
    /// `pending`, `connected` or `expired`.
    pub status: String,
    pub connection_id: Option<String>,
    pub connection: Option<ConnectionRecord>,
}

/// Answer of `POST /v1/widget/oauth/{platform}/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OAuthStart {
    pub flow_id: String,
    /// Open this in the popup. Its page asks its opener for `proof` (postMessage, same origin only) before it
    /// goes on to the provider, so the link alone is useless to anyone else.
    pub authorize_url: String,
    /// One-time secret binding the popup to the widget that started the flow. Never put it in a URL.
    pub proof: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FlowStatus {
    Pending,
    Connected,
    Failed,
}

/// `GET /v1/widget/oauth/flows/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FlowState {
    pub status: FlowStatus,
    pub error: Option<String>,
    pub connection: Option<ConnectionRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_uses_the_seed_field_names() {
        let req: TokenRequest =
            serde_json::from_str(r#"{"identity":"user-42","identityType":"team"}"#).unwrap();
        assert_eq!(req.identity_type, IdentityType::Team);
        assert!(serde_json::from_str::<TokenRequest>(r#"{"identity":"u","identityType":"robot"}"#).is_err());
    }

    #[test]
    fn rows_serialize_type_and_auth_method_like_the_seed() {
        let row = IntegrationRow {
            id: 1,
            connection_def_id: 2,
            platform: "gmail".into(),
            kind: "api".into(),
            title: "Gmail".into(),
            image: "x".into(),
            category: "Email".into(),
            auth_method: AuthMethod::Oauth2ClientCredentials,
            environment: "test".into(),
            tags: vec![],
            active: true,
        };
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["type"], "api");
        assert_eq!(v["connectionDefId"], 2);
        assert_eq!(v["authMethod"], "oauth2_client_credentials");
    }
}

/// A step of connecting, as the widget reports it (`POST /v1/widget/events`) for the operators' connect funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FunnelStep {
    /// The widget opened (its list, or an app's screen directly).
    Opened,
    /// The end user picked an app.
    AppChosen,
    /// The end user sent an app's form (API key, basic, custom fields).
    Submitted,
    /// The OAuth sign-in window opened.
    OauthOpened,
    /// A connection was made.
    Success,
    /// Connecting failed (with the error's `code`).
    Error,
    /// The widget closed before a connection was made.
    Closed,
}

impl FunnelStep {
    pub const ALL: [Self; 7] = [Self::Opened, Self::AppChosen, Self::Submitted, Self::OauthOpened, Self::Success, Self::Error, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::AppChosen => "app_chosen",
            Self::Submitted => "submitted",
            Self::OauthOpened => "oauth_opened",
            Self::Success => "success",
            Self::Error => "error",
            Self::Closed => "closed",
        }
    }
}

/// `POST /v1/widget/events`: one funnel step; `platform` once an app is chosen, `code` (the error's machine code)
/// with `error` only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WidgetEvent {
    pub kind: FunnelStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}
