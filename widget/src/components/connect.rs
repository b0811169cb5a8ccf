//! The connect screen of one integration: what will be shared, the form the catalog describes (checked inline),
//! and the connect action — a credential POST, or the OAuth popup opened inside the click handler (so popup
//! blockers let it through) and followed until the server says the flow finished.
//!
//! Long on purpose: the connect screen's states (form, OAuth wait, errors) share their signals; the form's fields
//! are drawn in one place.

use std::collections::BTreeMap;

use leptos::{ev, prelude::*, task::spawn_local};
use plugboard_shared::{AuthMethod, ConnectRequest, FieldSpec, FlowStatus, IntegrationDetail};
use wasm_bindgen::{JsCast, JsValue};

use super::{done_of, error_box, focus_soon, logo::Logo, skeleton, Ctx, Screen};
use crate::{api, messaging, sleep};

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Form,
    Working,
    /// Waiting for the OAuth popup; `Some(url)` when the popup was blocked and needs a fresh click.
    Waiting(Option<String>),
    /// The popup was blocked twice: offer to sign in in this tab; `Some(url)` once the same-tab flow is ready.
    SameTab(Option<String>),
    Failed(String),
}

/// How long the widget keeps asking about a flow (the server expires flows after 10 minutes).
const POLL_LIMIT: u32 = 600;

/// The first problem with `value` for `field`, as the user should read it.
pub fn field_error(field: &FieldSpec, value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return (!field.optional).then(|| format!("{} is required", field.label));
    }
    let pattern_ok = field.pattern.as_ref().is_none_or(|p| js_sys::RegExp::new(p, "u").test(value));
    (!pattern_ok).then(|| format!("{} does not look right", field.label))
}

