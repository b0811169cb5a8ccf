//! When a token is due and what a node keeps between calls: the refresh-ahead rule, whether a connection can be
//! renewed at all, the hot cache of opened connections and the per-process queue of refreshers ([`crate::refresh`]
//! uses them; a new connection's schedule is decided with them when it is saved).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use crate::{
    store::{ConnectionRow, HOT_TTL},
    vault::Credentials,
};

/// The most a token is refreshed ahead of its expiry.
pub const MAX_REFRESH_AHEAD_SECS: i64 = 300;


/// When a token that expires at `expires_at` (unix seconds) and was received at `now` should be refreshed: a
/// fifth of its lifetime ahead, at most [`MAX_REFRESH_AHEAD_SECS`]. `None` when the expiry is unknown.
pub fn refresh_at(expires_at: Option<i64>, now: i64) -> Option<i64> {
    let expires_at = expires_at?;
    let lifetime = (expires_at - now).max(0);
    Some(expires_at - (lifetime / 5).min(MAX_REFRESH_AHEAD_SECS))
}

/// Whether the connection's access can be renewed without the user: it holds a refresh token, or it is a
/// client-credentials connection (a new token is one more client-credentials grant).
pub fn renewable(entry: &crate::catalog::Integration, creds: &Credentials) -> bool {
    creds.has_refresh_token() || entry.auth_method == plugboard_shared::AuthMethod::Oauth2ClientCredentials
}

/// A live connection and its opened credentials, shared by the passthrough calls of one node.
pub type HotEntry = Arc<(ConnectionRow, Credentials)>;

pub fn hot_cache() -> moka::sync::Cache<String, HotEntry> {
    moka::sync::Cache::builder().max_capacity(100_000).time_to_live(HOT_TTL).build()
}

/// Per-process queue of refreshers by connection key (entries vanish with their last waiter).
#[derive(Default)]
pub struct LocalLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl LocalLocks {
    pub fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().expect("lock");
        if let Some(lock) = map.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}
