//! The `librarywire` binary: parse the command line, run it, turn the
//! outcome into an exit code. All the work lives in the library.

use clap::Parser;
use librarywire::cli::{Cli, dispatch};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("librarywire: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("librarywire: {e:#}");
            ExitCode::from(2)
        }
    }
}
