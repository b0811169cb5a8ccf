//! How a sign-in comes back and how it ends: the provider's redirect to `/oauth/callback` as Plugboard reads it
//! (RFC 6749 §4.1.2, RFC 9207 `iss`), the same-tab question, and the outcome — connected, parked for the widget's
//! claim, a question of which place, or a [`Failure`] of a kind the sign-in pages give a status to.

use std::collections::BTreeMap;

use crate::store::{FlowDisplay, StoreError};


/// What the authorize page of a same-tab flow asks the person in front of it: "Connect `provider` to `app` as
/// `user`?" (`user` is the end user's id in the host app, as the host's backend named it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameTabAsk {
    /// The catalog id, for its logo.
    pub platform: String,
    pub provider: String,
    pub app: String,
    pub user: String,
}

/// Query of `GET /oauth/callback` (RFC 6749 §4.1.2, RFC 9207 `iss`).
#[derive(Debug, Default)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Every other parameter (QuickBooks' `realmId`, Zoho's `accounts-server`), for the catalog's metadata.
    pub params: BTreeMap<String, String>,
    /// A parameter that appeared more than once (the first value is kept; the callback is refused).
    pub repeated: Option<String>,
}

impl CallbackQuery {
    /// Reads a raw query string; never fails (what is missing or repeated is judged by the callback).
    pub fn parse(raw: &str) -> Self {
        let mut q = Self::default();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let slot = match name.as_ref() {
                "code" => &mut q.code,
                "state" => &mut q.state,
                "iss" => &mut q.iss,
                "error" => &mut q.error,
                "error_description" => &mut q.error_description,
                other => {
                    if q.params.contains_key(other) {
                        q.repeated.get_or_insert_with(|| other.to_owned());
                    } else {
                        q.params.insert(other.to_owned(), value.into_owned());
                    }
                    continue;
                }
            };
            if slot.is_some() {
                q.repeated.get_or_insert_with(|| name.clone().into_owned());
            } else {
                *slot = Some(value.into_owned());
            }
        }
        q
    }
}

/// A callback that connected (or parked its result for the widget's claim).
#[derive(Debug)]
pub struct Finished {
    pub flow_id: String,
    pub display: FlowDisplay,
    /// An auth link's `redirectUrl`, for a same-tab flow.
    pub redirect_url: Option<String>,
    /// The host page a same-tab flow of the embedded widget returns to.
    pub return_to: Option<String>,
    /// Whether that page was named by `@withone/auth`'s state (it expects `one_auth_state` back).
    pub seed: bool,
    pub outcome: Outcome,
}

/// A sign-in waiting for the end user to pick one of the places its grant reaches, for its page.
#[derive(Debug)]
pub struct Question {
    /// The one-time capability that answers it (with the browser's binding cookie); never stored, only its digest.
    pub token: String,
    /// What one place is (`site`).
    pub noun: String,
    pub choices: Vec<plugboard_shared::Choice>,
}

#[derive(Debug)]
pub enum Outcome {
    /// The connection is saved; its key.
    Saved(String),
    /// The one-time result for the host page, which the widget claims.
    Parked(String),
    /// The grant reaches several places: the end user picks one first (see [`Connections::choose`]).
    Choose(Question),
}

/// What kind of failure ended a sign-in (the sign-in pages give each its status: `http::oauth_pages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// What came back cannot be used: no state, an unknown sign-in, the end user declined, a mix-up (RFC 9207), no
    /// code, a page to return to that changed, a choice that was not offered.
    Invalid,
    /// Sent from another browser window or session than the one that started the sign-in.
    WrongBrowser,
    /// The integration is no longer available to the project.
    NoIntegration,
    /// The sign-in already ended (completed, abandoned, or its link spent), no OAuth client is configured, or the
    /// end user's connection cap was reached.
    Ended,
    /// The sign-in (or its question) waited too long, or there is nothing left to finish.
    Expired,
    /// The provider refused the authorization code (its words are in the message).
    ProviderRefused,
    /// Something failed on Plugboard's side (logged).
    Internal,
    /// The provider failed or answered what cannot be read.
    ProviderFailed,
    /// The database is briefly unavailable: starting again in a moment can work.
    Unavailable,
}

/// A callback that did not connect: what the popup page says and posts back.
#[derive(Debug)]
pub struct CallbackFailure {
    pub kind: Failure,
    pub flow_id: Option<String>,
    pub message: String,
    pub display: FlowDisplay,
    pub redirect_url: Option<String>,
    pub return_to: Option<String>,
}

impl CallbackFailure {
    pub(super) fn page(kind: Failure, message: &str) -> Self {
        Self { kind, flow_id: None, message: message.into(), display: FlowDisplay::Popup, redirect_url: None, return_to: None }
    }

    /// A store failure: [`Failure::Unavailable`] while the database is unavailable (the user can try again shortly).
    pub(super) fn internal(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "oauth callback: database unavailable");
            return Self::page(Failure::Unavailable, "Plugboard is briefly unavailable. Start again from the app in a moment.");
        }
        if matches!(e, StoreError::LinkSpent) {
            return Self::page(Failure::Ended, "This link was already used to connect an account, or it expired meanwhile. Ask for a new link.");
        }
        if let StoreError::TooManyConnections { .. } = e {
            return Self::page(Failure::Ended, &e.to_string());
        }
        if matches!(e, StoreError::FlowEnded) {
            return Self::page(Failure::Ended, "This sign-in ended before it could be saved. Start again from the app.");
        }
        tracing::error!(error = %e, "oauth callback failed");
        Self::page(Failure::Internal, "Something went wrong on our side. Start again from the app.")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::CallbackQuery;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![Just("code"), Just("state"), Just("iss"), Just("error"), Just("error_description"), Just("realmId"), Just("x")].prop_map(String::from)
    }

    proptest! {
        #[test]
        fn any_query_string_parses_without_panicking(raw in ".{0,200}") {
            let _ = CallbackQuery::parse(&raw);
        }

        #[test]
        fn each_parameter_is_read_from_its_first_occurrence_and_a_repeat_is_named(pairs in proptest::collection::vec((name(), ".{0,20}"), 0..8)) {
            let raw = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).finish();
            let q = CallbackQuery::parse(&raw);
            let first = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            prop_assert_eq!(q.code, first("code"));
            prop_assert_eq!(q.state, first("state"));
            prop_assert_eq!(q.iss, first("iss"));
            prop_assert_eq!(q.error, first("error"));
            prop_assert_eq!(q.error_description, first("error_description"));
            prop_assert_eq!(q.params.get("realmId").cloned(), first("realmId"));
            // RFC 6749 §3.1: a repeated parameter makes the answer untrustworthy; the first one repeated is named.
            let mut seen = std::collections::HashSet::new();
            let repeated = pairs.iter().find(|(k, _)| !seen.insert(k.clone())).map(|(k, _)| k.clone());
            prop_assert_eq!(q.repeated, repeated);
        }
    }
}

