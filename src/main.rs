//! The `librarywire` binary: parse the command line, run it, turn the
//! outcome into an exit code. All the work lives in the library.

use clap::Parser;
use librarywire::cli::{Cli, dispatch, is_closed_output};
use librarywire::error::error_chain;
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
        // `check-config | head -1`: the reader has what it wanted.
        Err(e) if is_closed_output(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: a cause that repeats its parent's text is left out.
            let _ = writeln!(
                std::io::stderr(),
                "librarywire: {}",
                error_chain(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}
