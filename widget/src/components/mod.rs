//! One component per file; [`Ctx`] is what they share.

pub mod app;
pub mod connect;
pub mod header;
pub mod integration_list;
pub mod logo;

use leptos::prelude::*;
use plugboard_shared::embed::WidgetOptions;
use wasm_bindgen::JsCast;

use crate::messaging::Handshake;

/// Where the modal is.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    List,
    Connect(String),
    Connected(Done),
}

/// What the success screen shows: the app (its platform id, for the logo), its name, and the account connected
/// when the provider named one.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    pub platform: String,
    pub name: String,
    pub account: Option<String>,
    /// The logo's URL (empty: the monogram).
    pub image: String,
}

/// The success screen's facts from a connection record (a JS object): its platform and the account, if named.
pub fn done_of(connection: &wasm_bindgen::JsValue, name: String) -> Done {
    let field = |key: &str| js_sys::Reflect::get(connection, &key.into()).ok().and_then(|v| v.as_string());
    let platform = field("platform").unwrap_or_default();
    // The server's logo of the platform (a missing one shows the monogram).
    let image = format!("/assets/logos/{platform}.svg");
    Done { platform, name: if name.is_empty() { field("name").unwrap_or_default() } else { name }, account: field("account"), image }
}

/// Shared by every screen once the host page has handed over a session.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub token: StoredValue<String>,
    pub options: RwSignal<WidgetOptions>,
    pub screen: RwSignal<Screen>,
    pub handshake: StoredValue<Option<Handshake>>,
    /// A whole page (an auth link or hosted session) rather than a host page's modal: OAuth runs in this tab, and
    /// `redirect_url` (if any) is where the browser goes once connected.
    pub page: StoredValue<Option<PageMode>>,
    /// The identity's connections (`GET /v1/widget/connections`): their apps are marked "Connected".
    pub connections: RwSignal<Vec<Mine>>,
    /// The session ended (revoked or expired: the server answered 401): nothing works until a new one.
    pub ended: RwSignal<bool>,
}

/// One of the identity's connections, as the widget uses it (read off the JS object: no serde code for it).
#[derive(Clone, Debug, PartialEq)]
pub struct Mine {
    pub platform: String,
    pub key: String,
    pub account: Option<String>,
}

impl Mine {
    /// From a connection record or a `WidgetConnection` (both have `platform`, `key`, `account`).
    pub fn read(value: &wasm_bindgen::JsValue) -> Option<Self> {
        let field = |name: &str| js_sys::Reflect::get(value, &name.into()).ok().and_then(|v| v.as_string());
        Some(Self { platform: field("platform")?, key: field("key")?, account: field("account") })
    }
}

/// Back from an app's screen to the list, the focus on that app's row (Back, or Escape).
pub fn back_to_list(screen: RwSignal<Screen>) {
    if let Screen::Connect(platform) = screen.get_untracked() {
        screen.set(Screen::List);
        focus_soon(format!(".pb-row[data-platform=\"{platform}\"]"));
    }
}

/// What a link page knows that a modal does not.
#[derive(Clone, Debug, Default)]
pub struct PageMode {
    pub redirect_url: Option<String>,
    /// Who the link is for (`LinkSession.end_user_name`).
    pub end_user: Option<String>,
}

/// Grey placeholder rows while something loads (announced once as "Loading"). Static markup: no view code.
#[inline(never)]
pub fn skeleton() -> AnyView {
    const ROWS: &str = "<span class=\"pb-visually-hidden\">Loading</span><i></i><i></i><i></i><i></i><i></i>";
    view! { <div class="pb-skeleton" role="status" inner_html=ROWS></div> }.into_any()
}

/// Why something failed, as an alert (shared like [`status`]).
#[inline(never)]
pub fn error_box(message: String) -> AnyView {
    view! { <div class="pb-error" role="alert"><p>{message}</p></div> }.into_any()
}

/// Focuses the first element matching `css` once the current render is on screen.
pub fn focus_soon(css: String) {
    request_animation_frame(move || {
        let el = document().query_selector(&css).ok().flatten().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(el) = el {
            let _ = el.focus();
        }
    });
}

impl Ctx {
    pub fn new(token: String, options: RwSignal<WidgetOptions>, screen: RwSignal<Screen>, handshake: Option<Handshake>, page: Option<PageMode>) -> Self {
        Self {
            token: StoredValue::new(token),
            options,
            screen,
            handshake: StoredValue::new(handshake),
            page: StoredValue::new(page),
            connections: RwSignal::new(Vec::new()),
            ended: RwSignal::new(false),
        }
    }

    pub fn is_page(&self) -> bool {
        self.page.with_value(Option::is_some)
    }

    /// Whether OAuth runs through the host page's tab (`@withone/auth`'s `OAUTH_REDIRECT`) instead of a popup.
    pub fn oauth_redirect(&self) -> bool {
        self.handshake.with_value(|h| h.as_ref().is_some_and(Handshake::oauth_redirect))
    }

    /// The host page's origin as a URL (`https://app.example/`): where a same-tab sign-in may come back to.
    pub fn host_root(&self) -> Option<String> {
        self.handshake.with_value(|h| h.as_ref().map(|h| format!("{}/", h.origin)))
    }

    pub fn with_handshake(&self, f: impl FnOnce(&Handshake)) {
        self.handshake.with_value(|h| {
            if let Some(h) = h {
                f(h)
            }
        });
    }

    /// The identity's connection of `platform`, newest first, if it has one.
    pub fn connection_of(&self, platform: &str) -> Option<Mine> {
        self.connections.with(|all| all.iter().find(|c| c.platform == platform).cloned())
    }
}
