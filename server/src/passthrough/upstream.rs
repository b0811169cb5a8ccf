//! The passthrough's upstream client: hyper's pooled HTTP/1.1 client called directly — the passthrough's hot path
//! needs none of reqwest's layers (redirects, cookies, decompression, default headers, its own body types) — with
//! HTTPS through rustls (ring, Mozilla's roots, as reqwest had). Bodies cross as they are: the caller's request body
//! goes up unchanged and the provider's answer comes back as hyper reads it, bounded by [`STALL`].

use std::{error::Error as _, time::Duration};

use axum::body::Body;
use hyper::{body::Incoming, Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioTimer},
};

/// How long opening a connection to a provider may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection to a provider is kept open for the next call.
pub const POOL_IDLE: Duration = Duration::from_secs(60);
/// The longest silence while a provider's answer streams: then the answer ends with an error.
pub const STALL: Duration = Duration::from_secs(60);

/// A pooled client for provider APIs (cheap to clone: clones share the pool). Keeps connections alive and reuses
/// them — every idle connection to a host is kept (for [`POOL_IDLE`]), so a steady load of N concurrent calls
/// settles on N connections —, follows no redirect (a 3xx is an answer like any other), never decompresses.
#[derive(Clone)]
pub struct Upstream(Client<HttpsConnector<HttpConnector>, Body>);

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connecting timed out ([`CONNECT_TIMEOUT`]).
    #[error("connecting timed out")]
    Timeout,
    /// The request body (the caller's upload, guarded by a `tower_http::timeout::TimeoutBody`) paused too long.
    #[error("the request body stalled")]
    BodyStalled,
    /// Anything else: refused, reset, TLS, a malformed answer. The message names no URL (queries may carry
    /// credentials).
    #[error("{0}")]
    Failed(String),
}

impl Upstream {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports rustls' default protocol versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        Self(client)
    }

    /// Sends `req` (absolute URI) and answers the provider's response head with its body still streaming (see
    /// [`stall_guarded`] for passing it on). Waits as long as the provider takes to answer: callers bound the wait.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, UpstreamError> {
        match self.0.request(req).await {
            Ok(res) => Ok(res),
            Err(e) => {
                let mut source = e.source();
                let mut chain = e.to_string();
                while let Some(cause) = source {
                    if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
                        return Err(UpstreamError::Timeout);
                    }
                    if cause.is::<tower_http::timeout::TimeoutError>() {
                        return Err(UpstreamError::BodyStalled);
                    }
                    chain.push_str(": ");
                    chain.push_str(&cause.to_string());
                    source = cause.source();
                }
                Err(UpstreamError::Failed(chain))
            }
        }
    }
}

/// A provider's streamed answer body that errors if the provider falls silent for [`STALL`].
pub fn stall_guarded(body: Incoming) -> Body {
    Body::new(tower_http::timeout::TimeoutBody::new(STALL, body))
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}
