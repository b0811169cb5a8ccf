//! One component per file; [`Ctx`] is what they share.

pub mod app;
pub mod connect;
pub mod header;
pub mod integration_list;
pub mod logo;

use leptos::prelude::*;
use plugboard_shared::embed::WidgetOptions;

use crate::messaging::Handshake;

/// Where the modal is.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    List,
    Connect(String),
    Connected(String),
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
}

/// What a link page knows that a modal does not.
#[derive(Clone, Debug, Default)]
pub struct PageMode {
    pub redirect_url: Option<String>,
}

/// A one-line progress message. One function for every such line, so their view code is in the wasm once.
#[inline(never)]
pub fn status(text: &'static str) -> AnyView {
    view! { <p class="pb-status" role="status">{text}</p> }.into_any()
}

/// Why something failed, as an alert (shared like [`status`]).
#[inline(never)]
pub fn error_box(message: String) -> AnyView {
    view! { <div class="pb-error" role="alert"><p>{message}</p></div> }.into_any()
}

impl Ctx {
    pub fn new(token: String, options: RwSignal<WidgetOptions>, handshake: Option<Handshake>, page: Option<PageMode>) -> Self {
        Self {
            token: StoredValue::new(token),
            options,
            screen: RwSignal::new(Screen::List),
            handshake: StoredValue::new(handshake),
            page: StoredValue::new(page),
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
}
