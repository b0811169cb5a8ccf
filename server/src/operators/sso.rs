//! Operator single sign-on through an OpenID Connect provider: the authorization code flow with PKCE (S256),
//! `state` and `nonce`, the ID token checked by `openidconnect` (signature, issuer, audience, nonce, expiry), the
//! role mapped from one claim, and the operator found by their "issuer subject" or made on first sign-in. Every
//! sign-in and every refusal is audited (`operator.sign_in`, `details.method = "sso"`). Knows nothing of HTTP:
//! `http/operator/sso.rs` carries [`Pending`] in a sealed cookie and renders [`SsoError`].

use std::{sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use openidconnect::{
    core::{CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType},
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    accounts::{normalize_email, Accounts, SignedIn},
    audit::{self, Actor, Change},
    OperatorError, Role,
};
use crate::{
    clock::now,
    config::SsoSettings,
    store::{OperatorRow, StoreError},
    vault::{Sealed, SecretString, Vault},
};

/// How long a started sign-in may take at the provider before its callback is refused.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

/// How long the provider's discovery document and keys are kept before they are read again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(15 * 60);

/// Longest `returnTo` path accepted (bytes).
pub const MAX_RETURN_TO: usize = 512;

/// Where a sign-in ends when it names no `returnTo`.
pub const DEFAULT_RETURN_TO: &str = "/console";

/// The path of the callback, below the public URL: the redirect URI to register at the provider.
pub const CALLBACK_PATH: &str = "/operator/v1/sso/callback";

/// Associated data of the sealed [`Pending`] cookie: nothing else sealed under the master key opens as one.
const PENDING_AAD: &[u8] = b"plugboard operator sso pending v1";

/// Single sign-on as configured, checked.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    pub issuer: IssuerUrl,
    pub client_id: String,
    pub client_secret: SecretString,
    pub role_claim: String,
    /// Claim value → role, in the order given.
    pub roles: Vec<(String, Role)>,
    pub default_role: Option<Role>,
    /// Lower-cased email domains; empty: any.
    pub allowed_domains: Vec<String>,
}

