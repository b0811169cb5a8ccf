//! Abuse limits at the HTTP edge (SECURITY.md, "Abuse"), all governor token buckets (`n`/s, bursts of `5 n`):
//! - per client IP (tower_governor) on what a browser calls: the widget API, the link pages and the OAuth pages;
//!   an IPv6 client counts by its /64 ([`bucket`]);
//! - per end user (project, environment, identity type, identity), then per project, on widget calls, charged
//!   only once the session is known good (signed by us, unexpired, not revoked): one user's flood spends that
//!   user's budget, not the project's;
//! - per project and environment on what the host backend calls with its secret key (token minting, links), a
//!   budget of its own: no browser traffic touches it. Those routes skip the per-IP limit (a backend mints for
//!   all its users from one address); only a secret key not known from memory costs its client IP one request
//!   of that IP's budget, since checking it reads the database;
//! - and a short memory of refused credentials, so a flood of bad keys or revoked sessions does not become a
//!   flood of queries.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Extensions, HeaderMap, Request},
    response::IntoResponse,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use plugboard_shared::IdentityType;
use tower_governor::{governor::GovernorConfigBuilder, key_extractor::KeyExtractor, GovernorError, GovernorLayer};

use super::error::ApiError;
use crate::{
    config::Limits,
    keys::Environment,
    store::{KeyGrant, HOT_TTL},
};

/// The client a request counts against: the TCP peer, or — with `trust_proxy` — the last `X-Forwarded-For` entry,
/// the one the nearest proxy appended (a client can forge the entries before it, not that one); an IPv6 address
/// by its /64 ([`bucket`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp {
    pub trust_proxy: bool,
}

impl ClientIp {
    /// The key of a request with these headers and extensions (the peer is its `ConnectInfo`).
    pub fn of(&self, headers: &HeaderMap, extensions: &Extensions) -> IpAddr {
        if self.trust_proxy {
            let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back();
            // An address, or one with its port (`1.2.3.4:5678`, `[2001:db8::1]:443`), as some proxies write it.
            let parse = |s: &str| s.parse::<IpAddr>().ok().or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()));
            if let Some(ip) = forwarded.and_then(|v| v.rsplit(',').next()).and_then(|ip| parse(ip.trim())) {
                return bucket(ip);
            }
        }
        // Served without connection info (a router driven directly in a test): one shared bucket.
        bucket(extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()))
    }
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(self.of(req.headers(), req.extensions()))
    }
}

/// The address a per-IP limit counts: an IPv4 address as it is; an IPv6 address by its first 64 bits, the
/// smallest block a subscriber is given (RFC 6177: one client may use any of its 2^64 addresses); an IPv4 address
/// written as IPv6 (`::ffff:a.b.c.d`) as that IPv4 address.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// `n` per second with bursts of `5 n`; `None` for 0 (no limit).
fn quota(n: u32) -> Option<Quota> {
    let n = NonZeroU32::new(n)?;
    Some(Quota::per_second(n).allow_burst(n.saturating_mul(NonZeroU32::new(5).expect("5 is not 0"))))
}

/// The per-IP layer for the routes browsers call, answering [`ApiError::TooManyRequests`]; `None` when turned off.
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

/// An end user: project, environment, identity type and identity (what owns connections and sign-ins).
type EndUser = (String, Environment, IdentityType, String);

/// Per-end-user, per-project and per-backend rate limits, the per-IP budget of secret-key lookups, and the memory
/// of refused credentials, shared by the handlers.
pub struct Guard {
    /// Widget calls of each project (`--rate-limit-project`).
    per_project: Option<DefaultKeyedRateLimiter<String>>,
    /// Widget calls of each end user (`--rate-limit-identity`), checked before the project's.
    per_end_user: Option<DefaultKeyedRateLimiter<EndUser>>,
    /// Secret-key calls of each project and environment: token minting, links (`--rate-limit-backend`).
    per_backend: Option<DefaultKeyedRateLimiter<(String, Environment)>>,
    /// Secret keys not known from memory, looked up in the database, per client IP (`--rate-limit-ip`).
    key_lookups: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Operator sign-in attempts per client IP and minute (`--rate-limit-sign-in`).
    sign_ins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub client_ip: ClientIp,
    /// Digests of secret keys recently found to be nothing, and of session tokens found revoked.
    refused: moka::sync::Cache<String, ()>,
}

/// 429 with the wait `limiter` asks for `key`, if its budget is spent; else one request is counted.
fn check<K: std::hash::Hash + Eq + Clone>(limiter: &Option<DefaultKeyedRateLimiter<K>>, key: &K) -> Result<(), ApiError> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        ApiError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) }
    })
}

impl Guard {
    pub fn new(limits: &Limits) -> Self {
        Self {
            per_project: quota(limits.rate_limit_project).map(RateLimiter::keyed),
            per_end_user: quota(limits.rate_limit_identity).map(RateLimiter::keyed),
            per_backend: quota(limits.rate_limit_backend).map(RateLimiter::keyed),
            key_lookups: quota(limits.rate_limit_ip).map(RateLimiter::keyed),
            sign_ins: NonZeroU32::new(limits.rate_limit_sign_in).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            client_ip: ClientIp { trust_proxy: limits.trust_proxy },
            refused: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(HOT_TTL).build(),
        }
    }

    /// Counts one widget call of an end user (a session known good, or a link being opened): against the end
    /// user's budget first, then, only if that allowed it, the project's. 429 with `Retry-After` when either is
    /// spent.
    pub fn end_user(&self, project_id: &str, environment: Environment, identity_type: IdentityType, identity: &str) -> Result<(), ApiError> {
        if self.per_end_user.is_some() {
            check(&self.per_end_user, &(project_id.to_owned(), environment, identity_type, identity.to_owned()))?;
        }
        if self.per_project.is_some() {
            check(&self.per_project, &project_id.to_owned())?;
        }
        Ok(())
    }

