//! The root: waits for the host page's `plugboard:init`, then shows the modal (or why it cannot).

use leptos::{ev, prelude::*};
use plugboard_shared::{embed::WidgetOptions, TokenResponse};

use super::{header::Header, integration_list::IntegrationList};
use crate::messaging::Handshake;

#[derive(Clone, Debug, PartialEq)]
enum Boot {
    Waiting,
    Failed(String),
    Ready(TokenResponse),
}

#[component]
pub fn App() -> impl IntoView {
    let handshake = Handshake::from_location();
    let boot = RwSignal::new(Boot::Waiting);
    let options = RwSignal::new(WidgetOptions::default());

    match handshake.clone() {
        None => boot.set(Boot::Failed(
            "This page is the Plugboard widget. Open it from your app with Plugboard.create(…).open().".into(),
        )),
        Some(hs) => {
            let listener = window_event_listener(ev::message, {
                let hs = hs.clone();
                move |event| {
                    let Some(init) = hs.accept_init(&event) else { return };
                    options.set(init.options);
                    boot.set(match (init.session, init.error) {
                        (Some(session), None) => Boot::Ready(session),
                        (_, error) => Boot::Failed(error.unwrap_or_else(|| "The host page sent no session.".into())),
                    });
                }
            });
            on_cleanup(move || listener.remove());
            hs.post_ready();
        }
    }

    let close = {
        let hs = handshake.clone();
        move || {
            if let Some(hs) = &hs {
                hs.post_close();
            }
        }
    };
    let on_escape = window_event_listener(ev::keydown, {
        let close = close.clone();
        move |e| {
            if e.key() == "Escape" {
                close();
            }
        }
    });
    on_cleanup(move || on_escape.remove());

    let theme = move || {
        let t = options.with(|o| o.app_theme.clone()).unwrap_or_default();
        match t.as_str() {
            "dark" => "pb-root pb-dark",
            "light" => "pb-root pb-light",
            _ => "pb-root pb-auto",
        }
    };

    view! {
        <div class=theme>
            <Header options=options on_close=close/>
            {move || match boot.get() {
                Boot::Waiting => view! { <p class="pb-status" role="status">"Loading…"</p> }.into_any(),
                Boot::Failed(message) => view! {
                    <div class="pb-error" role="alert"><p>{message}</p></div>
                }.into_any(),
                Boot::Ready(session) => {
                    let page_size = options.with_untracked(|o| o.page_size).unwrap_or(20).clamp(1, 100);
                    view! { <IntegrationList session=session page_size=page_size/> }.into_any()
                }
            }}
        </div>
    }
}
