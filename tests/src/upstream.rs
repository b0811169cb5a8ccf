//! A provider API for passthrough tests and the benchmark: echoes what it received, streams in gated steps (so a
//! test can tell streaming from buffering), answers slowly or with chosen statuses, redirects elsewhere.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use tokio::{net::TcpListener, sync::Notify};

#[derive(Default)]
pub struct Signals {
    /// Counts every request.
    pub hits: AtomicU64,
    /// Counts every TCP connection accepted (so a test can tell pooled connections from new ones).
    pub accepted: AtomicU64,
    /// `GET /base/gated` sends its first chunk, then waits for this before the rest.
    pub release_download: Notify,
    /// `POST /base/upload-gated` notifies this when the first chunk of the body arrived.
    pub upload_started: Notify,
}

pub struct Upstream {
    pub url: String,
    pub addr: SocketAddr,
    pub signals: Arc<Signals>,
}

/// Starts the upstream on `ip` (a loopback address); its API lives under `/base`.
pub async fn spawn_upstream(ip: &str) -> Upstream {
    let listener = TcpListener::bind(format!("{ip}:0")).await.expect("bind upstream");
    let addr = listener.local_addr().expect("bound");
    let signals = Arc::new(Signals::default());
    let router = router(signals.clone());
    let counted = signals.clone();
    let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
        counted.accepted.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    Upstream { url: format!("http://{addr}"), addr, signals }
}

pub fn router(signals: Arc<Signals>) -> Router {
    Router::new()
        .route("/base/echo", any(echo))
        .route("/base/echo/{*rest}", any(echo))
        .route("/base/gated", get(gated_download))
        .route("/base/upload-gated", post(gated_upload))
        .route("/base/slow", get(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late"
        }))
        .route("/base/status/{code}", get(status))
        .route("/base/redirect", get(|| async { (StatusCode::FOUND, [("location", "http://127.0.0.9:1/stolen")], "") }))
        .route("/base/json", get(|| async { Json(serde_json::json!({ "ok": true, "items": [1, 2, 3] })) }))
        // A page with its own (looser) page headers, as a provider's file download or error page may be.
        .route("/base/page", get(|| async {
            let headers = [
                ("content-type", "text/html"),
                ("content-security-policy", "script-src 'self'"),
                ("referrer-policy", "unsafe-url"),
                ("x-content-type-options", "sniff"),
            ];
            (headers, "<script>document.title = 'the provider page ran'</script>")
        }))
        .fallback(|req: Request| async move { (StatusCode::NOT_FOUND, format!("upstream has no {}", req.uri().path())) })
        .layer(axum::middleware::from_fn_with_state(signals.clone(), count))
        .with_state(signals)
}

async fn count(State(s): State<Arc<Signals>>, req: Request, next: axum::middleware::Next) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// What arrived: method, path and query as received, headers (a repeated one's values joined by `, `), body size
/// and digest.
async fn echo(req: Request) -> Json<serde_json::Value> {
    use sha2::{Digest, Sha256};
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .keys()
        .map(|k| {
            let values: Vec<&str> = parts.headers.get_all(k).iter().map(|v| v.to_str().unwrap_or("")).collect();
            (k.as_str().to_owned(), values.join(", ").into())
        })
        .collect();
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    Json(serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "bodyLength": bytes.len(),
        "bodySha256": digest,
    }))
}

async fn gated_download(State(s): State<Arc<Signals>>) -> Response {
    let stream = gated_chunks(s);
    Response::new(Body::from_stream(stream))
}

fn gated_chunks(s: Arc<Signals>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u8, move |step| {
        let s = s.clone();
        async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"first chunk\n")), 1)),
                1 => {
                    s.release_download.notified().await;
                    Some((Ok(Bytes::from_static(b"the rest\n")), 2))
                }
                _ => None,
            }
        }
    })
}

async fn gated_upload(State(s): State<Arc<Signals>>, body: Body) -> Response {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    let mut first = true;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return StatusCode::BAD_REQUEST.into_response() };
        total += chunk.len();
        if first && total > 0 {
            first = false;
            s.upload_started.notify_one();
        }
    }
    Json(serde_json::json!({ "received": total })).into_response()
}

async fn status(Path(code): Path<u16>) -> Response {
    let mut headers = HeaderMap::new();
    for (k, v) in [("x-request-id", "upstream-id"), ("connection", "x-hop"), ("x-hop", "1"), ("x-rate-limit", "7")] {
        headers.insert(k, v.parse().expect("header value"));
    }
    (StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT), headers, format!("status {code}")).into_response()
}

/// A server that must never be reached: counts requests.
pub async fn spawn_canary(ip: &str) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind(format!("{ip}:0")).await.expect("bind canary");
    let addr = listener.local_addr().expect("bound");
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let router = Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            "canary"
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, hits)
}

/// A webhook receiver that fails the first `fail_first` deliveries with a 500, then accepts; keeps what it got.
pub struct Receiver {
    pub url: String,
    pub received: Arc<std::sync::Mutex<Vec<(HeaderMap, String)>>>,
    pub attempts: Arc<AtomicU64>,
    /// Milliseconds the receiver takes before it answers (0: at once); a slow receiver keeps deliveries in flight.
    pub delay_ms: Arc<AtomicU64>,
}

pub async fn spawn_receiver(ip: &str, fail_first: u64) -> Receiver {
    let listener = TcpListener::bind(format!("{ip}:0")).await.expect("bind receiver");
    let addr = listener.local_addr().expect("bound");
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let attempts = Arc::new(AtomicU64::new(0));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (r, a, d) = (received.clone(), attempts.clone(), delay_ms.clone());
    let router = Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: String| {
            let (r, a, d) = (r.clone(), a.clone(), d.clone());
            async move {
                let n = a.fetch_add(1, Ordering::SeqCst);
                let delay = d.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                if n < fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                r.lock().expect("lock").push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver { url: format!("http://{addr}/hooks"), received, attempts, delay_ms }
}
