//! The OAuth 2.0 protocol as a client speaks it to providers: the token endpoint (every grant, one tolerant parser
//! for real providers' answers), OpenID Connect discovery, and what a token answer leaves in the credentials. The
//! flows that use them live in [`crate::connect`] (connecting) and [`crate::refresh`] (keeping tokens fresh).

pub mod credentials;
pub mod discovery;
pub mod token_endpoint;
