//! The postMessage protocol between `embed.js` (host page) and the widget iframe.
//!
//! Every message is `{"type": "plugboard:<kind>", "nonce": "<per-open nonce>", ...}`; both sides post only to an
//! exact origin and check `event.origin` and `event.source` on receipt (docs/contract.md, postMessage between embed.js and the widget).

use serde::{Deserialize, Serialize};

pub const MSG_READY: &str = "plugboard:ready";
pub const MSG_INIT: &str = "plugboard:init";
pub const MSG_CLOSE: &str = "plugboard:close";
pub const MSG_SUCCESS: &str = "plugboard:success";
pub const MSG_ERROR: &str = "plugboard:error";
/// From the OAuth popup's callback page to the widget (same origin).
pub const MSG_OAUTH: &str = "plugboard:oauth";

/// What the host page's `Plugboard.create(options)` passes on to the widget (no callbacks, no token config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WidgetOptions {
    pub title: Option<String>,
    pub company_name: Option<String>,
    pub image_url: Option<String>,
    pub app_theme: Option<String>,
    pub selected_connection: Option<String>,
    pub show_name_input: Option<bool>,
    /// Rows per page of the integration list (default 20, at most 100). A Plugboard extension to the seeds.
    pub page_size: Option<u64>,
    /// Key of a connection to update instead of creating a new one.
    pub reconnect: Option<String>,
    /// The host page's URL, where a same-tab sign-in (when popups cannot open) comes back to.
    pub return_url: Option<String>,
    /// Back from a same-tab sign-in: the flow and its one-time result, for the widget to claim.
    pub claim: Option<ClaimOption>,
}

/// `options.claim` of `plugboard:init`: what `embed.js` found in the host page's URL on return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimOption {
    pub flow_id: String,
    pub result: String,
}

/// A message with no payload (`plugboard:ready`, `plugboard:close`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub nonce: &'a str,
}

/// `plugboard:init`: the host page hands over the token endpoint's answer (or why it could not get one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitMessage {
    /// Always [`MSG_INIT`].
    #[serde(rename = "type")]
    pub kind: String,
    pub nonce: String,
    #[serde(default)]
    pub session: Option<crate::TokenResponse>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub options: WidgetOptions,
}
