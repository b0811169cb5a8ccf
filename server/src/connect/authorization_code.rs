//! The OAuth2 authorization-code flow (RFC 6749 §4.1; PKCE S256 always, unless the catalog entry says why not):
//! start, the sign-in window's pages, the callback, the choice of place, and the widget's claim.
//! Flow state lives in the database: start on one node, finish the callback on any other.
//!
//! Long on purpose: the flow is one state machine (pending → redirected → parked or saved or failed) whose
//! transitions guard each other (binding cookie, one-time state, mix-up check); kept in one file to be read whole.
//! What comes back and how it ends are [`super::callback`].

use std::collections::BTreeMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use oauth2::{basic::BasicClient, AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use plugboard_shared::{ConnectRequest, ConnectionRecord, FlowState, FlowStatus, OAuthStart};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{
    callback::{CallbackFailure, CallbackQuery, Failure, Finished, Outcome, Question, SameTabAsk},
    fields, metadata, ConnectError, Connections, FlowSecrets, Owner,
};
use crate::{
    catalog::{template, Integration},
    clock::now,
    config::OAuthClient,
    connect::counted::{count_connect, ConnectOutcome},
    keys::digest,
    session::Session,
    store::{Consumed, ConnectionRow, FlowDisplay, FlowRow, StoreError},
    oauth::{
        credentials::credentials_from,
        token_endpoint::{self as token, ClientAuth, Grant, TokenError},
    },
    vault::{Credentials, SecretString},
};

/// How long a user has between clicking Connect and finishing at the provider.
pub const FLOW_TTL_SECS: i64 = 600;

/// How long a same-tab sign-in's result can be claimed after it came back (the host page opens the widget at once).
pub const CLAIM_WITHIN_SECS: i64 = 120;

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What a used, expired or unknown sign-in link says.
pub const LINK_USED: &str = "This sign-in link was already used or has expired. Close this window and start again from the app.";
const NOT_YOURS: &str = "This sign-in link works only in the window your app opened for it. Close this window and start again from the app.";

/// How long the end user has to pick one of the places a grant reaches (see [`Connections::choose`]); a grant
/// nobody picked for is voided (and revoked) after it, as an unclaimed same-tab result is.
pub const CHOOSE_WITHIN_SECS: i64 = CLAIM_WITHIN_SECS;

/// What a sign-in produced, not yet saved: the connection's config, credentials, account label, and the places
/// the grant reaches.
struct Obtained {
    config: BTreeMap<String, String>,
    creds: Credentials,
    account: Option<String>,
    choices: plugboard_shared::Granted,
}

impl Obtained {
    /// The first value the end user still has to pick (several places, none in the config yet).
    fn undecided(&self) -> Option<(&String, &Vec<plugboard_shared::Choice>)> {
        self.choices.iter().find(|(name, list)| list.len() > 1 && !self.config.contains_key(*name))
    }
}

/// Name of the cookie binding a flow to the browser whose popup started it.
pub fn binding_cookie(flow_id: &str) -> String {
    format!("pb_flow_{}", flow_id.replace('-', ""))
}

impl Connections {
    /// The OAuth client the entry connects with in `environment` (see [`crate::projects::Projects::oauth_client`];
    /// `None`: only the project's client for both environments, else the deployment's).
    pub async fn oauth_client(&self, project_id: &str, environment: Option<crate::keys::Environment>, entry: &Integration) -> Result<OAuthClient, ConnectError> {
        // Reached when the client went away after the widget listed the app (a refresh, a sign-in in flight): said
        // for whoever reads the logs or the passthrough's answer, too.
        let client = match environment {
            Some(env) => self.projects.oauth_client(project_id, &entry.platform, env).await?,
            None => self.projects.oauth_client_for_both(project_id, &entry.platform).await?,
        };
        client.ok_or_else(|| {
            ConnectError::NotConfigured(format!("{} is not set up on this server yet (its OAuth client id and secret are missing).", entry.name))
        })
    }

    fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url)
    }

    /// `POST /v1/widget/oauth/{platform}/start`: records the flow and answers the URL the popup opens.
    pub async fn start_oauth(&self, session: &Session, platform: &str, req: &ConnectRequest) -> Result<OAuthStart, ConnectError> {
        self.link_still_open(session).await?;
        let entry = &self.entry(session, platform).await?;
        if entry.auth_method != plugboard_shared::AuthMethod::Oauth2 {
            return Err(ConnectError::BadInput(format!("{} does not use a sign-in window", entry.name)));
        }
        let oauth = self.oauth_spec(entry).await?;
        let client = self.oauth_client(&session.project_id, Some(session.environment), entry).await?;
        let owner = Owner::from(session);
        let name = Self::connection_name(req.name.as_deref(), session, entry)?;
        self.reconnect_target(&owner, platform, req.reconnect.as_deref()).await?;
        let (config, _secrets) = fields::validate(entry, &req.fields).map_err(ConnectError::BadInput)?;

        let state = random_token();
        let authorize = AuthUrl::new(template::render_oauth(&oauth.authorization_url, &oauth, &client.settings, &config))
            .map_err(|_| ConnectError::BadInput("the authorization URL is not valid".into()))?;
        let redirect = RedirectUrl::new(self.redirect_uri()).map_err(|_| ConnectError::NotConfigured("bad public URL".into()))?;
        let basic = BasicClient::new(ClientId::new(client.client_id.clone())).set_auth_uri(authorize).set_redirect_uri(redirect);
        let mut request = basic.authorize_url(|| CsrfToken::new(state.clone()));
        let scopes = client.scopes.clone().unwrap_or_else(|| oauth.scopes.clone());
        if oauth.scope_separator == " " {
            request = request.add_scopes(scopes.into_iter().map(Scope::new));
        } else if !scopes.is_empty() {
            request = request.add_extra_param("scope", scopes.join(&oauth.scope_separator));
        }
        // Scopes of the answer's further tokens go in parameters of their own (Slack's `user_scope`).
        for t in &oauth.nested_tokens {
            let Some(param) = &t.scope_param else { continue };
            let scopes = client.token_scopes.get(&t.name).unwrap_or(&t.scopes);
            if !scopes.is_empty() {
                request = request.add_extra_param(param.clone(), scopes.join(&oauth.scope_separator));
            }
        }
        let mut config = config;
        if mentions_client_id(entry) {
            // Twitch-style APIs want the OAuth client's id beside the token; the token is bound to this client.
            config.insert("client_id".into(), client.client_id.clone());
        }
        for (k, v) in &oauth.authorize_params {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        let mut secrets = FlowSecrets::default();
        if oauth.pkce() {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            secrets.pkce_verifier = Some(SecretString::new(verifier.secret().clone()));
        }
        let (url, _) = request.url();
        secrets.authorize_url = Some(SecretString::new(url.to_string()));

        let id = uuid::Uuid::new_v4().to_string();
        let proof = random_token();
        let sealed = self.vault.seal(&serde_json::to_vec(&secrets).expect("serializable"), id.as_bytes());
        let created = now();
        let flow = FlowRow {
            id: id.clone(),
            state_hash: digest(&state),
            binding_hash: None,
            proof_hash: Some(digest(&proof)),
            session_hash: session.token_hash.clone(),
            project_id: owner.project_id,
            environment: owner.environment,
            identity: owner.identity,
            identity_type: owner.identity_type,
            platform: platform.to_owned(),
            name: Some(name),
            reconnect_key: req.reconnect.clone(),
            config,
            sealed,
            redirect_uri: self.redirect_uri(),
            status: FlowStatus::Pending,
            error: None,
            connection_key: None,
            created_at: created,
            expires_at: created + FLOW_TTL_SECS,
            redirected_at: None,
            consumed_at: None,
            link_hash: session.link_hash.clone(),
            display: match (req.display, &req.return_to) {
                (Some(plugboard_shared::Display::Page), _) | (_, Some(_)) => FlowDisplay::Page,
                _ => FlowDisplay::Popup,
            },
            return_to: req.return_to.clone(),
            return_in_state: req.return_to.is_some() && req.return_in_state,
            result_hash: None,
            parked_at: None,
        };
        if !self.store.insert_flow(&flow, self.max_open_flows).await? {
            return Err(ConnectError::TooMany(format!(
                "{} sign-ins are already open for you; finish or close one, or wait ten minutes",
                self.max_open_flows
            )));
        }
        Ok(OAuthStart { authorize_url: format!("{}/oauth/authorize/{id}", self.public_url), flow_id: id, proof })
    }

    fn open_flow_secrets(&self, flow: &FlowRow) -> Result<FlowSecrets, ConnectError> {
        let json = self.vault.open(&flow.sealed, flow.id.as_bytes())?;
        serde_json::from_slice(&json).map_err(|_| ConnectError::Vault(crate::vault::VaultError::Decrypt))
    }

    /// `GET /oauth/authorize/{id}`: whether the link can still be used (pending, unexpired, not yet opened).
    /// Reads only: opening a link costs no write, whoever opens it.
    /// Answers, for a same-tab flow (no opener to vouch for the page), who is asking to connect what, for the page
    /// to ask the person in front of it before anything is bound: such a link may have come by mail or chat.
    pub async fn check_authorize_link(&self, flow_id: &str) -> Result<Option<SameTabAsk>, ConnectError> {
        let flow = self
            .store
            .get_flow(flow_id)
            .await?
            .filter(|f| f.status == FlowStatus::Pending && f.redirected_at.is_none() && f.expires_at > now())
            .ok_or_else(|| ConnectError::NotFound(LINK_USED.into()))?;
        if flow.return_to.is_none() {
            return Ok(None);
        }
        let view = self.projects.view(&flow.project_id, flow.environment).await?;
        let provider = view.catalog.get(&flow.platform).map_or_else(|| flow.platform.clone(), |e| e.name.clone());
        let app = self.store.list_projects().await?.into_iter().find(|p| p.id == flow.project_id).map_or_else(|| flow.project_id.clone(), |p| p.name);
        Ok(Some(SameTabAsk { provider, app, user: flow.identity.clone(), platform: flow.platform.clone() }))
    }

    /// `POST /oauth/authorize/{id}` from the popup's page with the proof it got from its opener: binds the flow to
    /// this browser (a cookie only it holds) and answers the provider URL and the cookie value. Works once per
    /// flow, and only with the proof that `start_oauth` gave the widget which started the flow, so a link sent to
    /// someone else (or opened by any page other than that widget) cannot be completed.
    ///
    /// `seed_state`: `@withone/auth`'s same-tab sign-in sends its tab here with `?state=<ours>~<base64url of the
    /// host page's URL>` (the package appends its return URL to whatever state it was given). That suffix goes on
    /// to the provider with the real state, so the callback knows where to send the browser back. The page a
    /// same-tab flow comes back to — that one, else the flow's `return_to` — must be one of the project's
    /// `returnUrls` ([`ConnectError::BadInput`] otherwise, before anything is bound).
    pub async fn begin_redirect(&self, flow_id: &str, proof: &str, seed_state: Option<&str>) -> Result<(String, String), ConnectError> {
        let flow = self.store.get_flow(flow_id).await?.ok_or_else(|| ConnectError::NotFound(LINK_USED.into()))?;
        let suffix = seed_state.and_then(|s| s.split_once('~')).map(|(_, suffix)| suffix.to_owned());
        // Where this browser will come back to, fixed now: for @withone/auth the page its state names (kept in the
        // flow, and the only page the callback sends it to), else the widget's registered page. A state suffix on
        // any other flow is refused: it would move the result out of the fragment.
        let return_page = match (&flow.return_to, flow.return_in_state, &suffix) {
            (Some(_), true, Some(suffix)) => {
                let page = seed_return_url(suffix);
                self.check_return_page(&flow, page.as_deref()).await?;
                page
            }
            (Some(back), false, None) => {
                self.check_return_page(&flow, Some(back)).await?;
                None
            }
            (None, _, None) => None,
            _ => return Err(ConnectError::BadInput("the page to come back to is not one of the project's returnUrls".into())),
        };
        let proven = flow.proof_hash.as_ref().is_some_and(|h| bool::from(h.as_bytes().ct_eq(digest(proof).as_bytes())));
        // A same-tab flow of the embedded widget has no opener to ask: its proof is checked when its parked result
        // is claimed instead (the result comes back only to this browser, the proof stays in the widget's storage).
        if !proven && flow.return_to.is_none() {
            return Err(ConnectError::Forbidden(NOT_YOURS.into()));
        }
        let binding = random_token();
        let flow = self
            .store
            .mark_flow_redirected(flow_id, &digest(&binding), now(), return_page.as_deref())
            .await?
            .ok_or_else(|| ConnectError::NotFound(LINK_USED.into()))?;
        let url = self.open_flow_secrets(&flow)?.authorize_url.ok_or_else(|| ConnectError::NotFound("no provider URL".into()))?;
        let url = match suffix {
            Some(suffix) => with_state_suffix(url.expose(), &suffix),
            None => url.expose().to_owned(),
        };
        Ok((url, binding))
    }

    /// A same-tab flow's return page must be one of its project's `returnUrls`, string for string, now (a page
    /// dropped from the list since the flow started no longer receives anything).
    async fn check_return_page(&self, flow: &FlowRow, page: Option<&str>) -> Result<(), ConnectError> {
        let view = self.projects.view(&flow.project_id, flow.environment).await?;
        match page {
            Some(page) if view.allows_return_to(page) => Ok(()),
            _ => Err(ConnectError::BadInput("the page to come back to is not one of the project's returnUrls".into())),
        }
    }

    /// `GET /oauth/callback`: checks state, browser binding, expiry, `iss` and the provider's answer, exchanges
    /// the code and stores the connection. Answers the flow id; `Err` carries it (when known) and a human message.
    /// `return_page`: for `@withone/auth`'s same-tab flow, the page its state names (checked again here).
    pub async fn finish_callback(&self, q: &CallbackQuery, return_page: Option<&str>, cookie: impl Fn(&str) -> Option<String>) -> Result<Finished, CallbackFailure> {
        let state = q.state.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| CallbackFailure::page(Failure::Invalid, "The provider's answer has no state, so it cannot be matched to a sign-in. Start again from the app."))?;
        let flow = match self.store.consume_flow(&digest(state), now()).await.map_err(CallbackFailure::internal)? {
            Consumed::Fresh(flow) => flow,
            Consumed::Reused(_) => return Err(CallbackFailure::page(Failure::Ended, "This sign-in was already completed or abandoned. Start again from the app.")),
            Consumed::Unknown => return Err(CallbackFailure::page(Failure::Invalid, "This sign-in is unknown to Plugboard. Start again from the app.")),
        };
        // Where a same-tab flow of an auth link sends the browser at the end.
        let redirect_url = match &flow.link_hash {
            Some(hash) => self.store.find_link(hash).await.map_err(CallbackFailure::internal)?.and_then(|l| l.redirect_url),
            None => None,
        };
        if let Some(back) = &flow.return_to {
            // Checked again: the project may have dropped the page since, and @withone/auth's state must still name
            // the page kept when the tab left. Otherwise the browser is sent nowhere.
            let named = if flow.return_in_state { return_page == Some(back.as_str()) } else { return_page.is_none() };
            let checked = if named { self.check_return_page(&flow, Some(back)).await } else { Err(ConnectError::BadInput("the page to come back to changed on the way".into())) };
            if let Err(e) = checked {
                let message = format!("Nothing was connected: {e}.");
                self.store.fail_flow(&flow.id, &message).await.map_err(CallbackFailure::internal)?;
                return Err(CallbackFailure { kind: Failure::Invalid, flow_id: Some(flow.id.clone()), message, display: FlowDisplay::Page, redirect_url: None, return_to: None });
            }
        }
        let result = match self.check_and_get_tokens(&flow, q, &cookie).await {
            Ok(obtained) => self.settle(&flow, obtained).await,
            Err(e) => Err(e),
        };
        let counted = match &result {
            Ok(Outcome::Saved(_)) => Some(ConnectOutcome::Connected),
            Ok(Outcome::Parked(_) | Outcome::Choose(_)) => None, // counted when claimed or chosen
            Err(_) => Some(ConnectOutcome::Failed),
        };
        if let Some(outcome) = counted {
            count_connect(self.integration_label(&flow.project_id, &flow.platform).await, outcome);
        }
        match result {
            Ok(outcome) => Ok(Finished { flow_id: flow.id.clone(), display: flow.display, redirect_url, return_to: flow.return_to.clone(), seed: flow.return_in_state, outcome }),
            Err((kind, message)) => {
                self.store.fail_flow(&flow.id, &message).await.map_err(CallbackFailure::internal)?;
                tracing::info!(flow = %flow.id, platform = %flow.platform, %message, "oauth flow failed");
                Err(CallbackFailure { kind, flow_id: Some(flow.id.clone()), message, display: flow.display, redirect_url, return_to: flow.return_to.clone() })
            }
        }
    }

    /// What becomes of a sign-in's result: parked for the end user's pick when its grant reaches several places
    /// and none is picked yet; else parked for the widget's claim (a same-tab flow), else saved.
    async fn settle(&self, flow: &FlowRow, obtained: Obtained) -> Result<Outcome, (Failure, String)> {
        if let Some((name, list)) = obtained.undecided() {
            let view = self.projects.view(&flow.project_id, flow.environment).await.map_err(|e| (Failure::Internal, e.to_string()))?;
            let noun = view
                .catalog
                .get(&flow.platform)
                .and_then(|e| e.metadata.iter().find(|m| &m.name == name))
                .and_then(|m| m.choices.as_ref())
                .map_or_else(|| "place".to_owned(), |c| c.noun.clone());
            let choices = list.clone();
            let token = self.park(flow, obtained).await?;
            return Ok(Outcome::Choose(Question { token, noun, choices }));
        }
        match &flow.return_to {
            Some(_) => self.park(flow, obtained).await.map(Outcome::Parked),
            None => self.save_from_flow(flow, obtained).await.map(Outcome::Saved),
        }
    }

    /// Parks a result sealed in the flow until it is claimed — by the widget ([`Connections::claim`], a same-tab
    /// flow) or by the end user's pick ([`Connections::choose`]); answers the one-time capability that claims it.
    async fn park(&self, flow: &FlowRow, obtained: Obtained) -> Result<String, (Failure, String)> {
        let Obtained { config, creds, account, choices } = obtained;
        let mut secrets = self.open_flow_secrets(flow).map_err(|e| (Failure::Internal, e.to_string()))?;
        secrets.parked = Some((config, creds));
        secrets.parked_account = account;
        secrets.parked_choices = choices;
        let json = zeroize::Zeroizing::new(serde_json::to_vec(&secrets).expect("serializable"));
        let sealed = self.vault.seal(&json, flow.id.as_bytes());
        let result = random_token();
        if !self.store.park_flow(&flow.id, &sealed, &digest(&result), now()).await.map_err(|e| (Failure::Internal, e.to_string()))? {
            return Err((Failure::Ended, "This sign-in was already completed. Start again from the app.".into()));
        }
        Ok(result)
    }

    /// `POST /oauth/callback/choose`: the end user picked `picked` among the places the grant of flow `flow_id`
    /// reaches. Needs the page's one-time `token` (single use, within [`CHOOSE_WITHIN_SECS`] of the callback) and
    /// the browser's binding cookie; `picked` must be one of the places the provider listed. Then the sign-in
    /// goes on as it would have (saved, or parked for the widget's claim). A wrong answer voids the sign-in.
    pub async fn choose(&self, flow_id: &str, token: &str, picked: &str, cookie: impl Fn(&str) -> Option<String>) -> Result<Finished, CallbackFailure> {
        let flow = self
            .store
            .claim_parked(flow_id, &digest(token), now() - CHOOSE_WITHIN_SECS)
            .await
            .map_err(CallbackFailure::internal)?
            .ok_or_else(|| CallbackFailure::page(Failure::Expired, "This choice was already made, or it waited too long. Start again from the app."))?;
        let failure = |kind: Failure, message: String| CallbackFailure {
            kind,
            flow_id: Some(flow.id.clone()),
            message,
            display: flow.display,
            redirect_url: None,
            return_to: flow.return_to.clone(),
        };
        let bound = match (&flow.binding_hash, cookie(&binding_cookie(&flow.id))) {
            (Some(expected), Some(presented)) => bool::from(expected.as_bytes().ct_eq(digest(&presented).as_bytes())),
            _ => false,
        };
        let secrets = self.open_flow_secrets(&flow).map_err(|e| failure(Failure::Internal, e.to_string()))?;
        let (config, creds) = secrets.parked.ok_or_else(|| failure(Failure::Expired, "There is no sign-in to finish here. Start again from the app.".into()))?;
        let mut obtained = Obtained { config, creds, account: secrets.parked_account, choices: secrets.parked_choices };
        let listed = obtained.undecided().is_some_and(|(_, list)| list.iter().any(|c| c.id == picked));
        let why = match (bound, listed) {
            (false, _) => Some((Failure::WrongBrowser, "This choice was sent from a different browser window or session. Start again from the app.")),
            (_, false) => Some((Failure::Invalid, "That is not one of the places this sign-in reached. Start again from the app.")),
            _ => None,
        };
        if let Some((kind, message)) = why {
            self.void_parked(&flow, message).await.map_err(|e| failure(Failure::Internal, e.to_string()))?;
            count_connect(self.integration_label(&flow.project_id, &flow.platform).await, ConnectOutcome::Failed);
            return Err(failure(kind, message.into()));
        }
        let name = obtained.undecided().map(|(n, _)| n.clone()).unwrap_or_default();
        obtained.config.insert(name, picked.to_owned());
        let redirect_url = match &flow.link_hash {
            Some(hash) => self.store.find_link(hash).await.map_err(CallbackFailure::internal)?.and_then(|l| l.redirect_url),
            None => None,
        };
        let outcome = match self.settle(&flow, obtained).await {
            Ok(outcome) => outcome,
            Err((kind, message)) => {
                // Claimed but not settled (the connection cap, an outage): nothing will claim it again.
                self.void_parked(&flow, &message).await.map_err(|e| failure(Failure::Internal, e.to_string()))?;
                count_connect(self.integration_label(&flow.project_id, &flow.platform).await, ConnectOutcome::Failed);
                return Err(CallbackFailure { redirect_url, ..failure(kind, message) });
            }
        };
        if matches!(outcome, Outcome::Saved(_)) {
            count_connect(self.integration_label(&flow.project_id, &flow.platform).await, ConnectOutcome::Connected);
        }
        Ok(Finished { flow_id: flow.id.clone(), display: flow.display, redirect_url, return_to: flow.return_to.clone(), seed: flow.return_in_state, outcome })
    }

    /// `POST /v1/widget/oauth/flows/{id}/claim`: saves a parked same-tab flow for the widget that started it. Needs
    /// the one-time `result` (it came back to this browser only) and the flow's `proof` (kept by the widget), and
    /// a session of the same project, environment and end user.
    ///
    /// The result is spent by the first claim that presents it, whether or not the proof and user match: a result
    /// that came back to a browser whose widget did not start the flow (an attacker's sign-in link, finished by a
    /// victim) is voided by that widget at once, so the attacker, who holds the proof, cannot claim it later from
    /// wherever the return URL leaked to. A result must be claimed within [`CLAIM_WITHIN_SECS`] of its return.
    pub async fn claim(&self, session: &Session, flow_id: &str, claim: &plugboard_shared::Claim) -> Result<ConnectionRecord, ConnectError> {
        let unknown = || ConnectError::NotFound("There is no sign-in to finish here. Start again.".into());
        let flow = self.store.claim_parked(flow_id, &digest(&claim.result), now() - CLAIM_WITHIN_SECS).await?.ok_or_else(unknown)?;
        let same_user = same_user(&flow, session);
        let proven = flow.proof_hash.as_ref().is_some_and(|h| bool::from(h.as_bytes().ct_eq(digest(&claim.proof).as_bytes())));
        if !same_user || !proven {
            self.void_parked(&flow, "This sign-in was finished in a browser that did not start it, so it was voided.").await?;
            return Err(ConnectError::Forbidden(NOT_YOURS.into()));
        }
        let secrets = self.open_flow_secrets(&flow)?;
        let (config, creds) = secrets.parked.ok_or_else(unknown)?;
        let obtained = Obtained { config, creds, account: secrets.parked_account, choices: secrets.parked_choices };
        if obtained.undecided().is_some() {
            // Parked for the question, not for the host page: only the question's answer may finish it.
            self.void_parked(&flow, "This sign-in was finished before its question was answered, so it was voided.").await?;
            return Err(ConnectError::Forbidden(NOT_YOURS.into()));
        }
        let saved = self.save_from_flow(&flow, obtained).await;
        if saved.is_err() {
            // Claimed but not saved (the user's connection cap, an outage): nothing will claim it again.
            self.void_parked(&flow, "This sign-in could not be saved.").await?;
        }
        let key = saved.map_err(|(kind, message)| match kind {
            Failure::NoIntegration => ConnectError::NotFound(message),
            // A same-tab flow has no link to spend: saving it conflicts only with the end user's connection cap.
            Failure::Ended => ConnectError::Store(StoreError::TooManyConnections { max: self.max_connections }),
            _ => ConnectError::ProviderFailed(message),
        })?;
        let row = self.store.get_connection(&key).await?.ok_or_else(unknown)?;
        count_connect(self.integration_label(&row.project_id, &row.platform).await, ConnectOutcome::Connected);
        Ok(row.record())
    }

    /// Ends a parked same-tab flow without a connection: the flow fails, its sealed tokens are wiped, and in the
    /// same transaction the grant is queued for revocation at the provider (RFC 7009; RFC 9700 §2.2.2), tried once
    /// at once. Answers whether this call voided it (another node may have first).
    ///
    /// Not revoked, only wiped, when the flow was a reconnect or the project holds a live connection of the same
    /// integration: some providers (Google's `/revoke`) end the user's whole grant to the OAuth client, which
    /// would end those connections too, and the account behind a parked grant is not known.
    pub async fn void_parked(&self, flow: &FlowRow, why: &str) -> Result<bool, ConnectError> {
        let may_share_grant = flow.reconnect_key.is_some() || {
            let same = crate::store::ConnectionFilter {
                project_id: flow.project_id.clone(),
                environment: None,
                identity: None,
                identity_type: None,
                platform: Some(flow.platform.clone()),
            };
            self.store.list_connections(&same, 0, 1).await?.1 > 0
        };
        let revocation = match self.open_flow_secrets(flow).ok().and_then(|s| s.parked) {
            Some((config, creds)) if !may_share_grant => {
                self.revocation_of(&flow.project_id, flow.environment, &flow.platform, &format!("flow:{}", flow.id), &config, creds).await
            }
            _ => None,
        };
        let voided = self.store.void_parked(&flow.id, why, revocation.as_ref()).await?;
        if voided {
            tracing::info!(flow = %flow.id, platform = %flow.platform, revoking = revocation.is_some(), "parked sign-in voided");
            if let Some(r) = revocation {
                self.attempt_revocation(r).await;
            }
        }
        Ok(voided)
    }

    /// Voids every same-tab result nobody claimed within [`CLAIM_WITHIN_SECS`] (the host page never opened the
    /// widget, or the wrong one did nothing): their tokens are revoked at the provider. Answers how many.
    pub async fn void_unclaimed(&self) -> Result<usize, ConnectError> {
        let stale = self.store.unclaimed_parked(now() - CLAIM_WITHIN_SECS, 50).await?;
        let mut voided = 0;
        for flow in stale {
            if self.void_parked(&flow, "This sign-in was not finished in time.").await? {
                voided += 1;
            }
        }
        Ok(voided)
    }

    /// Checks the callback and exchanges its code: what the connection will be, not yet saved.
    async fn check_and_get_tokens(&self, flow: &FlowRow, q: &CallbackQuery, cookie: &impl Fn(&str) -> Option<String>) -> Result<Obtained, (Failure, String)> {
        if flow.status != FlowStatus::Pending {
            return Err((Failure::Ended, "This sign-in was already completed or abandoned. Start again from the app.".into()));
        }
        if flow.expires_at <= now() {
            return Err((Failure::Expired, "This sign-in took too long and expired. Start again from the app.".into()));
        }
        let bound = match (&flow.binding_hash, cookie(&binding_cookie(&flow.id))) {
            (Some(expected), Some(presented)) => bool::from(expected.as_bytes().ct_eq(digest(&presented).as_bytes())),
            _ => false,
        };
        if !bound {
            return Err((Failure::WrongBrowser, "This sign-in was started in a different browser window or session. Start again from the app.".into()));
        }
        let view = self.projects.view(&flow.project_id, flow.environment).await.map_err(|e| (Failure::Internal, e.to_string()))?;
        let entry = view.catalog.get(&flow.platform).ok_or((Failure::NoIntegration, format!("{} is no longer available.", flow.platform)))?;
        let oauth = self.oauth_spec(entry).await.map_err(|e| (Failure::ProviderFailed, e.to_string()))?;
        if let Some(name) = &q.repeated {
            // RFC 6749 §3.1: parameters must not appear twice; which one would be the provider's?
            return Err((Failure::Invalid, format!("The answer from {} names {name} twice, so it cannot be trusted. Start again from the app.", entry.name)));
        }
        // RFC 9207 §2.4: an entry that declares its issuer requires `iss`, equal to it (present, unless the provider
        // is known to send it only sometimes); one that does not accepts a response with or without `iss` (GitHub
        // and Google send it whether or not the client asked).
        if let Some(expected) = oauth.issuer.as_deref() {
            let why = match q.iss.as_deref() {
                Some(iss) if iss == expected => None,
                Some(_) => Some("unexpected issuer"),
                // An error answer carries no code, so nothing can be mixed up: the user's denial is shown as such.
                None if oauth.authorization_response_iss_parameter_supported && q.error.is_none() => Some("it names no issuer"),
                None => None,
            };
            if let Some(why) = why {
                return Err((Failure::Invalid, format!("The answer did not come from {}'s sign-in server ({why}). Start again from the app.", entry.name)));
            }
        }
        if let Some(error) = q.error.as_deref() {
            if error == "access_denied" {
                return Err((Failure::Invalid, format!("You declined to connect {}.", entry.name)));
            }
            let detail = q.error_description.as_deref().unwrap_or(error);
            let hint = self.settings_hint(&flow.project_id, flow.environment, entry, &oauth).await;
            return Err((Failure::Invalid, format!("{} refused the sign-in: {}{hint}", entry.name, token::sentence(detail))));
        }
        let code = q.code.as_deref().filter(|c| !c.is_empty()).ok_or((Failure::Invalid, format!("{} sent no authorization code.", entry.name)))?;
        let mut config = flow.config.clone();
        // Read before the exchange: a data centre named on the callback decides where the token endpoint is.
        config.extend(metadata::from_callback(entry, &q.params).map_err(|m| (Failure::ProviderFailed, m))?);
        let client = self.oauth_client(&flow.project_id, Some(flow.environment), entry).await.map_err(|e| (Failure::Ended, e.to_string()))?;
        let secrets = self.open_flow_secrets(flow).map_err(|e| (Failure::Internal, e.to_string()))?;
        let auth = ClientAuth { client_id: &client.client_id, client_secret: client.client_secret.expose(), method: oauth.token_auth };
        let grant = Grant::AuthorizationCode {
            code,
            redirect_uri: &flow.redirect_uri,
            code_verifier: secrets.pkce_verifier.as_ref().map(|v| v.expose()),
        };
        let token_url = template::render_oauth(&oauth.token_url, &oauth, &client.settings, &config);
        let answer = match token::request(&self.http, &token_url, &auth, &grant, &oauth.nested_tokens).await {
            Ok(answer) => answer,
            Err(e) => {
                let (kind, message) = token_failure(entry, &e);
                let hint = if matches!(e, TokenError::Refused { .. }) { self.settings_hint(&flow.project_id, flow.environment, entry, &oauth).await } else { String::new() };
                return Err((kind, format!("{message}{hint}")));
            }
        };
        config.extend(metadata::from_token(entry, &answer.extra).map_err(|m| (Failure::ProviderFailed, m))?);
        let account = super::account::from_token_answer(entry, &answer.extra, answer.id_token.as_ref());
        let creds = credentials_from(answer, Default::default(), None);
        let (values, choices) = self.metadata_requests(entry, &config, &creds).await.map_err(|m| (Failure::ProviderFailed, m))?;
        config.extend(values);
        Ok(Obtained { config, creds, account, choices })
    }

    /// When the provider refused and the entry's OAuth client has settings left at their defaults (Microsoft's
    /// `tenant`, still `common`), a sentence saying so: the refusal is then most likely about them (Azure's
    /// AADSTS50194 for a single-tenant app), and only the operator can change them. Empty otherwise.
    async fn settings_hint(&self, project_id: &str, environment: crate::keys::Environment, entry: &Integration, oauth: &crate::catalog::OAuthSpec) -> String {
        if oauth.client_settings.is_empty() {
            return String::new();
        }
        let given = match self.projects.oauth_client(project_id, &entry.platform, environment).await {
            Ok(Some(client)) => client.settings,
            _ => BTreeMap::new(),
        };
        let defaulted: Vec<String> = oauth
            .client_settings
            .iter()
            .filter(|s| !given.contains_key(&s.name))
            .filter_map(|s| s.default.as_ref().map(|d| format!("{} ({} \"{d}\")", s.label, s.name)))
            .collect();
        if defaulted.is_empty() {
            return String::new();
        }
        format!(" This app's sign-in still uses the default {}: the team behind this app may need to set it for their {} OAuth app.", defaulted.join(" and "), entry.name)
    }

    /// Saves the connection a flow produced (a reconnect updates in place), marking the flow connected.
    async fn save_from_flow(&self, flow: &FlowRow, obtained: Obtained) -> Result<String, (Failure, String)> {
        let Obtained { config, mut creds, account, choices } = obtained;
        let view = self.projects.view(&flow.project_id, flow.environment).await.map_err(|e| (Failure::Internal, e.to_string()))?;
        let entry = view.catalog.get(&flow.platform).ok_or((Failure::NoIntegration, format!("{} is no longer available.", flow.platform)))?;
        let owner = Owner { project_id: flow.project_id.clone(), environment: flow.environment, identity: flow.identity.clone(), identity_type: flow.identity_type };
        let previous = self.reconnect_target(&owner, &flow.platform, flow.reconnect_key.as_deref()).await.map_err(|e| (Failure::NoIntegration, e.to_string()))?;
        let update = previous.is_some();
        if let Some(previous) = &previous {
            self.keep_unreplaced(previous, account.as_deref(), &mut creds);
        }
        let name = flow.name.clone().unwrap_or_else(|| entry.name.clone());
        let mut row = self.build_row(&owner, entry, name, config, &creds, previous);
        // A reconnect may sign in as someone else: the label is what this sign-in said, or nothing.
        row.account = account;
        row.choices = choices;
        let event = self.saved_event(&row, update, flow.link_hash.as_deref()).await.map_err(|e| (Failure::Internal, e.to_string()))?;
        self.store.save_connection(&row, update, Some(&flow.id), Some(&event), flow.link_hash.as_deref(), self.max_connections).await.map_err(|e| {
            let f = CallbackFailure::internal(e);
            (f.kind, f.message)
        })?;
        self.hot.invalidate(&row.key);
        tracing::info!(platform = %flow.platform, key = %row.key, update, "oauth connection saved");
        Ok(row.key)
    }

    /// A reconnect's token answer may leave the refresh token out: Google sends one only at a user's first
    /// consent, and RFC 6749 §5.1 makes it optional. The grant it renews is the same, so the connection keeps the
    /// refresh token it holds — only when the sign-in was by the same account ([`same_account`]): another
    /// account's tokens must never be renewed with the old account's grant.
    fn keep_unreplaced(&self, previous: &ConnectionRow, account: Option<&str>, creds: &mut Credentials) {
        let complete = creds.refresh_token.is_some() && creds.tokens.values().all(|t| t.refresh_token.is_some());
        if complete || !same_account(previous.account.as_deref(), account) {
            return;
        }
        let Ok(held) = self.vault.open_credentials(&previous.sealed, &previous.id) else { return };
        // Each token keeps its own: the top-level one, and each named one (Slack's user token) by its name.
        if creds.refresh_token.is_none() && creds.access_token.is_some() {
            creds.refresh_token = held.refresh_token;
        }
        for (name, token) in &mut creds.tokens {
            if token.refresh_token.is_none() {
                token.refresh_token = held.tokens.get(name).and_then(|t| t.refresh_token.clone());
            }
        }
    }

    /// `GET /v1/widget/oauth/flows/{id}`: the widget polls this, so a flow finishes even when the popup cannot
    /// message back (a `Cross-Origin-Opener-Policy` on the provider severs `window.opener`). Only for the session
    /// that started the flow, or, for a same-tab flow (the widget comes back with a new session), a session of the
    /// same project, environment and end user.
    pub async fn flow_state(&self, session: &Session, flow_id: &str) -> Result<FlowState, ConnectError> {
        let flow = self
            .store
            .get_flow(flow_id)
            .await?
            .filter(|f| bool::from(f.session_hash.as_bytes().ct_eq(session.token_hash.as_bytes())) || (f.return_to.is_some() && same_user(f, session)))
            .ok_or_else(|| ConnectError::NotFound("no such sign-in".into()))?;
        Ok(match flow.status {
            FlowStatus::Connected => {
                let row = match &flow.connection_key {
                    Some(key) => self.store.get_connection(key).await?,
                    None => None,
                };
                FlowState { status: FlowStatus::Connected, error: None, connection: row.as_ref().map(ConnectionRow::record) }
            }
            FlowStatus::Failed => FlowState { status: FlowStatus::Failed, error: flow.error, connection: None },
            FlowStatus::Pending if flow.expires_at <= now() => FlowState {
                status: FlowStatus::Failed,
                error: Some("The sign-in window expired. Try again.".into()),
                connection: None,
            },
            FlowStatus::Pending => FlowState { status: FlowStatus::Pending, error: None, connection: None },
        })
    }
}