#[component]
pub fn ConnectScreen(platform: String) -> impl IntoView {
    let ctx = use_context::<Ctx>().unwrap();
    let detail = RwSignal::new(None::<Result<IntegrationDetail, String>>);
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    // Each invalid field's message, by field name (a list: a map's removal code is kilobytes of wasm).
    let errors = RwSignal::new(Vec::<(String, String)>::new());
    let name = RwSignal::new(String::new());
    let phase = RwSignal::new(Phase::Form);
    let popup = StoredValue::new_local(None::<web_sys::Window>);
    let flow_id = StoredValue::new(None::<String>);
    // The flow's one-time proof: handed to our popup only, when its page asks (see `messaging::answer_claim`).
    let proof = StoredValue::new(None::<String>);
    // Bumped whenever a flow is abandoned, so its poll loop stops.
    let generation = StoredValue::new(0u32);
    // Whether the current flow's end (connected or failed) was acted on.
    let ended = StoredValue::new(false);
    // Which connection "Reconnect" updates (the identity already has this app); `None`: a new connection.
    let reconnect_to = RwSignal::new(None::<String>);

    {
        let platform = platform.clone();
        let token = ctx.token.get_value();
        spawn_local(async move {
            let answer = api::integration(&token, &platform).await;
            if let Ok(d) = &answer {
                let _ = name.try_set(d.suggested_name.clone().unwrap_or_else(|| d.name.clone()));
                // The screen's first field takes the focus; an app without fields, its heading.
                focus_soon(if d.fields.is_empty() { "#pb-connect-title".into() } else { ".pb-form input".into() });
            } else {
                focus_soon(".pb-back".into());
            }
            let _ = detail.try_set(Some(answer));
        });
    }

    let succeed = move |connection: JsValue, label: String| {
        api::funnel_success();
        ctx.with_handshake(|h| h.post_success(&connection));
        let mut done = done_of(&connection, label);
        if let Some(Some(Ok(d))) = detail.try_get_untracked() {
            done.image = d.image;
        }
        // The list marks the app "Connected" from now on.
        if let Some(c) = super::Mine::read(&connection) {
            ctx.connections.update(|all| all.insert(0, c));
        }
        // A link page with a redirect URL hands the outcome to the host app there.
        if let Some(url) = ctx.page.with_value(|p| p.as_ref().and_then(|p| p.redirect_url.clone())) {
            let key = js_sys::Reflect::get(&connection, &"key".into()).ok().and_then(|k| k.as_string()).unwrap_or_default();
            if let Ok(u) = web_sys::Url::new(&url) {
                u.search_params().append("plugboard_status", "connected");
                u.search_params().append("connection_key", &key);
                let _ = window().location().assign(&u.href());
                return;
            }
        }
        ctx.screen.set(Screen::Connected(done));
    };
    let fail = move |message: String| {
        api::funnel_error();
        ctx.with_handshake(|h| h.post_error("connect_failed", &message, false));
        let _ = phase.try_set(Phase::Failed(message));
        focus_soon(".pb-form input, .pb-form .pb-primary".into());
    };
    let close_popup = move || {
        popup.with_value(|p| {
            if let Some(p) = p {
                let _ = p.close();
            }
        })
    };

    // One look at the flow; true when it is over.
    let check = move |label: String| async move {
        let (Some(id), token) = (flow_id.try_get_value().flatten(), ctx.token.get_value()) else { return true };
        let answer = api::flow(&token, &id).await;
        // The callback's ping and the poll can both look: only the first to see the end acts on it.
        let over = matches!(&answer, Ok(f) if f.status != FlowStatus::Pending);
        if over && ended.try_get_value().unwrap_or(true) {
            return true;
        }
        if over {
            ended.set_value(true);
        }
        match answer {
            Ok(f) if f.status == FlowStatus::Connected => {
                close_popup();
                succeed(f.connection, label);
                true
            }
            Ok(f) if f.status == FlowStatus::Failed => {
                close_popup();
                fail(f.error.unwrap_or_else(|| "Connecting failed.".into()));
                true
            }
            _ => {
                // The user closed the popup: back to the form, quietly. Keep watching the flow anyway — a
                // provider's Cross-Origin-Opener-Policy can make a live popup look closed.
                let closed = popup.try_with_value(|p| p.as_ref().is_some_and(|w| w.closed().unwrap_or(true))).unwrap_or(true);
                if closed && phase.try_get_untracked() == Some(Phase::Waiting(None)) {
                    let _ = phase.try_set(Phase::Form);
                }
                false
            }
        }
    };
    let watch = move |label: String, mine: u32| {
        spawn_local(async move {
            for _ in 0..POLL_LIMIT {
                sleep(1000).await;
                if generation.try_get_value() != Some(mine) || check(label.clone()).await {
                    return;
                }
            }
        });
    };
    // The callback page pings us as soon as it has finished: look right away instead of at the next tick.
    let on_message = window_event_listener(ev::message, move |event| {
        let Some(Some(window)) = popup.try_get_value() else { return };
        if !messaging::is_from_popup(&event, &window) {
            return;
        }
        let claim = match (flow_id.try_get_value().flatten(), proof.try_get_value().flatten()) {
            (Some(id), Some(p)) => messaging::answer_claim(&event, &window, &id, &p),
            _ => false,
        };
        if !claim {
            let label = detail.with_untracked(|d| d.as_ref().and_then(|d| d.as_ref().ok()).map(|d| d.name.clone())).unwrap_or_default();
            spawn_local(async move {
                check(label).await;
            });
        }
    });
    // The sign-in window never outlives the widget: not when the user leaves this screen, not when the host page
    // closes the widget (its frame is removed and this page hidden), so no connection is made behind their back.
    let on_hide = window_event_listener(ev::pagehide, move |_| close_popup());
    on_cleanup(move || {
        on_message.remove();
        on_hide.remove();
        close_popup();
        generation.update_value(|g| *g += 1);
    });

    let submit = move |ev: ev::SubmitEvent| {
        ev.prevent_default();
        let Some(Ok(d)) = detail.get_untracked() else { return };
        let mut found = Vec::new();
        for f in &d.fields {
            if let Some(e) = values.with_untracked(|v| field_error(f, v.get(&f.name).map(String::as_str).unwrap_or(""))) {
                found.push((f.name.clone(), e));
            }
        }
        let first_invalid = found.first().map(|(name, _)| format!(".pb-form input[name=\"{name}\"]"));
        errors.set(found);
        if let Some(css) = first_invalid {
            focus_soon(css);
            return;
        }
        api::report(if d.auth_method == AuthMethod::Oauth2 { "oauth_opened" } else { "submitted" }, None);
        let show_name = ctx.options.with_untracked(|o| o.show_name_input == Some(true));
        let req = ConnectRequest {
            name: show_name.then(|| name.get_untracked()),
            fields: values.get_untracked(),
            reconnect: reconnect_to.get_untracked().or_else(|| ctx.options.with_untracked(|o| o.reconnect.clone())),
            display: None,
            return_to: None,
            return_in_state: false,
        };
        let token = ctx.token.get_value();
        let label = d.name.clone();
        // Without working storage the proof could not wait for the return: the popup then.
        if d.auth_method == AuthMethod::Oauth2 && ctx.oauth_redirect() && d.same_tab && messaging::can_keep_proofs() {
            // @withone/auth's same-tab sign-in: the host page sends its whole tab to Plugboard's authorize page
            // (after adding its own URL to `state`), which binds that tab and goes on to the provider; back from
            // the callback, the package opens this widget again with the result. The proof stays in this widget's
            // storage (partitioned to the host's site), for the claim.
            phase.set(Phase::Working);
            let platform = d.platform.clone();
            let req = ConnectRequest { display: Some(plugboard_shared::Display::Page), return_to: ctx.host_root(), return_in_state: true, ..req };
            spawn_local(async move {
                match api::start_oauth(&token, &platform, &req).await {
                    Ok(start) if messaging::keep_proof(&start.flow_id, &start.proof) => {
                        ctx.with_handshake(|h| h.post_oauth_redirect(&start.authorize_url, &start.flow_id));
                    }
                    Ok(_) => fail("This browser does not let the widget keep what it needs to sign in in this tab. Try again.".into()),
                    Err(message) => fail(message),
                }
            });
        } else if d.auth_method == AuthMethod::Oauth2 && ctx.is_page() {
            // A whole page (an auth link, a hosted session): the sign-in runs in this tab, so no popup can be
            // blocked. This page holds the flow's proof, so it binds the flow itself, then goes to the provider.
            phase.set(Phase::Working);
            let platform = d.platform.clone();
            let req = ConnectRequest { display: Some(plugboard_shared::Display::Page), ..req };
            spawn_local(async move {
                let went = async {
                    let start = api::start_oauth(&token, &platform, &req).await?;
                    let location = api::prove(&start.authorize_url, &start.proof).await?;
                    window().location().assign(&location).map_err(|_| "Could not go to the sign-in page.".to_string())
                };
                if let Err(message) = went.await {
                    fail(message);
                }
            });
        } else if d.auth_method == AuthMethod::Oauth2 {
            // Opened now, inside the click, so popup blockers allow it; it is pointed at the provider below.
            let opened = window().open_with_url_and_target_and_features("", "plugboard-oauth", "popup,width=520,height=720").ok().flatten();
            popup.set_value(opened.clone());
            phase.set(Phase::Waiting(None));
            generation.update_value(|g| *g += 1);
            let mine = generation.get_value();
            let platform = d.platform.clone();
            spawn_local(async move {
                match api::start_oauth(&token, &platform, &req).await {
                    Ok(start) => {
                        ended.set_value(false);
                        flow_id.set_value(Some(start.flow_id));
                        proof.set_value(Some(start.proof));
                        match opened {
                            Some(w) => {
                                let _ = w.location().set_href(&start.authorize_url);
                            }
                            None => {
                                let _ = phase.try_set(Phase::Waiting(Some(start.authorize_url)));
                            }
                        }
                        watch(label, mine);
                    }
                    Err(message) => {
                        close_popup();
                        fail(message);
                    }
                }
            });
        } else {
            phase.set(Phase::Working);
            let platform = d.platform.clone();
            spawn_local(async move {
                match api::connect(&token, &platform, &req).await {
                    Ok(connection) => succeed(connection, label),
                    Err(message) => fail(message),
                }
            });
        }
    };
    let reopen = move |url: String| {
        let opened = window().open_with_url_and_target_and_features(&url, "plugboard-oauth", "popup,width=520,height=720").ok().flatten();
        if opened.is_some() {
            popup.set_value(opened);
            phase.set(Phase::Waiting(None));
            return;
        }
        // Blocked again (an in-app browser, a strict blocker): prepare a sign-in in this tab that comes back here,
        // if the project registered this page to come back to (its returnUrls); else popups are the only way.
        let Some(Ok(d)) = detail.get_untracked() else { return };
        if !d.same_tab {
            fail("Your browser keeps blocking the sign-in window. Allow pop-ups for this site, then try again.".into());
            return;
        }
        phase.set(Phase::SameTab(None));
        let req = ConnectRequest {
            reconnect: ctx.options.with_untracked(|o| o.reconnect.clone()),
            display: Some(plugboard_shared::Display::Page),
            return_to: ctx.options.with_untracked(|o| o.return_url.clone()),
            ..ConnectRequest::default()
        };
        let token = ctx.token.get_value();
        spawn_local(async move {
            match api::start_oauth(&token, &d.platform, &req).await {
                // The proof stays in this widget's storage (partitioned to the host's site): only this widget,
                // back on the host page, can claim what the sign-in brings back.
                Ok(start) if crate::messaging::keep_proof(&start.flow_id, &start.proof) => {
                    let _ = phase.try_set(Phase::SameTab(Some(start.authorize_url)));
                }
                Ok(_) => fail("This browser blocks both the sign-in window and the storage a sign-in in this tab needs. Allow pop-ups for this site and try again.".into()),
                Err(message) => fail(message),
            }
        });
    };
    let same_tab = move |url: String| {
        if let Ok(Some(top)) = window().top() {
            let _ = top.location().set_href(&url);
        }
    };

    let cancel = move || {
        generation.update_value(|g| *g += 1);
        close_popup();
        phase.set(Phase::Form);
        focus_soon(".pb-form .pb-primary".into());
    };
    let show_popup = move || {
        popup.with_value(|p| {
            if let Some(p) = p {
                let _ = p.focus();
            }
        })
    };
    // The form's last lines, one fixed set of elements for every phase (their words and roles change): a status
    // line, the error, the main button and a second one. Fixed elements keep the wasm small.
    let actions = move |phase: RwSignal<Phase>, action: String, existing_key: Option<String>| {
        let line = move || match phase.get() {
            Phase::Working => "Connecting…",
            Phase::Waiting(None) => "Finish signing in in the window that opened.",
            Phase::Waiting(Some(_)) => "Your browser blocked the sign-in window.",
            Phase::SameTab(None) => "Preparing to sign in in this tab…",
            Phase::SameTab(Some(_)) => "Your browser keeps blocking the sign-in window. You can sign in in this tab instead and come back here.",
            Phase::Form | Phase::Failed(_) => "",
        };
        let failure = move || match phase.get() {
            Phase::Failed(message) => message,
            _ => String::new(),
        };
        let submits = move || matches!(phase.get(), Phase::Form | Phase::Failed(_));
        let another = existing_key.is_some();
        // A button that is not a submit button when clicked must not submit the form if its click makes it one
        // (the browser submits after the click handlers, by the button's type then): hence prevent_default.
        let main = move |e: ev::MouseEvent| match phase.get_untracked() {
            Phase::Form | Phase::Failed(_) => reconnect_to.set(existing_key.clone()),
            other => {
                e.prevent_default();
                match other {
                    Phase::Waiting(None) => show_popup(),
                    Phase::Waiting(Some(url)) => reopen(url),
                    Phase::SameTab(Some(url)) => same_tab(url),
                    _ => {}
                }
            }
        };
        let second = move |e: ev::MouseEvent| {
            if phase.get_untracked() == Phase::Waiting(None) {
                e.prevent_default();
                cancel()
            } else {
                reconnect_to.set(None)
            }
        };
        view! {
            <p class="pb-muted" role="status" hidden=move || line().is_empty()>{line}</p>
            <div class="pb-error" role="alert" hidden=move || failure().is_empty()><p>{failure}</p></div>
            <button type=move || if submits() { "submit" } else { "button" }
                class=move || match phase.get() {
                    Phase::Waiting(Some(_)) => "pb-button pb-primary pb-continue",
                    Phase::SameTab(Some(_)) => "pb-button pb-primary pb-same-tab",
                    _ => "pb-button pb-primary",
                }
                hidden=move || matches!(phase.get(), Phase::Working | Phase::SameTab(None))
                on:click=main>
                {move || match phase.get() {
                    Phase::Form => action.clone(),
                    Phase::Failed(_) => "Try again".into(),
                    Phase::Waiting(None) => "Show the sign-in window".into(),
                    Phase::Waiting(Some(_)) => "Continue".into(),
                    Phase::SameTab(Some(_)) => "Continue in this tab".into(),
                    _ => String::new(),
                }}
            </button>
            <button type=move || if submits() { "submit" } else { "button" } class="pb-button"
                hidden=move || !(phase.get() == Phase::Waiting(None) || another && submits())
                on:click=second>
                {move || if phase.get() == Phase::Waiting(None) { "Cancel" } else { "Connect another account" }}
            </button>
        }
    };

    view! {
        <div class="pb-body pb-connect">
            <button type="button" class="pb-back" on:click=move |_| super::back_to_list(ctx.screen)>"← All apps"</button>
            {move || match detail.get() {
                None => skeleton(),
                Some(Err(message)) => error_box(message),
                Some(Ok(d)) => {
                    let oauth = d.auth_method == AuthMethod::Oauth2;
                    let show_name = ctx.options.with(|o| o.show_name_input == Some(true));
                    let verb = if oauth { "Continue with" } else { "Connect" };
                    // Already connected (and not asked to reconnect a given one): update it, or add another.
                    let existing = ctx.options.with(|o| o.reconnect.is_none()).then(|| ctx.connection_of(&d.platform)).flatten();
                    let action = if existing.is_some() { format!("Reconnect {}", d.name) } else { format!("{verb} {}", d.name) };
                    let existing_key = existing.as_ref().map(|c| c.key.clone());
                    let fields = d.fields.clone();
                    view! {
                        <div class="pb-intro">
                            <Logo image=d.image.clone() title=d.name.clone() platform=d.platform.clone()/>
                            <div>
                                <h2 id="pb-connect-title" tabindex="-1">{d.name.clone()}</h2>
                                <p class="pb-muted">{d.description.clone()}</p>
                            </div>
                        </div>
                        {existing.map(|c| view! {
                            <p class="pb-notice pb-connected">
                                "Connected"{c.account.map(|a| view! { " as "<bdi>{a}</bdi> })}". Reconnect it, or add another account."
                            </p>
                        })}
                        {(oauth && !d.scopes.is_empty()).then(|| {
                            // Plain words where the catalog has them, else the provider's scope names.
                            let plain = !d.permissions.is_empty();
                            let lines = if plain { d.permissions.clone() } else { d.scopes.clone() };
                            view! {
                                <p class="pb-muted">{format!("{} will ask you to allow:", d.name)}</p>
                                <ul class="pb-scopes">{lines.into_iter().map(|s| if plain {
                                    view! { <li>{s}</li> }.into_any()
                                } else {
                                    view! { <li><code>{s}</code></li> }.into_any()
                                }).collect_view()}</ul>
                            }
                        })}
                        {(!oauth && d.auth_method != AuthMethod::None).then(|| view! {
                            <p class="pb-muted">"What you enter is encrypted and used only to call this app for you."</p>
                        })}
                        <form class="pb-form" novalidate on:submit=submit aria-labelledby="pb-connect-title">
                            {show_name.then(|| view! {
                                <label class="pb-field">
                                    <span>"Connection name"</span>
                                    <input type="text" name="pb-name" maxlength="200" prop:value=move || name.get()
                                        on:input=move |e| name.set(event_target_value(&e))/>
                                </label>
                            })}
                            {fields.into_iter().map(|f| field_view(f, values, errors)).collect_view()}
                            {actions(phase, action, existing_key)}
                        </form>
                    }.into_any()
                }
            }}
        </div>
    }
}

