//! The root: waits for the host page's `plugboard:init` (embed.js) or payload (the seeds' packages), then shows
//! the modal (or why it cannot).

use leptos::{ev, prelude::*};
use plugboard_shared::{embed::WidgetOptions, TokenResponse};

use super::{connect::ConnectScreen, error_box, header::Header, integration_list::IntegrationList, status, Ctx, PageMode, Screen};
use crate::{
    api,
    messaging::{self, Handshake, SeedPayload},
};

#[derive(Clone, Debug, PartialEq)]
enum Boot {
    Waiting,
    Failed(String),
    Ready(TokenResponse),
}

#[component]
pub fn App() -> impl IntoView {
    let from_embed = Handshake::from_location();
    // A seed package's frame learns its host from the payload the parent posts, so the handshake comes later.
    let seed = from_embed.is_none() && Handshake::seed_opened();
    let framed = from_embed.is_some() || seed;
    let handshake = RwSignal::new(from_embed.clone());
    let boot = RwSignal::new(Boot::Waiting);
    let options = RwSignal::new(WidgetOptions::default());
    let page = RwSignal::new(None::<PageMode>);

    match (from_embed, crate::messaging::link_token()) {
        (None, _) if seed => {
            let started = StoredValue::new(false);
            let take = move |event: &web_sys::MessageEvent| {
                if started.get_value() {
                    return;
                }
                let (hs, payload) = match Handshake::accept_seed(event) {
                    Ok(accepted) => accepted,
                    Err(Some(hs)) => {
                        // The parent posted something that is not a usable payload (no token URL): say so.
                        started.set_value(true);
                        let message = "The app opened this widget without a token URL (token.url).".to_string();
                        handshake.set(Some(hs.clone()));
                        hs.post_error(&message);
                        boot.set(Boot::Failed(message));
                        return;
                    }
                    Err(None) => return,
                };
                started.set_value(true);
                forget_payload_url();
                options.set(seed_options(&payload));
                handshake.set(Some(hs.clone()));
                leptos::task::spawn_local(async move {
                    match api::seed_token(&payload.link_token_endpoint, &payload.link_headers, 20).await {
                        Ok(session) => boot.set(Boot::Ready(session)),
                        Err(message) => {
                            // @picahq/authkit ignores messages until it shows the frame, 100 ms after its load event.
                            crate::sleep(300).await;
                            hs.post_error(&message);
                            boot.set(Boot::Failed(message));
                        }
                    }
                });
            };
            for event in messaging::early_parent_messages() {
                take(&event);
            }
            let listener = window_event_listener(ev::message, move |event| take(&event));
            on_cleanup(move || listener.remove());
        }
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

    // Once: a second click or Escape while the host removes the frame would call its onClose again.
    let closed = StoredValue::new(false);
    let close = move || {
        if closed.get_value() {
            return;
        }
        handshake.with_untracked(|hs| {
            if let Some(hs) = hs {
                closed.set_value(true);
                hs.post_close();
            }
        })
    };
    let on_escape = window_event_listener(ev::keydown, move |e| {
        if e.key() == "Escape" {
            close();
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

    let modal = view! {
        <div class=theme role=seed.then_some("dialog") aria-modal=seed.then_some("true") aria-labelledby="pb-title">
            <Header options=options closable=framed on_close=close/>
            {move || match boot.get() {
                Boot::Waiting => status("Loading…"),
                Boot::Failed(message) => error_box(message),
                Boot::Ready(session) => view! { <Ready session=session options=options handshake=handshake.get_untracked() page=page.get_untracked()/> }.into_any(),
            }}
        </div>
    };
    if !seed {
        return modal.into_any();
    }
    // The seeds' frame covers the host page: the widget draws its own backdrop (a click on it closes, as embed.js's).
    view! {
        <div class="pb-backdrop" on:click=move |e| {
            if e.target() == e.current_target() {
                close();
            }
        }>{modal}</div>
    }
    .into_any()
}

/// The seed payload's display options (the same names as embed.js's), and its `checkState` as a claim.
fn seed_options(payload: &SeedPayload) -> WidgetOptions {
    WidgetOptions {
        title: payload.title.clone(),
        company_name: payload.company_name.clone(),
        image_url: payload.image_url.clone(),
        app_theme: payload.app_theme.clone(),
        selected_connection: payload.selected_connection.clone(),
        show_name_input: payload.show_name_input,
        claim: payload.check_state.as_deref().and_then(messaging::parse_return_state),
        ..WidgetOptions::default()
    }
}

/// Drops `?data=` from this frame's URL: it can carry the host's token headers, and nothing should keep it.
fn forget_payload_url() {
    let Some(w) = web_sys::window() else { return };
    if let (Ok(history), Ok(path)) = (w.history(), w.location().pathname()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
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
            let proof = crate::messaging::take_proof(&claim.flow_id);
            let answer = match proof {
                // Back without a result: the sign-in failed; the flow says why.
                _ if claim.result.is_empty() => match api::flow(&token, &claim.flow_id).await {
                    Ok(flow) => Err(flow.error.unwrap_or_else(|| "Connecting failed. Start again.".into())),
                    Err(message) => Err(message),
                },
                Some(proof) => api::claim(&token, &claim.flow_id, &claim.result, &proof).await,
                // Not started here: the server is still told, and voids the result, so that whoever holds the
                // proof (the page that started it, maybe not this user's) cannot claim it either.
                None => {
                    let _voided = api::claim(&token, &claim.flow_id, &claim.result, "").await;
                    Err("This sign-in was started somewhere else, so it cannot be finished here. Start again.".to_string())
                }
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
    // `selectedConnection` (a display name, any case) skips the list; not when back from a sign-in, whose outcome
    // (shown on the list) comes first.
    let returning = options.with_untracked(|o| o.claim.is_some());
    if let Some(wanted) = options.with_untracked(|o| o.selected_connection.clone()).filter(|w| !w.trim().is_empty() && !returning) {
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
