//! One component per file.

pub mod app;
pub mod header;
pub mod integration_list;
pub mod logo;
