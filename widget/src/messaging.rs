//! postMessage with the host page: the only place that talks to `window.parent`. Target origin is always the
//! exact host origin; received messages must come from the parent window and that origin.
//!
//! Two protocols. `embed.js` (ours): the iframe URL's fragment names the host origin and a per-open nonce, the
//! widget says `plugboard:ready` and gets `plugboard:init`. The seeds' frontend packages (`@withone/auth`'s
//! `useOneAuth`, `@picahq/authkit`'s `useAuthKit`): the iframe URL is `?data=<base64 JSON>`, the parent posts the
//! same JSON once on the frame's load event (its origin is the host's), and the widget answers with
//! `{messageType: "LINK_SUCCESS" | "LINK_ERROR" | "EXIT_EVENT_LINK" | "OAUTH_REDIRECT", ...}`.

use plugboard_shared::embed::{InitMessage, Signal, MSG_CLOSE, MSG_ERROR, MSG_INIT, MSG_READY, MSG_SUCCESS};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use web_sys::MessageEvent;

/// Which host-side script opened this widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// `embed.js`, with this open's nonce.
    Plugboard { nonce: String },
    /// A seed package. `oauth_redirect`: the parent takes `OAUTH_REDIRECT` and sends the whole tab to the provider
    /// (`@withone/auth` ≥ 1.0.3 unless `authWindow: "popup"`); otherwise OAuth runs in a popup.
    Seed { oauth_redirect: bool },
}

/// Where the host page is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub origin: String,
    pub protocol: Protocol,
}

/// The seed packages' payload (`@withone/auth` 1.1 / `@picahq/authkit` 1.0, `EventLinkWindow`), as posted by the
/// parent window.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedPayload {
    /// The host backend's token endpoint (a full URL); the widget POSTs to it with `link_headers`.
    pub link_token_endpoint: String,
    #[serde(deserialize_with = "crate::js_value::preserve", default)]
    pub link_headers: JsValue,
    pub title: Option<String>,
    pub image_url: Option<String>,
    pub company_name: Option<String>,
    pub selected_connection: Option<String>,
    pub show_name_input: Option<bool>,
    pub app_theme: Option<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Back from a same-tab sign-in: the `one_auth_state` Plugboard put on the return URL (`<flow id>.<result>`).
    pub check_state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    #[serde(default)]
    pub oauth_redirect: bool,
}

impl Handshake {
    pub fn from_fragment(fragment: &str) -> Option<Self> {
        let params = web_sys::UrlSearchParams::new_with_str(fragment.trim_start_matches('#')).ok()?;
        let origin = params.get("origin").filter(|o| o.starts_with("http://") || o.starts_with("https://"))?;
        let nonce = params.get("nonce").filter(|n| !n.is_empty())?;
        Some(Self { origin, protocol: Protocol::Plugboard { nonce } })
    }

    pub fn from_location() -> Option<Self> {
        Self::from_fragment(&web_sys::window()?.location().hash().ok()?)
    }

    /// Whether this page was opened the seeds' way (`?data=` in an iframe).
    pub fn seed_opened() -> bool {
        let Some(window) = web_sys::window() else { return false };
        let framed = window.parent().ok().flatten().is_some_and(|p| !js_sys::Object::is(&p, &window));
        let search = window.location().search().unwrap_or_default();
        framed && web_sys::UrlSearchParams::new_with_str(&search).is_ok_and(|p| p.has("data"))
    }

    /// The seed payload in `event`, with the handshake it makes: only from the parent window, only from an
    /// http(s) origin (the host page's: replies go there and nowhere else). `Err(Some(handshake))`: the parent
    /// posted something that is no payload (it can still be told so); `Err(None)`: not a message to answer.
    pub fn accept_seed(event: &MessageEvent) -> Result<(Self, SeedPayload), Option<Self>> {
        let origin = event.origin();
        if !(origin.starts_with("http://") || origin.starts_with("https://")) || !from_parent(event) {
            return Err(None);
        }
        let data = event.data();
        // Only an object that looks like the packages' payload (their other keys, without a usable token URL).
        let looks_like_payload = data.is_object() && js_sys::Reflect::has(&data, &"linkHeaders".into()).unwrap_or(false);
        match crate::js_value::from_value::<SeedPayload>(data) {
            Some(payload) => {
                let protocol = Protocol::Seed { oauth_redirect: payload.capabilities.oauth_redirect };
                Ok((Self { origin, protocol }, payload))
            }
            None if looks_like_payload => Err(Some(Self { origin, protocol: Protocol::Seed { oauth_redirect: false } })),
            None => Err(None),
        }
    }

    pub fn is_seed(&self) -> bool {
        matches!(self.protocol, Protocol::Seed { .. })
    }

