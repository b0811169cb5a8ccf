//! Plugboard server library: the `plugboard` binary is a thin CLI ([`cli`]) over [`app::Application`].

pub mod alerts;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod demo;
pub mod http;
pub mod keys;
pub mod oauth;
pub mod operators;
pub mod passthrough;
pub mod projects;
pub mod records;
pub mod refresh;
pub mod rekey;
pub mod revocation;
pub mod session;
pub mod store;
pub mod vault;
pub mod webhooks;
