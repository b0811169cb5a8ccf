//! Wire types shared by the Plugboard server and the widget. Only serde here, so it builds for wasm32.

pub mod api;
pub mod embed;
pub mod stackone;

pub use api::*;
