//! The passthrough call log: each call's metadata (time, connection, integration, method, masked path, status,
//! latency, sizes — never a body, a header or a query value) is handed to a bounded channel with `try_send`, off the
//! request path, and a background task ([`write`]) inserts what arrived in batches: up to [`BATCH`] rows in one
//! multi-row INSERT, at most every [`FLUSH`] when calls are few. When the channel is full (the database is slower
//! than the calls) the call is left out of the log — the call itself never waits — and counted in
//! `plugboard_passthrough_log_dropped_total`.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::{
    keys::Environment,
    store::{CallRecord, SharedStore},
};

/// Most rows one INSERT writes.
pub const BATCH: usize = 500;
/// Longest wait, when calls are few, before what arrived is written.
pub const FLUSH: Duration = Duration::from_millis(500);
/// The channel's default capacity (`PLUGBOARD_CALL_LOG_BUFFER`).
pub const DEFAULT_BUFFER: usize = 10_000;
/// Longest path kept, in bytes (after masking).
const MAX_PATH: usize = 512;
/// Longest connection key or integration name kept, in bytes.
const MAX_NAME: usize = 128;

/// One call as the passthrough hands it over: the raw path and query stay in memory until [`write`] masks them.
#[derive(Debug)]
pub struct Call {
    /// Unix milliseconds.
    pub at: i64,
    pub project_id: String,
    pub environment: Environment,
    pub connection_key: String,
    /// What follows `/v1/passthrough/`: `{platform}/{path}`.
    pub rest: String,
    pub query: Option<String>,
    pub method: &'static str,
    pub status: u16,
    pub latency_ms: i64,
    pub request_bytes: Option<i64>,
    pub response_bytes: Option<i64>,
}

/// The sending end, one per node (cheap to clone): the channel, and the budget of successful calls it takes per
/// second.
#[derive(Clone)]
pub struct CallLog {
    tx: mpsc::Sender<Call>,
    /// Calls answered below 400 this node logs per second (`PLUGBOARD_CALL_LOG_RATE`); `None`: all of them.
    budget: Option<std::sync::Arc<governor::DefaultDirectRateLimiter>>,
    /// `plugboard_passthrough_log_dropped_total` (made once the metrics recorder is installed: the application
    /// installs it before it makes the call log).
    dropped: metrics::Counter,
}

/// The receiving end, for [`write`].
pub struct CallLogReceiver(mpsc::Receiver<Call>);


impl CallLog {
    /// A call log whose channel holds `capacity` calls (at least 1) and that takes at most `per_second` calls
    /// answered below 400 each second (0: every one).
    pub fn channel(capacity: usize, per_second: u32) -> (Self, CallLogReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let budget = std::num::NonZeroU32::new(per_second).map(|n| std::sync::Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(n))));
        (Self { tx, budget, dropped: metrics::counter!("plugboard_passthrough_log_dropped_total") }, CallLogReceiver(rx))
    }

    /// Hands `call` to the writer without waiting. It is left out of the log, and counted in
    /// `plugboard_passthrough_log_dropped_total`, when it succeeded (below 400) past this second's budget — writing
    /// every call of a flood would cost the passthrough a third of its throughput on two cores
    /// (`scripts/bench-passthrough`) — or when the channel is full (or the writer gone). Failed calls are never
    /// left out for the budget: they are what support looks for.
    pub fn record(&self, call: Call) {
        if call.status < 400 && self.budget.as_ref().is_some_and(|b| b.check().is_err()) {
            self.dropped.increment(1);
            return;
        }
        if self.tx.try_send(call).is_err() {
            self.dropped.increment(1);
        }
    }
}

/// Writes what the channel brings until every sender is gone: a batch as soon as [`BATCH`] calls are waiting,
/// else what came within [`FLUSH`]. A batch the database refuses is logged (as a warning) and skipped.
pub async fn write(store: SharedStore, CallLogReceiver(mut rx): CallLogReceiver) {
    let mut calls = Vec::with_capacity(BATCH);
    loop {
        let started = Instant::now();
        if rx.recv_many(&mut calls, BATCH).await == 0 {
            return;
        }
        let records: Vec<CallRecord> = calls.drain(..).map(into_record).collect();
        let full = records.len() == BATCH;
        if let Err(e) = store.insert_calls(&records).await {
            tracing::warn!(error = %e, calls = records.len(), "writing passthrough calls to the log failed");
        }
        if !full {
            // Few calls: let the next ones gather (the channel holds them) instead of one INSERT each.
            tokio::time::sleep(FLUSH.saturating_sub(started.elapsed())).await;
        }
    }
}

