//! The Plugboard modal, rendered client-side in the embed's iframe.

pub mod api;
pub mod components;
pub mod js_value;
pub mod messaging;

/// Resolves after `ms` milliseconds (`setTimeout`).
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

pub fn start() {
    // Panic messages in the console while developing; release builds leave the formatting machinery out.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(components::app::App);
}
