//! The `librarywire` binary: parse the command line, run it, turn the
//! outcome into an exit code. All the work lives in the library.

use clap::Parser;
use librarywire::cli::{Cli, dispatch};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            // `eprintln!` would panic on a closed stderr; the exit code still tells.
            let _ = writeln!(
                std::io::stderr(),
                "librarywire: cannot start the async runtime: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "librarywire: {e:#}");
            ExitCode::from(2)
        }
    }
}