    /// Counts one secret-key call of the host backend (token minting, links) against its project and
    /// environment's budget: 429 with `Retry-After` when it is spent.
    pub fn backend(&self, grant: &KeyGrant) -> Result<(), ApiError> {
        if self.per_backend.is_none() {
            return Ok(());
        }
        check(&self.per_backend, &(grant.project.id.clone(), grant.environment))
    }

    /// Counts one session minted by the host backend for an end user: against that end user's budget first (the
    /// one their widget calls spend), then the backend's, so one user hammering the host's own token endpoint
    /// spends their budget, not every user's. 429 with `Retry-After` when either is spent.
    pub fn minting(&self, grant: &KeyGrant, identity_type: IdentityType, identity: &str) -> Result<(), ApiError> {
        if self.per_end_user.is_some() {
            check(&self.per_end_user, &(grant.project.id.clone(), grant.environment, identity_type, identity.to_owned()))?;
        }
        self.backend(grant)
    }

    /// Counts one database lookup of a secret key for the client at `ip` (see [`bucket`]).
    pub fn key_lookup(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.key_lookups, &ip)
    }

    /// Counts one operator sign-in attempt from `ip`: 429 with `Retry-After` past `--rate-limit-sign-in` a minute.
    pub fn sign_in(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.sign_ins, &ip)
    }

    /// Whether the credential with this digest was refused within [`HOT_TTL`] (then it is refused again unread).
    pub fn was_refused(&self, digest: &str) -> bool {
        self.refused.contains_key(digest)
    }

    pub fn remember_refused(&self, digest: String) {
        self.refused.insert(digest, ());
    }

    /// Every minute, forgets the budgets of keys idle long enough to be full again, so the maps do not grow with
    /// every end user and address ever seen. Runs for as long as the node does.
    pub async fn upkeep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Some(l) = &self.per_project {
                l.retain_recent();
            }
            if let Some(l) = &self.per_end_user {
                l.retain_recent();
            }
            if let Some(l) = &self.per_backend {
                l.retain_recent();
            }
            if let Some(l) = &self.key_lookups {
                l.retain_recent();
            }
            if let Some(l) = &self.sign_ins {
                l.retain_recent();
            }
        }
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
        let with_ports = request("10.0.0.9:5000", &["6.6.6.6, 1.2.3.4:5678"]);
        assert_eq!(ClientIp { trust_proxy: true }.extract(&with_ports).unwrap(), "1.2.3.4".parse::<IpAddr>().unwrap(), "a port is not the client");
        let v6_port = request("10.0.0.9:5000", &["[2001:db8:1:2::9]:443"]);
        assert_eq!(ClientIp { trust_proxy: true }.extract(&v6_port).unwrap(), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let junk = request("10.0.0.9:5000", &["not an ip"]);
        assert_eq!(ClientIp { trust_proxy: true }.extract(&junk).unwrap(), "10.0.0.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_an_ipv4_mapped_address_as_ipv4() {
        let key = |peer: &str, forwarded: &[&str]| ClientIp { trust_proxy: !forwarded.is_empty() }.extract(&request(peer, forwarded)).unwrap();
        let subscriber = "2001:db8:1:2::".parse::<IpAddr>().unwrap();
        // Any address of one /64 is one client, whether it is the peer or named by the proxy.
        assert_eq!(key("[2001:db8:1:2::1]:443", &[]), subscriber);
        assert_eq!(key("[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", &[]), subscriber);
        assert_eq!(key("10.0.0.1:443", &["2001:db8:1:2:abcd::9"]), subscriber);
        assert_ne!(key("[2001:db8:1:3::1]:443", &[]), subscriber, "the next /64 is another client");
        assert_eq!(key("[::ffff:10.0.0.9]:443", &[]), "10.0.0.9".parse::<IpAddr>().unwrap());
        assert_eq!(key("10.0.0.9:443", &[]), "10.0.0.9".parse::<IpAddr>().unwrap(), "IPv4 as it is");
    }

    #[test]
    fn an_end_user_past_their_budget_does_not_spend_the_projects() {
        let limits = Limits { rate_limit_identity: 1, rate_limit_project: 2, rate_limit_backend: 1, ..Default::default() };
        let guard = Guard::new(&limits);
        let call = |who: &str| guard.end_user("p", Environment::Live, IdentityType::User, who);
        // Bursts of 5 for one user, 10 for the project.
        assert!((0..5).all(|_| call("mallory").is_ok()));
        assert!((0..100).all(|_| matches!(call("mallory"), Err(ApiError::TooManyRequests { .. }))));
        // Mallory's refusals cost the project nothing: five other users still get its other five (the same
        // identity in another environment is another user).
        assert!(guard.end_user("p", Environment::Test, IdentityType::User, "mallory").is_ok());
        assert!(["a", "b", "c", "d"].into_iter().all(|u| call(u).is_ok()));
        assert!(matches!(call("e"), Err(ApiError::TooManyRequests { .. })), "then the project's budget is spent");
        assert!(guard.end_user("q", Environment::Live, IdentityType::User, "e").is_ok(), "another project has its own");
        // The host backend's budget is its own, whatever the widget calls spent.
        let grant = KeyGrant { project: crate::store::Project { id: "p".into(), name: "P".into() }, environment: Environment::Live };
        assert!((0..5).all(|_| guard.backend(&grant).is_ok()));
        assert!(guard.backend(&grant).is_err());
    }
}