fn field_view(f: FieldSpec, values: RwSignal<BTreeMap<String, String>>, errors: RwSignal<Vec<(String, String)>>) -> impl IntoView {
    let error_id = format!("pb-err-{}", f.name);
    let input_name = f.name.clone();
    let error = {
        let n = f.name.clone();
        move || errors.with(|e| e.iter().find(|(name, _)| *name == n).map(|(_, message)| message.clone()))
    };
    let invalid = {
        let error = error.clone();
        move || error().is_some().to_string()
    };
    let spec = f.clone();
    let check = move |e: ev::FocusEvent| {
        let value = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).map(|i| i.value()).unwrap_or_default();
        errors.update(|all| {
            all.retain(|(name, _)| *name != spec.name);
            if let Some(msg) = field_error(&spec, &value) {
                all.push((spec.name.clone(), msg));
            }
        });
    };
    // A secret can be shown to check what was pasted.
    let shown = RwSignal::new(!f.secret);
    view! {
        <label class="pb-field">
            <span>{f.label.clone()}{f.optional.then_some(" (optional)")}</span>
            <span class="pb-input">
            <input type=move || if shown.get() { "text" } else { "password" } name=f.name.clone() autocomplete="off" spellcheck="false"
                placeholder=f.placeholder.clone().unwrap_or_default()
                aria-invalid=invalid aria-describedby=error_id.clone()
                on:input=move |e| { let v = event_target_value(&e); values.update(|all| { all.insert(input_name.clone(), v); }); }
                on:blur=check/>
            {f.secret.then(|| view! {
                <button type="button" class="pb-reveal" on:click=move |_| shown.update(|s| *s = !*s)>
                    {move || if shown.get() { "Hide" } else { "Show" }}
                </button>
            })}
            </span>
            {f.help.clone().map(|h| view! { <small class="pb-help">{h}</small> })}
            <small class="pb-field-error" id=error_id>{error}</small>
        </label>
    }
}
