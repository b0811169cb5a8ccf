//! The accept loop: HTTP/1.1 by hyper (TLS and HTTP/2 belong to the proxy in front), each request tagged with its
//! peer address (`ConnectInfo`, for per-IP limits), a header-read timeout that runs from the moment a connection
//! is accepted and again whenever it is idle — so a client that connects and sends nothing, a byte, or half a
//! request is cut off (slowloris) — and a graceful stop: no new connections, in-flight requests finish (bounded).

use std::{future::Future, time::Duration};

use hyper::{body::Incoming, Request};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;

use super::Service;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `service` on `listener` until `shutdown` resolves. A client must send each request's headers within
/// `header_read_timeout` of connecting or of its previous response (hyper's `header_read_timeout`), else the
/// connection is closed.
pub async fn serve(listener: TcpListener, service: Service, header_read_timeout: Duration, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let per_connection = hyper::service::service_fn(move |req: Request<Incoming>| {
            let answer = service.clone().call(req, peer);
            async move { Ok::<_, std::convert::Infallible>(answer.await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), per_connection));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running {DRAIN:?} after shutdown began were cut off");
    }
    Ok(())
}
