//! The `plugboard` command line, built in the tests crate so that tests can start real server processes
//! (`CARGO_BIN_EXE_plugboard-node`): several nodes on one database, as in production.

fn main() -> std::process::ExitCode {
    plugboard::cli::main()
}