impl SsoConfig {
    /// The checked configuration, `None` when single sign-on is off (no issuer, client id or secret), or why it
    /// is wrong, naming the variable.
    pub fn from_settings(s: &SsoSettings) -> Result<Option<Self>, String> {
        let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let secret = s.client_secret.as_ref().filter(|v| !v.expose().trim().is_empty());
        let (issuer, client_id) = (set(&s.issuer), set(&s.client_id));
        if issuer.is_none() && client_id.is_none() && secret.is_none() {
            return Ok(None);
        }
        let issuer = issuer.ok_or("PLUGBOARD_SSO_ISSUER is not set, but PLUGBOARD_SSO_CLIENT_ID or _CLIENT_SECRET is")?;
        let client_id = client_id.ok_or("PLUGBOARD_SSO_CLIENT_ID must be set with PLUGBOARD_SSO_ISSUER")?;
        let client_secret = secret.cloned().ok_or("PLUGBOARD_SSO_CLIENT_SECRET must be set with PLUGBOARD_SSO_ISSUER")?;
        let url = url::Url::parse(&issuer).map_err(|e| format!("PLUGBOARD_SSO_ISSUER {issuer:?} is not a URL: {e}"))?;
        if !(url.scheme() == "https" || url.scheme() == "http" && crate::catalog::is_loopback(&url)) || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("PLUGBOARD_SSO_ISSUER {issuer:?} must be an https URL (http only on loopback) without query or fragment"));
        }
        let role_claim = s.role_claim.trim().to_owned();
        if role_claim.is_empty() || role_claim.chars().any(char::is_control) {
            return Err("PLUGBOARD_SSO_ROLE_CLAIM must name a claim (e.g. groups)".into());
        }
        let mut roles: Vec<(String, Role)> = Vec::new();
        for pair in s.roles.as_deref().unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("PLUGBOARD_SSO_ROLES: {pair:?} must be value=role with a role of admin, developer or support");
            let (value, role) = pair.rsplit_once('=').ok_or_else(bad)?;
            let (value, role) = (value.trim(), Role::parse(role.trim()).ok_or_else(bad)?);
            if value.is_empty() {
                return Err(bad());
            }
            match roles.iter().find(|(v, _)| v == value) {
                Some((_, r)) if *r != role => return Err(format!("PLUGBOARD_SSO_ROLES maps {value:?} to two roles")),
                Some(_) => {}
                None => roles.push((value.to_owned(), role)),
            }
        }
        let default_role = match set(&s.default_role) {
            None => None,
            Some(r) => Some(Role::parse(&r).ok_or_else(|| format!("PLUGBOARD_SSO_DEFAULT_ROLE must be admin, developer or support, not {r:?}"))?),
        };
        if roles.is_empty() && default_role.is_none() {
            return Err("PLUGBOARD_SSO_ROLES (or PLUGBOARD_SSO_DEFAULT_ROLE) must be set: without either nobody could sign in".into());
        }
        let mut allowed_domains = Vec::new();
        for d in s.allowed_domains.as_deref().unwrap_or("").split(',').map(|d| d.trim().trim_start_matches('@').to_lowercase()).filter(|d| !d.is_empty()) {
            if d.contains('@') || d.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("PLUGBOARD_SSO_ALLOWED_DOMAINS: {d:?} is not a domain"));
            }
            allowed_domains.push(d);
        }
        let issuer = IssuerUrl::new(issuer.trim_end_matches('/').to_owned()).map_err(|e| format!("PLUGBOARD_SSO_ISSUER: {e}"))?;
        Ok(Some(Self { issuer, client_id, client_secret, role_claim, roles, default_role, allowed_domains }))
    }

    /// The role of a user whose role claim holds `values`: the most powerful mapped one, else the default role.
    pub fn role_for(&self, values: &[String]) -> Option<Role> {
        let rank = |r: Role| match r {
            Role::Admin => 3,
            Role::Developer => 2,
            Role::Support => 1,
        };
        self.roles.iter().filter(|(v, _)| values.contains(v)).map(|(_, r)| *r).max_by_key(|r| rank(*r)).or(self.default_role)
    }

    fn domain_allowed(&self, email: &str) -> bool {
        self.allowed_domains.is_empty() || email.rsplit_once('@').is_some_and(|(_, d)| self.allowed_domains.iter().any(|a| a == d))
    }
}

/// Claims beyond the standard ones (the role claim among them), by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdToken = openidconnect::IdToken<OtherClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// A sign-in between its start and its callback: what the callback must check. Sealed under the master key into
/// the browser's short-lived cookie, so any node finishes it and no other browser can.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    nonce: String,
    verifier: String,
    /// Where the browser goes once signed in: a path on this origin.
    pub return_to: String,
    /// Unix seconds.
    expires_at: i64,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `<issuer> <sub>`: what `operators.sso_subject` holds.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// The role claim's values (a string is one value).
    pub claim_values: Vec<String>,
}

/// Why a single sign-on did not sign anyone in. `http/error.rs` gives each its status.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// Single sign-on is not configured: 404.
    #[error("single sign-on is not configured on this server")]
    NotConfigured,
    /// A `returnTo` that is not a path on this origin: 400.
    #[error("returnTo must be a path on this server, such as /console")]
    BadReturnTo,
    /// No sign-in started in this browser, it expired, or the `state` does not match it: 400.
    #[error("this sign-in was not started in this browser, has expired, or was already used; start again")]
    BadState,
    /// The provider answered with an error (the user declined, …): 403.
    #[error("the identity provider refused the sign-in: {0}")]
    ProviderRefused(String),
    /// The code could not be exchanged (used before, expired) or the ID token failed its checks: 400.
    #[error("the sign-in could not be completed ({0}); start again")]
    Failed(String),
    /// The provider could not be reached or answered something unusable: 502.
    #[error("the identity provider could not be reached: {0}")]
    Unavailable(String),
    /// The role claim matches no mapping and there is no default role: 403.
    #[error("your account is not allowed to operate Plugboard (no role is mapped from its {0:?} claim); ask an admin")]
    NoRole(String),
    /// No email, an unverified one, or one outside the allowed domains: 403.
    #[error("{0}")]
    EmailRefused(String),
    /// The operator is disabled: 403.
    #[error("this operator account is disabled; ask an admin")]
    Disabled,
    /// The email belongs to an operator linked to another single sign-on identity: 409.
    #[error("an operator with this email signs in with another identity")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SsoError {
    /// The audit trail's `reason` of a refusal.
    fn reason(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not configured",
            Self::BadReturnTo => "bad returnTo",
            Self::BadState => "bad state",
            Self::ProviderRefused(_) => "provider error",
            Self::Failed(_) => "code or ID token refused",
            Self::Unavailable(_) => "provider unreachable",
            Self::NoRole(_) => "no role mapped",
            Self::EmailRefused(_) => "email refused",
            Self::Disabled => "disabled operator",
            Self::Exists => "email linked to another identity",
            Self::Store(_) => "store error",
        }
    }
}

