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
}

impl Ctx {
    pub fn new(token: String, options: RwSignal<WidgetOptions>, handshake: Option<Handshake>) -> Self {
        Self { token: StoredValue::new(token), options, screen: RwSignal::new(Screen::List), handshake: StoredValue::new(handshake) }
    }

    pub fn with_handshake(&self, f: impl FnOnce(&Handshake)) {
        self.handshake.with_value(|h| {
            if let Some(h) = h {
                f(h)
            }
        });
    }
}
