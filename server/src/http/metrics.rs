//! `GET /metrics` (Prometheus text format) and `GET /readyz`, and the request metrics every route records.
//!
//! Names and labels (all counters end in `_total`; times are seconds). Every label is bounded by its type, not by
//! checks at call sites: nothing a client sends becomes a label value unless it names something the server knows.
//! - `plugboard_http_requests_total{route, method, status}` and `plugboard_http_request_duration_seconds{route,
//!   method}` (histogram): `route` is the route's template (`/v1/passthrough/{platform}/{*path}`) or `unmatched`,
//!   never the raw path; `method` one of HTTP's nine or `other` ([`method_label`]); `status` a three-digit code.
//! - `plugboard_connects_total{integration, outcome}`: `integration` is a platform of the project's catalog or
//!   `unknown` ([`crate::connect::counted::IntegrationLabel`]); `outcome` is `connected` or `failed`.
//! - `plugboard_refreshes_total{outcome}`: `refreshed`, `failed` (will be retried) or `expired` (needs the user).
//! - `plugboard_webhook_deliveries_total{outcome}`: `delivered`, `retry` or `gave_up`.
//! - `plugboard_passthrough_log_dropped_total`: passthrough calls left out of the call log because its channel was
//!   full (the call itself was answered; docs/logs.md).
//! - `plugboard_db_pool_connections{state}`: `open` and `idle` connections of this node's database pool.

use std::{
    collections::HashMap,
    sync::{LazyLock, OnceLock, RwLock},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::{error::ApiError, AppState};

/// The process's recorder (one per process: metrics are global; every node is its own process).
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            .expect("static buckets are valid");
        match builder.install_recorder() {
            Ok(h) => h,
            // Another recorder is installed (an embedding program's): ours still renders what it was given.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        }
    })
}

/// Installs the recorder; call once at start, before any request is counted.
pub fn init() {
    let _ = handle();
}

/// The recorder's upkeep, every 5 s, for as long as the node runs: a recorder installed with `install_recorder`
/// has none of its own, and its histograms keep every sample until upkeep or a scrape drains them — without it a
/// node nobody scrapes grows by every request it answers (metrics-exporter-prometheus, "upkeep task").
pub async fn upkeep() {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        handle().run_upkeep();
    }
}

/// Middleware: counts each request by route template, method and status, and times it.
pub async fn track(req: Request, next: Next) -> Response {
    let route = RouteLabel::of(req.extensions().get::<MatchedPath>());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    record(route, method, res.status(), started);
    res
}

/// The `route` label: a template the router registered (as many as there are routes), or `unmatched`.
struct RouteLabel(metrics::SharedString);

impl RouteLabel {
    fn of(matched: Option<&MatchedPath>) -> Self {
        Self(matched.map_or(metrics::SharedString::const_str("unmatched"), |p| p.as_str().to_owned().into()))
    }
}


/// The metric label of `method`: only the methods HTTP defines, as anyone can send any token as a method and each
/// would be a new series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts one answered request of `route` and records how long it took since `started`.
fn record(RouteLabel(route): RouteLabel, method: &'static str, status: StatusCode, started: Instant) {
    let status = status.as_u16().to_string();
    metrics::counter!("plugboard_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("plugboard_http_request_duration_seconds", "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
}

/// [`track`]'s counting for a route whose template is known at compile time (the passthrough's), with the series' handles
/// kept after their first use: the registry is asked once per route, method and status, not on every request (its
/// lookup builds and compares a labelled key, and formats the status).
pub fn record_static(route: &'static str, method: &'static str, status: StatusCode, started: Instant) {
    type Series = (metrics::Counter, metrics::Histogram);
    /// (route, method, status).
    type Labels = (&'static str, &'static str, u16);
    /// At most (routes × 10 method labels × statuses) entries, as many as the registry's own series.
    static SERIES: LazyLock<RwLock<HashMap<Labels, Series>>> = LazyLock::new(Default::default);
    let key = (route, method, status.as_u16());
    let known = SERIES.read().expect("not poisoned").get(&key).cloned();
    let (counter, histogram) = known.unwrap_or_else(|| {
        // Handles taken before the recorder is installed would count nowhere, for good.
        init();
        let status = status.as_u16().to_string();
        let series = (
            metrics::counter!("plugboard_http_requests_total", "route" => route, "method" => method, "status" => status),
            metrics::histogram!("plugboard_http_request_duration_seconds", "route" => route, "method" => method),
        );
        SERIES.write().expect("not poisoned").insert(key, series.clone());
        series
    });
    counter.increment(1);
    histogram.record(started.elapsed().as_secs_f64());
}

/// `GET /metrics`: this node's metrics in the Prometheus text format (version 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let (open, idle) = app.store.pool_usage();
    metrics::gauge!("plugboard_db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("plugboard_db_pool_connections", "state" => "idle").set(f64::from(idle));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle().render()).into_response()
}

/// `GET /readyz`: whether this node can serve, i.e. its database answers within 2 s. 200 `ready`, else 503
/// (`ErrorBody`, with `Retry-After`), so a load balancer sends traffic to the other nodes. `/healthz` says only
/// that the process runs.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "`ready`", content_type = "text/plain", body = String),
              (status = 503, description = "the database does not answer", body = plugboard_shared::ErrorBody)))]
pub async fn readyz(State(app): State<AppState>) -> Result<&'static str, ApiError> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => Ok("ready"),
        _ => Err(ApiError::DatabaseUnavailable),
    }
}
