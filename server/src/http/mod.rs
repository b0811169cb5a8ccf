//! The HTTP surface: router, shared state and the layers every response passes through.

mod assets;
mod connect;
pub mod error;
mod extract;
mod integrations;
pub mod limits;
mod oauth_pages;
mod passthrough;
pub mod serve;
mod token;
mod vault;
mod widget;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderName, HeaderValue},
    middleware,
    routing::{any, get, post},
    Router,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{connect::Connector, projects::Projects, store::DynStore};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub projects: Arc<Projects>,
    /// Public origin of this server, e.g. `https://connect.example.com` (no trailing slash).
    pub public_url: Arc<str>,
    pub session_ttl: Duration,
    pub connector: Arc<Connector>,
    /// Passthrough calls: pooled, no redirects followed, no decompression (bytes pass as the provider sent them).
    pub passthrough: reqwest::Client,
    /// How long the provider has to start answering a passthrough call.
    pub passthrough_timeout: Duration,
    /// Recently authenticated secret keys by digest, so hot paths (the passthrough) skip the database; a revoked
    /// key stops working on every node within [`HOT_TTL`].
    pub grants: moka::sync::Cache<String, crate::store::KeyGrant>,
    /// Per-project rate limits, caps and the memory of refused credentials.
    pub guard: limits::Guard,
}

pub use crate::store::HOT_TTL;

pub fn grant_cache() -> moka::sync::Cache<String, crate::store::KeyGrant> {
    moka::sync::Cache::builder().max_capacity(10_000).time_to_live(HOT_TTL).build()
}

/// The passthrough's client: keeps connections to providers alive, follows no redirect (a redirect could lead
/// off the catalog's host), and bounds connecting and stalls; the overall wait is bounded per request.
pub fn passthrough_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .user_agent(concat!("Plugboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with default TLS settings builds")
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route. `limits` sets the per-client-IP rate limit on what anyone can call (token minting, the widget
/// API, the OAuth pages); the vault API and the passthrough are server to server and not limited here.
pub fn router(state: AppState, limits: &crate::config::Limits) -> Router {
    let public = Router::new()
        .route("/v1/authkit/token", post(token::create_token))
        .route("/v1/widget/categories", get(integrations::list_widget_categories))
        .route("/v1/widget/integrations", get(integrations::list_widget_integrations))
        .route("/v1/widget/integrations/{platform}", get(connect::get_integration))
        .route("/v1/widget/connect/{platform}", post(connect::connect_with_fields))
        .route("/v1/widget/oauth/{platform}/start", post(connect::start_oauth))
        .route("/v1/widget/oauth/flows/{id}", get(connect::get_flow))
        .route("/oauth/authorize/{id}", get(oauth_pages::authorize).post(oauth_pages::prove))
        .route("/oauth/callback", get(oauth_pages::callback));
    let public = match limits::per_ip_layer(limits) {
        Some(layer) => public.layer(layer),
        None => public,
    };
    let api = Router::new()
        .merge(public)
        .route("/v1/available-connectors", get(integrations::list_available_connectors))
        .route("/v1/vault/connections", get(vault::list_connections))
        .route("/v1/vault/connections/{key}", get(vault::get_connection).delete(vault::delete_connection))
        .layer(DefaultBodyLimit::max(64 * 1024));
    // Not compressed, not size-limited: bodies stream through as the provider and the caller send them.
    let passthrough = Router::new()
        .route("/v1/passthrough/{platform}", any(passthrough::passthrough))
        .route("/v1/passthrough/{platform}/{*path}", any(passthrough::passthrough));

    let pages = Router::new()
        .merge(api)
        .route("/widget", get(widget::index))
        .route("/widget/", get(widget::index))
        .route("/widget/{*file}", get(widget::asset))
        .route("/embed.js", get(assets::embed_js))
        .route("/oauth/authorize.js", get(oauth_pages::authorize_js))
        .route("/oauth/callback.js", get(oauth_pages::callback_js))
        .route("/assets/logos/{file}", get(assets::logo))
        .route("/healthz", get(|| async { "ok" }))
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        // Plugboard's own pages and answers: a strict CSP (pages that need more set their own), no MIME sniffing,
        // no referrer.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")));

    // The passthrough answers with the provider's headers only: Plugboard's page headers (CSP, nosniff,
    // Referrer-Policy) would change how a browser treats the provider's content.
    Router::new()
        .merge(pages)
        .merge(passthrough)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // Spans name the path only: query strings carry OAuth codes and states, which never go to logs.
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                }))
                .layer(middleware::from_fn(error::render_errors))
                .layer(CatchPanicLayer::custom(|_| {
                    axum::response::IntoResponse::into_response(error::ApiError::Internal("handler panicked".into()))
                })),
        )
}