    /// Whether OAuth goes through the parent page (`OAUTH_REDIRECT`) instead of a popup.
    pub fn oauth_redirect(&self) -> bool {
        self.protocol == Protocol::Seed { oauth_redirect: true }
    }

    /// Posts `fields` to the parent window, at the host origin only: `{type, nonce, ...}` for embed.js,
    /// `{messageType, ...}` for the seeds. `kind` is ours; the seed's name is taken from it.
    fn post(&self, kind: &str, fields: &[(&str, &JsValue)]) {
        let Some(window) = web_sys::window() else { return };
        let Ok(Some(parent)) = window.parent() else { return };
        let msg = match &self.protocol {
            Protocol::Plugboard { nonce } => match crate::js_value::to_value(&Signal { kind, nonce }) {
                Some(v) => v,
                None => return,
            },
            Protocol::Seed { .. } => {
                let seed_kind = match kind {
                    MSG_SUCCESS => "LINK_SUCCESS",
                    MSG_ERROR => "LINK_ERROR",
                    MSG_CLOSE => "EXIT_EVENT_LINK",
                    MSG_OAUTH_REDIRECT => "OAUTH_REDIRECT",
                    _ => return,
                };
                let o = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&o, &"messageType".into(), &seed_kind.into());
                o.into()
            }
        };
        for (key, value) in fields {
            let _ = js_sys::Reflect::set(&msg, &JsValue::from_str(key), value);
        }
        let _ = parent.post_message(&msg, &self.origin);
    }

    pub fn post_ready(&self) {
        self.post(MSG_READY, &[]);
    }

    pub fn post_close(&self) {
        self.post(MSG_CLOSE, &[]);
    }

    /// Hands the new connection record to the host page (`onSuccess`).
    pub fn post_success(&self, connection: &JsValue) {
        let key = if self.is_seed() { "message" } else { "connection" };
        self.post(MSG_SUCCESS, &[(key, connection)]);
    }

    /// Tells the host page why connecting failed (`onError`): a stable `code` and a message. `fatal`: the widget
    /// cannot go on (no session): `open()`'s promise rejects with it if the widget is then closed.
    pub fn post_error(&self, code: &str, message: &str, fatal: bool) {
        self.post(MSG_ERROR, &[("code", &JsValue::from_str(code)), ("message", &JsValue::from_str(message)), ("fatal", &JsValue::from_bool(fatal))]);
    }

    /// Asks embed.js for a new session ("Try again" after a start error): it fetches a token and sends a new init.
    pub fn post_retry(&self) {
        self.post(MSG_RETRY, &[]);
    }

    /// `@withone/auth`'s same-tab sign-in: the parent sets `state` on `url` (Plugboard's authorize page) to
    /// `<state>~<base64url of its own URL>` and navigates its tab there.
    pub fn post_oauth_redirect(&self, url: &str, state: &str) {
        self.post(MSG_OAUTH_REDIRECT, &[("url", &JsValue::from_str(url)), ("state", &JsValue::from_str(state))]);
    }

    /// The `plugboard:init` message in `event`, if it is one and it really comes from our host page.
    pub fn accept_init(&self, event: &MessageEvent) -> Option<InitMessage> {
        let Protocol::Plugboard { nonce } = &self.protocol else { return None };
        if event.origin() != self.origin || !from_parent(event) {
            return None;
        }
        let data = event.data();
        let field = |name: &str| js_sys::Reflect::get(&data, &JsValue::from_str(name)).ok().and_then(|v| v.as_string());
        if field("nonce").as_deref() != Some(nonce.as_str()) {
            return None;
        }
        // The host is closing the widget: what a hidden page does (the OAuth window closes with it), at once.
        if field("type").as_deref() == Some(MSG_CLOSING) {
            if let (Some(w), Ok(hide)) = (web_sys::window(), web_sys::Event::new("pagehide")) {
                let _ = w.dispatch_event(&hide);
            }
            return None;
        }
        if field("type").as_deref() != Some(MSG_INIT) {
            return None;
        }
        // An init whose session is not one (the host's token endpoint answered another shape): say so, not wait.
        Some(crate::js_value::from_value(data).unwrap_or(InitMessage {
            kind: MSG_INIT.into(),
            nonce: nonce.clone(),
            session: None,
            error: Some("token_invalid".into()),
            options: Default::default(),
        }))
    }
}

/// Internal name of the seeds' `OAUTH_REDIRECT` (embed.js has no such message).
const MSG_OAUTH_REDIRECT: &str = "plugboard:oauth-redirect";
/// The widget asks embed.js for a new token and init (no seed equivalent).
const MSG_RETRY: &str = "plugboard:retry";
/// embed.js is about to remove this frame (its host closed the widget).
const MSG_CLOSING: &str = "plugboard:closing";

