//! The `tokenwatch` command line: a thin layer over the library.

mod cli;

/// mimalloc: the engine makes many small, short-lived allocations (group
/// keys, hits, findings) beside ~1 KB event copies, a mix on which glibc's
/// allocator spends much of its time consolidating free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
