//! The HTTP surface: router, shared state and the layers every response passes through.

mod assets;
mod connect;
mod connections;
pub mod error;
mod extract;
pub mod input;
mod integrations;
mod link_categories;
mod links;
pub mod metrics;
pub mod limits;
mod oauth_pages;
pub mod operator;
mod pages;
mod sign_in_pages;
mod stackone;
pub mod openapi;
mod passthrough;
pub mod serve;
mod sessions;
mod widget;
mod widget_connections;
pub mod widget_events;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderName, HeaderValue},
    middleware,
    routing::get,
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

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{connect::Connections, projects::Projects, store::SharedStore};

/// What every handler can reach. Cloned for every request (each extractor takes its own copy), so every field is
/// one pointer to share: moka caches are several `Arc`s and channel ends each, and cloning them per request cost
/// the passthrough about 3 % of its time (perf).
#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub projects: Arc<Projects>,
    /// Public origin of this server, e.g. `https://connect.example.com` (no trailing slash).
    pub public_url: Arc<str>,
    pub session_ttl: Duration,
    pub connections: Arc<Connections>,
    /// Passthrough calls: pooled, no redirects followed, no decompression (bytes pass as the provider sent them).
    pub passthrough: crate::passthrough::upstream::Upstream,
    /// How long the provider has to start answering a passthrough call.
    pub passthrough_timeout: Duration,
    /// How long a request gets on the router's routes (body and answer), and how long a passthrough request body
    /// may take (a small one whole) or pause (a streamed one): then 408.
    pub request_timeout: Duration,
    /// Recently authenticated secret keys by digest, so hot paths (the passthrough) skip the database; a revoked
    /// key stops working on every node within [`HOT_TTL`].
    pub grants: Arc<moka::sync::Cache<String, crate::store::KeyGrant>>,
    /// Rate limits per end user, project and host backend, the per-IP budget of secret-key lookups, and the
    /// memory of refused credentials.
    pub guard: Arc<limits::Guard>,
    /// Operator accounts, sessions and API tokens (the operator API).
    pub operators: Arc<crate::operators::accounts::Accounts>,
    /// Operator single sign-on, when configured (`PLUGBOARD_SSO_*`).
    pub sso: Option<Arc<crate::operators::sso::Sso>>,
    /// Where passthrough calls' metadata goes, without waiting ([`crate::passthrough::log`]).
    pub call_log: crate::passthrough::log::CallLog,
    /// Funnel steps each widget session has reported (by session id), to cap them ([`widget_events`]).
    pub widget_events: Arc<moka::sync::Cache<String, Arc<std::sync::atomic::AtomicU32>>>,
}

impl AppState {
    /// Plugboard's own origin (`scheme://host[:port]` of the public URL): where its pages, the link page included, run.
    pub fn own_origin(&self) -> String {
        url::Url::parse(&self.public_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
    }
}

pub use crate::store::HOT_TTL;

pub fn grant_cache() -> Arc<moka::sync::Cache<String, crate::store::KeyGrant>> {
    Arc::new(moka::sync::Cache::builder().max_capacity(10_000).time_to_live(HOT_TTL).build())
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `GET /healthz`: liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "the OpenAPI 3.1 document of every route", body = Object)))]
pub async fn openapi_json(axum::Extension(doc): axum::Extension<Arc<String>>) -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned())
}

/// Plugboard's HTTP service: every request goes through [`router`], but the passthrough's, which are answered
/// directly ([`passthrough::serve`]) — the passthrough is on the host backend's critical path, and the router's
/// layers (matching, request ids by UUID, compression, timeouts, CSP headers, error pages) cost it half its
/// throughput (`scripts/bench-passthrough`). What of them applies to it, it does itself: request id, JSON errors,
/// metrics, a caught panic, a deadline on the request body, and the page headers (`nosniff`, `no-referrer`, a
/// CSP).
#[derive(Clone)]
pub struct Service {
    router: Router,
    state: Arc<AppState>,
}

impl Service {
    pub fn new(state: AppState, limits: &crate::config::Limits) -> Self {
        Self { router: router(state.clone(), limits), state: Arc::new(state) }
    }

    /// Answers `req` from `peer`; never fails (errors are answers).
    pub async fn call(self, mut req: axum::http::Request<hyper::body::Incoming>, peer: std::net::SocketAddr) -> axum::response::Response {
        if passthrough::is_passthrough(req.uri().path()) {
            passthrough::serve(self.state, req).await
        } else {
            use tower::ServiceExt;
            // For the per-client-IP limits.
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            match self.router.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            }
        }
    }
}

