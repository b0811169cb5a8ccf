//! A reference point for `scripts/bench-passthrough`: the least a hyper-based proxy does — hyper's HTTP/1.1
//! server, hyper-util's pooled client, the upstream fixed, no routing, authentication, header rules or
//! credentials. What Plugboard's passthrough could approach at best on the same runtime and libraries.
//!
//! Usage: `bench-bare-proxy <listen addr> <upstream addr>`.

use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioIo},
};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (listen, upstream) = (args.next().expect("listen address"), args.next().expect("upstream address"));
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new()).build(http);
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let uri = format!("http://{upstream}{}", req.uri().path_and_query().map_or("/", |p| p.as_str()));
                *req.uri_mut() = uri.parse().expect("a valid URI");
                req.headers_mut().remove(hyper::header::HOST);
                client.request(req)
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
