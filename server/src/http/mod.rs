//! The HTTP surface: router, shared state and the layers every response passes through.

mod assets;
mod connect;
pub mod error;
mod extract;
mod integrations;
mod oauth_pages;
mod token;
mod widget;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderName, HeaderValue},
    middleware,
    routing::{get, post},
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
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/authkit/token", post(token::create_token))
        .route("/v1/available-connectors", get(integrations::list_available_connectors))
        .route("/v1/widget/categories", get(integrations::list_widget_categories))
        .route("/v1/widget/integrations", get(integrations::list_widget_integrations))
        .route("/v1/widget/integrations/{platform}", get(connect::get_integration))
        .route("/v1/widget/connect/{platform}", post(connect::connect_with_fields))
        .route("/v1/widget/oauth/{platform}/start", post(connect::start_oauth))
        .route("/v1/widget/oauth/flows/{id}", get(connect::get_flow))
        .layer(DefaultBodyLimit::max(64 * 1024));

    Router::new()
        .merge(api)
        .route("/widget", get(widget::index))
        .route("/widget/", get(widget::index))
        .route("/widget/{*file}", get(widget::asset))
        .route("/embed.js", get(assets::embed_js))
        .route("/oauth/authorize/{id}", get(oauth_pages::authorize))
        .route("/oauth/callback", get(oauth_pages::callback))
        .route("/oauth/callback.js", get(oauth_pages::callback_js))
        .route("/assets/logos/{file}", get(assets::logo))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // Spans name the path only: query strings carry OAuth codes and states, which never go to logs.
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                }))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(CompressionLayer::new())
                .layer(middleware::from_fn(error::render_errors))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
                .layer(CatchPanicLayer::custom(|_| {
                    axum::response::IntoResponse::into_response(error::ApiError::Internal("handler panicked".into()))
                })),
        )
}