fn from_parent(event: &MessageEvent) -> bool {
    let parent: Option<JsValue> = web_sys::window().and_then(|w| w.parent().ok().flatten()).map(Into::into);
    let source: Option<JsValue> = event.source().map(Into::into);
    matches!((parent, source), (Some(p), Some(s)) if js_sys::Object::is(&s, &p))
}

/// What the parent window posted before the app was running (kept by `parent-messages.js`), oldest first.
pub fn early_parent_messages() -> Vec<MessageEvent> {
    let Some(window) = web_sys::window() else { return Vec::new() };
    let kept = js_sys::Reflect::get(&window, &"__plugboardParent".into()).unwrap_or(JsValue::UNDEFINED);
    if !js_sys::Array::is_array(&kept) {
        return Vec::new();
    }
    js_sys::Array::from(&kept).iter().filter_map(|e| wasm_bindgen::JsCast::dyn_into::<MessageEvent>(e).ok()).collect()
}

/// Whether `event` is the OAuth popup (our own origin, the window we opened) reporting back.
pub fn is_from_popup(event: &MessageEvent, popup: &web_sys::Window) -> bool {
    let own = web_sys::window().and_then(|w| w.location().origin().ok());
    let from_popup = event.source().map(JsValue::from).is_some_and(|s| js_sys::Object::is(&s, popup));
    own.as_deref() == Some(event.origin().as_str()) && from_popup
}

/// Answers the OAuth popup's `plugboard:oauth-claim` for `flow_id` with the flow's one-time `proof`: only to
/// `popup` (the window this widget opened), only on our own origin, and only for the flow this widget started.
/// The popup's page needs the proof before the server lets it go on to the provider (proof of possession).
/// Answers whether `event` was such a claim.
pub fn answer_claim(event: &MessageEvent, popup: &web_sys::Window, flow_id: &str, proof: &str) -> bool {
    let data = event.data();
    let field = |name: &str| js_sys::Reflect::get(&data, &JsValue::from_str(name)).ok().and_then(|v| v.as_string());
    if field("type").as_deref() != Some("plugboard:oauth-claim") {
        return false;
    }
    let Some(own) = web_sys::window().and_then(|w| w.location().origin().ok()) else { return true };
    if field("flowId").as_deref() == Some(flow_id) {
        let reply = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&reply, &"type".into(), &"plugboard:oauth-proof".into());
        let _ = js_sys::Reflect::set(&reply, &"flowId".into(), &flow_id.into());
        let _ = js_sys::Reflect::set(&reply, &"proof".into(), &proof.into());
        let _ = popup.post_message(&reply, &own);
    }
    true
}

/// The token of an auth link or hosted session, from this page's fragment (`#token=pbl_…` / `#token=pbh_…`).
/// The embedded widget's fragment never has one (`#origin=…&nonce=…`).
pub fn link_token() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(hash.trim_start_matches('#')).ok()?;
    // Any value: a garbled or cut-off link is then told apart by the server ("This link is not valid").
    params.get("token").filter(|t| !t.is_empty())
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Keeps a same-tab flow's proof in this widget's storage (the browser partitions it by the host's site).
/// Answers whether it was kept (storage can be blocked: then a same-tab sign-in could not be finished).
pub fn keep_proof(flow_id: &str, proof: &str) -> bool {
    let key = format!("plugboard:flow:{flow_id}");
    storage().is_some_and(|s| s.set_item(&key, proof).is_ok() && s.get_item(&key).ok().flatten().as_deref() == Some(proof))
}

/// Whether this widget can keep a proof across a same-tab sign-in (its storage works).
pub fn can_keep_proofs() -> bool {
    let probe = "plugboard:probe";
    storage().is_some_and(|s| s.set_item(probe, "1").is_ok() && s.remove_item(probe).is_ok())
}

/// Takes (and forgets) the proof kept for `flow_id`.
pub fn take_proof(flow_id: &str) -> Option<String> {
    let s = storage()?;
    let key = format!("plugboard:flow:{flow_id}");
    let proof = s.get_item(&key).ok().flatten();
    let _ = s.remove_item(&key);
    proof
}

/// `@withone/auth`'s `checkState` (Plugboard's `one_auth_state` on the return URL): `<flow id>.<result>` after a
/// sign-in that brought tokens back, `<flow id>` alone after one that failed.
pub fn parse_return_state(state: &str) -> Option<plugboard_shared::embed::ClaimOption> {
    let (flow_id, result) = state.split_once('.').unwrap_or((state, ""));
    let ok = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (!flow_id.is_empty() && ok(flow_id) && ok(result))
        .then(|| plugboard_shared::embed::ClaimOption { flow_id: flow_id.to_owned(), result: result.to_owned() })
}
