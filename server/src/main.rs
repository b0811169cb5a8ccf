//! `plugboard` — serve the API and widget, or run the self-contained demo (see [`plugboard::cli`]).

// glibc's malloc contends on its arena locks under load (seen in profiles of the passthrough); mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    plugboard::cli::main()
}
