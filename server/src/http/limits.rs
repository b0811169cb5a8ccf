//! Abuse limits at the HTTP edge (SECURITY.md, "Abuse"): per-client-IP rate limits (tower_governor) on what
//! anyone on the internet can call, per-project rate limits (governor) checked once the caller is known, and a
//! short memory of refused credentials so a flood of bad keys or sessions does not become a flood of queries.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, http::Request, response::IntoResponse};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_governor::{governor::GovernorConfigBuilder, key_extractor::KeyExtractor, GovernorError, GovernorLayer};

use super::error::ApiError;
use crate::{config::Limits, store::HOT_TTL};

/// The client IP a request counts against: the TCP peer, or — with `trust_proxy` — the last `X-Forwarded-For`
/// entry, the one the nearest proxy appended (a client can forge the entries before it, not that one).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp {
    pub trust_proxy: bool,
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        if self.trust_proxy {
            let forwarded = req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back();
            if let Some(ip) = forwarded.and_then(|v| v.rsplit(',').next()).and_then(|ip| ip.trim().parse().ok()) {
                return Ok(ip);
            }
        }
        // Served without connection info (a router driven directly in a test): one shared bucket.
        Ok(req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()))
    }
}

/// `n` per second with bursts of `5 n`; `None` for 0 (no limit).
fn quota(n: u32) -> Option<Quota> {
    let n = NonZeroU32::new(n)?;
    Some(Quota::per_second(n).allow_burst(n.saturating_mul(NonZeroU32::new(5).expect("5 is not 0"))))
}

/// The per-IP layer for the public routes, answering [`ApiError::TooManyRequests`]; `None` when turned off.
pub fn per_ip_layer(limits: &Limits) -> Option<GovernorLayer<ClientIp, governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>, Body>> {
    let n = u64::from(limits.rate_limit_ip);
    if n == 0 {
        return None;
    }
    let config = GovernorConfigBuilder::default()
        .period(Duration::from_nanos(1_000_000_000 / n))
        .burst_size(limits.rate_limit_ip.saturating_mul(5))
        .key_extractor(ClientIp { trust_proxy: limits.trust_proxy })
        .finish()?;
    let limiter = config.limiter().clone();
    // Forget idle clients now and then, so the map does not grow with every address ever seen.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.retain_recent();
        }
    });
    Some(GovernorLayer::new(config).error_handler(|e| match e {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::TooManyRequests { retry_after_secs: wait_time.max(1) }.into_response(),
        other => ApiError::Internal(other.to_string()).into_response(),
    }))
}

/// Per-project rate limits and the memory of refused credentials, shared by the handlers.
#[derive(Clone)]
pub struct Guard {
    per_project: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Digests of secret keys and session tokens recently found to be nothing.
    refused: moka::sync::Cache<String, ()>,
    pub max_open_flows: u32,
}

impl Guard {
    pub fn new(limits: &Limits) -> Self {
        Self {
            per_project: quota(limits.rate_limit_project).map(|q| Arc::new(RateLimiter::keyed(q))),
            refused: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(HOT_TTL).build(),
            max_open_flows: limits.max_open_flows,
        }
    }

    /// Counts one request against `project_id`'s budget: 429 with `Retry-After` when it is spent.
    pub fn project(&self, project_id: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_project else { return Ok(()) };
        limiter.check_key(&project_id.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            ApiError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) }
        })
    }

    /// Whether the credential with this digest was refused within [`HOT_TTL`] (then it is refused again unread).
    pub fn was_refused(&self, digest: &str) -> bool {
        self.refused.contains_key(digest)
    }

    pub fn remember_refused(&self, digest: String) {
        self.refused.insert(digest, ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> Request<()> {
        let mut req = Request::builder();
        for f in forwarded {
            req = req.header("x-forwarded-for", *f);
        }
        let mut req = req.body(()).unwrap();
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer.parse().unwrap()));
        req
    }

    #[test]
    fn the_client_ip_is_the_peer_unless_a_trusted_proxy_names_it() {
        let req = request("10.0.0.9:5000", &["6.6.6.6, 1.2.3.4"]);
        assert_eq!(ClientIp { trust_proxy: false }.extract(&req).unwrap(), "10.0.0.9".parse::<IpAddr>().unwrap(), "a client cannot pick its key");
        // Behind a proxy: the entry the proxy appended (the last), not what the client wrote before it.
        assert_eq!(ClientIp { trust_proxy: true }.extract(&req).unwrap(), "1.2.3.4".parse::<IpAddr>().unwrap());
        let two = request("10.0.0.9:5000", &["6.6.6.6", "5.5.5.5"]);
        assert_eq!(ClientIp { trust_proxy: true }.extract(&two).unwrap(), "5.5.5.5".parse::<IpAddr>().unwrap());
        let junk = request("10.0.0.9:5000", &["not an ip"]);
        assert_eq!(ClientIp { trust_proxy: true }.extract(&junk).unwrap(), "10.0.0.9".parse::<IpAddr>().unwrap());
    }
}
