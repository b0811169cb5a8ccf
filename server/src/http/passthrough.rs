//! The passthrough's HTTP edge (the call itself is [`crate::passthrough`]): its requests are answered straight from
//! the accept loop, beside the router (see [`super::Service`]), so this does what the router's layers do for every
//! other route — request id, secret-key check, JSON errors, metrics, a caught panic, page headers — and documents
//! the two paths in the OpenAPI document ([`openapi_paths`]).

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use std::sync::Arc;
use tracing::Instrument;

use super::{error::ApiError, AppState};
use crate::passthrough::{self, PREFIX};

/// The two routes' templates, as metrics name them.
const ROUTE: &str = "/v1/passthrough/{platform}/{*path}";
const ROUTE_ROOT: &str = "/v1/passthrough/{platform}";
const REQUEST_ID: &str = "x-request-id";
/// The CSP every passthrough answer carries, beside any of the provider's: its answer is served from Plugboard's
/// origin, where the widget runs, so a document in it may run nothing, load nothing, be framed nowhere, and is a
/// unique origin (`sandbox`). Browsers enforce every CSP an answer carries, so the provider's own still applies
/// and can only narrow it.
const PASSTHROUGH_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox");

/// Whether the accept loop hands `path` to [`serve`].
pub fn is_passthrough(path: &str) -> bool {
    path.starts_with(PREFIX)
}

/// Answers a request whose path starts with [`PREFIX`], straight from the accept loop (see [`super::Service`]):
/// with the request id (`X-Request-Id`, the caller's or a new UUID) on the answer, Plugboard's own errors as JSON
/// bodies, the request counted in the metrics like any route's, a panic answered as a 500, and the headers of a
/// page of Plugboard's origin on every answer ([`page_headers`]).
pub async fn serve(app: Arc<AppState>, req: axum::http::Request<hyper::body::Incoming>) -> Response {
    let started = std::time::Instant::now();
    let method = super::metrics::method_label(req.method());
    let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or_default();
    let route = if rest.contains('/') { ROUTE } else { ROUTE_ROOT };
    let request_id = match req.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()))
            .expect("a UUID is a valid header value"),
    };
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
    // What the call log keeps of the request (the query is masked to its names before it is written).
    let logged = (
        rest.to_owned(),
        req.uri().query().map(str::to_owned),
        passthrough::request::connection_key(req.headers()).unwrap_or_default().to_owned(),
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok()),
    );
    let mut caller = None;
    let answer = async {
        let grant = super::extract::secret_grant(&app, req.headers()).await?;
        caller = Some((grant.project.id.clone(), grant.environment));
        let ctx = passthrough::forward::Context {
            connections: &app.connections,
            projects: &app.projects,
            upstream: &app.passthrough,
            answer_timeout: app.passthrough_timeout,
            body_timeout: app.request_timeout,
        };
        passthrough::forward(&ctx, &grant.project.id, grant.environment, req.map(Body::new)).await.map_err(ApiError::from)
    };
    let res = match std::panic::AssertUnwindSafe(answer.instrument(span)).catch_unwind().await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::Internal("handler panicked".into()).into_response(),
    };
    let mut res = super::error::render_api_error(res, request_id.to_str().unwrap_or_default());
    // Calls of a known project are logged, Plugboard's own refusals included.
    if let Some((project_id, environment)) = caller {
        let (rest, query, connection_key, request_bytes) = logged;
        app.call_log.record(passthrough::log::Call {
            at: crate::clock::now_ms() - started.elapsed().as_millis() as i64,
            project_id,
            environment,
            connection_key,
            rest,
            query,
            method,
            status: res.status().as_u16(),
            latency_ms: started.elapsed().as_millis() as i64,
            request_bytes,
            response_bytes: axum::body::HttpBody::size_hint(res.body()).exact().map(|n| n as i64),
        });
    }
    res.headers_mut().insert(REQUEST_ID, request_id);
    page_headers(res.headers_mut());
    super::metrics::record_static(route, method, res.status(), started);
    res
}

/// What a passthrough answer carries, provider's or Plugboard's, as it is served from Plugboard's origin:
/// `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`, replacing the provider's (they were
/// written for its origin; `nosniff` has no weaker value, and `no-referrer` is the strictest), and
/// [`PASSTHROUGH_CSP`] added beside any CSP of the provider's, which is kept.
fn page_headers(headers: &mut HeaderMap) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.append(header::CONTENT_SECURITY_POLICY, PASSTHROUGH_CSP);
}

/// The passthrough's two paths in the OpenAPI document. They are served beside the router (no handler documents
/// them), so they are described here: any of GET, POST, PUT, PATCH and DELETE, the provider's answer as it sent it,
/// or one of Plugboard's JSON errors.
pub fn openapi_paths(paths: &mut utoipa::openapi::Paths) {
    use utoipa::openapi::{
        path::{HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn},
        security::SecurityRequirement,
        ObjectBuilder, Required, ResponseBuilder, ResponsesBuilder, Type,
    };
    let text = || Some(ObjectBuilder::new().schema_type(Type::String));
    let param = |name: &str, place: ParameterIn, required: bool, description: Option<&str>, example: Option<&str>| {
        ParameterBuilder::new()
            .example(example.map(|e| serde_json::json!(e)))
            .name(name)
            .parameter_in(place)
            .required(if required { Required::True } else { Required::False })
            .description(description)
            .schema(text())
            .build()
    };
    let platform = param("platform", ParameterIn::Path, true, None, Some("gmail"));
    let headers = [
        param("X-One-Connection-Key", ParameterIn::Header, true, Some("the connection's key (also x-pica-connection-key)"), None),
        param("Plugboard-Token", ParameterIn::Header, false, Some("which of the connection's tokens the call presents, for an integration whose sign-in grants several (Slack: `bot` or `user`; default bot, else user); 400 `unknown_token`, 409 `token_unavailable`"), None),
        param("Plugboard-Choice", ParameterIn::Header, false, Some("another place the connection's grant reaches (`<id>`, or `<name>=<id>`, from the record's `choices`; default the one picked when connecting); 400 `invalid_choice`, 403 `choice_not_granted`"), None),
    ];
    let operation = |id: &str, summary: &str, path_param: Option<Parameter>| {
        OperationBuilder::new()
            .tag("passthrough")
            .operation_id(Some(id))
            .summary(Some(summary))
            .parameter(platform.clone())
            .parameters(Some(path_param.into_iter().chain(headers.iter().cloned())))
            .responses(
                ResponsesBuilder::new()
                    .response("default", ResponseBuilder::new().description("the provider's answer, as it sent it"))
                    .responses_from_into_responses::<super::openapi::ErrorResponses>(),
            )
            .security(SecurityRequirement::new("secret_key", Vec::<String>::new()))
            .build()
    };
    let methods = || vec![HttpMethod::Get, HttpMethod::Post, HttpMethod::Put, HttpMethod::Patch, HttpMethod::Delete];
    paths.add_path_operation(
        "/v1/passthrough/{platform}",
        methods(),
        operation("passthrough_root", "`ANY /v1/passthrough/{platform}`: the API base URL itself.", None),
    );
    let rest = param("path", ParameterIn::Path, true, Some("the rest of the provider's URL, after its API base"), None);
    paths.add_path_operation(
        "/v1/passthrough/{platform}/{path}",
        methods(),
        operation("passthrough", "`ANY /v1/passthrough/{platform}/{path}`: the provider's API, with the connection's credentials.", Some(rest)),
    );
}