fn into_record(c: Call) -> CallRecord {
    let (platform, path) = c.rest.split_once('/').unwrap_or((&c.rest, ""));
    CallRecord {
        at: c.at,
        project_id: c.project_id,
        environment: c.environment,
        connection_key: truncate(&c.connection_key, MAX_NAME).to_owned(),
        platform: truncate(platform, MAX_NAME).to_owned(),
        method: c.method.to_owned(),
        path: mask_path(path, c.query.as_deref()),
        status: c.status,
        latency_ms: c.latency_ms,
        request_bytes: c.request_bytes,
        response_bytes: c.response_bytes,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The provider path as the log keeps it: `/` then `path`'s segments with every id-like one — all digits, a UUID,
/// 16 or more hex digits, or 20 or more characters of a base64/base64url alphabet with at least one digit —
/// replaced by `:id`; then, when there is a query, `?` and its parameter names only (`?q&pageToken`), never a value.
/// At most 512 bytes.
pub fn mask_path(path: &str, query: Option<&str>) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    for segment in path.split('/') {
        if out.is_empty() || !out.ends_with('/') {
            out.push('/');
        }
        if segment.is_empty() {
            continue;
        }
        out.push_str(if is_id(segment) { ":id" } else { segment });
    }
    if out.is_empty() {
        out.push('/');
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let names: Vec<String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
            .map(|name| {
                let name = name.replace('+', " ");
                let name = percent_encoding::percent_decode_str(&name).decode_utf8_lossy().into_owned();
                // A name that is itself an id (`?12345`) or too long to be a name is masked too.
                if is_id(&name) || name.len() > 64 { ":id".into() } else { name.chars().filter(|c| !c.is_control()).collect() }
            })
            .collect();
        if !names.is_empty() {
            out.push('?');
            out.push_str(&names.join("&"));
        }
    }
    truncate(&out, MAX_PATH).to_owned()
}

/// Whether a path segment looks like an identifier rather than a word of the API.
fn is_id(segment: &str) -> bool {
    let s = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    let s = s.as_ref();
    if s.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if uuid::Uuid::try_parse(s).is_ok() {
        return true;
    }
    if s.len() >= 16 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    // A long token of base64 / base64url characters (message ids, opaque cursors, emails' local parts do not
    // qualify: `@` and `.` are outside the alphabet) with a digit in it (so a long word stays a word).
    let base64ish = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '=' | '~');
    s.len() >= 20 && s.chars().all(base64ish) && s.chars().any(|c| c.is_ascii_digit())
        || s.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_masked_and_words_stay() {
        assert_eq!(mask_path("users/12345/messages", None), "/users/:id/messages");
        assert_eq!(mask_path("items/3f2b1c9e-8d7a-4b6c-9e1f-0a2b3c4d5e6f", None), "/items/:id");
        assert_eq!(mask_path("gmail/v1/users/me/messages/18c2f3a4b5d6e7f8", None), "/gmail/v1/users/me/messages/:id");
        assert_eq!(mask_path("files/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/export", None), "/files/:id/export");
        assert_eq!(mask_path("crm/v3/objects/contacts", None), "/crm/v3/objects/contacts");
        assert_eq!(mask_path("users/ada@example.com", None), "/users/:id", "an email is an id, not a word");
        assert_eq!(mask_path("", None), "/");
        assert_eq!(mask_path("a//b/", None), "/a/b/");
        assert_eq!(mask_path("conversations.history", None), "/conversations.history");
        assert_eq!(mask_path("verylongapiwordwithoutdigits", None), "/verylongapiwordwithoutdigits");
    }

    #[test]
    fn only_query_names_are_kept() {
        assert_eq!(mask_path("search", Some("q=secret%20words&pageToken=abc&flag")), "/search?q&pageToken&flag");
        assert_eq!(mask_path("x", Some("")), "/x");
        assert_eq!(mask_path("x", Some("123456=1&a%20b=2")), "/x?:id&a b");
        assert!(!mask_path("x", Some("api_key=sk_live_shh")).contains("shh"));
    }

    #[test]
    fn long_paths_are_cut_on_a_character_boundary() {
        let long = "é".repeat(600);
        let masked = mask_path(&long, None);
        assert!(masked.len() <= MAX_PATH && masked.starts_with("/é"));
    }
}
