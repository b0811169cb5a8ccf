//! How one project offers the catalog to its end users: which entries can be connected at all (an OAuth app needs
//! its OAuth client), and which come first (the project's `featured` apps, else [`POPULAR`]).

use std::sync::Arc;

use plugboard_shared::AuthMethod;

use super::Integration;

/// The platform ids listed first, in this order, when a project names no `featured` apps of its own: apps people
/// most often connect. Ids a catalog lacks are skipped.
pub const POPULAR: &[&str] = &[
    "gmail",
    "google-calendar",
    "google-drive",
    "slack",
    "hubspot",
    "salesforce",
    "notion",
    "github",
    "outlook",
    "microsoft-teams",
    "jira",
    "stripe",
    "shopify",
    "zoom",
    "airtable",
    "asana",
    "dropbox",
    "linear",
    "intercom",
    "zendesk",
];

/// Most platform ids a project's `featured` list may name.
pub const MAX_FEATURED: usize = 50;

impl Integration {
    /// Whether connecting it needs an OAuth client configured on the server — the project's own or the
    /// deployment's (`PLUGBOARD_OAUTH_<PLATFORM>_*`): every `oauth2` entry, and an `oauth2_client_credentials` one
    /// unless its form asks the user for their own `client_id` and `client_secret`.
    pub fn needs_server_client(&self) -> bool {
        match self.auth_method {
            AuthMethod::Oauth2 => true,
            AuthMethod::Oauth2ClientCredentials => {
                !["client_id", "client_secret"].iter().all(|name| self.fields.iter().any(|f| f.name == *name))
            }
            AuthMethod::ApiKey | AuthMethod::Basic | AuthMethod::None => false,
        }
    }
}

/// Per-entry facts of one project's offer, by position in [`super::Catalog::all`].
#[derive(Debug, Clone, Default)]
pub struct Offer {
    /// Whether end users can connect the entry; empty = every entry can.
    ready: Arc<[bool]>,
    /// The entry's place in the featured list (0 = first); `u32::MAX` = not featured. Empty = none is.
    rank: Arc<[u32]>,
    /// The featured entries' positions, in the featured order.
    featured: Arc<[u32]>,
}

impl Offer {
    /// The offer over `entries`: `ready` says which can be connected; `featured` names platform ids to list first
    /// (unknown ones and repeats skipped).
    pub fn new(entries: &[Integration], by_platform: impl Fn(&str) -> Option<usize>, ready: impl Fn(&Integration) -> bool, featured: &[impl AsRef<str>]) -> Self {
        let ready: Arc<[bool]> = entries.iter().map(ready).collect();
        let mut rank = vec![u32::MAX; entries.len()];
        let mut order = Vec::new();
        for id in featured {
            if let Some(i) = by_platform(id.as_ref()) {
                if rank[i] == u32::MAX {
                    rank[i] = order.len() as u32;
                    order.push(i as u32);
                }
            }
        }
        Self { ready, rank: rank.into(), featured: order.into() }
    }

    pub fn is_ready(&self, i: usize) -> bool {
        self.ready.get(i).copied().unwrap_or(true)
    }

    /// The entry's place in the featured list; `u32::MAX` when it is not featured.
    pub fn rank(&self, i: usize) -> u32 {
        self.rank.get(i).copied().unwrap_or(u32::MAX)
    }

    /// Positions of the featured entries, in order.
    pub fn featured(&self) -> impl Iterator<Item = usize> + '_ {
        self.featured.iter().map(|&i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Catalog;
    use super::*;

    #[test]
    fn every_popular_app_is_in_the_builtin_catalog() {
        let c = Catalog::builtin().unwrap();
        for p in POPULAR {
            assert!(c.get(p).is_some(), "{p}");
        }
        assert!(POPULAR.len() <= MAX_FEATURED);
    }

    #[test]
    fn oauth_apps_need_a_server_client_and_form_apps_do_not() {
        let c = Catalog::builtin().unwrap();
        assert!(c.get("gmail").unwrap().needs_server_client());
        assert!(!c.get("stripe").unwrap().needs_server_client(), "an API key is typed by the user");
        // The user brings their own client: nothing to configure on the server.
        assert!(!c.get("bitwarden").unwrap().needs_server_client());
        let mut machine = c.get("bitwarden").unwrap().clone();
        machine.fields.retain(|f| f.name != "client_secret");
        assert!(machine.needs_server_client(), "without the user's secret, the server's client is used");
    }
}
