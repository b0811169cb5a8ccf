//! The modal's header: host logo and company name, title, close button.

use leptos::prelude::*;
use plugboard_shared::embed::WidgetOptions;

#[component]
pub fn Header(options: RwSignal<WidgetOptions>, closable: bool, on_close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let title = move || options.with(|o| o.title.clone()).unwrap_or_else(|| "Connect an app".into());
    let company = move || options.with(|o| o.company_name.clone());
    let image = move || options.with(|o| o.image_url.clone());
    view! {
        <header class="pb-header">
            {move || image().map(|src| view! { <img class="pb-company-logo" src=src alt=""/> })}
            <div class="pb-titles">
                {move || company().map(|c| view! { <p class="pb-company">{c}</p> })}
                <h1 id="pb-title">{title}</h1>
            </div>
            // A whole page (an auth link) has nothing to close into: no button.
            {closable.then(|| view! { <button class="pb-close" type="button" aria-label="Close" on:click=move |_| on_close()>"×"</button> })}
        </header>
    }
}
