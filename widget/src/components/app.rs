//! The root: waits for the host page's `plugboard:init`, then shows the modal (or why it cannot).

use leptos::{ev, prelude::*};
use plugboard_shared::{embed::WidgetOptions, TokenResponse};

use super::{connect::ConnectScreen, header::Header, integration_list::IntegrationList, Ctx, PageMode, Screen};
use crate::{api, messaging::Handshake};

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
    let page = RwSignal::new(None::<PageMode>);

    match (handshake.clone(), crate::messaging::link_token()) {
        // An auth link or hosted session: this page is the whole experience.
        (None, Some(link)) => {
            if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
                api::set_host_origin(&origin);
            }
            // Another link opened in this tab changes only the fragment: start over with it.
            let on_hash = window_event_listener(ev::hashchange, |_| {
                if let Some(w) = web_sys::window() {
                    let _ = w.location().reload();
                }
            });
            on_cleanup(move || on_hash.remove());
            leptos::task::spawn_local(async move {
                match api::open_link(&link).await {
                    Ok(ls) => {
                        options.set(WidgetOptions {
                            title: Some("Connect your account".into()),
                            selected_connection: ls.integration_name,
                            reconnect: ls.reconnect,
                            ..Default::default()
                        });
                        page.set(Some(PageMode { redirect_url: ls.redirect_url }));
                        boot.set(Boot::Ready(ls.session));
                    }
                    Err(message) => boot.set(Boot::Failed(message)),
                }
            });
        }
        (None, None) => boot.set(Boot::Failed(
            "This page is the Plugboard widget. Open it from your app with Plugboard.create(…).open().".into(),
        )),
        (Some(hs), _) => {
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
            <Header options=options closable=handshake.is_some() on_close=close/>
            {move || match boot.get() {
                Boot::Waiting => view! { <p class="pb-status" role="status">"Loading…"</p> }.into_any(),
                Boot::Failed(message) => view! {
                    <div class="pb-error" role="alert"><p>{message}</p></div>
                }.into_any(),
                Boot::Ready(session) => view! { <Ready session=session options=options handshake=handshake.clone() page=page.get_untracked()/> }.into_any(),
            }}
        </div>
    }
}

/// The modal once a session is in hand: the list (kept alive behind other screens, so search and scroll
/// survive "Back"), the connect screen, the success screen.
#[component]
fn Ready(session: TokenResponse, options: RwSignal<WidgetOptions>, handshake: Option<Handshake>, page: Option<PageMode>) -> impl IntoView {
    if let Some(h) = &handshake {
        api::set_host_origin(&h.origin);
    }
    let ctx = Ctx::new(session.token.clone(), options, handshake, page);
    provide_context(ctx);
    let notice = RwSignal::new(None::<String>);
    // Back from a same-tab sign-in: claim what it brought, with the proof this widget kept.
    if let Some(claim) = options.with_untracked(|o| o.claim.clone()) {
        let token = session.token.clone();
        leptos::task::spawn_local(async move {
            let answer = match crate::messaging::take_proof(&claim.flow_id) {
                Some(proof) => api::claim(&token, &claim.flow_id, &claim.result, &proof).await,
                None => Err("This sign-in was started somewhere else, so it cannot be finished here. Start again.".into()),
            };
            match answer {
                Ok(connection) => {
                    let name = js_sys::Reflect::get(&connection, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
                    ctx.with_handshake(|h| h.post_success(&connection));
                    ctx.screen.set(Screen::Connected(name));
                }
                Err(message) => {
                    ctx.with_handshake(|h| h.post_error(&message));
                    notice.set(Some(message));
                }
            }
        });
    }
    // `selectedConnection` (a display name, any case) skips the list.
    if let Some(wanted) = options.with_untracked(|o| o.selected_connection.clone()).filter(|w| !w.trim().is_empty()) {
        let token = session.token.clone();
        leptos::task::spawn_local(async move {
            let wanted = wanted.trim().to_string();
            let found = api::integrations(&token, 1, 100, &wanted, "").await.ok().and_then(|page| {
                page.rows.into_iter().find(|r| r.title.eq_ignore_ascii_case(&wanted)).map(|r| r.platform)
            });
            match found {
                Some(platform) => ctx.screen.set(Screen::Connect(platform)),
                None => notice.set(Some(format!("\u{201c}{wanted}\u{201d} is not available here. Pick another app."))),
            }
        });
    }
    let page_size = options.with_untracked(|o| o.page_size).unwrap_or(20).clamp(1, 100);
    let on_list = move || ctx.screen.with(|s| *s == Screen::List);
    view! {
        <div class="pb-screen" hidden=move || !on_list()>
            {move || notice.get().map(|n| view! { <p class="pb-notice" role="status">{n}</p> })}
            <IntegrationList session=session page_size=page_size/>
        </div>
        {move || match ctx.screen.get() {
            Screen::List => None,
            Screen::Connect(platform) => Some(view! { <ConnectScreen platform=platform/> }.into_any()),
            Screen::Connected(name) => Some(view! {
                <div class="pb-body pb-done" role="status">
                    <p class="pb-check" aria-hidden="true">"✓"</p>
                    <h2>{format!("{name} is connected")}</h2>
                    {if ctx.is_page() {
                        view! { <p class="pb-muted">"You can close this page."</p> }.into_any()
                    } else {
                        view! {
                            <button type="button" class="pb-button pb-primary" on:click=move |_| ctx.with_handshake(|h| h.post_close())>
                                "Done"
                            </button>
                        }.into_any()
                    }}
                </div>
            }.into_any()),
        }}
    }
}
