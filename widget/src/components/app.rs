//! The root: waits for the host page's `plugboard:init` (embed.js) or payload (the seeds' packages), then shows
//! the modal (or why it cannot).

use leptos::{ev, prelude::*};
use plugboard_shared::{embed::WidgetOptions, TokenResponse};

use super::{back_to_list, connect::ConnectScreen, done_of, focus_soon, header::Header, integration_list::IntegrationList, logo::Logo, skeleton, Ctx, Done, PageMode, Screen};
use crate::{
    api,
    messaging::{self, Handshake, SeedPayload},
};

#[derive(Clone, Debug, PartialEq)]
enum Boot {
    Waiting,
    /// What the user reads; the host page was told the details (`onError`).
    Failed(String),
    Ready(TokenResponse),
}

/// How long the widget shows its skeleton before it offers a way out, when opened by a seed package or as a link.
const WAIT_LIMIT_MS: i32 = 10_000;

/// A start error in the user's words, from the code the host page's script reports (embed.js's `onError` codes).
fn start_words(code: &str) -> String {
    match code {
        "token_timeout" => "The app took too long to answer. Check your connection and try again.",
        _ => "The app could not start connecting right now. Try again in a moment.",
    }
    .into()
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
    let screen = RwSignal::new(Screen::List);
    // A seed package's token endpoint and headers, kept for "Try again".
    let seed_retry = StoredValue::new_local(None::<(String, wasm_bindgen::JsValue)>);

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
                        handshake.set(Some(hs.clone()));
                        hs.post_error("token_invalid", "The app opened this widget without a token URL (token.url).", true);
                        boot.set(Boot::Failed(start_words("token_invalid")));
                        return;
                    }
                    Err(None) => return,
                };
                started.set_value(true);
                forget_payload_url();
                options.set(seed_options(&payload));
                handshake.set(Some(hs.clone()));
                seed_retry.set_value(Some((payload.link_token_endpoint, payload.link_headers)));
                fetch_seed(hs, boot, seed_retry);
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
            // A link page looks like one (a card, its title) from the start, whatever the server answers.
            page.set(Some(PageMode::default()));
            options.set(WidgetOptions { title: Some("Connect your account".into()), ..Default::default() });
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
                            company_name: ls.company_name,
                            image_url: ls.image_url,
                            app_theme: ls.app_theme,
                            selected_connection: ls.integration_name,
                            reconnect: ls.reconnect,
                            ..Default::default()
                        });
                        page.set(Some(PageMode { redirect_url: ls.redirect_url, end_user: ls.end_user_name }));
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
                    if init.options != WidgetOptions::default() {
                        options.set(init.options);
                    }
                    boot.set(match (init.session, init.error) {
                        (Some(session), None) => Boot::Ready(session),
                        // The options alone, sent as soon as this frame is ready: the session follows.
                        (None, None) => return,
                        (_, error) => {
                            let code = error.unwrap_or_else(|| "token_invalid".into());
                            // embed.js reported its own failures; a session it could not read is the widget's to report.
                            if code == "token_invalid" {
                                hs.post_error(&code, "The token endpoint's answer has no usable session (expected {token, expiresAt, ...}).", true);
                            }
                            Boot::Failed(start_words(&code))
                        }
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
                api::funnel_closed();
                hs.post_close();
            }
        })
    };
    // Escape steps back before it closes: from an app's screen to the list (a search box with text clears itself
    // first, and keeps the key).
    let on_escape = window_event_listener(ev::keydown, move |e| {
        if e.key() == "Escape" && !e.default_prevented() {
            match screen.get_untracked() {
                Screen::Connect(_) => back_to_list(screen),
                _ => close(),
            }
        }
    });
    on_cleanup(move || on_escape.remove());

    // Never wait forever: a seed package's token endpoint or a link that never answers gets a way out. (embed.js
    // has its own deadline on the token request, counted from open(): this frame may have loaded long before.)
    if !matches!(handshake.get_untracked(), Some(Handshake { protocol: messaging::Protocol::Plugboard { .. }, .. })) {
        leptos::task::spawn_local(async move {
            crate::sleep(WAIT_LIMIT_MS).await;
            if boot.try_get_untracked() == Some(Boot::Waiting) {
                boot.set(Boot::Failed("This is taking longer than it should. Try again, or close and open it again.".into()));
            }
        });
    }
    let retry = Callback::new(move |()| {
        boot.set(Boot::Waiting);
        match handshake.get_untracked() {
            Some(hs) if hs.is_seed() => fetch_seed(hs, boot, seed_retry),
            Some(hs) => hs.post_retry(),
            None => {}
        }
    });
    let close_button = framed.then(|| Callback::new(move |()| close()));

    let theme = move || {
        let t = options.with(|o| o.app_theme.clone()).unwrap_or_default();
        // A link page is a card in the middle of the window, not a modal in a host's frame.
        let card = if page.with(Option::is_some) { " pb-page" } else { "" };
        format!("pb-root {}{card}", match t.as_str() {
            "dark" => "pb-dark",
            "light" => "pb-light",
            _ => "pb-auto",
        })
    };

    let modal = view! {
        <div class=theme role=seed.then_some("dialog") aria-modal=seed.then_some("true") aria-labelledby="pb-title">
            <Header options=options closable=framed on_close=close/>
            <main class="pb-main">{move || match boot.get() {
                Boot::Waiting => view! { <div class="pb-body">{skeleton()}</div> }.into_any(),
                // A link page's failure (used, expired) is not one a reload fixes.
                Boot::Failed(message) => stopped(message, close_button, framed.then_some(retry)),
                Boot::Ready(session) => view! { <Ready session=session options=options screen=screen handshake=handshake.get_untracked() page=page.get_untracked() close=close_button/> }.into_any(),
            }}</main>
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

/// Asks a seed package's token endpoint for a session (again, on "Try again").
fn fetch_seed(hs: Handshake, boot: RwSignal<Boot>, kept: StoredValue<Option<(String, wasm_bindgen::JsValue)>, LocalStorage>) {
    let Some((endpoint, headers)) = kept.get_value() else { return };
    leptos::task::spawn_local(async move {
        match api::seed_token(&endpoint, &headers, 20).await {
            Ok(session) => boot.set(Boot::Ready(session)),
            Err(message) => {
                // @picahq/authkit ignores messages until it shows the frame, 100 ms after its load event.
                crate::sleep(300).await;
                hs.post_error("token_request_failed", &message, true);
                boot.set(Boot::Failed(start_words("token_request_failed")));
            }
        }
    });
}

/// A screen the widget cannot go on from: what happened in plain words, and the ways forward (try again, close).
#[inline(never)]
fn stopped(message: String, close: Option<Callback<()>>, retry: Option<Callback<()>>) -> AnyView {
    focus_soon(".pb-stopped h2".into());
    let button = |c: Option<Callback<()>>, class: &'static str, label: &'static str| {
        c.map(|c| view! { <button type="button" class=class on:click=move |_| c.run(())>{label}</button> })
    };
    view! {
        <div class="pb-body pb-stopped" role="alert">
            <h2 tabindex="-1">"Something went wrong"</h2>
            <p>{message}</p>
            {button(retry, "pb-button pb-primary", "Try again")}
            {button(close, "pb-button", "Close")}
        </div>
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
/// survive "Back"), the connect screen, the success screen; or, once the server ends the session, why not.
#[component]
fn Ready(
    session: TokenResponse,
    options: RwSignal<WidgetOptions>,
    screen: RwSignal<Screen>,
    handshake: Option<Handshake>,
    page: Option<PageMode>,
    close: Option<Callback<()>>,
) -> impl IntoView {
    if let Some(h) = &handshake {
        api::set_host_origin(&h.origin);
    }
    let for_user = page.as_ref().and_then(|p| p.end_user.clone());
    let ctx = Ctx::new(session.token.clone(), options, screen, handshake, page);
    provide_context(ctx);
    // The connect funnel: this session opened, then each app chosen (`selectedConnection` included).
    api::funnel_opened(&session.token);
    Effect::new(move |_| {
        api::funnel_app(match &*screen.read() {
            Screen::Connect(platform) => platform,
            Screen::List => "",
            Screen::Connected(_) => return,
        })
    });
    api::on_session_end(ctx.ended);
    {
        let token = session.token.clone();
        leptos::task::spawn_local(async move {
            if let Ok(mine) = api::connections(&token).await {
                let _ = ctx.connections.try_set(mine);
            }
        });
    }
    let notice = RwSignal::new(for_user.map(|name| format!("Connecting an account for {name}")));
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
                    api::funnel_success();
                    ctx.with_handshake(|h| h.post_success(&connection));
                    ctx.screen.set(Screen::Connected(done_of(&connection, String::new())));
                }
                Err(message) => {
                    api::funnel_error();
                    ctx.with_handshake(|h| h.post_error("connect_failed", &message, false));
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
    let on_list = move || ctx.screen.with(|s| *s == Screen::List) && !ctx.ended.get();
    view! {
        <div class="pb-screen" hidden=move || !on_list()>
            {move || notice.get().map(|n| view! { <p class="pb-notice" role="status">{n}</p> })}
            <IntegrationList session=session page_size=page_size/>
        </div>
        {move || if ctx.ended.get() {
            // Once: `ended` only ever turns true.
            ctx.with_handshake(|h| h.post_error("session_expired", "The session token was refused (revoked or expired): open the widget again for a new one.", true));
            Some(stopped(api::SESSION_ENDED.into(), close, None))
        } else {
            match ctx.screen.get() {
                Screen::List => None,
                Screen::Connect(platform) => Some(view! { <ConnectScreen platform=platform/> }.into_any()),
                Screen::Connected(done) => Some(success(ctx, done, close)),
            }
        }}
    }
}

/// "Gmail is connected", with the app's logo and the account; Done (focused) closes.
fn success(ctx: Ctx, done: Done, close: Option<Callback<()>>) -> AnyView {
    let page = ctx.is_page();
    focus_soon(if page { ".pb-done h2" } else { ".pb-done button" }.into());
    view! {
        <div class="pb-body pb-done" role="status">
            <div class="pb-done-logo">
                <Logo image=done.image.clone() title=done.name.clone() platform=done.platform.clone()/>
                <span class="pb-check" aria-hidden="true">"✓"</span>
            </div>
            <h2 tabindex="-1">{format!("{} is connected", done.name)}</h2>
            {done.account.map(|a| view! { <p class="pb-muted">"Signed in as "<bdi>{a}</bdi></p> })}
            {if page {
                view! { <p class="pb-muted">"You can close this page."</p> }.into_any()
            } else {
                view! { <button type="button" class="pb-button pb-primary" on:click=move |_| if let Some(c) = close { c.run(()) }>"Done"</button> }.into_any()
            }}
        </div>
    }
    .into_any()
}
