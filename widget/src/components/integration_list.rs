//! Search box, category chips and the paginated list of integrations, with "Load more", loading, empty and error
//! states. Only the list scrolls; the search box and chips stay in view. Keyboard: ↓ from the search box to the
//! first app, ↑/↓ through the apps, ←/→ through the chips (one Tab stop), Escape clears the search.

use leptos::{ev, prelude::*, task::spawn_local};
use plugboard_shared::TokenResponse;
use wasm_bindgen::JsCast;

use super::{focus_soon, logo::Logo, skeleton, Ctx, Screen};
use crate::api;

#[derive(Clone, Debug, PartialEq)]
enum Load {
    Idle,
    Loading,
    Failed(String),
}

/// Moves the focus to the `li`'s neighbouring button for ↑/↓ (from `target`, inside a list or the chips);
/// answers whether it moved.
fn step(target: Option<web_sys::EventTarget>, item: &str, next: bool) -> bool {
    let Some(from) = target.and_then(|t| t.dyn_into::<web_sys::Element>().ok()).and_then(|e| e.closest(item).ok().flatten()) else { return false };
    let to = if next { from.next_element_sibling() } else { from.previous_element_sibling() };
    let button = to.and_then(|li| if li.tag_name() == "BUTTON" { Some(li) } else { li.query_selector("button").ok().flatten() });
    match button.and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok()) {
        Some(b) => b.focus().is_ok(),
        None => false,
    }
}

