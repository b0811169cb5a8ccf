//! Search box and the paginated list of integrations, with "Load more", loading, empty and error states.

use leptos::{prelude::*, task::spawn_local};
use plugboard_shared::TokenResponse;

use super::{logo::Logo, status, Ctx, Screen};
use crate::api;

#[derive(Clone, Debug, PartialEq)]
enum Load {
    Idle,
    Loading,
    Failed(String),
}

#[component]
pub fn IntegrationList(session: TokenResponse, page_size: u64) -> impl IntoView {
    let ctx = use_context::<Ctx>();
    let token = StoredValue::new(session.token.clone());
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
                        rows.update(|r| r.extend(p.rows));
                    } else {
                        rows.set(p.rows);
                    }
                    page.set(p.page);
                    pages.set(p.pages);
                    total.set(p.total);
                    load.set(Load::Idle);
                }
                Err(message) => load.set(Load::Failed(message)),
            }
        });
    };

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

    let more = move || page.get() < pages.get();
    view! {
        <div class="pb-body">
            <label class="pb-search">
                <span class="pb-visually-hidden">"Search integrations"</span>
                <input type="search" placeholder="Search apps" autocomplete="off" node_ref=search_input
                    prop:value=move || search.get()
                    on:input=move |e| { search.set(event_target_value(&e)); fetch(1, false); }/>
            </label>
            <div class="pb-chips" role="group" aria-label="Categories" hidden=move || categories.with(|c| c.len() < 2)>
                {move || {
                    let chip = move |name: String, label: String| {
                        let pressed = { let name = name.clone(); move || (category.get() == name).to_string() };
                        view! {
                            <button type="button" class="pb-chip" aria-pressed=pressed
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
            <ul class="pb-list" role="list" aria-labelledby="pb-title">
                // Unkeyed: rows are updated in place by position ("Load more" appends, a new search rewrites the
                // rows' text and attributes). A keyed <For> would cost about 4 KB (brotli) more wasm.
                {move || rows.get().into_iter().map(|row| view! {
                    <li>
                        <button type="button" class="pb-row" data-platform=row.platform.clone()
                            on:click={
                                let platform = row.platform.clone();
                                move |_| if let Some(ctx) = ctx { ctx.screen.set(Screen::Connect(platform.clone())) }
                            }>
                            <Logo image=row.image.clone() title=row.title.clone() platform=row.platform.clone()/>
                            <span class="pb-name">{row.title.clone()}</span>
                            <span class="pb-category">{row.category.clone()}</span>
                        </button>
                    </li>
                }).collect_view()}
            </ul>
            {move || (rows.with(Vec::is_empty) && load.get() == Load::Idle).then(|| view! {
                <p class="pb-empty">{format!("No apps match \u{201c}{}\u{201d}.", search.get())}</p>
            })}
            {move || match load.get() {
                Load::Loading => status("Loading…"),
                Load::Failed(message) => view! {
                    <div class="pb-error" role="alert">
                        <p>{message}</p>
                        <button type="button" class="pb-button" on:click=move |_| {
                            let (p, append) = last_request.get_value();
                            fetch(p, append);
                        }>"Try again"</button>
                    </div>
                }.into_any(),
                Load::Idle => more().then(|| view! {
                    <button type="button" class="pb-button pb-more" on:click=move |_| fetch(page.get_untracked() + 1, true)>
                        "Load more"
                    </button>
                }).into_any(),
            }}
        </div>
    }
}