/// Every route, each registered together with its `#[utoipa::path]` documentation (so `/openapi.json` lists
/// exactly what is served). `limits` sets the per-client-IP rate limit on what browsers call (the widget API, the
/// link pages, the OAuth pages); the host backend's secret-key routes (token minting, links, the vault API, the
/// passthrough) are server to server and not limited per IP.
pub fn router(state: AppState, limits: &crate::config::Limits) -> Router {
    let (router, doc) = routes(limits, state.request_timeout);
    let doc = Arc::new(doc.to_json().expect("the OpenAPI document serializes"));
    router.layer(axum::Extension(doc)).with_state(state).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            // Spans name the path only: query strings carry OAuth codes and states, which never go to logs.
            .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }))
            .layer(middleware::from_fn(error::render_errors))
            .layer(middleware::from_fn(metrics::track))
            .layer(CatchPanicLayer::custom(|_| {
                axum::response::IntoResponse::into_response(error::ApiError::Internal("handler panicked".into()))
            }))
            // Control characters in the path or a query parameter: a 400 naming it, before any handler runs.
            .layer(middleware::from_fn(input::refuse_control_characters)),
    )
}

/// The OpenAPI document alone (what `GET /openapi.json` answers).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(&crate::config::Limits::default(), Duration::from_secs(30)).1
}

/// Routes whose path has a catch-all segment (`{*file}` in axum, `{file}` in OpenAPI): registered by hand, their
/// documentation taken from the same handler's annotation.
#[derive(utoipa::OpenApi)]
#[openapi(paths(widget::asset))]
struct CatchAllDoc;

/// `request_timeout`: how long each request (its body read by the handler's extractors included) may take before
/// a 408.
fn routes(limits: &crate::config::Limits, request_timeout: Duration) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    // What browsers call. The host backend's secret-key routes are not limited per IP (it calls for all its users
    // from one address): they have their own budget per project (`limits::Guard::backend`), and a key not known
    // from memory costs its client IP one request of its per-IP budget (`extract::SecretAuth`).
    let public = OpenApiRouter::new()
        .routes(routes!(integrations::list_widget_categories))
        .routes(routes!(integrations::list_widget_integrations))
        .routes(routes!(connect::get_integration))
        .routes(routes!(widget_connections::list_widget_connections))
        .routes(routes!(widget_events::report_widget_event))
        .routes(routes!(connect::connect_with_fields))
        .routes(routes!(connect::start_oauth))
        .routes(routes!(connect::get_flow))
        .routes(routes!(connect::claim_flow))
        .routes(routes!(oauth_pages::authorize, oauth_pages::prove))
        .routes(routes!(oauth_pages::callback))
        .routes(routes!(oauth_pages::choose))
        .routes(routes!(links::open_link))
        .routes(routes!(links::hosted_status));
    let public = match limits::per_ip_layer(limits) {
        Some(layer) => public.layer(layer),
        None => public,
    };
    // StackOne's paths: their error answers also carry StackOne's error fields.
    let stackone = OpenApiRouter::new()
        .routes(routes!(stackone::create_connect_session))
        .routes(routes!(stackone::authenticate_connect_session))
        .routes(routes!(stackone::list_linked_accounts))
        .routes(routes!(stackone::get_account, stackone::delete_account))
        .layer(middleware::map_response(stackone::mark_errors));
    let api = OpenApiRouter::new()
        .merge(public)
        .routes(routes!(sessions::create_token))
        .routes(routes!(sessions::authkit_page))
        .routes(routes!(sessions::user_flags))
        .routes(routes!(integrations::list_available_connectors))
        .routes(routes!(connections::list_connections))
        .routes(routes!(connections::get_connection, connections::delete_connection))
        .routes(routes!(links::create_link))
        .routes(routes!(links::revoke_link))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(links::create_hosted))
        .merge(stackone)
        .merge(operator::routes())
        .layer(DefaultBodyLimit::max(64 * 1024));
    let (pages, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(api)
        .routes(routes!(widget::index))
        .routes(routes!(widget::seed_page))
        .routes(routes!(widget::link_page))
        .routes(routes!(assets::connect_js))
        .route("/widget/", get(widget::index))
        .route("/widget/{*file}", get(widget::asset))
        .routes(routes!(assets::embed_js))
        .routes(routes!(oauth_pages::authorize_js))
        .routes(routes!(oauth_pages::callback_js))
        .routes(routes!(assets::logo))
        .routes(routes!(assets::monogram_svg))
        .routes(routes!(healthz))
        .routes(routes!(metrics::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
        .split_for_parts();
    doc.merge(CatchAllDoc::openapi());
    // Answered beside the router (see [`Service`]): documented without a handler.
    passthrough::openapi_paths(&mut doc.paths);
    if let Some(index) = doc.paths.paths.get("/widget").cloned() {
        doc.paths.paths.insert("/widget/".into(), index);
    }
    let pages = pages
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(CompressionLayer::new())
        // The whole request, its body included: extractors (`JsonBody`) read it inside the handler's future.
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, request_timeout))
        // Plugboard's own pages and answers: a strict CSP (pages that need more set their own), no MIME sniffing,
        // no referrer.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")));
    (pages, doc)
}