#[component]
pub fn IntegrationList(session: TokenResponse, page_size: u64) -> impl IntoView {
    let ctx = use_context::<Ctx>().unwrap();
    let token = StoredValue::new(session.token.clone());
    // A token answer without its first page (`{token, expiresAt}` only) shows the skeleton until it is fetched.
    let first_missing = session.page == 0;
    let rows = RwSignal::new(session.rows.clone());
    let page = RwSignal::new(session.page);
    let pages = RwSignal::new(session.pages);
    let total = RwSignal::new(session.total);
    let search = RwSignal::new(String::new());
    let load = RwSignal::new(Load::Idle);
    let category = RwSignal::new(String::new());
    let categories = RwSignal::new(Vec::<plugboard_shared::CategoryCount>::new());
    {
        let token = session.token.clone();
        spawn_local(async move {
            // The first call of the widget's own: a project that refuses this page's origin says so here.
            match api::categories(&token).await {
                Ok(list) => {
                    let _ = categories.try_set(list);
                }
                Err(message) => {
                    let _ = load.try_set(Load::Failed(message));
                }
            }
        });
    }
    // Answers to superseded requests (the user kept typing) are dropped.
    let generation = StoredValue::new(0u64);
    // What "Try again" repeats: (page, append to the list).
    let last_request = StoredValue::new((1u64, false));

    let fetch = move |next_page: u64, append: bool| {
        last_request.set_value((next_page, append));
        let query = search.get_untracked();
        let chosen = category.get_untracked();
        let current = generation.get_value() + 1;
        generation.set_value(current);
        load.set(Load::Loading);
        spawn_local(async move {
            let answer = api::integrations(&token.get_value(), next_page, page_size, &query, &chosen).await;
            if generation.get_value() != current {
                return;
            }
            match answer {
                Ok(p) => {
                    if append {
                        let shown = rows.with_untracked(Vec::len);
                        rows.update(|r| r.extend(p.rows));
                        // "Load more" hands the focus to the first app it brought.
                        focus_soon(format!(".pb-list li:nth-child({}) button", shown + 1));
                    } else {
                        rows.set(p.rows);
                    }
                    page.set(p.page);
                    pages.set(p.pages);
                    total.set(p.total);
                    load.set(Load::Idle);
                }
                Err(message) => {
                    // A failed search leaves no stale rows above its error: the error is what the user sees.
                    if !append {
                        rows.set(Vec::new());
                    }
                    load.set(Load::Failed(message));
                }
            }
        });
    };
    if first_missing {
        fetch(1, false);
    }

    // Marks the moment the first list is on screen, for `scripts/bench-widget` and anyone profiling.
    request_animation_frame(|| {
        if let Some(perf) = window().performance() {
            let _ = perf.mark("plugboard:list-painted");
        }
    });

    let search_input = NodeRef::<leptos::html::Input>::new();
    // Once the list is mounted (a task runs after this synchronous build and mount), like an effect would.
    spawn_local(async move {
        if let Some(input) = search_input.get_untracked() {
            let _ = input.focus();
        }
    });

    let on_search_key = move |e: ev::KeyboardEvent| match e.key().as_str() {
        "ArrowDown" => {
            e.prevent_default();
            focus_soon(".pb-row".into());
        }
        // Escape clears the search first; only an empty box lets it close the widget.
        "Escape" if !search.get_untracked().is_empty() => {
            e.prevent_default();
            search.set(String::new());
            fetch(1, false);
        }
        _ => {}
    };
    let on_list_key = move |e: ev::KeyboardEvent| {
        let down = e.key() == "ArrowDown";
        if !down && e.key() != "ArrowUp" {
            return;
        }
        e.prevent_default();
        if !step(e.target(), "li", down) && !down {
            if let Some(input) = search_input.get_untracked() {
                let _ = input.focus();
            }
        }
    };
    let on_chip_key = move |e: ev::KeyboardEvent| {
        let next = e.key() == "ArrowRight";
        if next || e.key() == "ArrowLeft" {
            e.prevent_default();
            step(e.target(), "button", next);
        }
    };

    let more = move || page.get() < pages.get();
    let failed = move |at_end: bool| {
        move || match load.get() {
            Load::Failed(message) if last_request.get_value().1 == at_end => Some(view! {
                <div class="pb-error" role="alert">
                    <p>{message}</p>
                    <button type="button" class="pb-button" on:click=move |_| {
                        let (p, append) = last_request.get_value();
                        fetch(p, append);
                    }>"Try again"</button>
                </div>
            }),
            _ => None,
        }
    };
    view! {
        <div class="pb-list-top">
            <label class="pb-search">
                <span class="pb-visually-hidden">"Search apps"</span>
                <input type="search" placeholder="Search apps" autocomplete="off" node_ref=search_input
                    prop:value=move || search.get()
                    on:keydown=on_search_key
                    on:input=move |e| { search.set(event_target_value(&e)); fetch(1, false); }/>
            </label>
            <div class="pb-chips" role="toolbar" aria-label="Categories" on:keydown=on_chip_key hidden=move || categories.with(|c| c.len() < 2)>
                {move || {
                    let chip = move |name: String, label: String| {
                        let pressed = { let name = name.clone(); move || category.get() == name };
                        view! {
                            <button type="button" class="pb-chip" aria-pressed={ let p = pressed.clone(); move || p().to_string() }
                                tabindex=move || if pressed() { "0" } else { "-1" }
                                on:click=move |_| { category.set(name.clone()); fetch(1, false); }>{label}</button>
                        }
                    };
                    std::iter::once(chip(String::new(), "All".into()))
                        .chain(categories.get().into_iter().map(|c| chip(c.name.clone(), c.name)))
                        .collect_view()
                }}
            </div>
            <p class="pb-count" aria-live="polite">
                {move || match total.get() { 1 => "1 app".to_string(), n => format!("{n} apps") }}
            </p>
        </div>
        <div class="pb-body pb-scroll">
            {failed(false)}
            {move || (load.get() == Load::Loading && rows.with(Vec::is_empty)).then(skeleton)}
            <ul class="pb-list" role="list" aria-labelledby="pb-title" on:keydown=on_list_key>
                // Unkeyed: rows are updated in place by position ("Load more" appends, a new search rewrites the
                // rows' text and attributes). A keyed <For> would cost about 4 KB (brotli) more wasm.
                {move || rows.get().into_iter().map(|row| {
                    let platform = row.platform.clone();
                    let connected = move || ctx.connections.with(|c| c.iter().any(|c| c.platform == platform));
                    let badge = connected.clone();
                    view! {
                        <li>
                            <button type="button" class="pb-row" data-platform=row.platform.clone()
                                on:click={
                                    let platform = row.platform.clone();
                                    move |_| ctx.screen.set(Screen::Connect(platform.clone()))
                                }>
                                <Logo image=row.image.clone() title=row.title.clone() platform=row.platform.clone()/>
                                <span class="pb-name">{row.title.clone()}</span>
                                // "Connected" in place of the category for an app the identity already has.
                                <span class=move || if badge() { "pb-badge" } else { "pb-category" }>
                                    {move || if connected() { "Connected".to_string() } else { row.category.clone() }}
                                </span>
                            </button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            {move || (rows.with(Vec::is_empty) && load.get() == Load::Idle).then(|| view! {
                <p class="pb-empty">{move || match search.get() {
                    s if s.trim().is_empty() => "No apps are available here yet.".to_string(),
                    s => format!("No apps match \u{201c}{s}\u{201d} here. Try another name or a category."),
                }}</p>
            })}
            {failed(true)}
            {move || match load.get() {
                Load::Loading if last_request.get_value().1 => skeleton(),
                Load::Idle if more() => view! {
                    <button type="button" class="pb-button pb-more" on:click=move |_| fetch(page.get_untracked() + 1, true)>
                        "Load more"
                    </button>
                }.into_any(),
                _ => ().into_any(),
            }}
        </div>
    }
}
