//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, assembled by utoipa from the `#[utoipa::path]`
//! annotations on the handlers themselves (the router registers each handler and its documentation together,
//! see [`super::router`]), so the two cannot drift. Every JSON error is [`ErrorBody`] with one of the statuses
//! [`ErrorResponses`] lists.

use std::collections::BTreeMap;

use plugboard_shared::ErrorBody;
use utoipa::{
    openapi::{
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder,
    },
    IntoResponses, Modify, OpenApi,
};

/// Every error status a JSON route can answer, each with the [`ErrorBody`] shape.
pub struct ErrorResponses;

impl IntoResponses for ErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "bad input: `code` says which (`invalid_input`: a control character in the field the message names; invalid_fields, invalid_pagination, invalid_identity, bad_request, …)"),
            ("401", "missing or invalid secret key or session token (`unauthorized`)"),
            ("403", "origin not allowed, or an OAuth popup without its widget's proof (`flow_not_proven`)"),
            ("404", "no such integration, connection, flow or endpoint (`not_found`)"),
            ("405", "method not allowed here"),
            ("408", "the request body did not arrive, or the answer was not ready, within the request timeout (`timeout`)"),
            ("409", "the integration is not configured, or a conflict with the named state: a used link (`link_used`), the end user's connection cap (`too_many_connections`; a reconnect still works)"),
            ("410", "the session expired (`session_expired`), or the link expired, was withdrawn or opened too often (`link_expired`, `link_revoked`, `link_exhausted`)"),
            ("413", "the body is larger than 64 KiB"),
            ("422", "the provider refused the credential (`provider_refused`)"),
            ("429", "a rate limit (`rate_limited`, see `Retry-After`: per client IP, end user, project or host backend) or a cap (`too_many`: sign-ins open for one end user)"),
            ("500", "something went wrong on our side (`internal`)"),
            ("502", "the provider failed (`provider_failed`)"),
            ("503", "the database or the provider is briefly unavailable (see `Retry-After`)"),
            ("504", "the provider did not answer in time"),
        ]
        .into_iter()
        .map(|(status, what)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            (status.to_owned(), ResponseBuilder::new().description(what).content("application/json", content).build().into())
        })
        .collect()
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "secret_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-One-Secret",
                "A project secret key `sk_test_…`/`sk_live_…` (also accepted as `x-pica-secret` or `Authorization: Bearer`).",
            ))),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("StackOne's way: the project secret key as the Basic username, the password empty."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("An operator API token `pbo_…` (POST /operator/v1/tokens).")).build()),
        );
        components.add_security_scheme(
            "operator_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "plugboard_operator",
                "An operator's sign-in session (POST /operator/v1/sign-in); `__Host-plugboard_operator` where the public URL is https. Writes also send `X-CSRF-Token`.",
            ))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("A widget session token `pbs_…` from POST /v1/authkit/token.")).build()),
        );
    }
}

/// The document's frame (title, version, security schemes); the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(title = "Plugboard", description = "Self-hosted connect-your-apps widget and credential vault, wire-compatible with One Auth, Pica AuthKit, StackOne and One Runtime."),
    modifiers(&Security),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;