impl From<OperatorError> for SsoError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::Store(e) => Self::Store(e),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: who sent the answer, when the provider says.
    pub iss: Option<String>,
}

/// The single sign-on service of one deployment.
pub struct Sso {
    config: SsoConfig,
    redirect_uri: RedirectUrl,
    vault: Arc<Vault>,
    accounts: Arc<Accounts>,
    /// No redirects followed (SSRF), short timeouts.
    http: openidconnect::reqwest::Client,
    metadata: moka::sync::Cache<(), Arc<CoreProviderMetadata>>,
}

impl Sso {
    /// The service for `config`, answering at `public_url` + [`CALLBACK_PATH`].
    pub fn new(config: SsoConfig, public_url: &str, vault: Arc<Vault>, accounts: Arc<Accounts>) -> Result<Arc<Self>, String> {
        let redirect_uri = RedirectUrl::new(format!("{public_url}{CALLBACK_PATH}")).map_err(|e| format!("the SSO redirect URI: {e}"))?;
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("the SSO HTTP client: {e}"))?;
        let metadata = moka::sync::Cache::builder().max_capacity(1).time_to_live(DISCOVERY_TTL).build();
        Ok(Arc::new(Self { config, redirect_uri, vault, accounts, http, metadata }))
    }

    pub fn config(&self) -> &SsoConfig {
        &self.config
    }

    /// The provider's discovery document and keys: read once per [`DISCOVERY_TTL`].
    async fn client(&self) -> Result<CoreClientWithUrls, SsoError> {
        let metadata = match self.metadata.get(&()) {
            Some(m) => m,
            None => {
                let m = CoreProviderMetadata::discover_async(self.config.issuer.clone(), &self.http)
                    .await
                    .map_err(|e| SsoError::Unavailable(format!("discovery at {} failed: {}", self.config.issuer.as_str(), error_chain(&e))))?;
                let m = Arc::new(m);
                self.metadata.insert((), m.clone());
                m
            }
        };
        Ok(CoreClient::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(self.redirect_uri.clone()))
    }

    /// Starts a sign-in: the provider's authorization URL to send the browser to, and the [`Pending`] sign-in,
    /// sealed, for the browser's cookie. `return_to` must be a path on this origin (else [`SsoError::BadReturnTo`]).
    pub async fn start(&self, return_to: Option<&str>) -> Result<(url::Url, String), SsoError> {
        let return_to = match return_to {
            None => DEFAULT_RETURN_TO.to_owned(),
            Some(r) if is_local_path(r) => r.to_owned(),
            Some(_) => return Err(SsoError::BadReturnTo),
        };
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(AuthenticationFlow::<CoreResponseType>::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new(self.config.role_claim.clone()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            return_to,
            expires_at: now() + PENDING_TTL.as_secs() as i64,
        };
        Ok((url, self.seal(&pending)))
    }

    fn seal(&self, pending: &Pending) -> String {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(pending).expect("pending serializes"));
        let s = self.vault.seal(&json, PENDING_AAD);
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(&s.key_id), URL_SAFE_NO_PAD.encode(&s.nonce), URL_SAFE_NO_PAD.encode(&s.ciphertext))
    }

    /// The pending sign-in of a cookie value, when it is ours, untouched and unexpired.
    pub fn open(&self, sealed: &str) -> Option<Pending> {
        let mut parts = sealed.splitn(3, '.').map(|p| URL_SAFE_NO_PAD.decode(p).ok());
        let (key_id, nonce, ciphertext) = (parts.next()??, parts.next()??, parts.next()??);
        let sealed = Sealed { key_id: String::from_utf8(key_id).ok()?, nonce, ciphertext };
        let json = self.vault.open(&sealed, PENDING_AAD).ok()?;
        serde_json::from_slice::<Pending>(&json).ok().filter(|p| p.expires_at > now())
    }

    /// Finishes a sign-in at its callback: checks the state against the browser's pending sign-in, exchanges the
    /// code, checks the ID token, maps the role and signs the operator in (made on first sign-in, their role set
    /// to the mapped one every time). Every refusal is audited before it is answered.
    pub async fn finish(&self, pending: Option<Pending>, cb: Callback, client_ip: Option<std::net::IpAddr>) -> Result<SignedIn, SsoError> {
        let mut who = None;
        match self.finish_inner(pending, cb, client_ip, &mut who).await {
            Ok(s) => Ok(s),
            Err(e) => {
                let (name, operator_id) = who.unwrap_or_else(|| ("single sign-on".to_owned(), None));
                let actor = Actor { name, operator_id, client_ip: client_ip.map(|ip| ip.to_string()) };
                let details = json!({"method": "sso", "reason": e.reason()});
                audit::record(self.accounts.store(), &actor, Change { action: "operator.sign_in", refused: true, details, ..Default::default() }).await?;
                Err(e)
            }
        }
    }

    async fn finish_inner(&self, pending: Option<Pending>, cb: Callback, client_ip: Option<std::net::IpAddr>, who: &mut Option<(String, Option<String>)>) -> Result<SignedIn, SsoError> {
        let pending = pending.ok_or(SsoError::BadState)?;
        let state_ok: bool = cb.state.as_deref().is_some_and(|s| subtle::ConstantTimeEq::ct_eq(s.as_bytes(), pending.state.as_bytes()).into());
        if !state_ok {
            return Err(SsoError::BadState);
        }
        if cb.iss.as_deref().is_some_and(|iss| iss.trim_end_matches('/') != self.config.issuer.as_str().trim_end_matches('/')) {
            return Err(SsoError::Failed("the answer came from another issuer".into()));
        }
        if let Some(error) = cb.error {
            let shown: String = cb.error_description.unwrap_or(error).chars().filter(|c| !c.is_control()).take(300).collect();
            return Err(SsoError::ProviderRefused(shown));
        }
        let code = cb.code.filter(|c| !c.is_empty()).ok_or_else(|| SsoError::Failed("the provider sent no code".into()))?;
        let identity = self.identity(&pending, code).await?;
        *who = Some((identity.email.clone().unwrap_or_else(|| identity.subject.clone()), None));
        let operator = self.operator_for(&identity, who).await?;
        let actor = Actor { name: operator.email.clone(), operator_id: Some(operator.id.clone()), client_ip: client_ip.map(|ip| ip.to_string()) };
        audit::record(self.accounts.store(), &actor, Change { action: "operator.sign_in", details: json!({"method": "sso", "role": operator.role.as_str()}), ..Default::default() }).await?;
        Ok(self.accounts.start_session(&operator, client_ip).await?)
    }

    /// Exchanges the code (with the PKCE verifier) and checks the ID token; the role claim (and the email) from
    /// the userinfo endpoint when the ID token lacks it.
    async fn identity(&self, pending: &Pending, code: String) -> Result<Identity, SsoError> {
        let client = self.client().await?;
        let answer = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SsoError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => SsoError::Failed(format!("the provider refused the code: {}", r.error())),
                other => SsoError::Unavailable(format!("the token endpoint: {}", error_chain(&other))),
            })?;
        let raw = answer.id_token().ok_or_else(|| SsoError::Failed("the provider sent no ID token".into()))?;
        let id_token: IdToken = raw.to_string().parse().map_err(|_| SsoError::Failed("the ID token does not parse".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = id_token.claims(&client.id_token_verifier(), &nonce).map_err(|e| {
            // The provider may have rotated its signing keys: the next sign-in reads them again.
            self.metadata.invalidate_all();
            SsoError::Failed(format!("the ID token failed its checks: {e}"))
        })?;
        let mut identity = Identity {
            subject: format!("{} {}", self.config.issuer.as_str(), claims.subject().as_str()),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified(),
            claim_values: Vec::new(),
        };
        let mut role_claim = claims.additional_claims().claims.get(&self.config.role_claim).cloned();
        if role_claim.is_none() || identity.email.is_none() {
            if let Ok(request) = client.user_info(answer.access_token().clone(), Some(claims.subject().clone())) {
                let info: UserInfoClaims<OtherClaims, CoreGenderClaim> =
                    request.request_async(&self.http).await.map_err(|e| SsoError::Unavailable(format!("the userinfo endpoint: {}", error_chain(&e))))?;
                role_claim = role_claim.or_else(|| info.additional_claims().claims.get(&self.config.role_claim).cloned());
                if identity.email.is_none() {
                    identity.email = info.email().map(|e| e.as_str().to_owned());
                    identity.email_verified = info.email_verified();
                }
            }
        }
        identity.claim_values = match role_claim {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        Ok(identity)
    }

    /// The operator `identity` signs in as, with the mapped role: found by their issuer subject, else linked by
    /// their email (an operator not yet linked to any identity), else made.
    async fn operator_for(&self, identity: &Identity, who: &mut Option<(String, Option<String>)>) -> Result<OperatorRow, SsoError> {
        let store = self.accounts.store();
        let role = self.config.role_for(&identity.claim_values).ok_or_else(|| SsoError::NoRole(self.config.role_claim.clone()))?;
        let email = match &identity.email {
            None => return Err(SsoError::EmailRefused("the identity provider sent no email address; it must (scope `email`)".into())),
            Some(_) if identity.email_verified == Some(false) => return Err(SsoError::EmailRefused("your email address is not verified at the identity provider".into())),
            Some(e) => normalize_email(e).map_err(|e| SsoError::EmailRefused(e.to_string()))?,
        };
        if !self.config.domain_allowed(&email) {
            return Err(SsoError::EmailRefused("your email domain is not allowed to sign in here".into()));
        }
        let found = match store.operator_by_sso_subject(&identity.subject).await? {
            Some(o) => Some(o),
            None => match store.operator_by_email(&email).await? {
                Some(o) if o.sso_subject.is_some() => return Err(SsoError::Exists),
                other => other,
            },
        };
        let Some(operator) = found else {
            let row = OperatorRow {
                id: format!("op_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
                email: email.clone(),
                role,
                password_hash: None,
                sso_subject: Some(identity.subject.clone()),
                created_at: now(),
                disabled_at: None,
                failed_sign_ins: 0,
                locked_until: None,
            };
            match store.insert_operator(&row).await {
                Ok(()) => {}
                // A sign-in of the same identity won the race: it made the operator.
                Err(e) if e.is_conflict() => return Err(SsoError::Failed("a sign-in of the same account is under way; try again".into())),
                Err(e) => return Err(e.into()),
            }
            let actor = Actor { name: email.clone(), operator_id: Some(row.id.clone()), client_ip: None };
            audit::record(store, &actor, Change { action: "operator.create", target: Some(&email), details: json!({"role": role.as_str(), "method": "sso"}), ..Default::default() }).await?;
            return Ok(row);
        };
        *who = Some((operator.email.clone(), Some(operator.id.clone())));
        if operator.disabled_at.is_some() {
            return Err(SsoError::Disabled);
        }
        let link = operator.sso_subject.is_none().then_some(identity.subject.as_str());
        if operator.role != role || link.is_some() {
            store.update_operator(&operator.id, Some(role), link, None).await?;
            let actor = Actor { name: operator.email.clone(), operator_id: Some(operator.id.clone()), client_ip: None };
            let details = json!({"role": role.as_str(), "previousRole": operator.role.as_str(), "linked": link.is_some(), "method": "sso"});
            audit::record(store, &actor, Change { action: "operator.update", target: Some(&operator.email), details, ..Default::default() }).await?;
        }
        Ok(OperatorRow { role, sso_subject: Some(identity.subject.clone()), ..operator })
    }
}

type CoreClientWithUrls = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Whether `path` is a path on this origin: one leading `/`, not `//` or `/\` (which browsers read as another
/// host), no scheme, no control character.
pub fn is_local_path(path: &str) -> bool {
    path.len() <= MAX_RETURN_TO
        && path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control() || c == '\\' || c.is_whitespace())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(roles: Option<&str>, default_role: Option<&str>) -> SsoSettings {
        SsoSettings {
            issuer: Some("https://idp.example.com".into()),
            client_id: Some("plugboard".into()),
            client_secret: Some(SecretString::new("s3cret")),
            roles: roles.map(Into::into),
            default_role: default_role.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn the_mapping_is_checked_at_start_naming_the_variable() {
        assert!(SsoConfig::from_settings(&SsoSettings::default()).unwrap().is_none(), "off without an issuer");
        for (roles, default, var) in [
            (Some("admins=root"), None, "PLUGBOARD_SSO_ROLES"),
            (Some("admins"), None, "PLUGBOARD_SSO_ROLES"),
            (Some("=admin"), None, "PLUGBOARD_SSO_ROLES"),
            (Some("a=admin,a=support"), None, "PLUGBOARD_SSO_ROLES"),
            (None, None, "PLUGBOARD_SSO_ROLES"),
            (None, Some("owner"), "PLUGBOARD_SSO_DEFAULT_ROLE"),
        ] {
            let err = SsoConfig::from_settings(&settings(roles, default)).unwrap_err();
            assert!(err.contains(var), "{roles:?} {default:?}: {err}");
        }
        let plain_http = SsoSettings { issuer: Some("http://idp.example.com".into()), ..settings(Some("a=admin"), None) };
        assert!(SsoConfig::from_settings(&plain_http).unwrap_err().contains("PLUGBOARD_SSO_ISSUER"));
        let no_secret = SsoSettings { client_secret: None, ..settings(Some("a=admin"), None) };
        assert!(SsoConfig::from_settings(&no_secret).unwrap_err().contains("PLUGBOARD_SSO_CLIENT_SECRET"));
    }

    #[test]
    fn the_most_powerful_mapped_role_wins_else_the_default() {
        let c = SsoConfig::from_settings(&settings(Some("plugboard-admins=admin, plugboard-devs=developer,support=support"), None)).unwrap().unwrap();
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(c.role_for(&v(&["support", "plugboard-admins"])), Some(Role::Admin));
        assert_eq!(c.role_for(&v(&["plugboard-devs"])), Some(Role::Developer));
        assert_eq!(c.role_for(&v(&["everyone"])), None);
        let d = SsoConfig::from_settings(&settings(None, Some("support"))).unwrap().unwrap();
        assert_eq!(d.role_for(&v(&[])), Some(Role::Support));
    }

    #[test]
    fn return_to_is_a_path_on_this_origin_only() {
        for ok in ["/console", "/console/connections?q=a%20b", "/"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "console", "/a\nb", "javascript:alert(1)", ""] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn allowed_domains_are_exact() {
        let s = SsoSettings { allowed_domains: Some("@Example.com, example.org".into()), ..settings(Some("a=admin"), None) };
        let c = SsoConfig::from_settings(&s).unwrap().unwrap();
        assert!(c.domain_allowed("ada@example.com") && c.domain_allowed("bo@example.org"));
        assert!(!c.domain_allowed("eve@evilexample.com") && !c.domain_allowed("eve@example.com.evil.io"));
    }
}
