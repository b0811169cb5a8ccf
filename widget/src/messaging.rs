//! postMessage with the host page: the only place that talks to `window.parent`. Target origin is always the
//! exact host origin from the handshake; received messages must come from the parent window, that origin and
//! this open's nonce.

use plugboard_shared::embed::{InitMessage, Signal, MSG_CLOSE, MSG_ERROR, MSG_INIT, MSG_READY, MSG_SUCCESS};
use wasm_bindgen::JsValue;
use web_sys::MessageEvent;

/// Where the host page is and which open this is, from the iframe URL's fragment (`#origin=…&nonce=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub origin: String,
    pub nonce: String,
}

impl Handshake {
    pub fn from_fragment(fragment: &str) -> Option<Self> {
        let params = web_sys::UrlSearchParams::new_with_str(fragment.trim_start_matches('#')).ok()?;
        let origin = params.get("origin").filter(|o| o.starts_with("http://") || o.starts_with("https://"))?;
        let nonce = params.get("nonce").filter(|n| !n.is_empty())?;
        Some(Self { origin, nonce })
    }

    pub fn from_location() -> Option<Self> {
        Self::from_fragment(&web_sys::window()?.location().hash().ok()?)
    }

    fn post(&self, kind: &str) {
        let Some(window) = web_sys::window() else { return };
        let Ok(Some(parent)) = window.parent() else { return };
        if let Ok(value) = serde_wasm_bindgen::to_value(&Signal { kind, nonce: &self.nonce }) {
            let _ = parent.post_message(&value, &self.origin);
        }
    }

    pub fn post_ready(&self) {
        self.post(MSG_READY);
    }

    pub fn post_close(&self) {
        self.post(MSG_CLOSE);
    }

    fn post_with(&self, kind: &str, key: &str, value: &JsValue) {
        let Some(window) = web_sys::window() else { return };
        let Ok(Some(parent)) = window.parent() else { return };
        let Ok(msg) = serde_wasm_bindgen::to_value(&Signal { kind, nonce: &self.nonce }) else { return };
        let _ = js_sys::Reflect::set(&msg, &JsValue::from_str(key), value);
        let _ = parent.post_message(&msg, &self.origin);
    }

    /// Hands the new connection record to the host page (`onSuccess`).
    pub fn post_success(&self, connection: &JsValue) {
        self.post_with(MSG_SUCCESS, "connection", connection);
    }

    /// Tells the host page why connecting failed (`onError`).
    pub fn post_error(&self, message: &str) {
        self.post_with(MSG_ERROR, "message", &JsValue::from_str(message));
    }

    /// The `plugboard:init` message in `event`, if it is one and it really comes from our host page.
    pub fn accept_init(&self, event: &MessageEvent) -> Option<InitMessage> {
        if event.origin() != self.origin {
            return None;
        }
        let parent: JsValue = web_sys::window()?.parent().ok()??.into();
        let source: JsValue = event.source()?.into();
        if !js_sys::Object::is(&source, &parent) {
            return None;
        }
        let init: InitMessage = serde_wasm_bindgen::from_value(event.data()).ok()?;
        (init.kind == MSG_INIT && init.nonce == self.nonce).then_some(init)
    }
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
pub fn keep_proof(flow_id: &str, proof: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(&format!("plugboard:flow:{flow_id}"), proof);
    }
}

/// Takes (and forgets) the proof kept for `flow_id`.
pub fn take_proof(flow_id: &str) -> Option<String> {
    let s = storage()?;
    let key = format!("plugboard:flow:{flow_id}");
    let proof = s.get_item(&key).ok().flatten();
    let _ = s.remove_item(&key);
    proof
}