/// Whether a reconnect signed in as the account the connection had: the same label, or none on either side (an
/// integration that names no account; a provider that leaves the refresh token out grants it once per user, so a
/// new user's answer carries one). A label on one side only is not the same account.
fn same_account(was: Option<&str>, now: Option<&str>) -> bool {
    was == now
}

/// Whether `flow` was started for the project, environment and end user of `session`.
fn same_user(flow: &FlowRow, session: &Session) -> bool {
    flow.project_id == session.project_id && flow.environment == session.environment && flow.identity == session.identity && flow.identity_type == session.identity_type
}

/// The host page's URL in `@withone/auth`'s state suffix (`<state>~<base64url of the URL>`), if it decodes.
pub fn seed_return_url(suffix: &str) -> Option<String> {
    URL_SAFE_NO_PAD.decode(suffix.trim_end_matches('=')).ok().and_then(|b| String::from_utf8(b).ok())
}

/// `url` with `~<suffix>` appended to its `state` parameter (every other parameter as it was).
fn with_state_suffix(url: &str, suffix: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return url.to_owned() };
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| if k == "state" { (k.into_owned(), format!("{v}~{suffix}")) } else { (k.into_owned(), v.into_owned()) })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.into()
}


/// Whether the entry's templates name `{client_id}` without a field of that name.
fn mentions_client_id(entry: &Integration) -> bool {
    let inject = entry.inject.as_ref().map(|i| i.headers().values().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
    !entry.fields.iter().any(|f| f.name == "client_id")
        && inject.into_iter().chain([entry.api_base_url.as_str()]).any(|t| t.contains("{client_id}"))
}

/// A failed code exchange as the popup shows it: the provider's refusal in its words, else its failure.
fn token_failure(entry: &Integration, e: &TokenError) -> (Failure, String) {
    let kind = if matches!(e, TokenError::Refused { .. }) { Failure::ProviderRefused } else { Failure::ProviderFailed };
    (kind, format!("{} Start again from the app.", e.message(&entry.name)))
}
