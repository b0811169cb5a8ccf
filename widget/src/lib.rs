//! The Plugboard modal, rendered client-side in the embed's iframe.

pub mod api;
pub mod components;
pub mod messaging;



pub fn start() {
    // Panic messages in the console while developing; release builds leave the formatting machinery out.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(components::app::App);
}
