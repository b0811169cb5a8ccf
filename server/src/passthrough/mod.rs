//! The passthrough (`ANY /v1/passthrough/{platform}/{*path}`): the host backend calls a provider's API naming only a
//! connection. One call goes, in this order, through:
//! 1. [`request`]: what the caller asks of Plugboard (the connection key, and optionally which of its tokens and which
//!    place its grant reaches, in Plugboard's own headers);
//! 2. the connection's fresh credentials ([`crate::refresh`]: the hot cache, a refresh when due);
//! 3. [`target`]: which URL of the provider's API the call may reach, and which headers cross (each way);
//! 4. [`crate::catalog::inject`]: the credential presented as the catalog entry says (bearer, header, query or
//!    basic) — the catalog's part, as connecting uses it too;
//! 5. [`upstream`]: the pooled HTTP client that sends it;
//! 6. [`forward`]: the whole call, and its policy for a 401 (one refresh and one retry, unless the token was just
//!    renewed, in which case the provider's answer stands).
//!
//! Each call's metadata goes to the call log ([`log`]) without waiting for it.
//!
//! The HTTP edge ([`crate::http`]) accepts the request beside its router (the passthrough is on the host backend's
//! critical path), authenticates the secret key and maps [`PassthroughError`] to statuses.

pub mod forward;
pub mod log;
pub mod request;
pub mod target;
pub mod upstream;

pub use forward::{forward, PassthroughError};

/// Every passthrough path starts with this.
pub const PREFIX: &str = "/v1/passthrough/";
