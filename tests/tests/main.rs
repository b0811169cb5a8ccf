//! The integration tests, one binary (`it`) so the server is linked once: a module per area, each in its own file
//! beside this one. Run one area or one test with `cargo test -p plugboard-tests --test it <module>::<test>`.
//! Tests share this process: each names its own environment variables, and one that reads process-wide state (the
//! metrics registry) reruns itself in a process of its own (`plugboard_tests::alone!`).

mod abuse;
mod bounds;
mod catalog;
mod client_settings;
mod connect_api;
mod connect_e2e;
mod faults;
mod input;
mod links;
mod nodes;
mod oauth_flow;
mod oidc;
mod openapi;
mod operator_accounts;
mod operator_alerts;
mod operator_roles;
mod operator_settings;
mod operator_sso;
mod operator_connections;
mod operator_logs;
mod pages;
mod passthrough;
mod projects;
mod quirks;
mod same_tab_links;
mod seed_clients;
mod seed_frontends;
mod sites;
mod slack_tokens;
mod stackone_sdk;
mod token_api;
mod vault_keys;
mod vault_refresh;
mod webhooks;
mod widget_e2e;
mod widget_lists;
mod widget_ux;
