//! The `pushgate` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

/// mimalloc rather than glibc malloc: glibc's arenas were ~21 % of the gateway's samples under
/// load (bench/README.md, "What limits next").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    pushgate::cli::main()
}
