//! `tollgate`: the one binary. Serves the API and runs the operator's chores against the same
//! store, SQLite in a data directory by default.

mod cli;
mod commands;
mod demo;
mod import;

use std::process::ExitCode;

use clap::Parser;

/// Many threads allocating and freeing request-sized buffers: glibc's allocator spent a quarter
/// of the server's CPU consolidating them (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return cli::usage_error(err),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
